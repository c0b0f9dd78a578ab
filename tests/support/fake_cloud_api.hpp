#pragma once
// A local fake of the WhatsApp Cloud API (graph.facebook.com) for tests: an HTTP/1.1 server on
// 127.0.0.1 (free port), TLS by default, with keep-alive, that records every request and answers
// each one as a responder says (a status and body, or misbehaviour: hang, reset, raw bytes).
//
// TLS: the constructor generates, in a temporary directory, a self-signed CA and a certificate
// for `localhost` and 127.0.0.1 signed by it; ca_file() is the CA's PEM (pass it as
// INBOXD_TLS_CA_FILE / https_client_settings::ca_file). With `wrong_certificate`, the server's
// certificate is signed by another CA, which ca_file() does not contain: a client trusting only
// ca_file() must refuse it. Generation failures throw std::runtime_error.
//
// Threads: the server runs on its own thread; the responder runs there too (one request at a
// time). Every other member function is thread-safe. The destructor closes everything, hung
// connections included, promptly, and removes the temporary directory.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace inboxd::test {

struct recorded_request {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers; // names lowercased; repeats joined with ", "
  std::string body;
  uint64_t connection = 0;          // which accepted TCP connection (1, 2, ...) it came on
  uint64_t index_on_connection = 0; // 1 for a connection's first request, 2 for the next, ...

  /// The header's value (name case-insensitive), or "" when absent.
  std::string header(std::string_view name) const;
};

/// What the fake does with one request.
struct reply {
  enum class kind {
    respond, // an HTTP response: status, headers, body
    hang,    // never answer; keep the connection open until the server is destroyed
    reset,   // close the connection abruptly (SO_LINGER 0: the client sees a TCP RST)
    raw,     // write `bytes` verbatim (inside TLS when TLS is on), then close the connection
  };
  kind what = kind::respond;
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers; // besides Content-Length; a
                                                            // Content-Type here replaces JSON's
  std::string bytes;                                        // kind::raw
  bool close = false;                 // respond: send "Connection: close" and close after
  std::chrono::milliseconds delay{0}; // respond/raw: wait this long first

  /// `status` with a JSON body.
  static reply json(int status, std::string body);
  static reply hang();
  static reply reset();
  static reply raw(std::string bytes);
};

/// Meta's error body: {"error":{"message":..,"type":..,"code":..,"error_data":{
/// "messaging_product":"whatsapp","details":..},"fbtrace_id":".."}}.
std::string meta_error_body(int code, std::string_view message, std::string_view details = {},
                            std::string_view type = "OAuthException");

/// reply::json(status, meta_error_body(...)).
reply meta_error(int status, int code, std::string_view message, std::string_view details = {});

/// The Cloud API's success body for a send to `to`, with message id `wamid`.
std::string meta_success_body(std::string_view to, std::string_view wamid);

class fake_cloud_api {
public:
  using responder = std::function<reply(const recorded_request&)>;

  /// Starts listening at once. `tls` false: plain HTTP (ca_file() is then still generated).
  explicit fake_cloud_api(bool tls = true, bool wrong_certificate = false);
  ~fake_cloud_api();
  fake_cloud_api(const fake_cloud_api&) = delete;
  fake_cloud_api& operator=(const fake_cloud_api&) = delete;

  int port() const;
  bool tls() const;
  /// "https://127.0.0.1:<port><path>" (http:// without TLS).
  std::string url(std::string_view path = "/v21.0/1234567890/messages") const;
  /// Path of the PEM file of the CA a client should trust.
  std::string ca_file() const;

  /// Replaces the responder (thread-safe; applies to requests read from now on). The default
  /// answers 200 with meta_success_body(<"to" of the request JSON>, "wamid.fake.<n>"), n = 1, 2...
  void set_responder(responder r);

  /// Every request read so far, in arrival order.
  std::vector<recorded_request> requests() const;
  size_t count() const;
  /// Waits until at least `n` requests were read; false on timeout.
  bool wait_for(size_t n, std::chrono::milliseconds timeout) const;
  /// TCP connections accepted so far (TLS handshakes that failed included).
  size_t connections() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace inboxd::test
