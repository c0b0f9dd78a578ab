#pragma once
// The real outbound_transport: HTTP/1.1 requests over TLS (or plain TCP for local tests) to the
// WhatsApp Cloud API, driven by its own io_context on its own thread.
//
// Contract:
// - start() once, before use; it loads the trust store and starts the client's thread. It
//   returns an error message (empty: success), e.g. when `ca_file` cannot be read.
// - post() is thread-safe and never blocks or throws. `done` runs exactly once:
//   * on the client's thread while the client runs (also for a bad URL, bad headers and the
//     in-flight limit, which fail without touching the network);
//   * inline, on the caller's thread, when the client is not running (before start() or after
//     stop()), with transport_error "https_client not running".
//   `done` may call post() again (not stop()); it must not block. An exception it throws is
//   caught and logged.
// - TLS: certificate verification is always on (system store plus `ca_file`), the host name (or
//   IP literal) is checked against the certificate, SNI is sent for names, TLS >= 1.2. A refused
//   certificate sets outbound_response::tls_verify_failed.
// - One deadline (outbound_request::timeout_ms, which must be positive) covers resolve, connect,
//   handshake, write and read; on expiry the connection is closed and the result is
//   transport_error "timeout".
// - Any HTTP status is a response (status + body), not a transport error. Transport errors:
//   resolve/connect/TLS failures, timeout, reset, EOF before the whole response, an unparsable
//   response, a body over the limit: "response body larger than N bytes", N being the request's
//   max_body or, when that is 0, settings.max_body. A Content-Length over the limit fails at the
//   header, before the body is read.
// - Body to a file (outbound_request::body_file non-empty): the file is opened (created or
//   truncated, mode 0600 when created) before anything is sent; failing that, or a later write,
//   is transport_error "cannot write <path>: <strerror>". The body of any status is streamed to
//   it as it arrives, never held in memory; `body` stays "". Success: the file holds exactly the
//   body and is closed before `done` runs; body_size and body_sha256 (lowercase hex) are set.
//   Any transport error (the limit, timeout, reset, early EOF, stop()) removes the file before
//   `done` runs. A retry (see keep-alive) truncates the file and starts over. Disk writes run on
//   the client's thread (plain write(2), no fsync). Without body_file, body_size is body.size()
//   and body_sha256 stays "".
// - Body from a file (outbound_request::upload_file non-empty): the request body is `body`, the
//   file's bytes and `body_tail`, read from the file as it is written (http/spliced_body.hpp); the
//   file's size is taken when the call starts (a missing or unreadable file fails at once with
//   "cannot read <path>: <reason>"; one that shrinks meanwhile fails the write).
// - Keep-alive: connections are reused per (scheme, host, port) when the server allows it; at
//   most `max_idle_per_host` idle ones are kept per key. A reused connection that fails on write,
//   or on read before a single byte of the response arrived (the server closed it while idle), is
//   retried once on a fresh connection. In that rare case the server may have received the request
//   twice: delivery is at-least-once, and callers accept it (the Cloud API dedups nothing, the
//   outbox tolerates a duplicate send over a lost one).
// - stop() fails every pending call exactly once (transport_error "https_client stopped"), closes
//   every connection and joins the thread. Idempotent; not from a callback. The destructor stops.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <variant>

#include "messages/http_url.hpp"
#include "whatsapp/outbound_transport.hpp"

namespace inboxd {

struct https_client_settings {
  std::string ca_file;           // PEM bundle trusted besides the system store; "" = system only
  size_t max_idle_per_host = 16; // idle keep-alive connections kept per (scheme, host, port)
  size_t max_in_flight = 4096;   // calls outstanding; beyond it post() fails at once
  size_t max_body = 1024 * 1024; // response body limit (bytes)
  // The client's thread runs as SCHED_IDLE: it gets the CPU time that no other thread wants and
  // never preempts one (media downloads, which must not slow ingestion).
  bool background = false;
  // Connect only to public addresses: a name resolving to loopback, private, link-local or
  // other non-public addresses fails with "refused: ..." (outgoing webhooks, whose targets are
  // the workspaces' to choose).
  bool public_only = false;
};

class https_client : public outbound_transport {
public:
  explicit https_client(https_client_settings settings = {});
  ~https_client() override;
  https_client(const https_client&) = delete;
  https_client& operator=(const https_client&) = delete;

  /// Loads the trust store and starts the thread. Returns "" on success, else why not.
  [[nodiscard]] std::string start();

  /// Fails pending calls, closes connections, joins the thread. See the contract above.
  void stop();

  /// See the contract above.
  void post(outbound_request req, callback done) override;

  /// Calls accepted and not yet completed (thread-safe, for metrics and tests).
  size_t in_flight() const;

  /// Idle pooled connections (thread-safe, best effort; for tests).
  size_t idle_connections() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace inboxd
