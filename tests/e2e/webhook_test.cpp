// End-to-end: Meta and Kapso webhooks against the real binary and a real redis-server — the
// verification handshake, ingestion and read-back, bad input (nothing stored), dead letters,
// redelivery and ordering.

#include <atomic>
#include <chrono>
#include <csignal>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/e2e_test.hpp"

namespace inboxd::test {
namespace {

using json = nlohmann::json;

constexpr const char* kSender = "972987654321"; // wa_id in the Meta fixtures

// The Meta "text" fixture with a fresh wamid (and optionally other text, timestamp, sender).
json text_message(const std::string& text = "Body Text", const std::string& timestamp = "",
                  const std::string& from = kSender) {
  auto body = with_unique_wamids(fixture_case("meta/message.json", "text"));
  auto& value = body["entry"][0]["changes"][0]["value"];
  auto& msg = value["messages"][0];
  msg["text"]["body"] = text;
  if (!timestamp.empty())
    msg["timestamp"] = timestamp;
  if (from != kSender) {
    msg["from"] = from;
    value["contacts"][0]["wa_id"] = from;
    value["contacts"][0].erase("user_id"); // the fixture's user id is one person's
  }
  return body;
}

class webhook_test : public e2e_test {
protected:
  // The workspace's conversations (status=all); expects exactly `n`.
  json conversations_expecting(size_t n) {
    auto list = all_conversations();
    EXPECT_EQ(list.value("total", -1), static_cast<int>(n)) << list.dump();
    auto convs = list.value("conversations", json::array());
    EXPECT_EQ(convs.size(), n) << list.dump();
    return convs;
  }

  json messages_of(const std::string& conversation_id, const std::string& query = "") {
    auto r = api_get("/api/conversations/" + conversation_id + "/messages" + query);
    return r.value("messages", json::array());
  }

  // Posts `body` and expects 200 {"received": true}.
  void ingest(const json& body) {
    auto r = post_meta(body);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.json().value("received", false), true) << r.body;
  }
};

// --- verification handshake ---

TEST_F(webhook_test, verification_handshake_echoes_the_challenge) {
  auto r = client().get(std::string("/api/webhook/whatsapp?hub.mode=subscribe&hub.verify_token=") +
                        kVerifyToken + "&hub.challenge=1158201444");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "1158201444");
  EXPECT_TRUE(r.header("content-type").starts_with("text/plain")) << r.header("content-type");
}

TEST_F(webhook_test, verification_handshake_rejects_a_wrong_token_or_mode) {
  expect_error(client().get("/api/webhook/whatsapp?hub.mode=subscribe&hub.verify_token=wrong"
                            "&hub.challenge=123"),
               403, "forbidden");
  expect_error(client().get(std::string("/api/webhook/whatsapp?hub.mode=unsubscribe"
                                        "&hub.verify_token=") +
                            kVerifyToken + "&hub.challenge=123"),
               403, "forbidden");
  expect_error(client().get("/api/webhook/whatsapp?hub.mode=subscribe&hub.challenge=123"), 403,
               "forbidden");
}

TEST_F(webhook_test, verification_handshake_accepts_a_workspace_verify_token) {
  ASSERT_EQ(
      create_workspace("W2", "w2", "2233445566778", {{"verifyToken", "ws-own-verify"}}).status,
      201);
  auto r = client().get(
      "/api/webhook/whatsapp?hub.mode=subscribe&hub.verify_token=ws-own-verify"
      "&hub.challenge=abc");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "abc");
}

// --- ingestion and read-back ---

TEST_F(webhook_test, text_message_is_stored_and_readable) {
  auto body = with_unique_wamids(fixture_case("meta/message.json", "text"));
  auto wamid = first_wamid(body);
  auto raw = body.dump();
  auto r = post_meta(raw, kMetaSecret, "application/json; charset=utf-8");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json(), (json{{"received", true}, {"events", 1}, {"deadLettered", 0}})) << r.body;
  EXPECT_FALSE(r.header("x-request-id").empty());

  // The contact, by its wa_id and by a formatted variant of it.
  auto c = api_get("/api/contacts/by-phone?phone=972987654321");
  ASSERT_TRUE(c.contains("contact")) << c.dump();
  auto contact = c["contact"];
  EXPECT_EQ(contact.value("phone", ""), kSender);
  EXPECT_EQ(contact.value("name", ""), "Test Name");
  EXPECT_EQ(contact.value("profileName", ""), "Test Name");
  EXPECT_FALSE(contact.value("id", "").empty());
  auto c2 = api_get("/api/contacts/by-phone?phone=%2B972%2098-765-4321");
  EXPECT_EQ(c2["contact"].value("id", "x"), contact.value("id", "y")) << c2.dump();

  // The conversation, in the default (open) list.
  auto list = api_get("/api/conversations");
  EXPECT_EQ(list.value("total", -1), 1) << list.dump();
  ASSERT_EQ(list["conversations"].size(), 1u) << list.dump();
  auto conv = list["conversations"][0];
  EXPECT_EQ(conv["contact"].value("phone", ""), kSender) << conv.dump();
  EXPECT_EQ(conv["contact"].value("id", ""), contact.value("id", "")) << conv.dump();
  EXPECT_EQ(conv.value("status", ""), "open") << conv.dump();
  EXPECT_EQ(conv.value("unreadCount", -1), 1) << conv.dump();
  EXPECT_EQ(conv.value("lastInboundAt", int64_t{0}), int64_t{1697043223000}) << conv.dump();
  EXPECT_EQ(conv.value("canReply", true), false) << conv.dump(); // 2023: the window is long closed
  EXPECT_EQ(list["counts"].value("all", -1), 1) << list.dump();
  EXPECT_EQ(list["counts"].value("unassigned", -1), 1) << list.dump();
  auto conv_id = conv.value("id", "");
  ASSERT_FALSE(conv_id.empty());

  auto one = api_get("/api/conversations/" + conv_id);
  EXPECT_EQ(one.value("id", ""), conv_id) << one.dump();

  // The message.
  auto msgs = api_get("/api/conversations/" + conv_id + "/messages");
  ASSERT_EQ(msgs["messages"].size(), 1u) << msgs.dump();
  EXPECT_TRUE(msgs.contains("nextBefore") && msgs["nextBefore"].is_null()) << msgs.dump();
  auto m = msgs["messages"][0];
  EXPECT_EQ(m.value("text", ""), "Body Text") << m.dump();
  EXPECT_EQ(m.value("type", ""), "text");
  EXPECT_EQ(m.value("direction", ""), "inbound");
  EXPECT_EQ(m.value("origin", ""), "whatsapp");
  EXPECT_EQ(m.value("waMessageId", ""), wamid);
  EXPECT_EQ(m.value("conversationId", ""), conv_id);
  EXPECT_EQ(m.value("status", ""), "received");
  EXPECT_EQ(m.value("timestamp", int64_t{0}), int64_t{1697043223000});
  EXPECT_FALSE(m.value("id", "").empty());
}

TEST_F(webhook_test, acknowledged_message_survives_a_crash) {
  ingest(text_message("before the crash"));
  inboxd_->restart(/*crash=*/true);
  wait_ready();
  auto convs = conversations_expecting(1);
  ASSERT_EQ(convs.size(), 1u);
  auto msgs = messages_of(convs[0].value("id", ""));
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].value("text", ""), "before the crash");
}

TEST_F(webhook_test, workspace_app_secret_signs_only_its_own_numbers) {
  ASSERT_EQ(create_workspace("W2", "w2", "2233445566778", {{"metaAppSecret", "ws2-secret"}}).status,
            201);
  auto mine = replace_strings(text_message(), kPhoneNumberId, "2233445566778").dump();
  auto r = post_meta(mine, "ws2-secret");
  EXPECT_EQ(r.status, 200) << r.body;
  // The same secret does not sign for a number of another workspace.
  expect_error(post_meta(text_message().dump(), "ws2-secret"), 401, "unauthorized");
  expect_nothing_stored();
}

TEST_F(webhook_test, messages_are_ordered_by_whatsapp_timestamp) {
  ingest(text_message("second", "1697043300"));
  ingest(text_message("first", "1697043200"));
  ingest(text_message("third", "1697043400"));
  auto convs = conversations_expecting(1);
  ASSERT_EQ(convs.size(), 1u);
  auto msgs = messages_of(convs[0].value("id", ""));
  ASSERT_EQ(msgs.size(), 3u);
  EXPECT_EQ(msgs[0].value("text", ""), "first");
  EXPECT_EQ(msgs[1].value("text", ""), "second");
  EXPECT_EQ(msgs[2].value("text", ""), "third");
}

TEST_F(webhook_test, messages_page_backwards_with_next_before) {
  for (int i = 0; i < 5; ++i)
    ingest(text_message("m" + std::to_string(i), std::to_string(1697043200 + i)));
  auto convs = conversations_expecting(1);
  ASSERT_EQ(convs.size(), 1u);
  auto id = convs[0].value("id", "");
  auto page1 = api_get("/api/conversations/" + id + "/messages?limit=2");
  ASSERT_EQ(page1["messages"].size(), 2u) << page1.dump();
  EXPECT_EQ(page1["messages"][0].value("text", ""), "m3");
  EXPECT_EQ(page1["messages"][1].value("text", ""), "m4");
  ASSERT_FALSE(page1["nextBefore"].is_null()) << page1.dump();
  auto cursor = page1["nextBefore"].is_string() ? page1["nextBefore"].get<std::string>()
                                                : page1["nextBefore"].dump();
  auto page2 = api_get("/api/conversations/" + id + "/messages?limit=2&before=" + cursor);
  ASSERT_EQ(page2["messages"].size(), 2u) << page2.dump();
  EXPECT_EQ(page2["messages"][0].value("text", ""), "m1");
  EXPECT_EQ(page2["messages"][1].value("text", ""), "m2");
  auto cursor2 = page2["nextBefore"].is_string() ? page2["nextBefore"].get<std::string>()
                                                 : page2["nextBefore"].dump();
  auto page3 = api_get("/api/conversations/" + id + "/messages?limit=2&before=" + cursor2);
  ASSERT_EQ(page3["messages"].size(), 1u) << page3.dump();
  EXPECT_EQ(page3["messages"][0].value("text", ""), "m0");
  EXPECT_TRUE(page3["nextBefore"].is_null()) << page3.dump();
}

TEST_F(webhook_test, another_workspace_cannot_see_the_conversation) {
  ingest(text_message());
  auto convs = conversations_expecting(1);
  ASSERT_EQ(convs.size(), 1u);
  auto conv_id = convs[0].value("id", "");
  auto ws2 = create_workspace("W2", "w2", "2233445566778");
  ASSERT_EQ(ws2.status, 201);
  auto key2 = create_api_key(ws2.json().value("id", ""));
  ASSERT_EQ(key2.status, 201);
  header_list h2{{"X-API-Key", key2.json().value("key", "")}};
  expect_error(client().get("/api/conversations/" + conv_id, h2), 404, "not_found");
  expect_error(client().get("/api/conversations/" + conv_id + "/messages", h2), 404, "not_found");
  expect_error(client().get("/api/contacts/by-phone?phone=972987654321", h2), 404, "not_found");
  EXPECT_EQ(client().get("/api/conversations?status=all", h2).json().value("total", -1), 0);
}

// --- bad input: the right 4xx, and nothing stored ---

TEST_F(webhook_test, wrong_signature_is_401_and_nothing_is_stored) {
  auto raw = text_message().dump();
  expect_error(post_meta(raw, "not-the-secret"), 401, "unauthorized");
  expect_nothing_stored();
}

TEST_F(webhook_test, missing_signature_is_401_and_nothing_is_stored) {
  expect_error(post_meta(text_message().dump(), ""), 401, "unauthorized");
  expect_nothing_stored();
}

TEST_F(webhook_test, truncated_or_malformed_signatures_are_401) {
  auto raw = text_message().dump();
  auto good = meta_signature(kMetaSecret, raw);
  std::vector<std::string> bad_sigs = {
      good.substr(0, good.size() - 1),  // truncated by one hex digit
      good.substr(0, good.size() - 2),  // by one byte
      good.substr(0, 7 + 32),           // half of it
      "sha256=",                        // prefix only
      good.substr(7),                   // without the sha256= prefix
      "sha1=" + good.substr(7),         // another algorithm
      good + "00",                      // too long
      "sha256=" + std::string(64, 'z'), // not hex
  };
  for (auto& sig : bad_sigs) {
    auto r = client().request("POST", "/api/webhook/whatsapp", raw,
                              {{"Content-Type", "application/json"}, {"X-Hub-Signature-256", sig}});
    expect_error(r, 401, "unauthorized");
  }
  // A signature of other bytes (the body changed after signing).
  auto r = client().request("POST", "/api/webhook/whatsapp", raw + " ",
                            {{"Content-Type", "application/json"}, {"X-Hub-Signature-256", good}});
  expect_error(r, 401, "unauthorized");
  expect_nothing_stored();
}

TEST_F(webhook_test, malformed_json_is_400) {
  for (std::string raw : {R"({"object":"whatsapp_business_account","entry":[)", "{", "nope",
                          R"({"object":"whatsapp_business_account",})", ""})
    expect_error(post_meta(raw), 400, "bad_request");
  expect_nothing_stored();
}

TEST_F(webhook_test, non_object_top_level_is_400) {
  for (std::string raw : {"[]", R"([{"object":"whatsapp_business_account","entry":[]}])",
                          R"("whatsapp_business_account")", "42", "null", "true"})
    expect_error(post_meta(raw), 400, "bad_request");
  expect_nothing_stored();
}

TEST_F(webhook_test, json_that_is_not_a_whatsapp_payload_is_400) {
  auto wrong_types = text_message();
  wrong_types["entry"] = "not an array";
  for (std::string raw : {std::string("{}"), std::string(R"({"foo":1})"), wrong_types.dump()})
    expect_error(post_meta(raw), 400, "bad_request");
  expect_nothing_stored();
}

TEST_F(webhook_test, deep_nesting_is_400_and_the_server_survives) {
  for (size_t depth : {1000u, 100000u}) {
    std::string raw = R"({"object":"whatsapp_business_account","entry":)" +
                      std::string(depth, '[') + std::string(depth, ']') + "}";
    expect_error(post_meta(raw), 400, "bad_request");
  }
  // Deeply nested inside an otherwise valid message.
  auto body = text_message().dump();
  auto pos = body.find(R"("Body Text")");
  ASSERT_NE(pos, std::string::npos);
  std::string nested = std::string(5000, '[') + std::string(5000, ']');
  body.replace(pos, std::string(R"("Body Text")").size(), nested);
  expect_error(post_meta(body), 400, "bad_request");
  EXPECT_EQ(client().get("/healthz").status, 200);
  expect_nothing_stored();
}

TEST_F(webhook_test, invalid_utf8_is_400) {
  auto raw = text_message("PLACEHOLDER").dump();
  auto pos = raw.find("PLACEHOLDER");
  ASSERT_NE(pos, std::string::npos);
  for (std::string bad : {std::string("\xff\xfe"), std::string("\xc0\xaf"),          // overlong '/'
                          std::string("ab\xe2\x82"), std::string("\xed\xa0\x80")}) { // surrogate
    auto body = raw;
    body.replace(pos, 11, bad);
    expect_error(post_meta(body), 400, "bad_request");
  }
  expect_nothing_stored();
}

TEST_F(webhook_test, wrong_or_missing_content_type_is_415) {
  auto raw = text_message().dump();
  expect_error(post_meta(raw, kMetaSecret, "text/plain"), 415, "unsupported_media_type");
  expect_error(post_meta(raw, kMetaSecret, "application/x-www-form-urlencoded"), 415,
               "unsupported_media_type");
  auto r = client().request("POST", "/api/webhook/whatsapp", raw,
                            {{"X-Hub-Signature-256", meta_signature(kMetaSecret, raw)}});
  expect_error(r, 415, "unsupported_media_type");
  // Content type is checked before the signature.
  expect_error(post_meta(raw, "", "text/plain"), 415, "unsupported_media_type");
  expect_nothing_stored();
}

TEST_F(webhook_test, body_over_3_mib_is_413_and_exactly_3_mib_is_accepted) {
  // A valid, signed payload padded with JSON whitespace to the limit: accepted.
  auto base = text_message("at the limit").dump();
  ASSERT_LT(base.size(), kWebhookLimit);
  std::string at_limit =
      base.substr(0, base.size() - 1) + std::string(kWebhookLimit - base.size(), ' ') + "}";
  ASSERT_EQ(at_limit.size(), kWebhookLimit);
  auto ok = post_meta(at_limit);
  EXPECT_EQ(ok.status, 200) << ok.body.substr(0, 500);

  // One byte more (another message): 413, before the signature is even looked at.
  auto over_base = text_message("over the limit").dump();
  std::string over = over_base.substr(0, over_base.size() - 1) +
                     std::string(kWebhookLimit + 1 - over_base.size(), ' ') + "}";
  ASSERT_EQ(over.size(), kWebhookLimit + 1);
  for (bool signed_body : {true, false}) {
    std::string req =
        "POST /api/webhook/whatsapp HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/json\r\nConnection: close\r\n";
    if (signed_body)
      req += "X-Hub-Signature-256: " + meta_signature(kMetaSecret, over) + "\r\n";
    req += "Content-Length: " + std::to_string(over.size()) + "\r\n\r\n" + over;
    auto raw = client().send_raw(req, std::chrono::seconds(10));
    EXPECT_EQ(raw_status(raw), 413) << raw.substr(0, 500);
    EXPECT_NE(raw.find("payload_too_large"), std::string::npos) << raw.substr(0, 500);
  }
  // Chunked, without Content-Length: the limit still holds.
  {
    std::string req =
        "POST /api/webhook/whatsapp HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/json\r\nConnection: close\r\n"
        "X-Hub-Signature-256: " +
        meta_signature(kMetaSecret, over) +
        "\r\n"
        "Transfer-Encoding: chunked\r\n\r\n";
    const size_t chunk = 64 * 1024;
    for (size_t off = 0; off < over.size(); off += chunk) {
      auto part = over.substr(off, chunk);
      char len[32];
      std::snprintf(len, sizeof(len), "%zx\r\n", part.size());
      req += len + part + "\r\n";
    }
    req += "0\r\n\r\n";
    auto raw = client().send_raw(req, std::chrono::seconds(10));
    EXPECT_EQ(raw_status(raw), 413) << raw.substr(0, 500);
  }
  EXPECT_EQ(client().get("/healthz").status, 200);
  // Only the message at the limit was stored.
  auto convs = conversations_expecting(1);
  ASSERT_EQ(convs.size(), 1u);
  auto msgs = messages_of(convs[0].value("id", ""));
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].value("text", ""), "at the limit");
}

// --- dead letters ---

TEST_F(webhook_test, unknown_phone_number_id_is_acknowledged_and_dead_lettered) {
  auto body = replace_strings(text_message("for nobody"), kPhoneNumberId, "5550001112223");
  auto r = post_meta(body);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json().value("received", false), true);
  expect_nothing_stored();

  expect_error(client().get("/api/admin/dead-letters"), 401, "unauthorized");
  auto d = client().get("/api/admin/dead-letters", admin_headers());
  ASSERT_EQ(d.status, 200) << d.body;
  auto letters = d.json().value("deadLetters", json::array());
  ASSERT_EQ(letters.size(), 1u) << d.body;
  EXPECT_EQ(letters[0].value("phoneNumberId", ""), "5550001112223");
  EXPECT_EQ(letters[0].value("source", ""), "meta");
  EXPECT_FALSE(letters[0].value("id", "").empty());
  EXPECT_TRUE(letters[0].contains("receivedAt") && letters[0]["receivedAt"].is_number_integer());
  expect_error(client().get("/api/admin/dead-letters?limit=101", admin_headers()), 400,
               "bad_request");
}

TEST_F(webhook_test, dead_letters_are_replayed_once_their_number_has_a_workspace) {
  auto body = replace_strings(text_message("replay me"), kPhoneNumberId, "5550001112223");
  ASSERT_EQ(post_meta(body).status, 200);
  auto ws2 = create_workspace("Late", "late", "5550001112223");
  ASSERT_EQ(ws2.status, 201) << ws2.body;
  auto key2 = create_api_key(ws2.json().value("id", ""));
  ASSERT_EQ(key2.status, 201);
  header_list h2{{"X-API-Key", key2.json().value("key", "")}};

  auto rp = client().request("POST", "/api/admin/dead-letters/replay", {}, admin_headers());
  ASSERT_EQ(rp.status, 200) << rp.body;
  EXPECT_EQ(rp.json().value("replayed", -1), 1) << rp.body;
  EXPECT_EQ(rp.json().value("remaining", -1), 0) << rp.body;

  auto list = client().get("/api/conversations?status=all", h2).json();
  ASSERT_EQ(list.value("total", -1), 1) << list.dump();
  auto id = list["conversations"][0].value("id", "");
  auto msgs = client().get("/api/conversations/" + id + "/messages", h2).json();
  ASSERT_EQ(msgs["messages"].size(), 1u) << msgs.dump();
  EXPECT_EQ(msgs["messages"][0].value("text", ""), "replay me");
  // The first workspace saw nothing.
  expect_nothing_stored();
  // Replaying again changes nothing (the dead letter is gone, or deduplicated).
  auto again = client().request("POST", "/api/admin/dead-letters/replay", {}, admin_headers());
  EXPECT_EQ(again.status, 200) << again.body;
  msgs = client().get("/api/conversations/" + id + "/messages", h2).json();
  EXPECT_EQ(msgs["messages"].size(), 1u) << msgs.dump();
}

// --- redelivery and concurrency ---

TEST_F(webhook_test, redelivery_yields_one_message) {
  auto raw = text_message("only once").dump();
  for (int i = 0; i < 5; ++i) {
    auto r = post_meta(raw);
    EXPECT_EQ(r.status, 200) << "delivery " << i << ": " << r.body;
  }
  auto convs = conversations_expecting(1);
  ASSERT_EQ(convs.size(), 1u);
  EXPECT_EQ(convs[0].value("unreadCount", -1), 1) << convs[0].dump();
  auto msgs = messages_of(convs[0].value("id", ""));
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].value("text", ""), "only once");
}

TEST_F(webhook_test, concurrent_redelivery_yields_one_message) {
  auto raw = text_message("raced").dump();
  constexpr int kThreads = 8;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i)
    threads.emplace_back([&] {
      try {
        if (post_meta(raw).status == 200)
          ++ok;
      } catch (...) {
      }
    });
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(ok.load(), kThreads);
  auto convs = conversations_expecting(1);
  ASSERT_EQ(convs.size(), 1u);
  EXPECT_EQ(messages_of(convs[0].value("id", "")).size(), 1u);
}

TEST_F(webhook_test, concurrent_first_messages_yield_one_contact_and_one_conversation) {
  constexpr int kThreads = 8;
  std::vector<std::string> bodies;
  for (int i = 0; i < kThreads; ++i)
    bodies.push_back(
        text_message("hello " + std::to_string(i), std::to_string(1697043200 + i), "5511900000001")
            .dump());
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i)
    threads.emplace_back([&, i] {
      try {
        if (post_meta(bodies[i]).status == 200)
          ++ok;
      } catch (...) {
      }
    });
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(ok.load(), kThreads);
  auto contacts = api_get("/api/contacts");
  EXPECT_EQ(contacts.value("total", -1), 1) << contacts.dump();
  auto convs = conversations_expecting(1);
  ASSERT_EQ(convs.size(), 1u);
  auto msgs = messages_of(convs[0].value("id", ""));
  ASSERT_EQ(msgs.size(), static_cast<size_t>(kThreads));
  for (int i = 0; i < kThreads; ++i)
    EXPECT_EQ(msgs[i].value("text", ""), "hello " + std::to_string(i));
}

TEST_F(webhook_test, one_body_with_several_messages_stores_all) {
  auto body = text_message("one");
  auto& messages = body["entry"][0]["changes"][0]["value"]["messages"];
  auto second = messages[0];
  second["id"] = "wamid." + unique_id("S");
  second["text"]["body"] = "two";
  second["timestamp"] = "1697043224";
  messages.push_back(second);
  ingest(body);
  auto convs = conversations_expecting(1);
  ASSERT_EQ(convs.size(), 1u);
  auto msgs = messages_of(convs[0].value("id", ""));
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_EQ(msgs[0].value("text", ""), "one");
  EXPECT_EQ(msgs[1].value("text", ""), "two");
}

// --- Kapso ---

TEST_F(webhook_test, kapso_received_text_is_stored) {
  auto fx = fixture_case("kapso/events_v2.json", "message_received_text");
  auto body = with_unique_wamids(fx["body"]);
  auto raw = body.dump();
  header_list h;
  for (auto& [k, v] : fx["headers"].items())
    h.emplace_back(k, v.get<std::string>());
  h.emplace_back("X-Webhook-Signature", kapso_signature(kKapsoSecret, raw));
  auto r = client().request("POST", "/api/webhook/kapso", raw, h);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json().value("received", false), true);

  auto c = api_get("/api/contacts/by-phone?phone=5511987654321");
  ASSERT_TRUE(c.contains("contact")) << c.dump();
  auto convs = conversations_expecting(1);
  ASSERT_EQ(convs.size(), 1u);
  auto msgs = messages_of(convs[0].value("id", ""));
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].value("text", ""), "Oi! Vocês entregam no sábado?");
  EXPECT_EQ(msgs[0].value("direction", ""), "inbound");

  // A wrong Kapso signature: 401.
  h.back().second = kapso_signature("wrong", raw);
  expect_error(client().request("POST", "/api/webhook/kapso", raw, h), 401, "unauthorized");
}

// Kapso's X-Idempotency-Key: a delivery repeated with its key and body is acknowledged without
// being processed again (counted `repeated`, not `duplicate`); the same key on another body is
// another delivery; a key that is no key is refused and stores nothing.
TEST_F(webhook_test, a_kapso_delivery_repeated_under_its_idempotency_key_is_not_processed_again) {
  auto fx = fixture_case("kapso/events_v2.json", "message_received_text");
  auto post = [&](const json& body, const std::string& key) {
    auto raw = body.dump();
    header_list h{{"Content-Type", "application/json"},
                  {"X-Webhook-Event", fx["headers"]["X-Webhook-Event"].get<std::string>()},
                  {"X-Webhook-Signature", kapso_signature(kKapsoSecret, raw)}};
    if (!key.empty())
      h.emplace_back("X-Idempotency-Key", key);
    return client().request("POST", "/api/webhook/kapso", raw, h);
  };
  auto items = [&](const std::string& outcome) {
    auto page = client().get("/metrics").body;
    auto name = "inboxd_webhook_items_total{outcome=\"" + outcome + "\"} ";
    auto at = page.find(name);
    EXPECT_NE(at, std::string::npos) << page;
    return at == std::string::npos ? -1.0 : std::stod(page.substr(at + name.size()));
  };
  auto first = with_unique_wamids(fx["body"]);
  auto r = post(first, "delivery-1");
  ASSERT_EQ(r.status, 200) << r.body;
  auto duplicates = items("duplicate");
  auto repeated = items("repeated");

  r = post(first, "delivery-1");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json(), json::parse(R"({"deadLettered":0,"events":1,"received":true})"));
  EXPECT_EQ(items("repeated"), repeated + 1);
  EXPECT_EQ(items("duplicate"), duplicates);

  // The same delivery without its key is processed, and found a duplicate.
  ASSERT_EQ(post(first, "").status, 200);
  EXPECT_EQ(items("duplicate"), duplicates + 1);

  // The key again on another body (another message): processed, stored.
  auto second = with_unique_wamids(fx["body"]);
  ASSERT_EQ(post(second, "delivery-1").status, 200);
  auto convs = conversations_expecting(1);
  ASSERT_EQ(convs.size(), 1u);
  EXPECT_EQ(messages_of(convs[0].value("id", "")).size(), 2u);

  for (auto bad : {std::string(256, 'k'), std::string("two words"), std::string("tab\tkey")})
    expect_error(post(with_unique_wamids(fx["body"]), bad), 400, "bad_request");
  EXPECT_EQ(messages_of(convs[0].value("id", "")).size(), 2u);
  EXPECT_EQ(items("repeated"), repeated + 1);
}

} // namespace
} // namespace inboxd::test

namespace inboxd::test {
namespace {

// A per-number callback URL: the same rules as the shared path, for that number only.
TEST_F(webhook_test, a_per_number_path_takes_only_bodies_of_its_number) {
  auto raw = with_unique_wamids(fixture_case("meta/message.json", "text")).dump();
  header_list signed_headers{{"Content-Type", "application/json"},
                             {"X-Hub-Signature-256", meta_signature(kMetaSecret, raw)}};
  auto other = client().request("POST", "/api/webhook/whatsapp/5550001112223", raw, signed_headers);
  expect_error(other, 400, "bad_request");
  expect_nothing_stored();
  auto unsigned_post =
      client().request("POST", std::string("/api/webhook/whatsapp/") + kPhoneNumberId, raw,
                       {{"Content-Type", "application/json"}});
  expect_error(unsigned_post, 401, "unauthorized");
  auto ok = client().request("POST", std::string("/api/webhook/whatsapp/") + kPhoneNumberId, raw,
                             signed_headers);
  ASSERT_EQ(ok.status, 200) << ok.body;
  auto convs = conversations_expecting(1);
  ASSERT_EQ(convs.size(), 1u);
  EXPECT_EQ(messages_of(convs[0]["id"]).size(), 1u);
  auto verify =
      client().get(std::string("/api/webhook/whatsapp/") + kPhoneNumberId +
                   "?hub.mode=subscribe&hub.verify_token=" + kVerifyToken + "&hub.challenge=42");
  EXPECT_EQ(verify.status, 200) << verify.body;
  EXPECT_EQ(verify.body, "42");
}

} // namespace
} // namespace inboxd::test
