// End-to-end: INBOXD_LOG_FORMAT=json with debug logging and the access log on, against the real
// binary. Drives webhooks with known texts, sends (one refused by the Cloud API with an error
// that echoes the text), API-key and user-token requests, event streams with ?access_token=,
// admin calls and failures; then reads the process's whole log: every line is one JSON object
// with time, level and msg; each request's line carries the X-Request-Id it was answered with;
// no secret, token or message text appears anywhere (API.md "Data protection and limits").

#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "http/jwt.hpp"
#include "messages/crypto.hpp"
#include "tests/e2e/e2e_test.hpp"
#include "tests/support/fake_cloud_api.hpp"
#include "tests/support/sse_client.hpp"

namespace inboxd::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kJwtSecret = "e2e-logs-jwt-secret";
constexpr const char* kAccessToken = "e2e-logs-cloud-api-access-token";
constexpr const char* kInboundText = "INBOUND-TEXT \"quoted\"\nsecond line 7d1f";
constexpr const char* kSentText = "OUTBOUND-TEXT 42ac";
constexpr const char* kRefusedText = "REFUSED-TEXT 9be3";

int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string user_token(const std::string& user) {
  json header = {{"alg", "HS256"}, {"typ", "JWT"}};
  json payload = {{"sub", user}, {"exp", now_s() + 3600}};
  auto head = base64url_encode(header.dump()) + "." + base64url_encode(payload.dump());
  return head + "." + base64url_encode(hmac_sha256_raw(kJwtSecret, head));
}

json inbound_text(const std::string& text) {
  auto body = with_unique_wamids(fixture_case("meta/message.json", "text"));
  auto& msg = body["entry"][0]["changes"][0]["value"]["messages"][0];
  msg["text"]["body"] = text;
  msg["timestamp"] = std::to_string(now_s() - 5);
  return body;
}

class json_logs_test : public e2e_test {
protected:
  inboxd_process::env_map extra_env() const override {
    return {{"INBOXD_LOG_FORMAT", "json"},
            {"INBOXD_LOG_LEVEL", "debug"},
            {"INBOXD_ACCESS_LOG", "all"},
            {"INBOXD_JWT_SECRET", kJwtSecret},
            {"INBOXD_TLS_CA_FILE", fake_.ca_file()},
            {"INBOXD_WEBHOOK_ALLOW_PRIVATE", "1"},
            {"INBOXD_SEND_MAX_ATTEMPTS", "1"},
            {"INBOXD_SEND_TIMEOUT_MS", "2000"}};
  }

  http_response with_id(const std::string& method, const std::string& target,
                        const std::string& body, header_list headers, const std::string& id) {
    headers.emplace_back("X-Request-Id", id);
    if (!body.empty())
      headers.emplace_back("Content-Type", "application/json");
    auto r = client().request(method, target, body, headers);
    EXPECT_EQ(r.header("x-request-id"), id);
    return r;
  }

  fake_cloud_api fake_;
};

TEST_F(json_logs_test, every_line_is_json_with_its_request_id_and_nothing_secret) {
  std::set<std::string> secrets = {kAdminToken,  kMetaSecret,  kVerifyToken,       kKapsoSecret,
                                   kJwtSecret,   kAccessToken, kInboundText,       kSentText,
                                   kRefusedText, api_key_,     "second line 7d1f", "INBOUND-TEXT"};
  secrets.insert(api_key_.substr(api_key_.rfind('_') + 1)); // the key's secret part alone

  // Sending configured (the Cloud API access token is a secret).
  auto patch = with_id("PATCH", "/api/admin/workspaces/" + ws_id_,
                       json{{"send",
                             {{"baseUrl", "https://127.0.0.1:" + std::to_string(fake_.port())},
                              {"accessToken", kAccessToken}}}}
                           .dump(),
                       admin_headers(), "req-admin-patch");
  ASSERT_EQ(patch.status, 200) << patch.body;

  // Meta's handshake carries the verify token in the query.
  auto verify = client().get("/api/webhook/whatsapp?hub.mode=subscribe&hub.verify_token=" +
                             std::string(kVerifyToken) + "&hub.challenge=c1");
  EXPECT_EQ(verify.status, 200);

  // A webhook with a known text (and one with a bad signature).
  auto hook = post_meta(inbound_text(kInboundText).dump());
  ASSERT_EQ(hook.status, 200) << hook.body;
  EXPECT_EQ(post_meta(inbound_text(kInboundText).dump(), "wrong-secret").status, 401);
  auto convs = all_conversations()["conversations"];
  ASSERT_EQ(convs.size(), 1u);
  auto conv = convs[0]["id"].get<std::string>();

  // A send that goes out, then one the Cloud API refuses with an error echoing the text.
  auto sent = with_id("POST", "/api/messages/send",
                      json{{"conversationId", conv}, {"text", kSentText}}.dump(), api_headers(),
                      "req-send-1");
  ASSERT_EQ(sent.status, 202) << sent.body;
  ASSERT_TRUE(fake_.wait_for(1, 10s));
  fake_.set_responder([](const recorded_request&) {
    return meta_error(400, 100, "Invalid parameter",
                      std::string("Param text['body'] is invalid: ") + kRefusedText);
  });
  auto refused = with_id("POST", "/api/messages/send",
                         json{{"conversationId", conv}, {"text", kRefusedText}}.dump(),
                         api_headers(), "req-send-2");
  ASSERT_EQ(refused.status, 202) << refused.body;
  auto refused_id = refused.json()["message"]["id"].get<std::string>();
  bool failed = false;
  for (int i = 0; i < 100 && !failed; ++i) {
    auto page = api_get("/api/conversations/" + conv + "/messages?limit=100");
    for (auto& m : page["messages"])
      if (m.value("id", "") == refused_id && m.value("status", "") == "failed")
        failed = true;
    if (!failed)
      std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(failed) << "the refused send never failed";

  // A user token (membership first, over the admin API).
  auto member = client().request("PUT", "/api/admin/workspaces/" + ws_id_ + "/members/user-7",
                                 json{{"role", "admin"}}.dump(),
                                 {{"Authorization", std::string("Bearer ") + kAdminToken},
                                  {"Content-Type", "application/json"}});
  ASSERT_EQ(member.status, 200) << member.body;
  auto token = user_token("user-7");
  secrets.insert(token);
  secrets.insert(token.substr(token.rfind('.') + 1)); // its signature
  auto as_user =
      with_id("GET", "/api/conversations?status=all", "",
              {{"Authorization", "Bearer " + token}, {"X-Workspace-Id", ws_id_}}, "req-jwt-1");
  EXPECT_EQ(as_user.status, 200) << as_user.body;

  // Event streams authenticated by ?access_token= (a user token, then an API key).
  for (auto& [credential, id] : {std::pair{token, std::string("req-sse-jwt")},
                                 std::pair{api_key_, std::string("req-sse-key")}}) {
    sse_client sse(inboxd_->port(),
                   "/api/events?access_token=" + credential + "&workspace=" + ws_id_,
                   {{"X-Request-Id", id}});
    EXPECT_EQ(sse.read_head(), 200) << sse.head();
  }

  // Admin calls whose answers hold secrets: a new API key, an outgoing webhook's secret.
  auto key = with_id("POST", "/api/admin/workspaces/" + ws_id_ + "/api-keys", "", admin_headers(),
                     "req-admin-key");
  ASSERT_EQ(key.status, 201) << key.body;
  secrets.insert(key.json()["key"].get<std::string>());
  auto hook_created =
      with_id("POST", "/api/webhooks",
              json{{"url", "http://127.0.0.1:9/crm"}, {"events", {"message.created"}}}.dump(),
              api_headers(), "req-hook-create");
  ASSERT_EQ(hook_created.status, 201) << hook_created.body;
  secrets.insert(hook_created.json()["secret"].get<std::string>());

  // Failures: a wrong API key, a bad user token, a wrong admin token, a body that is not JSON
  // (holding a text), an unknown route.
  auto wrong_key = "ibx_" + ws_id_ + "_0123456789abcdef0123456789abcdef0123456789abcdef";
  secrets.insert(wrong_key);
  EXPECT_EQ(
      with_id("GET", "/api/conversations", "", {{"X-API-Key", wrong_key}}, "req-bad-key").status,
      401);
  EXPECT_EQ(with_id("GET", "/api/conversations", "",
                    {{"Authorization", "Bearer " + token + "x"}, {"X-Workspace-Id", ws_id_}},
                    "req-bad-jwt")
                .status,
            401);
  EXPECT_EQ(with_id("GET", "/api/admin/workspaces/" + ws_id_, "",
                    {{"Authorization", "Bearer wrong-admin-token-5e1"}}, "req-bad-admin")
                .status,
            401);
  secrets.insert("wrong-admin-token-5e1");
  EXPECT_EQ(with_id("POST", "/api/messages/send", "{\"text\": \"BROKEN-BODY-TEXT 31c\"",
                    api_headers(), "req-bad-body")
                .status,
            400);
  secrets.insert("BROKEN-BODY-TEXT 31c");
  EXPECT_EQ(with_id("GET", "/api/nope", "", {}, "req-404").status, 404);

  // The whole log, once the process has stopped.
  ASSERT_EQ(inboxd_->stop(), 0);
  auto log = inboxd_->log();
  std::vector<json> lines;
  std::regex rfc3339(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");
  size_t start = 0;
  while (start < log.size()) {
    auto end = log.find('\n', start);
    ASSERT_NE(end, std::string::npos) << "the log ends without a newline";
    auto line = log.substr(start, end - start);
    start = end + 1;
    if (line.starts_with("==== ")) // the test harness's marks (tests/support/inboxd_process.cpp)
      continue;
    auto j = json::parse(line, nullptr, false);
    ASSERT_TRUE(j.is_object()) << "not a JSON object: " << line;
    ASSERT_TRUE(j.contains("time") && j["time"].is_string()) << line;
    EXPECT_TRUE(std::regex_match(j["time"].get<std::string>(), rfc3339)) << line;
    ASSERT_TRUE(j.contains("level") && j["level"].is_string()) << line;
    ASSERT_TRUE(j.contains("msg") && j["msg"].is_string()) << line;
    lines.push_back(std::move(j));
  }
  EXPECT_GT(lines.size(), 20u);
  for (auto& s : secrets)
    EXPECT_EQ(log.find(s), std::string::npos) << "the log holds \"" << s << "\"";

  // The access line of each request named above: its id, route, status, workspace where known.
  auto line_of = [&](const std::string& id) -> json {
    for (auto& j : lines)
      if (j.value("requestId", "") == id)
        return j;
    ADD_FAILURE() << "no log line for " << id;
    return json::object();
  };
  struct expected {
    const char* id;
    const char* route;
    int status;
    bool workspace;
  };
  for (auto& e : std::vector<expected>{{"req-admin-patch", "admin_ws_patch", 200, false},
                                       {"req-send-1", "message_send", 202, true},
                                       {"req-send-2", "message_send", 202, true},
                                       {"req-jwt-1", "conversations_list", 200, true},
                                       {"req-sse-jwt", "events", 200, true},
                                       {"req-sse-key", "events", 200, true},
                                       {"req-admin-key", "admin_key_create", 201, true},
                                       {"req-hook-create", "hooks_create", 201, true},
                                       {"req-bad-key", "conversations_list", 401, true},
                                       {"req-bad-jwt", "conversations_list", 401, false},
                                       {"req-bad-admin", "admin_ws_get", 401, false},
                                       {"req-bad-body", "message_send", 400, false},
                                       {"req-404", "not_found", 404, false}}) {
    auto j = line_of(e.id);
    EXPECT_EQ(j.value("route", ""), e.route) << j.dump();
    EXPECT_EQ(j.value("status", 0), e.status) << j.dump();
    EXPECT_TRUE(j.contains("durationMs") && j["durationMs"].is_number()) << j.dump();
    EXPECT_TRUE(j.contains("method")) << j.dump();
    if (e.workspace) {
      EXPECT_EQ(j.value("workspace", ""), ws_id_) << j.dump();
    }
  }
  // Lines other than the access log's are there too (startup, workspace loads).
  bool listening = false;
  for (auto& j : lines)
    listening = listening || j["msg"].get<std::string>().starts_with("inboxd listening on");
  EXPECT_TRUE(listening);
}

} // namespace
} // namespace inboxd::test
