#pragma once
// The HTTP/1.1 listener and sessions (Boost.Beast). Each session reads one request at a time
// (pipelined requests wait in the read buffer, so at most one is in flight per connection),
// hands it to `dispatch` with a reply handle, and writes the answer; if none comes within the
// request timeout it answers 503. Limits: header size, body size per route (3 MiB on
// /api/webhook/*, api_body_limit elsewhere: 413), read and idle timeouts, connection count.
//
// Streams (Server-Sent Events): a handler may answer with reply_handle::open_stream instead. The
// session then writes a raw HTTP/1.1 head (Content-Type: text/event-stream, Connection: close, no
// Content-Length) and the pushed bytes in order, until the client goes away, the unsent bytes pass
// cfg.sse_buffer_bytes, the stream is closed, or close_streams() runs; the connection then closes.
// No socket timeout while streaming; a ": ping" comment is pushed every cfg.sse_ping_ms. At most
// cfg.sse_max_streams streams are open per server (open_stream returns null beyond it).

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "config/settings.hpp"
#include "messages/http_exchange.hpp"

namespace boost::asio {
class io_context;
}

namespace inboxd {

class http_server {
public:
  using dispatch_fn = std::function<void(std::shared_ptr<const http_request>, reply_handle)>;

  http_server(boost::asio::io_context& io, const settings& cfg, dispatch_fn dispatch);
  ~http_server();

  /// Binds and starts accepting; returns the bound port. Throws std::runtime_error on failure.
  uint16_t listen();

  /// Stops accepting new connections (open ones finish their current request).
  void stop_accepting();

  /// Requests dispatched and not yet answered.
  int64_t in_flight() const;

  /// Closes every open event stream (their clients see the connection close). Thread-safe; for
  /// shutdown. Streams opened afterwards are not affected.
  void close_streams();

  /// Event streams currently open.
  size_t open_streams() const;

  struct impl;

private:
  std::shared_ptr<impl> impl_;
};

} // namespace inboxd
