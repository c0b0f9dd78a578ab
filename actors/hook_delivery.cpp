#include "actors/hook_delivery.hpp"

#include <algorithm>
#include <charconv>

#include "messages/crypto.hpp"
#include "storage/event_codes.hpp"

namespace inboxd {

const std::vector<std::string>& hook_event_types() {
  static const std::vector<std::string> types{"message.created", "message.updated",
                                              "conversation.created", "conversation.updated"};
  return types;
}

int64_t event_time(const std::string& event_id) {
  int64_t ms = 0;
  auto end = event_id.data() + std::min(event_id.find('-'), event_id.size());
  auto [p, ec] = std::from_chars(event_id.data(), end, ms);
  return ec == std::errc{} && p == end ? ms : 0;
}

std::string hook_body(const stream_entry& e) {
  // compose_event's text ends with ,"type":..,"workspaceId":..}: the two go before it.
  auto at = e.data.rfind(",\"type\":");
  if (at == std::string::npos)
    return e.data;
  std::string out;
  out.reserve(e.data.size() + e.id.size() + 40);
  out.append(e.data, 0, at);
  out += ",\"createdAt\":";
  out += std::to_string(event_time(e.id));
  out += ",\"id\":\"";
  out += e.id; // digits and a dash
  out += '"';
  out.append(e.data, at, std::string::npos);
  return out;
}

std::string hook_signature(const std::string& secret, const std::string& timestamp,
                           const std::string& body) {
  std::string signed_text;
  signed_text.reserve(timestamp.size() + 1 + body.size());
  signed_text += timestamp;
  signed_text += '.';
  signed_text += body;
  return "sha256=" + hmac_sha256_hex(secret, signed_text);
}

outbound_request hook_request(const hook_record& hook, const stream_entry& e,
                              const std::string& body, int64_t now_s, int64_t timeout_ms) {
  outbound_request req;
  req.url = hook.url;
  auto ts = std::to_string(now_s);
  req.headers = {{"Content-Type", "application/json"},
                 {"User-Agent", "inboxd-webhooks/1"},
                 {"X-Inboxd-Event", e.type},
                 {"X-Inboxd-Delivery", e.id},
                 {"X-Inboxd-Timestamp", ts},
                 {"X-Inboxd-Signature", hook_signature(hook.secret, ts, body)}};
  req.body = body;
  req.timeout_ms = timeout_ms;
  req.max_body = 64 * 1024; // the receiver's answer is not read; a larger one is an error
  return req;
}

int64_t hook_retry_delay(int attempts, const hook_retry_policy& p, std::mt19937_64& rng) {
  int64_t delay = std::max<int64_t>(1, p.base_ms);
  for (int i = 1; i < attempts && delay < p.max_ms; ++i)
    delay *= 2;
  delay = std::min(delay, std::max<int64_t>(1, p.max_ms));
  std::uniform_int_distribution<int64_t> jitter(delay / 2, delay);
  return jitter(rng);
}

settled_delivery settle_attempt(std::string member, int64_t event_ms, int attempts,
                                const outbound_response& r, int64_t now_ms,
                                const hook_retry_policy& p, std::mt19937_64& rng) {
  settled_delivery s;
  s.member = std::move(member);
  s.event_ms = event_ms;
  delivery_log log;
  log.member = s.member;
  log.attempts = attempts;
  log.last_attempt_at = now_ms;
  if (r.ok()) {
    log.last_status = r.status;
    if (r.status < 200 || r.status > 299)
      log.last_error = "HTTP " + std::to_string(r.status);
  } else {
    log.last_error = r.transport_error;
  }
  using outcome = settled_delivery::outcome;
  if (log.last_error.empty()) {
    s.what = outcome::succeeded;
  } else {
    s.due_ms = now_ms + hook_retry_delay(attempts, p, rng);
    s.what = now_ms - event_ms >= p.retry_for_ms ? outcome::failed : outcome::retry;
  }
  s.log = log_json(log);
  return s;
}

std::string log_json(const delivery_log& l) {
  nlohmann::json j = {{"m", l.member}, {"a", l.attempts}, {"l", l.last_attempt_at}};
  if (l.last_status != 0)
    j["c"] = l.last_status;
  if (!l.last_error.empty())
    j["e"] = l.last_error;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

delivery_log parse_log(const std::string& json) {
  delivery_log l;
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (!j.is_object())
    return l;
  auto str = [&](const char* k, std::string& out) {
    if (auto i = j.find(k); i != j.end() && i->is_string())
      out = i->get<std::string>();
  };
  auto num = [&](const char* k, auto& out) {
    if (auto i = j.find(k); i != j.end() && i->is_number_integer())
      out = i->get<std::remove_reference_t<decltype(out)>>();
  };
  str("m", l.member);
  str("e", l.last_error);
  num("a", l.attempts);
  num("l", l.last_attempt_at);
  num("c", l.last_status);
  return l;
}

nlohmann::json delivery_api(const delivery_row& row, const std::string& status) {
  auto log = parse_log(row.log);
  auto member = row.member.empty() ? log.member : row.member;
  nlohmann::json type = nullptr;
  if (auto a = member.find(' '); a != std::string::npos) {
    auto b = member.find(' ', a + 1);
    type = event_type(member.substr(a + 1, b == std::string::npos ? b : b - a - 1));
  }
  auto opt = [](bool has, auto v) { return has ? nlohmann::json(v) : nlohmann::json(nullptr); };
  return {{"id", row.event_id},
          {"type", std::move(type)},
          {"status", status},
          {"attempts", log.attempts},
          {"createdAt", event_time(row.event_id)},
          {"lastAttemptAt", opt(log.last_attempt_at != 0, log.last_attempt_at)},
          {"lastStatusCode", opt(log.last_status != 0, log.last_status)},
          {"lastError", opt(!log.last_error.empty(), log.last_error)},
          {"nextAttemptAt", opt(status == "pending", row.score)}};
}

nlohmann::json hook_api(const hook_record& h, bool with_secret) {
  nlohmann::json j = {
      {"id", h.id},
      {"url", h.url},
      {"events", h.events},
      {"description", h.has_description ? nlohmann::json(h.description) : nlohmann::json(nullptr)},
      {"createdAt", h.created_at}};
  if (with_secret)
    j["secret"] = h.secret;
  return j;
}

} // namespace inboxd
