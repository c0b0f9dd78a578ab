// End-to-end: the bot hook with the example bot (examples/echo-bot/echo_bot.py, run for real with
// Debian's python3) against the real binary, a real redis-server and a local HTTPS fake of the
// Cloud API: inbound messages of `ai` conversations reach the bot, signed; the bot answers through
// the send API; a person's reply or a business-app echo takes the conversation to `human`, and
// the bot then gets nothing more from it.

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "http/jwt.hpp"
#include "messages/crypto.hpp"
#include "tests/e2e/e2e_test.hpp"
#include "tests/support/fake_cloud_api.hpp"
#include "tests/support/promtool.hpp"

extern char** environ;

namespace inboxd::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kJwtSecret = "e2e-jwt-secret";
constexpr const char* kBotSecret = "e2e-bot-secret-0123456789";

int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string token_for(const std::string& user) {
  json header{{"alg", "HS256"}, {"typ", "JWT"}};
  json payload{{"sub", user}, {"exp", now_s() + 3600}};
  auto head = base64url_encode(header.dump()) + "." + base64url_encode(payload.dump());
  return head + "." + base64url_encode(hmac_sha256_raw(kJwtSecret, head));
}

// An inbound text `body` from `phone`, sent just now.
json inbound(const std::string& phone, const std::string& body) {
  auto b = with_unique_wamids(fixture_case("meta/message.json", "text"));
  auto& v = b["entry"][0]["changes"][0]["value"];
  v["contacts"][0]["wa_id"] = phone;
  v["contacts"][0].erase("user_id");
  v["messages"][0]["from"] = phone;
  v["messages"][0]["text"]["body"] = body;
  v["messages"][0]["timestamp"] = std::to_string(now_s());
  return b;
}

// A business-app echo (the business answered from the phone app) to `phone`.
json echo_to(const std::string& phone) {
  auto b = with_unique_wamids(fixture_case("meta/outgoing_message.json", "text"));
  auto& v = b["entry"][0]["changes"][0]["value"];
  v["contacts"][0]["wa_id"] = phone;
  v["contacts"][0].erase("user_id");
  v["contacts"][0].erase("parent_user_id");
  auto& e = v["message_echoes"][0];
  e["to"] = phone;
  e.erase("to_user_id");
  e.erase("to_parent_user_id");
  e["timestamp"] = std::to_string(now_s());
  return b;
}

class bot_test : public e2e_test {
protected:
  inboxd_process::env_map extra_env() const override {
    return {{"INBOXD_TLS_CA_FILE", cloud_.ca_file()},
            {"INBOXD_WEBHOOK_ALLOW_PRIVATE", "1"},
            {"INBOXD_WEBHOOK_RETRY_BASE_MS", "100"},
            {"INBOXD_WEBHOOK_RETRY_MAX_MS", "500"},
            {"INBOXD_JWT_SECRET", kJwtSecret}};
  }

  void SetUp() override {
    e2e_test::SetUp();
    if (HasFatalFailure())
      return;
    cloud_.set_responder([this](const recorded_request&) {
      return reply::json(200, meta_success_body("x", "wamid.sent." + std::to_string(++wamids_)));
    });
    log_ = ::testing::TempDir() + "echo_bot_" + std::to_string(::getpid()) + "_" +
           std::to_string(inboxd_->port()) + ".log";
    start_bot();
    if (HasFatalFailure())
      return;
    auto r = client().request(
        "PATCH", "/api/admin/workspaces/" + ws_id_,
        json{{"defaultMode", "ai"},
             {"send",
              {{"baseUrl", "https://127.0.0.1:" + std::to_string(cloud_.port())},
               {"accessToken", "token"}}},
             {"bot",
              {{"url", "http://127.0.0.1:" + std::to_string(bot_port_) + "/inboxd"},
               {"secret", kBotSecret}}}}
            .dump(),
        {{"Authorization", std::string("Bearer ") + kAdminToken},
         {"Content-Type", "application/json"}});
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_EQ(r.json()["bot"],
              json({{"url", "http://127.0.0.1:" + std::to_string(bot_port_) + "/inboxd"}}))
        << r.body; // never the secret
    auto m = client().request("PUT", "/api/admin/workspaces/" + ws_id_ + "/members/agent-1",
                              json{{"role", "agent"}}.dump(),
                              {{"Authorization", std::string("Bearer ") + kAdminToken},
                               {"Content-Type", "application/json"}});
    ASSERT_EQ(m.status, 200) << m.body;
  }

  void TearDown() override {
    if (bot_pid_ > 0) {
      ::kill(bot_pid_, SIGTERM);
      ::waitpid(bot_pid_, nullptr, 0);
    }
    e2e_test::TearDown();
  }

  void start_bot() {
    std::string script = std::string(INBOXD_SOURCE_DIR) + "/examples/echo-bot/echo_bot.py";
    std::vector<std::string> env{"INBOXD_URL=" + inboxd_->base_url(), "INBOXD_API_KEY=" + api_key_,
                                 std::string("BOT_SECRET=") + kBotSecret, "BOT_PORT=0",
                                 "PATH=/usr/bin:/bin"};
    std::vector<char*> envp;
    for (auto& e : env)
      envp.push_back(e.data());
    envp.push_back(nullptr);
    std::string py = "python3";
    std::vector<char*> argv{py.data(), script.data(), nullptr};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    ASSERT_EQ(posix_spawnp(&bot_pid_, "python3", &fa, nullptr, argv.data(), envp.data()), 0)
        << "python3 is needed for the example bot (scripts/deps.sh installs it)";
    posix_spawn_file_actions_destroy(&fa);
    // It listens on a port the system picked and names it: "listening on http://addr:port/".
    const std::string mark = "listening on http://127.0.0.1:";
    for (int i = 0; i < 200 && bot_log().find(mark) == std::string::npos; ++i)
      std::this_thread::sleep_for(50ms);
    auto log = bot_log();
    auto at = log.find(mark);
    ASSERT_NE(at, std::string::npos) << log;
    bot_port_ = std::atoi(log.c_str() + at + mark.size());
    ASSERT_GT(bot_port_, 0) << log;
  }

  std::string bot_log() const {
    std::ifstream f(log_);
    return std::string(std::istreambuf_iterator<char>(f), {});
  }

  // The texts the Cloud API was asked to send to `phone`.
  std::vector<std::string> sent_to(const std::string& phone) {
    std::vector<std::string> out;
    for (auto& r : cloud_.requests()) {
      auto j = json::parse(r.body, nullptr, false);
      if (j.is_object() && j.value("to", "") == phone && j.contains("text"))
        out.push_back(j["text"].value("body", ""));
    }
    return out;
  }

  // Waits (up to 30 s) until `text` was sent to `phone`.
  void wait_sent(const std::string& phone, const std::string& text) {
    for (int i = 0; i < 300; ++i) {
      for (auto& t : sent_to(phone))
        if (t == text)
          return;
      std::this_thread::sleep_for(100ms);
    }
    ADD_FAILURE() << "never sent to " << phone << ": " << text << "\nbot log:\n" << bot_log();
  }

  json conversation_of(const std::string& phone) {
    for (auto& c : all_conversations().value("conversations", json::array()))
      if (c["contact"].value("phone", "") == phone)
        return c;
    return json::object();
  }

  json bot_deliveries(const std::string& status) {
    return api_get("/api/webhooks/bot/deliveries?limit=100&status=" + status)["deliveries"];
  }

  // The bot's succeeded deliveries once none is pending (an outcome is recorded a moment after
  // the bot's answer: the bot may have replied before).
  json settled_bot_deliveries() {
    for (int i = 0; i < 300 && !bot_deliveries("pending").empty(); ++i)
      std::this_thread::sleep_for(100ms);
    EXPECT_TRUE(bot_deliveries("pending").empty());
    return bot_deliveries("succeeded");
  }

  fake_cloud_api cloud_{true};
  std::atomic<int> wamids_{0};
  int bot_port_ = 0;
  pid_t bot_pid_ = -1;
  std::string log_;
};

TEST_F(bot_test, the_bot_answers_ai_conversations_until_a_person_replies) {
  const std::string a = "5511900000001", b = "5511900000002";
  ASSERT_EQ(post_meta(inbound(a, "hello").dump()).status, 200);
  wait_sent(a, "echo: hello");
  auto conv = conversation_of(a);
  ASSERT_EQ(conv.value("mode", ""), "ai") << conv.dump();
  // The bot's send (an API key) leaves the conversation with the bot: the next message reaches it.
  ASSERT_EQ(post_meta(inbound(a, "second").dump()).status, 200);
  wait_sent(a, "echo: second");
  EXPECT_EQ(conversation_of(a).value("mode", ""), "ai");

  // A person answers (a user token): the conversation is the humans' now.
  auto r = client().post_json(
      "/api/messages/send", {{"conversationId", conv["id"]}, {"text", "A person here"}},
      {{"Authorization", "Bearer " + token_for("agent-1")}, {"X-Workspace-Id", ws_id_}});
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(conversation_of(a).value("mode", ""), "human");
  ASSERT_EQ(post_meta(inbound(a, "third").dump()).status, 200);
  // Another ai conversation's message, after it: once the bot answered that one, the earlier
  // one would have been delivered too.
  ASSERT_EQ(post_meta(inbound(b, "marker").dump()).status, 200);
  wait_sent(b, "echo: marker");
  for (auto& t : sent_to(a))
    EXPECT_NE(t, "echo: third");
  auto done = settled_bot_deliveries();
  EXPECT_EQ(done.size(), 3u) << done.dump(); // hello, second, marker
  EXPECT_TRUE(bot_deliveries("failed").empty());
  EXPECT_EQ(bot_log().find("refused"), std::string::npos) << bot_log();

  // The humans hand it back: the bot answers again.
  auto h = client().post_json("/api/conversations/" + conv["id"].get<std::string>() + "/handover",
                              {{"mode", "ai"}}, api_headers());
  ASSERT_EQ(h.status, 200) << h.body;
  ASSERT_EQ(post_meta(inbound(a, "fourth").dump()).status, 200);
  wait_sent(a, "echo: fourth");
}

TEST_F(bot_test, an_echo_from_the_phone_app_hands_the_conversation_to_people) {
  const std::string a = "5511900000003";
  ASSERT_EQ(post_meta(inbound(a, "hi").dump()).status, 200);
  wait_sent(a, "echo: hi");
  ASSERT_EQ(post_meta(echo_to(a).dump()).status, 200);
  EXPECT_EQ(conversation_of(a).value("mode", ""), "human");
  ASSERT_EQ(post_meta(inbound(a, "after the echo").dump()).status, 200);
  ASSERT_EQ(post_meta(inbound("5511900000004", "marker").dump()).status, 200);
  wait_sent("5511900000004", "echo: marker");
  for (auto& t : sent_to(a))
    EXPECT_NE(t, "echo: after the echo");
  EXPECT_EQ(settled_bot_deliveries().size(), 2u);
}

TEST_F(bot_test, the_bot_says_human_and_hands_over) {
  const std::string a = "5511900000005";
  ASSERT_EQ(post_meta(inbound(a, "human").dump()).status, 200);
  for (int i = 0; i < 300 && conversation_of(a).value("mode", "") != "human"; ++i)
    std::this_thread::sleep_for(100ms);
  EXPECT_EQ(conversation_of(a).value("mode", ""), "human") << bot_log();
  EXPECT_TRUE(sent_to(a).empty());
}

TEST_F(bot_test, a_forged_delivery_is_refused_by_the_bot_and_the_setting_is_checked) {
  // The example bot checks the signature: a delivery signed with another secret is refused.
  http_client bot(bot_port_, false);
  auto body = std::string(R"({"id":"1-0","type":"message.created"})");
  auto ts = std::to_string(now_s());
  auto forged = bot.request(
      "POST", "/inboxd", body,
      {{"Content-Type", "application/json"},
       {"X-Inboxd-Timestamp", ts},
       {"X-Inboxd-Delivery", "1-0"},
       {"X-Inboxd-Signature", "sha256=" + hmac_sha256_hex("another-secret", ts + "." + body)}});
  EXPECT_EQ(forged.status, 401);
  auto patch = [&](const json& bot_setting) {
    return client().request("PATCH", "/api/admin/workspaces/" + ws_id_,
                            json{{"bot", bot_setting}}.dump(),
                            {{"Authorization", std::string("Bearer ") + kAdminToken},
                             {"Content-Type", "application/json"}});
  };
  EXPECT_EQ(patch({{"url", "http://127.0.0.1:1/x"}, {"secret", "short"}}).status, 422);
  EXPECT_EQ(patch({{"url", "not a url"}, {"secret", kBotSecret}}).status, 422);
  EXPECT_EQ(patch({{"url", 5}, {"secret", kBotSecret}}).status, 400);
  EXPECT_EQ(patch("x").status, 400);
  // Removed: inbound messages of ai conversations go nowhere.
  auto removed = patch(nullptr);
  ASSERT_EQ(removed.status, 200) << removed.body;
  EXPECT_TRUE(removed.json()["bot"].is_null());
  ASSERT_EQ(post_meta(inbound("5511900000006", "nobody").dump()).status, 200);
  auto list = client().get("/api/webhooks/bot/deliveries", api_headers());
  EXPECT_EQ(list.status, 404) << list.body;
}

TEST_F(bot_test, the_bots_of_all_workspaces_share_one_metric_series) {
  auto other =
      create_workspace("Other", "other", "2233445566778",
                       {{"bot",
                         {{"url", "http://127.0.0.1:" + std::to_string(bot_port_) + "/other"},
                          {"secret", kBotSecret}}}});
  ASSERT_EQ(other.status, 201) << other.body;
  auto created = create_api_key(other.json()["id"].get<std::string>());
  ASSERT_EQ(created.status, 201);
  auto other_key = created.json()["key"].get<std::string>();
  // Answered once each workspace's hook actor has loaded, with its bot.
  for (auto& k : {api_key_, other_key}) {
    auto r = client().get("/api/webhooks/bot/deliveries", {{"X-API-Key", k}});
    ASSERT_EQ(r.status, 200) << r.body;
  }
  auto page = client().get("/metrics").body;
  size_t series = 0;
  const std::string line = "\ninboxd_outgoing_webhook_queue_depth{endpoint=\"bot\"} ";
  for (auto at = page.find(line); at != std::string::npos; at = page.find(line, at + 1))
    ++series;
  EXPECT_EQ(series, 1u) << page;
  auto checked = promtool_check_metrics(page);
  EXPECT_TRUE(checked.ok()) << checked.output;
}

} // namespace
} // namespace inboxd::test
