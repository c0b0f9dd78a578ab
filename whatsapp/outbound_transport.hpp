#pragma once
// The seam between the outbox (actors/) and the HTTPS client (http/): one POST to the Cloud API
// (or Kapso's proxy) as plain data. The implementation lives in http/https_client; the actors
// only see this interface, so they stay free of Beast and OpenSSL.

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace inboxd {

struct outbound_request {
  std::string method = "POST"; // any HTTP method (forwarded requests between nodes use them all)
  std::string url; // absolute: https://host[:port]/path (http:// accepted for local tests)
  std::vector<std::pair<std::string, std::string>> headers; // besides Host/Content-Length
  std::string body;                                          // JSON text
  int64_t timeout_ms = 10000; // connect + TLS handshake + write + read, in all
};

struct outbound_response {
  int status = 0;        // HTTP status; 0 when no response was read (see transport_error)
  std::string body;      // at most 1 MiB (a longer body is a transport error)
  std::string content_type;    // the response's Content-Type ("" when absent)
  std::string transport_error; // non-empty: DNS/connect/TLS/timeout/reset/parse failure
  bool tls_verify_failed = false; // the peer's certificate was refused (wrong CA or host name)
  bool ok() const { return transport_error.empty(); }
};

class outbound_transport {
public:
  using callback = std::function<void(outbound_response)>;
  virtual ~outbound_transport() = default;
  /// Sends `req` asynchronously. `done` runs exactly once, on the transport's own thread; it
  /// must not block. Thread-safe: any actor may call it.
  virtual void post(outbound_request req, callback done) = 0;
};

} // namespace inboxd
