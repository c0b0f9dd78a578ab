// End-to-end: INBOXD_API_RATE against the real binary. A credential gets a burst of twice the
// rate, then 429 rate_limited with Retry-After, and requests again once that time has passed;
// another API key and a user token have buckets of their own; webhooks, health, metrics and the
// admin token are never limited.

#include <string>
#include <thread>

#include "http/jwt.hpp"
#include "messages/crypto.hpp"
#include "tests/e2e/e2e_test.hpp"

namespace inboxd::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kJwtSecret = "e2e-rate-jwt-secret";
constexpr int kRate = 5; // burst 10

std::string user_token(const std::string& user) {
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  json header = {{"alg", "HS256"}, {"typ", "JWT"}};
  json payload = {{"sub", user}, {"exp", now + 3600}};
  auto head = base64url_encode(header.dump()) + "." + base64url_encode(payload.dump());
  return head + "." + base64url_encode(hmac_sha256_raw(kJwtSecret, head));
}

class rate_limit_test : public e2e_test {
protected:
  inboxd_process::env_map extra_env() const override {
    return {{"INBOXD_API_RATE", std::to_string(kRate)}, {"INBOXD_JWT_SECRET", kJwtSecret}};
  }

  // Requests with `headers` until the first 429 (at most 200); returns that answer and sets
  // `allowed` to the 200s before it and `seconds` to the time taken.
  http_response until_limited(const header_list& headers, int& allowed, double& seconds) {
    auto c = client(true);
    allowed = 0;
    auto start = std::chrono::steady_clock::now();
    http_response r;
    for (int i = 0; i < 200; ++i) {
      r = c.get("/api/conversations", headers);
      if (r.status != 200)
        break;
      ++allowed;
    }
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return r;
  }
};

TEST_F(rate_limit_test, a_burst_then_429_with_retry_after_and_other_credentials_unaffected) {
  int allowed = 0;
  double seconds = 0;
  auto limited = until_limited(api_headers(), allowed, seconds);
  expect_error(limited, 429, "rate_limited");
  // The burst (2 x rate) at least, plus what refilled meanwhile at most.
  EXPECT_GE(allowed, 2 * kRate);
  EXPECT_LE(allowed, 2 * kRate + static_cast<int>(seconds * kRate) + 1) << seconds << " s";
  auto retry = limited.header("retry-after");
  ASSERT_FALSE(retry.empty());
  int retry_s = std::stoi(retry);
  EXPECT_GE(retry_s, 1);
  EXPECT_LE(retry_s, 1); // one token takes 200 ms at 5/s: rounded up to a whole second

  // Another API key of the same workspace, and a member's user token: their own buckets.
  auto other = create_api_key(ws_id_);
  ASSERT_EQ(other.status, 201) << other.body;
  EXPECT_EQ(client().get("/api/conversations", {{"X-API-Key", other.json()["key"]}}).status, 200);
  auto member = client().request("PUT", "/api/admin/workspaces/" + ws_id_ + "/members/user-1",
                                 json{{"role", "agent"}}.dump(),
                                 {{"Authorization", std::string("Bearer ") + kAdminToken},
                                  {"Content-Type", "application/json"}});
  ASSERT_EQ(member.status, 200) << member.body;
  header_list as_user{{"Authorization", "Bearer " + user_token("user-1")},
                      {"X-Workspace-Id", ws_id_}};
  int user_allowed = 0;
  auto user_limited = until_limited(as_user, user_allowed, seconds);
  expect_error(user_limited, 429, "rate_limited");
  EXPECT_GE(user_allowed, 2 * kRate);

  // The first key again, after the time it was told to wait.
  std::this_thread::sleep_for(std::chrono::seconds(retry_s));
  EXPECT_EQ(client().get("/api/conversations", api_headers()).status, 200);

  EXPECT_GE(metric(inboxd_->port(), "inboxd_rate_limited_total"), 2);
}

TEST_F(rate_limit_test, webhooks_health_metrics_and_admin_are_never_limited) {
  // Far beyond the rate, one after the other.
  for (int i = 0; i < 4 * kRate * 2; ++i) {
    auto body = with_unique_wamids(fixture_case("meta/message.json", "text"));
    ASSERT_EQ(post_meta(body.dump()).status, 200) << i;
  }
  for (int i = 0; i < 4 * kRate * 2; ++i) {
    ASSERT_EQ(client().get("/healthz").status, 200) << i;
    ASSERT_EQ(client().get("/readyz").status, 200) << i;
    ASSERT_EQ(client().get("/metrics").status, 200) << i;
    ASSERT_EQ(client().get("/api/admin/workspaces/" + ws_id_, admin_headers()).status, 200) << i;
    ASSERT_EQ(client().get("/api/admin/workspaces/" + ws_id_ + "/members", admin_headers()).status,
              200)
        << i;
  }
  // Requests without valid credentials get no bucket: they are refused as before, never 429.
  for (int i = 0; i < 4 * kRate * 2; ++i)
    ASSERT_EQ(client()
                  .get("/api/conversations",
                       {{"X-API-Key", "ibx_" + ws_id_ + "_" + std::string(48, 'a')}})
                  .status,
              401)
        << i;
  EXPECT_EQ(metric(inboxd_->port(), "inboxd_rate_limited_total"), 0);
  // The API key still has its whole burst.
  int allowed = 0;
  for (int i = 0; i < 2 * kRate; ++i)
    allowed += client().get("/api/conversations", api_headers()).status == 200 ? 1 : 0;
  EXPECT_EQ(allowed, 2 * kRate);
}

} // namespace
} // namespace inboxd::test
