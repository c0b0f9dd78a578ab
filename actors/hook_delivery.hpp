#pragma once
// Outgoing webhooks, the pure parts (unit-tested): what a delivery sends (body, headers,
// signature), what an attempt's answer means (success, retry when, give up), the delivery log
// record, and the API shapes of webhooks and deliveries.
//
// Signature: X-Inboxd-Signature is "sha256=" + hex HMAC-SHA256, keyed with the webhook's secret
// (the string as shown at creation), of "<X-Inboxd-Timestamp>.<body>"; the timestamp is in
// Unix seconds.

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "storage/hook_store.hpp"
#include "whatsapp/outbound_transport.hpp"

namespace inboxd {

/// The event types a webhook may subscribe to (those of the event stream).
const std::vector<std::string>& hook_event_types();

/// The webhook's body for a composed event (`e.data` set by compose_event): its document with
/// "createdAt" (the event's time: the id's milliseconds) and "id" added.
std::string hook_body(const stream_entry& e);

/// "sha256=<hex>" for `secret` over "<timestamp>.<body>".
std::string hook_signature(const std::string& secret, const std::string& timestamp,
                           const std::string& body);

/// The POST of one delivery, signed at `now_s` (Unix seconds).
outbound_request hook_request(const hook_record& hook, const stream_entry& e,
                              const std::string& body, int64_t now_s, int64_t timeout_ms);

/// Retry timing.
struct hook_retry_policy {
  int64_t base_ms = 5000;          // the delay after the first failed attempt (before jitter)
  int64_t max_ms = 3600000;        // the longest delay
  int64_t retry_for_ms = 86400000; // retried while the event is younger than this
};

/// The delay before attempt `attempts + 1` after `attempts` failed ones: base * 2^(attempts-1),
/// at most max, then jittered uniformly into [delay / 2, delay].
int64_t hook_retry_delay(int attempts, const hook_retry_policy& p, std::mt19937_64& rng);

/// What one attempt's answer makes of the delivery: a 2xx is success; anything else is retried
/// at now + delay, unless the event is then older than retry_for (failed for good).
settled_delivery settle_attempt(std::string member, int64_t event_ms, int attempts,
                                const outbound_response& r, int64_t now_ms,
                                const hook_retry_policy& p, std::mt19937_64& rng);

/// The log record of a delivery, as stored (one-letter names).
struct delivery_log {
  std::string member;
  int attempts = 0;
  int64_t last_attempt_at = 0; // 0: never
  int last_status = 0;         // 0: no HTTP answer
  std::string last_error;
};
std::string log_json(const delivery_log& l);
delivery_log parse_log(const std::string& json); // empty record when unreadable

/// The event's time: the milliseconds of its id ("<ms>-<seq>"); 0 when unreadable.
int64_t event_time(const std::string& event_id);

/// A delivery in the API: {id, type, status, attempts, createdAt, lastAttemptAt, lastStatusCode,
/// lastError, nextAttemptAt}.
nlohmann::json delivery_api(const delivery_row& row, const std::string& status);

/// A webhook in the API (never its secret, unless `with_secret`: the answer to its creation).
nlohmann::json hook_api(const hook_record& h, bool with_secret);

} // namespace inboxd
