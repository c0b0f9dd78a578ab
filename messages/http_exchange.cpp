#include "messages/http_exchange.hpp"

#include <nlohmann/json.hpp>

namespace inboxd {

std::string http_request::header(std::string_view lower_name) const {
  for (auto& [k, v] : headers)
    if (k == lower_name)
      return v;
  return {};
}

std::string http_request::param(const std::string& name) const {
  auto i = query.find(name);
  return i == query.end() ? std::string{} : i->second;
}

int status_for_error(std::string_view code) {
  static const std::pair<std::string_view, int> table[] = {
    {"bad_request", 400},       {"unauthorized", 401},          {"forbidden", 403},
    {"not_found", 404},         {"method_not_allowed", 405},    {"conflict", 409},
    {"payload_too_large", 413}, {"unsupported_media_type", 415}, {"unprocessable", 422},
    {"window_closed", 422},     {"rate_limited", 429},          {"unavailable", 503},
    {"internal", 500},
  };
  for (auto& [c, s] : table)
    if (c == code)
      return s;
  return 500;
}

http_response make_json(int status, const nlohmann::json& body) {
  http_response res;
  res.status = status;
  res.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return res;
}

http_response make_error(std::string_view code, std::string_view message) {
  auto res = make_json(status_for_error(code),
                       {{"error", {{"code", code}, {"message", message}}}});
  if (res.status == 503 || res.status == 429)
    res.headers.emplace_back("Retry-After", "1");
  return res;
}

void reply_handle::json(int status, const nlohmann::json& body) const {
  send(make_json(status, body));
}

void reply_handle::error(std::string_view code, std::string_view message) const {
  send(make_error(code, message));
}

} // namespace inboxd
