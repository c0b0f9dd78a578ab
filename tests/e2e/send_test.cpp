// End-to-end: POST /api/messages/send against the real binary, a real redis-server and a local
// HTTPS fake of the Cloud API (its own CA, trusted through INBOXD_TLS_CA_FILE): the wire request
// for Meta and for Kapso, the error policy (what is retried and what fails at once), the 24-hour
// window, idempotency, read receipts, and restart safety of the outbox.

#include <csignal>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/e2e_test.hpp"
#include "tests/support/fake_cloud_api.hpp"

namespace inboxd::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kSender = "972987654321"; // wa_id in the Meta fixtures
constexpr const char* kToken = "meta-access-token";

std::string seconds_ago(int64_t s) {
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count();
  return std::to_string(now - s);
}

// An inbound text from kSender with a fresh wamid, sent `age_s` seconds ago.
json inbound_text(const std::string& text, int64_t age_s = 10) {
  auto body = with_unique_wamids(fixture_case("meta/message.json", "text"));
  auto& msg = body["entry"][0]["changes"][0]["value"]["messages"][0];
  msg["text"]["body"] = text;
  msg["timestamp"] = seconds_ago(age_s);
  return body;
}

json status_body(const std::string& wamid, const std::string& st) {
  auto body = fixture_case("meta/message_status.json", "sent");
  auto& s = body["entry"][0]["changes"][0]["value"]["statuses"][0];
  s["id"] = wamid;
  s["status"] = st;
  s["timestamp"] = seconds_ago(0);
  return body;
}

class send_test : public e2e_test {
protected:
  inboxd_process::env_map extra_env() const override {
    return {{"INBOXD_TLS_CA_FILE", fake_.ca_file()},
            {"INBOXD_SEND_RETRY_BASE_MS", "50"},
            {"INBOXD_SEND_RETRY_MAX_MS", "200"},
            {"INBOXD_SEND_MAX_ATTEMPTS", "3"},
            {"INBOXD_SEND_TIMEOUT_MS", "1000"}};
  }

  void SetUp() override {
    e2e_test::SetUp();
    if (HasFatalFailure())
      return;
    configure_send({{"baseUrl", base_url(fake_)}, {"accessToken", kToken}});
  }

  static std::string base_url(const fake_cloud_api& f) {
    return "https://127.0.0.1:" + std::to_string(f.port());
  }

  void configure_send(const json& send) {
    auto r = client().request("PATCH", "/api/admin/workspaces/" + ws_id_,
                              json{{"send", send}}.dump(),
                              {{"Authorization", std::string("Bearer ") + kAdminToken},
                               {"Content-Type", "application/json"}});
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_TRUE(r.json().value("sendConfigured", false)) << r.body;
  }

  // Posts an inbound message (opens the reply window unless it is old) and returns the
  // conversation id.
  std::string open_conversation(int64_t age_s = 10) {
    auto r = post_meta(inbound_text("Oi", age_s).dump());
    EXPECT_EQ(r.status, 200) << r.body;
    auto list = all_conversations();
    auto convs = list.value("conversations", json::array());
    if (convs.empty()) {
      ADD_FAILURE() << "no conversation: " << list.dump();
      return "";
    }
    return convs[0]["id"].get<std::string>();
  }

  // A conversation whose newest inbound message (its wamid in `wamid`) is unread; the Cloud API
  // answers 200 from now on.
  std::string unread_conversation(std::string& wamid) {
    auto conv = open_conversation();
    auto second = inbound_text("Ainda aí?", 5);
    wamid = first_wamid(second);
    EXPECT_EQ(post_meta(second.dump()).status, 200);
    fake_.set_responder(
        [](const recorded_request&) { return reply::json(200, R"({"success":true})"); });
    return conv;
  }

  http_response conversation_post(const std::string& conv, const std::string& action) {
    return client().request("POST", "/api/conversations/" + conv + "/" + action, "", api_headers());
  }

  http_response send(const json& body) {
    return client().post_json("/api/messages/send", body, api_headers());
  }

  json message(const std::string& conv, const std::string& id) {
    auto list = api_get("/api/conversations/" + conv + "/messages?limit=100");
    for (auto& m : list.value("messages", json::array()))
      if (m.value("id", "") == id)
        return m;
    return json::object();
  }

  // Waits (up to 20 s) until the message's status is `want`; returns the message.
  json wait_status(const std::string& conv, const std::string& id, const std::string& want) {
    json m;
    for (int i = 0; i < 200; ++i) {
      m = message(conv, id);
      if (m.value("status", "") == want)
        return m;
      std::this_thread::sleep_for(100ms);
    }
    ADD_FAILURE() << "message " << id << " never reached " << want << ": " << m.dump();
    return m;
  }

  std::string send_text(const std::string& conv, const std::string& text = "Olá!") {
    auto r = send({{"conversationId", conv}, {"text", text}});
    EXPECT_EQ(r.status, 202) << r.body;
    auto j = r.json();
    EXPECT_EQ(j["message"].value("status", ""), "queued") << r.body;
    return j["message"].value("id", "");
  }

  fake_cloud_api fake_;
};

TEST_F(send_test, text_goes_out_in_meta_wire_format_and_later_statuses_apply) {
  auto conv = open_conversation();
  auto r = send({{"conversationId", conv}, {"text", "Olá! Entregamos sim."}});
  ASSERT_EQ(r.status, 202) << r.body;
  auto queued = r.json()["message"];
  EXPECT_EQ(queued["direction"], "outbound");
  EXPECT_EQ(queued["origin"], "api");
  EXPECT_EQ(queued["sentBy"], "apikey:" + api_key_id_);
  EXPECT_TRUE(queued["waMessageId"].is_null());
  auto id = queued["id"].get<std::string>();

  ASSERT_TRUE(fake_.wait_for(1, 10s));
  auto req = fake_.requests()[0];
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.target, std::string("/v24.0/") + kPhoneNumberId + "/messages");
  EXPECT_EQ(req.header("authorization"), std::string("Bearer ") + kToken);
  EXPECT_EQ(req.header("x-api-key"), "");
  EXPECT_TRUE(req.header("content-type").starts_with("application/json"));
  auto wire = json::parse(req.body);
  EXPECT_EQ(wire["messaging_product"], "whatsapp");
  EXPECT_EQ(wire["to"], kSender);
  EXPECT_EQ(wire["type"], "text");
  EXPECT_EQ(wire["text"]["body"], "Olá! Entregamos sim.");
  EXPECT_EQ(wire["biz_opaque_callback_data"], id);

  auto sent = wait_status(conv, id, "sent");
  EXPECT_EQ(sent["waMessageId"], "wamid.fake.1");
  auto cv = api_get("/api/conversations/" + conv);
  EXPECT_EQ(cv["lastMessagePreview"], "Olá! Entregamos sim.");

  // Statuses name the wamid the Cloud API gave; they reach the message and never go back.
  ASSERT_EQ(post_meta(status_body("wamid.fake.1", "read").dump()).status, 200);
  ASSERT_EQ(post_meta(status_body("wamid.fake.1", "delivered").dump()).status, 200);
  EXPECT_EQ(message(conv, id)["status"], "read");
  EXPECT_EQ(all_conversations()["total"], 1) << "a status creates no message of its own";
  EXPECT_EQ(api_get("/api/conversations/" + conv + "/messages")["messages"].size(), 2u);
}

TEST_F(send_test, kapso_proxy_gets_its_path_and_api_key) {
  configure_send({{"baseUrl", base_url(fake_) + "/"}, {"apiKey", "kapso-key"}, {"graphVersion", "v21.0"}});
  auto conv = open_conversation();
  auto r = send({{"conversationId", conv},
                 {"type", "document"},
                 {"document", {{"link", "https://example.com/menu.pdf"}, {"caption", "Menu"},
                               {"filename", "menu.pdf"}}}});
  ASSERT_EQ(r.status, 202) << r.body;
  ASSERT_TRUE(fake_.wait_for(1, 10s));
  auto req = fake_.requests()[0];
  EXPECT_EQ(req.target, std::string("/meta/whatsapp/v21.0/") + kPhoneNumberId + "/messages");
  EXPECT_EQ(req.header("x-api-key"), "kapso-key");
  EXPECT_EQ(req.header("authorization"), "");
  auto wire = json::parse(req.body);
  EXPECT_EQ(wire["type"], "document");
  EXPECT_EQ(wire["document"]["link"], "https://example.com/menu.pdf");
  EXPECT_EQ(wire["document"]["caption"], "Menu");
  EXPECT_EQ(wire["document"]["filename"], "menu.pdf");
  wait_status(conv, r.json()["message"]["id"], "sent");
}

TEST_F(send_test, reply_to_becomes_the_context_of_the_wire_request) {
  auto conv = open_conversation();
  auto inbound = api_get("/api/conversations/" + conv + "/messages")["messages"][0];
  auto r = send({{"conversationId", conv}, {"text", "Sim"}, {"replyTo", inbound["id"]}});
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(r.json()["message"]["replyTo"], inbound["id"]);
  ASSERT_TRUE(fake_.wait_for(1, 10s));
  auto wire = json::parse(fake_.requests()[0].body);
  EXPECT_EQ(wire["context"]["message_id"], inbound["waMessageId"]);

  auto bad = send({{"conversationId", conv}, {"text", "x"}, {"replyTo", "msg_nope"}});
  expect_error(bad, 422, "unprocessable");
}

TEST_F(send_test, a_permanent_error_fails_at_once_with_its_code) {
  fake_.set_responder([](const recorded_request&) {
    return meta_error(400, 131047, "Re-engagement message", "More than 24 hours have passed");
  });
  auto conv = open_conversation();
  auto id = send_text(conv);
  auto m = wait_status(conv, id, "failed");
  EXPECT_EQ(m["error"]["code"], 131047) << m.dump();
  EXPECT_NE(m["error"]["title"].get<std::string>().find("Re-engagement"), std::string::npos);
  std::this_thread::sleep_for(500ms); // retries (50 ms backoff) would have happened by now
  EXPECT_EQ(fake_.count(), 1u) << "131047 must not be retried";
}

TEST_F(send_test, a_token_error_fails_and_is_reported) {
  fake_.set_responder([](const recorded_request&) {
    return meta_error(401, 190, "Error validating access token");
  });
  auto conv = open_conversation();
  auto m = wait_status(conv, send_text(conv), "failed");
  EXPECT_EQ(m["error"]["code"], 190);
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(fake_.count(), 1u);
}

// A responder that answers the first request with `first` and then succeeds.
fake_cloud_api::responder first_then_success(reply first) {
  auto n = std::make_shared<std::atomic<int>>(0);
  return [n, first](const recorded_request& req) {
    if (n->fetch_add(1) == 0)
      return first;
    auto to = json::parse(req.body, nullptr, false).value("to", "");
    return reply::json(200, meta_success_body(to, "wamid.after.retry"));
  };
}

TEST_F(send_test, throttling_is_retried_then_sent) {
  fake_.set_responder(first_then_success(meta_error(429, 130429, "Rate limit hit")));
  auto conv = open_conversation();
  auto m = wait_status(conv, send_text(conv), "sent");
  EXPECT_EQ(m["waMessageId"], "wamid.after.retry");
  EXPECT_EQ(fake_.count(), 2u);
}

TEST_F(send_test, a_server_error_is_retried_then_sent) {
  fake_.set_responder(first_then_success(reply::json(500, R"({"error":{"code":1,"message":"x"}})")));
  auto conv = open_conversation();
  wait_status(conv, send_text(conv), "sent");
  EXPECT_EQ(fake_.count(), 2u);
}

TEST_F(send_test, a_hang_past_the_timeout_is_retried_then_sent) {
  fake_.set_responder(first_then_success(reply::hang()));
  auto conv = open_conversation();
  wait_status(conv, send_text(conv), "sent");
  EXPECT_EQ(fake_.count(), 2u);
}

TEST_F(send_test, a_reset_connection_is_retried_then_sent) {
  fake_.set_responder(first_then_success(reply::reset()));
  auto conv = open_conversation();
  wait_status(conv, send_text(conv), "sent");
  EXPECT_EQ(fake_.count(), 2u);
}

TEST_F(send_test, retries_stop_after_the_configured_attempts) {
  fake_.set_responder([](const recorded_request&) { return reply::json(503, "{}"); });
  auto conv = open_conversation();
  auto m = wait_status(conv, send_text(conv), "failed");
  EXPECT_NE(m["error"]["title"].get<std::string>().find("gave up after 3 attempts"),
            std::string::npos)
    << m.dump();
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(fake_.count(), 3u);
}

TEST_F(send_test, an_unreadable_success_answer_fails_without_a_resend) {
  fake_.set_responder([](const recorded_request&) { return reply::json(200, "not json{"); });
  auto conv = open_conversation();
  auto m = wait_status(conv, send_text(conv), "failed");
  EXPECT_NE(m["error"]["title"].get<std::string>().find("unreadable"), std::string::npos);
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(fake_.count(), 1u) << "it may have gone out: no resend";
}

TEST_F(send_test, a_wrong_certificate_is_refused) {
  fake_cloud_api impostor(true, /*wrong_certificate=*/true);
  configure_send({{"baseUrl", base_url(impostor)}, {"accessToken", kToken}});
  auto conv = open_conversation();
  auto m = wait_status(conv, send_text(conv), "failed");
  EXPECT_NE(m["error"]["title"].get<std::string>().find("certificate"), std::string::npos)
    << m.dump();
  EXPECT_EQ(impostor.count(), 0u) << "no request may reach a server with a wrong certificate";
  EXPECT_EQ(fake_.count(), 0u);
}

TEST_F(send_test, the_same_client_message_id_twenty_times_at_once_sends_once) {
  auto conv = open_conversation();
  std::vector<std::thread> threads;
  std::mutex mtx;
  std::set<std::string> ids;
  std::vector<int> statuses;
  for (int i = 0; i < 20; ++i)
    threads.emplace_back([&] {
      auto c = client();
      auto r = c.post_json("/api/messages/send",
                           json{{"conversationId", conv}, {"text", "once"}, {"clientMessageId", "cm-1"}},
                           api_headers());
      std::lock_guard<std::mutex> g(mtx);
      statuses.push_back(r.status);
      if (r.status == 202)
        ids.insert(r.json()["message"]["id"].get<std::string>());
    });
  for (auto& t : threads)
    t.join();
  for (auto s : statuses)
    EXPECT_EQ(s, 202);
  ASSERT_EQ(ids.size(), 1u);
  wait_status(conv, *ids.begin(), "sent");
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(fake_.count(), 1u);
  auto msgs = api_get("/api/conversations/" + conv + "/messages")["messages"];
  EXPECT_EQ(msgs.size(), 2u) << "one inbound + one outbound: " << msgs.dump();
}

TEST_F(send_test, outside_the_window_only_templates_go_out) {
  auto conv = open_conversation(/*age_s=*/25 * 3600);
  EXPECT_FALSE(api_get("/api/conversations/" + conv)["canReply"].get<bool>());
  expect_error(send({{"conversationId", conv}, {"text", "late"}}), 422, "window_closed");
  expect_error(send({{"conversationId", conv},
                     {"type", "image"},
                     {"image", {{"link", "https://example.com/a.png"}}}}),
               422, "window_closed");
  auto r = send({{"conversationId", conv},
                 {"type", "template"},
                 {"template", {{"name", "order_update"}, {"language", "pt_BR"},
                               {"components", json::array()}}}});
  ASSERT_EQ(r.status, 202) << r.body;
  ASSERT_TRUE(fake_.wait_for(1, 10s));
  auto wire = json::parse(fake_.requests()[0].body);
  EXPECT_EQ(wire["type"], "template");
  EXPECT_EQ(wire["template"]["name"], "order_update");
  EXPECT_EQ(wire["template"]["language"]["code"], "pt_BR");
  wait_status(conv, r.json()["message"]["id"], "sent");
  EXPECT_EQ(fake_.count(), 1u) << "the refused messages were not sent";
}

TEST_F(send_test, bad_bodies_get_the_documented_errors_and_send_nothing) {
  auto conv = open_conversation();
  expect_error(send({{"conversationId", conv}}), 400, "bad_request");                  // no text
  expect_error(send({{"conversationId", conv}, {"text", 5}}), 400, "bad_request");      // type
  expect_error(send({{"text", "hi"}}), 400, "bad_request");                             // no conv
  expect_error(send({{"conversationId", conv}, {"type", "hologram"}, {"text", "x"}}), 422,
               "unprocessable"); // unknown type
  expect_error(send({{"conversationId", conv}, {"type", "sticker"}, {"text", "x"}}), 400,
               "bad_request"); // a sticker is {link|id}
  expect_error(send({{"conversationId", conv}, {"text", std::string(4097, 'a')}}), 422,
               "unprocessable");
  // 4,096 characters of two bytes each are fine: the limit counts characters.
  std::string long_ok;
  for (int i = 0; i < 4096; ++i)
    long_ok += "é";
  EXPECT_EQ(send({{"conversationId", conv}, {"text", long_ok}}).status, 202);
  expect_error(send({{"conversationId", "cv_unknown"}, {"text", "hi"}}), 404, "not_found");
  expect_error(client().request("POST", "/api/messages/send", "{", {{"X-API-Key", api_key_},
                                                                    {"Content-Type", "application/json"}}),
               400, "bad_request");
  expect_error(client().request("POST", "/api/messages/send", "{}", {{"X-API-Key", api_key_}}),
               415, "unsupported_media_type");
  expect_error(client().post_json("/api/messages/send", json{{"conversationId", conv}, {"text", "x"}}),
               401, "unauthorized");

  // A conversation of another workspace is not found, whatever the key.
  auto other = create_workspace("Other", "other", "999000999000");
  ASSERT_EQ(other.status, 201);
  auto other_key = create_api_key(other.json()["id"]).json()["key"].get<std::string>();
  auto cross = client().post_json("/api/messages/send", json{{"conversationId", conv}, {"text", "x"}},
                                  {{"X-API-Key", other_key}});
  expect_error(cross, 404, "not_found");

  ASSERT_TRUE(fake_.wait_for(1, 10s));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(fake_.count(), 1u) << "only the valid long message went out";
}

TEST_F(send_test, without_send_settings_sending_is_refused) {
  auto other = create_workspace("NoSend", "nosend", "555000555000");
  ASSERT_EQ(other.status, 201);
  auto key = create_api_key(other.json()["id"]).json()["key"].get<std::string>();
  auto body = with_unique_wamids(fixture_case("meta/message.json", "text"));
  body["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "555000555000";
  ASSERT_EQ(post_meta(body.dump()).status, 200);
  auto list = client().get("/api/conversations?status=all", {{"X-API-Key", key}}).json();
  auto conv = list["conversations"][0]["id"].get<std::string>();
  auto r = client().post_json("/api/messages/send", json{{"conversationId", conv}, {"text", "x"}},
                              {{"X-API-Key", key}});
  expect_error(r, 422, "unprocessable");
  // The typing indicator is a Cloud API call as well.
  r = client().request("POST", "/api/conversations/" + conv + "/typing", "", {{"X-API-Key", key}});
  expect_error(r, 422, "unprocessable");
}

TEST_F(send_test, a_marketing_template_to_a_contact_who_stopped_marketing_is_refused) {
  auto conv = open_conversation();
  fake_.set_responder([](const recorded_request&) {
    return reply::json(200, R"({"messaging_product":"whatsapp","messages":[{"id":"wamid.t"}]})");
  });
  auto prefs = fixture_case("meta/user_marketing_preferences.json", "resume");
  auto& value = prefs["entry"][0]["changes"][0]["value"];
  value["metadata"]["phone_number_id"] = kPhoneNumberId;
  auto& pref = value["user_preferences"][0];
  pref["wa_id"] = kSender;
  pref["value"] = "stop";
  pref["timestamp"] = std::stoll(seconds_ago(60));
  ASSERT_EQ(post_meta(prefs.dump()).status, 200);
  auto ct = api_get(std::string("/api/contacts/by-phone?phone=") + kSender)["contact"];
  EXPECT_EQ(ct["marketingOptOut"], true) << ct.dump();
  EXPECT_EQ(ct["marketingOptOutAt"], pref["timestamp"].get<int64_t>() * 1000) << ct.dump();

  auto tpl = [&](const char* category) {
    return send({{"conversationId", conv},
                 {"type", "template"},
                 {"template", {{"name", "promo"}, {"language", "pt_BR"}, {"category", category}}}});
  };
  expect_error(tpl("marketing"), 422, "opted_out");
  expect_error(tpl("newsletter"), 422, "unprocessable");
  auto r = tpl("utility");
  ASSERT_EQ(r.status, 202) << r.body;
  ASSERT_TRUE(fake_.wait_for(1, 10s));
  auto wire = json::parse(fake_.requests()[0].body);
  EXPECT_EQ(wire["template"]["name"], "promo");
  EXPECT_FALSE(wire["template"].contains("category")) << "inboxd's field, not the Cloud API's";

  // A resume older than the stop (delivered late) changes nothing; a newer one opts back in.
  pref["value"] = "resume";
  pref["timestamp"] = std::stoll(seconds_ago(120));
  ASSERT_EQ(post_meta(prefs.dump()).status, 200);
  expect_error(tpl("marketing"), 422, "opted_out");
  pref["timestamp"] = std::stoll(seconds_ago(0));
  ASSERT_EQ(post_meta(prefs.dump()).status, 200);
  ct = api_get(std::string("/api/contacts/by-phone?phone=") + kSender)["contact"];
  EXPECT_EQ(ct["marketingOptOut"], false) << ct.dump();
  EXPECT_TRUE(ct["marketingOptOutAt"].is_null()) << ct.dump();
  r = tpl("marketing");
  ASSERT_EQ(r.status, 202) << r.body;
}

// Read sends a receipt once, while something is unread; typing sends it with the typing indicator
// every time (the agent is typing again), unread or not.
TEST_F(send_test, read_and_typing_tell_whatsapp_the_latest_inbound_was_read) {
  std::string wamid;
  auto conv = unread_conversation(wamid);
  auto r = conversation_post(conv, "read");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["unreadCount"], 0);
  ASSERT_TRUE(fake_.wait_for(1, 10s));
  auto wire = json::parse(fake_.requests()[0].body);
  EXPECT_EQ(wire["status"], "read");
  EXPECT_EQ(wire["message_id"], wamid);
  EXPECT_FALSE(wire.contains("typing_indicator")) << fake_.requests()[0].body;
  ASSERT_EQ(conversation_post(conv, "read").status, 200);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(fake_.count(), 1u) << "nothing unread: no second receipt";

  for (size_t n = 2; n <= 3; ++n) {
    r = conversation_post(conv, "typing");
    ASSERT_EQ(r.status, 202) << r.body;
    EXPECT_EQ(r.json()["unreadCount"], 0);
    ASSERT_TRUE(fake_.wait_for(n, 10s));
    auto sent = fake_.requests()[n - 1];
    EXPECT_EQ(sent.method, "POST");
    EXPECT_NE(sent.target.find("/messages"), std::string::npos) << sent.target;
    wire = json::parse(sent.body);
    EXPECT_EQ(wire["status"], "read");
    EXPECT_EQ(wire["message_id"], wamid);
    EXPECT_EQ(wire["typing_indicator"], json({{"type", "text"}})) << sent.body;
  }
  expect_error(conversation_post("cv_nope", "typing"), 404, "not_found");
}

TEST_F(send_test, kill_9_with_1000_queued_messages_sends_each_exactly_once_after_restart) {
  // Long retries so that nothing fails for good while the Cloud API is "down".
  inboxd_->stop();
  inboxd_->set_env("INBOXD_SEND_MAX_ATTEMPTS", "100");
  inboxd_->set_env("INBOXD_SEND_RETRY_BASE_MS", "200");
  inboxd_->set_env("INBOXD_SEND_RETRY_MAX_MS", "1000");
  inboxd_->start();
  wait_ready();
  // Down: every request is answered 503 (retryable), so the whole outbox stays queued.
  std::atomic<bool> up{false};
  std::mutex mtx;
  std::map<std::string, int> accepted; // message id (biz_opaque_callback_data) -> 200 answers
  fake_.set_responder([&](const recorded_request& req) {
    if (!up)
      return reply::json(503, R"({"error":{"code":2,"message":"down"}})");
    auto wire = json::parse(req.body, nullptr, false);
    std::lock_guard<std::mutex> g(mtx);
    auto id = wire.value("biz_opaque_callback_data", "");
    ++accepted[id];
    return reply::json(200, meta_success_body(wire.value("to", ""), "wamid." + id));
  });
  auto conv = open_conversation();
  std::vector<std::string> ids(1000);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      http_client c(inboxd_->port(), true);
      for (int i = t; i < 1000; i += 4) {
        auto r = c.post_json("/api/messages/send",
                             json{{"conversationId", conv},
                                  {"text", "n" + std::to_string(i)},
                                  {"clientMessageId", "bulk-" + std::to_string(i)}},
                             api_headers());
        if (r.status == 202)
          ids[i] = r.json()["message"]["id"].get<std::string>();
      }
    });
  for (auto& t : threads)
    t.join();
  for (int i = 0; i < 1000; ++i)
    ASSERT_FALSE(ids[i].empty()) << "send " << i << " was not accepted";
  inboxd_->kill(SIGKILL);
  inboxd_->wait();
  up = true;
  inboxd_->start();
  wait_ready();
  for (int i = 0; i < 600; ++i) {
    {
      std::lock_guard<std::mutex> g(mtx);
      if (accepted.size() >= 1000)
        break;
    }
    std::this_thread::sleep_for(100ms);
  }
  std::this_thread::sleep_for(500ms);
  std::lock_guard<std::mutex> g(mtx);
  EXPECT_EQ(accepted.size(), 1000u);
  for (auto& id : ids) {
    auto i = accepted.find(id);
    ASSERT_NE(i, accepted.end()) << id << " was never delivered";
    EXPECT_EQ(i->second, 1) << id << " was delivered " << i->second << " times";
  }
  // And each is recorded as sent with its wamid (the newest page; recording may lag a little).
  json page;
  for (int i = 0; i < 100; ++i) {
    page = api_get("/api/conversations/" + conv + "/messages?limit=100")["messages"];
    bool all_sent = true;
    for (auto& m : page)
      all_sent = all_sent && (m["direction"] != "outbound" || m["status"] == "sent");
    if (all_sent)
      break;
    std::this_thread::sleep_for(100ms);
  }
  for (auto& m : page)
    if (m["direction"] == "outbound") {
      EXPECT_EQ(m["status"], "sent") << m.dump();
      EXPECT_EQ(m["waMessageId"], "wamid." + m["id"].get<std::string>());
    }
}

} // namespace
} // namespace inboxd::test
