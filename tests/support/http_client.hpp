#pragma once
// A small synchronous HTTP/1.1 client for tests (Boost.Beast over TCP, loopback).
// Every call has a deadline; a timeout or connection error throws std::runtime_error.
// Not thread-safe: one client per thread (make several for concurrency tests).

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace inboxd::test {

/// Request headers, in order (duplicates allowed).
using header_list = std::vector<std::pair<std::string, std::string>>;

struct http_response {
  int status = 0;
  std::string body;
  /// Response headers, names lowercased; repeated headers are joined with ", ".
  std::map<std::string, std::string> headers;

  /// The header's value (name case-insensitive), or "" when absent.
  std::string header(std::string_view name) const;
  bool has_header(std::string_view name) const;
  /// The body parsed as JSON; throws std::runtime_error (with the body) when it is not JSON.
  nlohmann::json json() const;
};

class http_client {
public:
  /// Connects lazily to host:port on the first request.
  /// keep_alive: reuse one connection for consecutive requests (the server may still close it;
  /// the next request then reconnects). Otherwise every request sends `Connection: close` and
  /// uses its own connection.
  explicit http_client(int port, bool keep_alive = false, std::string host = "127.0.0.1");
  ~http_client();
  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;

  /// Sends one request and reads the whole response. Adds Host, and Content-Length when the body
  /// is non-empty or the method is POST/PUT/PATCH; no Content-Type unless given in `headers`.
  http_response request(std::string_view method, std::string_view target,
                        std::string_view body = {}, const header_list& headers = {});

  http_response get(std::string_view target, const header_list& headers = {});
  /// POST with `Content-Type: application/json` (unless `headers` names another one).
  http_response post_json(std::string_view target, std::string_view body,
                          const header_list& headers = {});
  http_response post_json(std::string_view target, const nlohmann::json& body,
                          const header_list& headers = {});

  /// Opens a fresh connection, writes `bytes` verbatim while reading, until the server closes the
  /// connection or `wait` elapses, and returns everything received (possibly empty). Reading
  /// goes on when the write fails (a server may answer early, e.g. 413, and close). Never throws
  /// on timeout or reset; throws only when it cannot connect.
  std::string send_raw(std::string_view bytes,
                       std::chrono::milliseconds wait = std::chrono::seconds(5));

  /// Per-request deadline (connect + write + read). Default 15 s (sanitizer builds are slow).
  void set_timeout(std::chrono::milliseconds t) { timeout_ = t; }

  /// Closes the kept-alive connection, if any.
  void close();

  /// Whether the last request's connection is still open (keep-alive mode).
  bool connected() const;

  int port() const { return port_; }

private:
  struct impl;
  std::unique_ptr<impl> impl_;
  int port_;
  bool keep_alive_;
  std::string host_;
  std::chrono::milliseconds timeout_{std::chrono::seconds(15)};
};

/// OpenAPI conformance (tests/openapi/validate.py): when INBOXD_OPENAPI_RECORD_DIR is set, every
/// exchange of an http_client (and every event stream's head, through sse_client) is appended as
/// one JSON line to <dir>/<pid>.jsonl: method, target, status, response headers, and the body when
/// it is JSON; the end of every test is recorded too (so the validator knows which tests ran).
/// Without the variable nothing is recorded. Only exchanges with inboxd are recorded: with a
/// server on a port inboxd_process started inboxd on (tests also talk to their own fakes,
/// receivers and bots).
void record_exchange(int port, std::string_view method, std::string_view target, int status,
                     const std::map<std::string, std::string>& headers, std::string_view body,
                     bool body_read = true);
/// Records one event of an event stream (its `event:` type and `data:` line), as above.
void record_stream_event(int port, std::string_view type, std::string_view data);
/// Marks `port` as one inboxd listens on (inboxd_process, when it starts inboxd).
void note_inboxd_port(int port);

/// The status code in a raw HTTP/1.1 response ("HTTP/1.1 400 Bad Request..." -> 400), or 0.
int raw_status(std::string_view raw);

/// Number of responses (status lines at the start of a message) in raw bytes received; counts
/// occurrences of "HTTP/1.1 " at line starts, good enough for tests of pipelining.
int raw_response_count(std::string_view raw);

} // namespace inboxd::test
