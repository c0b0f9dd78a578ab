#pragma once
// The base of the end-to-end tests: a real redis-server and the real inboxd binary (started with
// an admin token and deployment-wide secrets), one workspace for phone_number_id 1122334455667
// (the number most Meta fixtures use) and an API key for it. Each test gets fresh processes.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/fixtures.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/inboxd_process.hpp"
#include "tests/support/redis_server.hpp"

namespace inboxd::test {

inline constexpr const char* kAdminToken = "e2e-admin-token";
inline constexpr const char* kMetaSecret = "e2e-meta-app-secret";
inline constexpr const char* kVerifyToken = "e2e-verify-token";
inline constexpr const char* kKapsoSecret = "e2e-kapso-secret";
inline constexpr const char* kPhoneNumberId = "1122334455667";
inline constexpr size_t kWebhookLimit = 3 * 1024 * 1024;
inline constexpr const char* kClusterSecret = "e2e-cluster-secret-0123456789"; // scale-out tests

/// The value of one sample line `name{labels} value` of GET /metrics on `port` (-1 when absent).
inline double metric(int port, const std::string& series) {
  auto page = "\n" + http_client(port, false).get("/metrics").body;
  auto pos = page.find("\n" + series + " ");
  return pos == std::string::npos ? -1 : std::stod(page.substr(pos + series.size() + 2));
}

/// Expects the error shape {"error":{"code","message"}} with the given status and code.
inline void expect_error(const http_response& r, int status, const std::string& code) {
  EXPECT_EQ(r.status, status) << r.body;
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  ASSERT_TRUE(j.is_object()) << "error body is not a JSON object: " << r.body;
  ASSERT_TRUE(j.contains("error") && j["error"].is_object()) << r.body;
  EXPECT_EQ(j["error"].value("code", ""), code) << r.body;
  ASSERT_TRUE(j["error"].contains("message")) << r.body;
  EXPECT_TRUE(j["error"]["message"].is_string()) << r.body;
  EXPECT_FALSE(j["error"]["message"].get<std::string>().empty()) << r.body;
  EXPECT_TRUE(r.header("content-type").starts_with("application/json")) << r.header("content-type");
  EXPECT_FALSE(r.header("x-request-id").empty());
}

/// Waits (up to 30 s) until GET /readyz on `port` answers 200: Redis connected and workspaces
/// loaded.
inline void wait_until_ready(int port) {
  for (int i = 0; i < 300; ++i) {
    if (http_client(port, false).get("/readyz").status == 200)
      return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  FAIL() << "inboxd did not become ready";
}

/// Delivers as Meta does: `post(attempt)` is called again after anything but 200 (50 ms apart)
/// for up to `limit`; it returns the status (its own choice for a failure to connect). Returns
/// the last status.
inline int deliver_until_acknowledged(const std::function<int(int attempt)>& post,
                                      std::chrono::seconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  int status = 0;
  for (int attempt = 0; status != 200 && std::chrono::steady_clock::now() < until; ++attempt) {
    if (attempt > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    status = post(attempt);
  }
  return status;
}

/// The settings of scale-out node `name` on `port` (its advertised address) sharing `redis_url`.
inline inboxd_process::env_map node_env(const std::string& name, int port,
                                        const std::string& redis_url, const std::string& lease_ms) {
  return {{"INBOXD_REDIS_URL", redis_url},
          {"INBOXD_HTTP_PORT", std::to_string(port)},
          {"INBOXD_ADMIN_TOKEN", kAdminToken},
          {"INBOXD_META_APP_SECRET", kMetaSecret},
          {"INBOXD_NODE_ID", name},
          {"INBOXD_ADVERTISE_URL", "http://127.0.0.1:" + std::to_string(port)},
          {"INBOXD_CLUSTER_SECRET", kClusterSecret},
          {"INBOXD_LEASE_MS", lease_ms},
          {"INBOXD_LOG_LEVEL", "info"}};
}

/// The status of a signed Meta webhook `raw` posted to the node on `port` (0 when it cannot be
/// reached: refused, reset, or no node at all).
inline int webhook_status(int port, const std::string& raw) {
  if (port == 0)
    return 0;
  try {
    return http_client(port, false)
        .request("POST", "/api/webhook/whatsapp", raw,
                 {{"Content-Type", "application/json"},
                  {"X-Hub-Signature-256", meta_signature(kMetaSecret, raw)}})
        .status;
  } catch (const std::exception&) {
    return 0;
  }
}

/// Contact phone -> the texts of the webhooks from it that were answered 200.
using acknowledged_texts = std::map<std::string, std::vector<std::string>>;

/// Reads the workspace of `api_key` through the node at `port` (fault tests): one conversation
/// per contact, each acknowledged text stored in it exactly once, nothing stored twice. Returns
/// the number of conversations and adds the number of acknowledged texts to `acked_total`.
inline size_t expect_stored_once(int port, const std::string& api_key,
                                 const acknowledged_texts& acked, size_t& acked_total) {
  auto list = http_client(port, false)
                  .get("/api/conversations?status=all&limit=100", {{"X-API-Key", api_key}});
  EXPECT_EQ(list.status, 200) << list.body;
  if (list.status != 200)
    return 0;
  auto listed = list.json();
  std::map<std::string, std::string> conv_of; // contact phone -> conversation
  for (auto& c : listed["conversations"]) {
    auto phone = c["contact"]["phone"].get<std::string>();
    EXPECT_EQ(conv_of.count(phone), 0u) << "two conversations for " << phone;
    conv_of[phone] = c["id"];
  }
  for (auto& [from, texts] : acked) {
    acked_total += texts.size();
    EXPECT_EQ(conv_of.count(from), 1u) << "no conversation for " << from;
    if (!conv_of.count(from))
      continue;
    std::map<std::string, int> seen;
    std::string before; // every page, newest first
    for (int pages = 0; pages < 1000; ++pages) {
      auto m = http_client(port, false)
                   .get("/api/conversations/" + conv_of[from] + "/messages?limit=100" +
                            (before.empty() ? "" : "&before=" + before),
                        {{"X-API-Key", api_key}});
      EXPECT_EQ(m.status, 200) << m.body;
      if (m.status != 200)
        break;
      auto page = m.json();
      for (auto& msg : page["messages"])
        ++seen[msg.value("text", "")];
      if (!page["nextBefore"].is_string())
        break;
      before = page["nextBefore"].get<std::string>();
    }
    for (auto& [text, n] : seen)
      EXPECT_EQ(n, 1) << text << " stored " << n << " times";
    for (auto& text : texts)
      EXPECT_EQ(seen.count(text), 1u) << text << " was answered 200 but is not stored";
  }
  return conv_of.size();
}

class e2e_test : public ::testing::Test {
protected:
  void SetUp() override {
    redis_ = std::make_unique<redis_server>();
    auto env = base_env();
    for (auto& [k, v] : extra_env())
      env[k] = v;
    inboxd_ = std::make_unique<inboxd_process>(env);
    wait_ready();
    auto ws = create_workspace("Acme", "acme", kPhoneNumberId);
    ASSERT_EQ(ws.status, 201) << ws.body;
    ws_id_ = ws.json().at("id").get<std::string>();
    auto key = create_api_key(ws_id_);
    ASSERT_EQ(key.status, 201) << key.body;
    api_key_ = key.json().at("key").get<std::string>();
    api_key_id_ = key.json().at("id").get<std::string>();
  }

  void TearDown() override {
    inboxd_.reset();
    redis_.reset();
  }

  /// The environment inboxd starts with (tests may add to it before a restart).
  inboxd_process::env_map base_env() const {
    // clang-format off
    return {
        {"INBOXD_REDIS_URL", redis_->url()},
        {"INBOXD_ADMIN_TOKEN", kAdminToken},
        {"INBOXD_META_APP_SECRET", kMetaSecret},
        {"INBOXD_META_VERIFY_TOKEN", kVerifyToken},
        {"INBOXD_KAPSO_WEBHOOK_SECRET", kKapsoSecret},
        {"INBOXD_LOG_LEVEL", "info"},
    };
    // clang-format on
  }

  /// Variables a fixture adds to base_env() for the first start.
  virtual inboxd_process::env_map extra_env() const { return {}; }

  void wait_ready() { wait_until_ready(inboxd_->port()); }

  http_client client(bool keep_alive = false) const {
    return http_client(inboxd_->port(), keep_alive);
  }

  static header_list admin_headers() {
    return {{"Authorization", std::string("Bearer ") + kAdminToken}};
  }
  header_list api_headers() const { return {{"X-API-Key", api_key_}}; }

  http_response create_workspace(const std::string& name, const std::string& slug,
                                 const std::string& phone_number_id,
                                 nlohmann::json extra = nlohmann::json::object()) {
    nlohmann::json body = {{"name", name}, {"slug", slug}, {"phoneNumberId", phone_number_id}};
    body.update(extra);
    return client().post_json("/api/admin/workspaces", body, admin_headers());
  }

  http_response create_api_key(const std::string& ws_id) {
    return client().request("POST", "/api/admin/workspaces/" + ws_id + "/api-keys", {},
                            admin_headers());
  }

  /// Posts `body` to the Meta webhook, signed with `secret` (no signature header when empty).
  http_response post_meta(const std::string& body, const std::string& secret = kMetaSecret,
                          const std::string& content_type = "application/json") {
    header_list h{{"Content-Type", content_type}};
    if (!secret.empty())
      h.emplace_back("X-Hub-Signature-256", meta_signature(secret, body));
    return client().request("POST", "/api/webhook/whatsapp", body, h);
  }
  http_response post_meta(const nlohmann::json& body) { return post_meta(body.dump()); }

  /// GET with the API key; expects 200 and returns the JSON body.
  nlohmann::json api_get(const std::string& target) {
    auto r = client().get(target, api_headers());
    EXPECT_EQ(r.status, 200) << target << ": " << r.body;
    if (r.status != 200)
      return nlohmann::json::object();
    return r.json();
  }

  /// All conversations of the workspace, whatever their status.
  nlohmann::json all_conversations() { return api_get("/api/conversations?status=all&limit=100"); }

  /// Asserts that the workspace holds no conversation and no contact for the fixtures' sender.
  void expect_nothing_stored() {
    auto list = all_conversations();
    EXPECT_EQ(list.value("total", -1), 0) << list.dump();
    EXPECT_TRUE(list.value("conversations", nlohmann::json::array()).empty()) << list.dump();
    auto c = client().get("/api/contacts/by-phone?phone=972987654321", api_headers());
    EXPECT_EQ(c.status, 404) << c.body;
  }

  std::unique_ptr<redis_server> redis_;
  std::unique_ptr<inboxd_process> inboxd_;
  std::string ws_id_;
  std::string api_key_;
  std::string api_key_id_;
};

} // namespace inboxd::test
