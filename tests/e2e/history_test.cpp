// End-to-end: the business app's past chats and address book (API.md, "Coexistence, history and
// preferences") through the real binary and a real redis-server: a 3 MiB history body of
// thousands of messages is stored whole, in WhatsApp's order, deduplicated on redelivery, with no
// live event, no unread count, no reply window and no reopened conversation; a media placeholder
// takes its media when described later; the address book names contacts; an echo keeps its
// reply context; Kapso's history_sync messages are history too.

#include <algorithm>
#include <string>
#include <vector>

#include "tests/e2e/e2e_test.hpp"
#include "tests/support/sse_client.hpp"

namespace inboxd::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kBusiness = "15550783881";
constexpr int kThreads = 40;
constexpr int kPerThread = 60; // 2,400 messages in all

std::string phone_of(int thread) {
  return "4930" + std::to_string(5550000 + thread);
}

int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

json meta_change(const std::string& field, json value) {
  value["messaging_product"] = "whatsapp";
  value["metadata"] = {{"display_phone_number", kBusiness}, {"phone_number_id", kPhoneNumberId}};
  return {
      {"object", "whatsapp_business_account"},
      {"entry", json::array({{{"id", "102290129340398"},
                              {"changes", json::array({{{"field", field}, {"value", value}}})}}})}};
}

// A history chunk of kThreads threads of kPerThread messages each (every other one the
// business's), listed out of time order, whose texts are padded so that the body is just under
// `limit` bytes.
std::string history_body(size_t limit) {
  auto build = [](size_t pad) {
    json threads = json::array();
    auto base = now_s() - 30 * 86400;
    for (int t = 0; t < kThreads; ++t) {
      json messages = json::array();
      for (int i = 0; i < kPerThread; ++i) {
        int k = (i * 37) % kPerThread; // a permutation: not in time order
        bool business = k % 2 == 1;
        messages.push_back({{"from", business ? kBusiness : phone_of(t)},
                            {"id", "wamid.HISTORY-" + std::to_string(t) + "-" + std::to_string(k)},
                            {"timestamp", std::to_string(base + t * 1000 + k * 10)},
                            {"type", "text"},
                            {"text", {{"body", std::to_string(k) + " " + std::string(pad, 'x')}}},
                            {"history_context", {{"status", business ? "DELIVERED" : "READ"}}}});
      }
      threads.push_back({{"id", phone_of(t)}, {"messages", messages}});
    }
    return meta_change(
               "history",
               {{"history",
                 json::array({{{"metadata", {{"phase", 1}, {"chunk_order", 1}, {"progress", 40}}},
                               {"threads", threads}}})}})
        .dump();
  };
  size_t bare = build(0).size();
  size_t pad = (limit - 1024 - bare) / (kThreads * kPerThread);
  return build(pad);
}

class history_test : public e2e_test {
protected:
  // A 3 MiB body of 2,400 messages takes the sanitizer build about a second, more on a busy
  // machine (a redelivery reads every message back): beyond the default 2 s deadline the answer
  // would be 503 for reasons of speed, which this test does not measure (bench scenario 8 does).
  inboxd_process::env_map extra_env() const override {
    return {{"INBOXD_REQUEST_TIMEOUT_MS", "30000"}};
  }

  json conversation_of(const std::string& phone) {
    auto ct = api_get("/api/contacts/by-phone?phone=" + phone)["contact"];
    auto list = all_conversations();
    for (auto& c : list["conversations"])
      if (c["contact"]["id"] == ct["id"])
        return c;
    return json();
  }

  // Every message of a conversation, oldest first.
  json all_messages(const std::string& conv) {
    json out = json::array();
    std::string before;
    for (int pages = 0; pages < 100; ++pages) {
      auto page = api_get("/api/conversations/" + conv + "/messages?limit=100" +
                          (before.empty() ? "" : "&before=" + before));
      auto msgs = page.value("messages", json::array());
      out.insert(out.begin(), msgs.begin(), msgs.end());
      if (!page["nextBefore"].is_string())
        break;
      before = page["nextBefore"].get<std::string>();
    }
    return out;
  }

  json live_text(const std::string& phone, const std::string& text) {
    return meta_change(
        "messages",
        {{"contacts", json::array({{{"profile", {{"name", "Live"}}}, {"wa_id", phone}}})},
         {"messages", json::array({{{"from", phone},
                                    {"id", unique_id("wamid.LIVE-")},
                                    {"timestamp", std::to_string(now_s())},
                                    {"type", "text"},
                                    {"text", {{"body", text}}}}})}});
  }

  http_response post_kapso(const json& c) {
    auto body = c["body"].dump();
    header_list h{{"Content-Type", "application/json"},
                  {"X-Webhook-Event", c["headers"]["X-Webhook-Event"].get<std::string>()},
                  {"X-Idempotency-Key", c["headers"]["X-Idempotency-Key"].get<std::string>()},
                  {"X-Webhook-Signature", kapso_signature(kKapsoSecret, body)}};
    return client().request("POST", "/api/webhook/kapso", body, h);
  }
};

TEST_F(history_test, a_3_mib_history_body_is_stored_whole_without_live_effects) {
  // Thread 0's contact already wrote: an open conversation with one unread message.
  ASSERT_EQ(post_meta(live_text(phone_of(0), "live before")).status, 200);
  auto before = conversation_of(phone_of(0));
  ASSERT_EQ(before["unreadCount"], 1) << before.dump();
  ASSERT_TRUE(before["canReply"].get<bool>());

  sse_client sub(inboxd_->port(), "/api/events", {{"X-API-Key", api_key_}});
  ASSERT_EQ(sub.read_head(), 200) << sub.head();

  auto body = history_body(kWebhookLimit);
  ASSERT_LE(body.size(), kWebhookLimit);
  ASSERT_GT(body.size(), kWebhookLimit - 64 * 1024) << "about 3 MiB";
  auto r = post_meta(body);
  ASSERT_EQ(r.status, 200) << r.body;

  // Stored whole: every thread a conversation, every message once, in WhatsApp's order.
  auto list = all_conversations();
  ASSERT_EQ(list["total"], kThreads) << list.dump().substr(0, 500);
  size_t stored = 0;
  for (int t = 0; t < kThreads; ++t) {
    SCOPED_TRACE("thread " + std::to_string(t));
    auto conv = conversation_of(phone_of(t));
    ASSERT_TRUE(conv.is_object());
    auto msgs = all_messages(conv["id"]);
    size_t history = 0;
    for (size_t i = 0; i < msgs.size(); ++i) {
      if (i > 0) {
        EXPECT_LE(msgs[i - 1]["timestamp"].get<int64_t>(), msgs[i]["timestamp"].get<int64_t>());
      }
      if (msgs[i]["origin"] != "history")
        continue;
      ++history;
      bool business = msgs[i]["direction"] == "outbound";
      EXPECT_EQ(msgs[i]["status"], business ? "delivered" : "read") << msgs[i].dump();
    }
    EXPECT_EQ(history, static_cast<size_t>(kPerThread));
    stored += history;
    if (t == 0) { // the open conversation: nothing of its live state changed
      EXPECT_EQ(conv["status"], "open");
      EXPECT_EQ(conv["unreadCount"], 1);
      EXPECT_EQ(conv["lastInboundAt"], before["lastInboundAt"]);
      EXPECT_TRUE(conv["canReply"].get<bool>());
    } else { // created by history: closed, nothing unread, no reply window
      EXPECT_EQ(conv["status"], "closed") << conv.dump();
      EXPECT_EQ(conv["unreadCount"], 0);
      EXPECT_TRUE(conv["lastInboundAt"].is_null()) << conv.dump();
      EXPECT_FALSE(conv["canReply"].get<bool>());
    }
  }
  EXPECT_EQ(stored, static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(api_get("/api/conversations")["total"], 1) << "only the live one is open";

  // Redelivered: acknowledged, nothing stored twice.
  ASSERT_EQ(post_meta(body).status, 200);
  EXPECT_EQ(all_messages(conversation_of(phone_of(5))["id"]).size(),
            static_cast<size_t>(kPerThread));

  // No live event came of the history: the first event now is the next live message's.
  ASSERT_EQ(post_meta(live_text(phone_of(7), "back again")).status, 200);
  auto e = sub.next();
  ASSERT_TRUE(e) << "no event";
  EXPECT_EQ(e->type, "message.created") << e->data;
  EXPECT_EQ(e->json()["message"]["text"], "back again") << e->data;
  // The contact wrote: its conversation reopens with one unread message and an open window.
  auto reopened = conversation_of(phone_of(7));
  EXPECT_EQ(reopened["status"], "open");
  EXPECT_EQ(reopened["unreadCount"], 1);
  EXPECT_TRUE(reopened["canReply"].get<bool>());
  EXPECT_EQ(all_messages(reopened["id"]).size(), static_cast<size_t>(kPerThread + 1));
}

TEST_F(history_test, placeholders_take_their_media_and_the_address_book_names_contacts) {
  auto fixture = [](const std::string& name) {
    return fixture_case("coexistence/meta.json", name);
  };
  ASSERT_EQ(post_meta(fixture("history_threads")).status, 200);
  auto conv = conversation_of("16505551234");
  ASSERT_TRUE(conv.is_object());
  auto msgs = all_messages(conv["id"]);
  ASSERT_EQ(msgs.size(), 4u) << msgs.dump();
  EXPECT_EQ(msgs[1]["type"], "media_placeholder");
  EXPECT_EQ(msgs[3]["replyTo"], msgs[0]["id"]) << "a reply keeps its context";
  EXPECT_EQ(msgs[3]["status"], "received") << "the business app had not read it";
  EXPECT_EQ(conversation_of("12125557890")["lastMessagePreview"], "Still there?");
  EXPECT_EQ(all_messages(conversation_of("12125557890")["id"])[1]["status"], "failed");

  // The media webhook describes the placeholder: the same message, now an image.
  ASSERT_EQ(post_meta(fixture("history_media")).status, 200);
  msgs = all_messages(conv["id"]);
  ASSERT_EQ(msgs.size(), 4u);
  EXPECT_EQ(msgs[1]["type"], "image") << msgs[1].dump();
  EXPECT_EQ(msgs[1]["media"]["id"], "24230790383178626");
  EXPECT_EQ(msgs[1]["text"], "Black Prince echeveria");
  EXPECT_EQ(msgs[1]["origin"], "history");

  // Sharing declined: acknowledged, nothing stored.
  ASSERT_EQ(post_meta(fixture("history_declined")).status, 200);
  EXPECT_EQ(all_conversations()["total"], 2);

  // The phone app's address book names contacts; a removal gives the name back.
  ASSERT_EQ(post_meta(fixture("state_sync_add")).status, 200);
  EXPECT_EQ(api_get("/api/contacts/by-phone?phone=16505551234")["contact"]["name"],
            "Pablo Morales");
  EXPECT_EQ(api_get("/api/contacts/by-phone?phone=12125557890")["contact"]["name"], "Ana");
  ASSERT_EQ(post_meta(fixture("state_sync_remove")).status, 200);
  auto removed = api_get("/api/contacts/by-phone?phone=16505551234")["contact"];
  EXPECT_TRUE(removed["name"].is_null() || removed["name"] == "") << removed.dump();
  EXPECT_EQ(all_conversations()["total"], 2) << "the address book opens no conversation";
  EXPECT_EQ(api_get("/api/conversations")["total"], 0) << "nor any open one";

  // An echo from the phone app replying to an imported message keeps its reply context.
  ASSERT_EQ(post_meta(fixture("echo_reply")).status, 200);
  msgs = all_messages(conv["id"]);
  ASSERT_EQ(msgs.size(), 5u);
  EXPECT_EQ(msgs[4]["origin"], "business_app");
  EXPECT_EQ(msgs[4]["replyTo"], msgs[3]["id"]);
}

TEST_F(history_test, kapso_history_sync_messages_are_history) {
  auto cases = load_fixture("coexistence/kapso.json");
  ASSERT_EQ(post_kapso(cases["message_received_history_sync"]).status, 200);
  ASSERT_EQ(post_kapso(cases["message_sent_history_sync"]).status, 200);
  auto conv = conversation_of("16505551234");
  ASSERT_TRUE(conv.is_object());
  EXPECT_EQ(conv["status"], "closed");
  EXPECT_EQ(conv["unreadCount"], 0);
  EXPECT_FALSE(conv["canReply"].get<bool>());
  auto msgs = all_messages(conv["id"]);
  ASSERT_EQ(msgs.size(), 2u) << msgs.dump();
  EXPECT_EQ(msgs[0]["origin"], "history");
  EXPECT_EQ(msgs[0]["direction"], "outbound");
  EXPECT_EQ(msgs[0]["status"], "delivered");
  EXPECT_EQ(msgs[1]["origin"], "history");
  EXPECT_EQ(msgs[1]["status"], "read");
}

} // namespace
} // namespace inboxd::test
