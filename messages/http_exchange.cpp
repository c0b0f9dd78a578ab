#include "messages/http_exchange.hpp"

#include <unistd.h>

#include <nlohmann/json.hpp>

namespace inboxd {

spooled_body::~spooled_body() {
  if (!path.empty())
    ::unlink(path.c_str());
}

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

http_response make_json(int status, const nlohmann::json& body) {
  http_response res;
  res.status = status;
  res.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return res;
}

http_response make_error(api_error code, std::string_view message) {
  auto res = make_json(http_status(code),
                       {{"error", {{"code", to_string(code)}, {"message", message}}}});
  if (res.status == 503 || res.status == 429)
    res.headers.emplace_back("Retry-After", "1");
  return res;
}

void reply_sink::forward(const std::string& owner_url) {
  (void)owner_url;
  deliver(make_error(api_error::unavailable, "the workspace is served by another node; try again"));
}

void reply_handle::json(int status, const nlohmann::json& body) const {
  send(make_json(status, body));
}

void reply_handle::error(api_error code, std::string_view message) const {
  send(make_error(code, message));
}

} // namespace inboxd
