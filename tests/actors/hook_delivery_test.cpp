// Unit tests: actors/hook_delivery (outgoing webhooks: body, signature, retry schedule, log).

#include "actors/hook_delivery.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "actors/event_log.hpp"
#include "messages/crypto.hpp"

namespace inboxd {
namespace {

stream_entry composed_message_event() {
  stream_entry e;
  e.id = "1764990000123-4";
  e.type = "message.created";
  e.names_records = true;
  e.message_id = "msg_1";
  e.message = R"({"id":"msg_1","text":"hi"})";
  EXPECT_TRUE(compose_event("ws_1", e, 0));
  return e;
}

TEST(HookDelivery, TheBodyIsTheEventsDocumentWithItsIdAndTime) {
  auto body = hook_body(composed_message_event());
  EXPECT_EQ(body, R"({"message":{"id":"msg_1","text":"hi"},"createdAt":1764990000123,)"
                  R"("id":"1764990000123-4","type":"message.created","workspaceId":"ws_1"})");
  auto j = nlohmann::json::parse(body);
  EXPECT_EQ(j["id"], "1764990000123-4");
  EXPECT_EQ(j["message"]["text"], "hi");
}

TEST(HookDelivery, TheRequestIsSignedOverTimestampDotBody) {
  hook_record h;
  h.url = "https://crm.example.com/hook";
  h.secret = "whsec_abc";
  auto e = composed_message_event();
  auto body = hook_body(e);
  auto req = hook_request(h, e, body, 1764990001, 10000);
  std::map<std::string, std::string> headers(req.headers.begin(), req.headers.end());
  EXPECT_EQ(req.url, h.url);
  EXPECT_EQ(req.body, body);
  EXPECT_EQ(headers["X-Inboxd-Event"], "message.created");
  EXPECT_EQ(headers["X-Inboxd-Delivery"], "1764990000123-4");
  EXPECT_EQ(headers["X-Inboxd-Timestamp"], "1764990001");
  EXPECT_EQ(headers["Content-Type"], "application/json");
  // Independently: HMAC-SHA256(secret, "<ts>.<body>") in lowercase hex.
  EXPECT_EQ(headers["X-Inboxd-Signature"],
            "sha256=" + hmac_sha256_hex("whsec_abc", "1764990001." + body));
  EXPECT_NE(hook_signature("whsec_abc", "1764990001", body),
            hook_signature("whsec_abd", "1764990001", body));
  EXPECT_NE(hook_signature("whsec_abc", "1764990002", body),
            hook_signature("whsec_abc", "1764990001", body));
}

TEST(HookDelivery, DelaysDoubleWithJitterUpToTheCap) {
  hook_retry_policy p{1000, 8000, 86400000};
  std::mt19937_64 rng(7);
  for (int round = 0; round < 200; ++round) {
    for (int attempts = 1; attempts <= 10; ++attempts) {
      int64_t full = std::min<int64_t>(8000, 1000LL << (attempts - 1));
      auto d = hook_retry_delay(attempts, p, rng);
      EXPECT_GE(d, full / 2) << attempts;
      EXPECT_LE(d, full) << attempts;
    }
  }
  std::set<int64_t> seen;
  for (int i = 0; i < 50; ++i)
    seen.insert(hook_retry_delay(3, p, rng));
  EXPECT_GT(seen.size(), 10u); // jittered, not one fixed delay
}

outbound_response answer(int status) {
  outbound_response r;
  r.status = status;
  return r;
}

TEST(HookDelivery, Only2xxSucceedsAndAnEventTooOldToRetryFails) {
  hook_retry_policy p{1000, 60000, 3600000};
  std::mt19937_64 rng(1);
  using outcome = settled_delivery::outcome;
  EXPECT_EQ(settle_attempt("m", 0, 1, answer(200), 10, p, rng).what, outcome::succeeded);
  EXPECT_EQ(settle_attempt("m", 0, 1, answer(204), 10, p, rng).what, outcome::succeeded);
  for (int status : {301, 400, 404, 410, 500, 503}) {
    auto s = settle_attempt("m", 0, 1, answer(status), 10, p, rng);
    EXPECT_EQ(s.what, outcome::retry) << status;
    EXPECT_GE(s.due_ms, 10 + 500);
    EXPECT_EQ(parse_log(s.log).last_error, "HTTP " + std::to_string(status));
    EXPECT_EQ(parse_log(s.log).last_status, status);
  }
  outbound_response refused;
  refused.transport_error = "cannot connect to x:1: Connection refused";
  auto s = settle_attempt("m", 0, 2, refused, 10, p, rng);
  EXPECT_EQ(s.what, outcome::retry);
  EXPECT_EQ(parse_log(s.log).last_error, refused.transport_error);
  EXPECT_EQ(parse_log(s.log).last_status, 0);
  EXPECT_EQ(settle_attempt("m", 0, 9, refused, 3600000, p, rng).what, outcome::failed);
}

// A receiver down for 10 minutes (a simulated clock: each attempt happens when it is due):
// with the default policy, every delivery keeps being retried and arrives once it is back, within
// one backoff step of its return; nothing fails.
TEST(HookDelivery, AReceiverDownForTenMinutesGetsEverythingAfterwards) {
  hook_retry_policy p; // defaults: 5 s doubling to 1 h, retried for 24 h
  std::mt19937_64 rng(42);
  const int64_t back_at = 10 * 60 * 1000;
  for (int64_t event_ms = 0; event_ms < back_at; event_ms += 7919) {
    int64_t now = event_ms;
    int attempts = 0;
    int64_t last_delay = 0;
    while (true) {
      ++attempts;
      auto s = settle_attempt("m", event_ms, attempts, now >= back_at ? answer(200) : answer(503),
                              now, p, rng);
      if (s.what == settled_delivery::outcome::succeeded)
        break;
      ASSERT_EQ(s.what, settled_delivery::outcome::retry) << "gave up at " << now;
      last_delay = s.due_ms - now;
      now = s.due_ms;
      ASSERT_LT(attempts, 30);
    }
    EXPECT_GE(now, back_at);
    EXPECT_LE(now - back_at, last_delay); // delivered at the first attempt after its return
    EXPECT_LT(now - back_at, 11 * 60 * 1000);
  }
}

TEST(HookDelivery, LogRecordsRoundTripAndDeliveriesListInTheApiShape) {
  delivery_log l{"1764990000123-4 mc msg_1", 3, 1764990009000, 500, "HTTP 500"};
  auto back = parse_log(log_json(l));
  EXPECT_EQ(back.member, l.member);
  EXPECT_EQ(back.attempts, 3);
  EXPECT_EQ(back.last_attempt_at, l.last_attempt_at);
  EXPECT_EQ(back.last_status, 500);
  EXPECT_EQ(back.last_error, "HTTP 500");
  EXPECT_EQ(parse_log("not json").attempts, 0);

  delivery_row pending{"1764990000123-4 cu cv_1 ct_1", "1764990000123-4", "", 1764990005000};
  auto a = delivery_api(pending, "pending");
  EXPECT_EQ(a["id"], "1764990000123-4");
  EXPECT_EQ(a["type"], "conversation.updated");
  EXPECT_EQ(a["attempts"], 0);
  EXPECT_EQ(a["createdAt"], 1764990000123);
  EXPECT_TRUE(a["lastAttemptAt"].is_null());
  EXPECT_EQ(a["nextAttemptAt"], 1764990005000);
  delivery_row failed{"", "1764990000123-4", log_json(l), 1764990010000};
  auto f = delivery_api(failed, "failed");
  EXPECT_EQ(f["type"], "message.created");
  EXPECT_EQ(f["status"], "failed");
  EXPECT_EQ(f["lastStatusCode"], 500);
  EXPECT_EQ(f["lastError"], "HTTP 500");
  EXPECT_TRUE(f["nextAttemptAt"].is_null());
  EXPECT_EQ(event_time("12-3"), 12);
  EXPECT_EQ(event_time("x"), 0);
}

TEST(HookDelivery, AWebhookInTheApiShowsItsSecretOnlyAtCreation) {
  hook_record h;
  h.id = "wh_1";
  h.url = "https://x.example/h";
  h.secret = "whsec_s";
  h.events = {"message.created"};
  h.created_at = 5;
  EXPECT_FALSE(hook_api(h, false).contains("secret"));
  EXPECT_EQ(hook_api(h, true)["secret"], "whsec_s");
  EXPECT_TRUE(hook_api(h, false)["description"].is_null());
}

} // namespace
} // namespace inboxd
