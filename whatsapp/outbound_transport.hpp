#pragma once
// The seam between the outbox (actors/) and the HTTPS client (http/): one POST to the Cloud API
// (or Kapso's proxy) as plain data. The implementation lives in http/https_client; the actors
// only see this interface, so they stay free of Beast and OpenSSL.
//
// Response bodies: by default the body comes back in outbound_response::body, within a limit
// (max_body, else the transport's own, 1 MiB by default). With body_file set (media downloads,
// up to 100 MiB), the body is streamed to that file instead, whatever the status (the caller
// decides by `status`), and `body` stays "": on success the file holds exactly the body, closed,
// with body_size and body_sha256 set; on any transport error (over the limit, timeout, reset,
// early EOF, stop) no file is left behind. A body over the limit is the transport error
// "response body larger than N bytes"; a file that cannot be written is
// "cannot write <path>: <reason>".

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
  std::string body; // JSON text, or what goes before upload_file
  // Non-empty: the request body is `body`, then this file's bytes, then `body_tail` (a multipart
  // upload, streamed from the file, never held in memory). The file's size is read when the
  // request starts; a file that cannot be read is transport_error "cannot read <path>: <reason>".
  std::string upload_file{};
  std::string body_tail{};
  int64_t timeout_ms = 10000; // connect + TLS handshake + write + read, in all
  // Non-empty: the response body is written to this path (created or truncated, mode 0600 when
  // created) instead of outbound_response::body.
  std::string body_file;
  uint64_t max_body = 0; // response body limit for this request (bytes); 0 = the client's setting
};

struct outbound_response {
  int status = 0;           // HTTP status; 0 when no response was read (see transport_error)
  std::string body;         // within the body limit (more is a transport error); "" with body_file
  std::string content_type; // the response's Content-Type ("" when absent)
  std::string transport_error;    // non-empty: DNS/connect/TLS/timeout/reset/parse failure
  bool tls_verify_failed = false; // the peer's certificate was refused (wrong CA or host name)
  uint64_t body_size = 0;         // bytes of the body (in `body`, or written to body_file)
  // Lowercase hex SHA-256 of the body; set only when body_file was used.
  std::string body_sha256;
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
