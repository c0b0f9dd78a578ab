#pragma once
// An HTTP request as plain data plus the handle that answers it. Crosses from http/ into the
// actors; no Beast types here. Any actor may answer through the reply handle, from any thread;
// the first answer wins, later ones are dropped (the session may already have timed out).

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace inboxd {

struct http_request {
  std::string method;                                      // "GET", "POST", ...
  std::string path;                                        // decoded path, no query
  std::map<std::string, std::string> query;               // decoded query parameters
  std::vector<std::pair<std::string, std::string>> headers; // names lowercased
  std::string body;
  std::string request_id;

  /// The first header named `lower_name` (lowercase), or "".
  std::string header(std::string_view lower_name) const;
  /// The query parameter, or "".
  std::string param(const std::string& name) const;
  bool has_param(const std::string& name) const { return query.count(name) > 0; }
};

struct http_response {
  int status = 200;
  std::string body;
  std::string content_type = "application/json; charset=utf-8";
  std::vector<std::pair<std::string, std::string>> headers;
};

/// Receives the answer to one request (implemented by the HTTP session).
class reply_sink {
public:
  virtual ~reply_sink() = default;
  virtual void deliver(http_response res) = 0;
};

class reply_handle {
public:
  reply_handle() = default;
  explicit reply_handle(std::shared_ptr<reply_sink> sink) : sink_(std::move(sink)) {}
  void send(http_response res) const {
    if (sink_)
      sink_->deliver(std::move(res));
  }
  void json(int status, const nlohmann::json& body) const;
  /// {"error":{"code","message"}} with the status API.md assigns to `code`.
  void error(std::string_view code, std::string_view message) const;
  explicit operator bool() const { return static_cast<bool>(sink_); }

private:
  std::shared_ptr<reply_sink> sink_;
};

/// The HTTP status API.md assigns to an error code (unknown codes: 500).
int status_for_error(std::string_view code);
http_response make_error(std::string_view code, std::string_view message);
http_response make_json(int status, const nlohmann::json& body);

struct http_exchange {
  std::shared_ptr<const http_request> request;
  reply_handle reply;
};

} // namespace inboxd
