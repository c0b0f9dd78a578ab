#pragma once
// An HTTP request as plain data plus the handle that answers it. Crosses from http/ into the
// actors; no Beast types here. Any actor may answer through the reply handle, from any thread;
// the first answer wins, later ones are dropped (the session may already have timed out).

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "messages/api_error.hpp"

namespace inboxd {

/// A request body the server wrote to a file instead of memory (POST /api/media, up to
/// INBOXD_MEDIA_MAX_BYTES): the server removes the file once it answers the request, or when the
/// last request holding it goes away if that comes first.
struct spooled_body {
  std::string path;
  uint64_t size = 0;
  std::string sha256; // lowercase hex of the bytes
  spooled_body(std::string p, uint64_t n, std::string sha)
    : path(std::move(p)), size(n), sha256(std::move(sha)) {}
  ~spooled_body();
  spooled_body(const spooled_body&) = delete;
  spooled_body& operator=(const spooled_body&) = delete;
};

struct http_request {
  std::string method;                                       // "GET", "POST", ...
  std::string path;                                         // decoded path, no query
  std::string target;                                       // as sent: path and query
  std::map<std::string, std::string> query;                 // decoded query parameters
  std::vector<std::pair<std::string, std::string>> headers; // names lowercased
  std::string body;
  std::shared_ptr<const spooled_body> body_file; // set instead of `body` for a spooled upload
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
  // Set: the body is bytes [file_offset, file_offset + file_length) of this file, read by the
  // server while it writes (never loaded whole); `body` is ignored. The server answers 500 instead
  // when the file cannot be opened then or is shorter than file_offset + file_length (see
  // messages/file_response.hpp for building such an answer). The `{}` initializers keep brace
  // initialization with the first fields only free of -Wmissing-field-initializers.
  std::string file_path{};
  uint64_t file_offset = 0, file_length = 0;
};

/// A live response stream (Server-Sent Events) opened on a request: bytes pushed here are written
/// to the client in order. Thread-safe; any actor may push.
class event_stream {
public:
  virtual ~event_stream() = default;
  /// Queues `bytes` for the client. Returns false once the stream is closed (the client went away,
  /// the unsent bytes passed the stream's buffer bound, or the server is stopping): the caller
  /// then forgets the stream. Never blocks.
  virtual bool push(std::string bytes) = 0;
  /// Whether the stream is closed (see push).
  virtual bool closed() const = 0;
  /// Closes the stream (idempotent).
  virtual void close() = 0;
  /// Bytes pushed and not yet written to the client, and the bound past which push() closes the
  /// stream: a producer with much to send (a replay) pushes while there is room and waits
  /// otherwise.
  virtual size_t unsent() const = 0;
  virtual size_t capacity() const = 0;
};
using event_stream_ptr = std::shared_ptr<event_stream>;

/// Receives the answer to one request (implemented by the HTTP session).
class reply_sink {
public:
  virtual ~reply_sink() = default;
  virtual void deliver(http_response res) = 0;
  /// Answers with a stream instead: `head` gives the status (200) and headers (Content-Type
  /// text/event-stream is set by the session); the body follows through the returned stream.
  /// Returns null when no stream can be opened (the request was answered already, timed out, or
  /// the process-wide stream limit is reached): the caller then answers with deliver().
  virtual event_stream_ptr open_stream(http_response head) {
    (void)head;
    return nullptr;
  }
  /// Names the route that handles the request (http/router.hpp's `route`, as a number), for the
  /// server's request metrics. Called by the router before any answer; any thread.
  virtual void set_route(int route) { (void)route; }
  /// Names the workspace the request is for, once known, for the server's access log. Any
  /// thread.
  virtual void set_workspace(const std::string& id) { (void)id; }
  /// The workspace is served by the node at `owner_url` (scale-out): answers with that node's
  /// answer to the same request (http/forwarder.hpp). Without a forwarder: 503.
  virtual void forward(const std::string& owner_url);
};

class reply_handle {
public:
  reply_handle() = default;
  explicit reply_handle(std::shared_ptr<reply_sink> sink) : sink_(std::move(sink)) {}
  void send(http_response res) const {
    if (sink_)
      sink_->deliver(std::move(res));
  }
  /// See reply_sink::open_stream.
  event_stream_ptr open_stream(http_response head) const {
    return sink_ ? sink_->open_stream(std::move(head)) : nullptr;
  }
  /// See reply_sink::set_route.
  void set_route(int route) const {
    if (sink_)
      sink_->set_route(route);
  }
  /// See reply_sink::set_workspace.
  void set_workspace(const std::string& id) const {
    if (sink_)
      sink_->set_workspace(id);
  }
  /// See reply_sink::forward.
  void forward(const std::string& owner_url) const {
    if (sink_)
      sink_->forward(owner_url);
  }
  void json(int status, const nlohmann::json& body) const;
  /// {"error":{"code","message"}} with the status API.md assigns to `code`.
  void error(api_error code, std::string_view message) const;
  explicit operator bool() const { return static_cast<bool>(sink_); }

private:
  std::shared_ptr<reply_sink> sink_;
};

/// {"error":{"code","message"}} with the status API.md assigns to `code`.
http_response make_error(api_error code, std::string_view message);
http_response make_json(int status, const nlohmann::json& body);

struct http_exchange {
  std::shared_ptr<const http_request> request;
  reply_handle reply;
  /// Scale-out: the workspaces were read from Redis again for this request, so a workspace it
  /// names that is still unknown does not exist (it may have been created on another node less
  /// than the directory's refresh period ago).
  bool synced = false;
};

} // namespace inboxd
