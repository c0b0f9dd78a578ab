#pragma once
// Forwards a request to the node that holds its workspace's lease (DESIGN.md "Scale-out"): once,
// over plain HTTP, with hop headers signed by the cluster secret. The receiving node never
// forwards a forwarded request again (no second hop: it answers 503 and the client retries) but
// back to the node it came from, once, when the lease names that node (a hand-over: the sender
// still believed this node held it; x-inboxd-hops counts the hops, at most 2), and
// it takes a webhook part from a peer on the signature of the cluster secret, since the part is
// not the body Meta or Kapso signed.
//
// Hop headers: x-inboxd-hop (the sending node: "<node id> <advertised url>"), x-inboxd-hop-time (ms
// since the epoch) and x-inboxd-hop-signature = hex HMAC-SHA256(secret, method \n target \n time \n
// node \n body), where a spooled upload's body is "sha256:<hex>" of its file (streamed to the
// owner, which spools it again); a signature older or newer than 60 s is refused.
//
// Thread-safe; forward() never blocks, `done` runs once on the HTTP client's thread.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "messages/http_exchange.hpp"

namespace boost::asio {
class io_context;
}

namespace inboxd {

class outbound_transport;

class forwarder {
public:
  /// Event streams are relayed on `io` (http/event_relay.hpp) when it is given, else refused.
  /// A spooled upload (POST /api/media) is forwarded within `upload_timeout_ms`, as it is
  /// passed on to the Cloud API before it is answered.
  forwarder(std::shared_ptr<outbound_transport> client, std::string node_id, std::string secret,
            int64_t timeout_ms, boost::asio::io_context* io = nullptr,
            int64_t stream_idle_ms = 45000, int64_t upload_timeout_ms = 0);

  /// Sends `req` with `body` in place of its own (or, for a spooled upload, its file) to
  /// `owner_url` (http://host:port) and hands the owner's answer to `done`: 503 when it cannot be
  /// reached or `req` came through a hop already. A spooled file must outlive the call.
  void forward(const http_request& req, const std::string& owner_url, std::string body,
               std::function<void(http_response)> done) const;

  /// Relays the event stream `req` asks for (GET /api/events) from `owner_url` to `reply`;
  /// 503 when it cannot, or when `req` came through a hop already.
  void forward_stream(const http_request& req, const std::string& owner_url,
                      reply_handle reply) const;

  /// `req`'s headers for the owner: its own but those of this hop's connection, and the signed
  /// hop headers over `body`.
  std::vector<std::pair<std::string, std::string>> hop_headers(const http_request& req,
                                                               const std::string& body) const;

  /// Whether `req` was forwarded by a node of this deployment (a valid hop signature).
  bool from_peer(const http_request& req) const;

  /// Whether `req` may go to `owner_url`: it carries no hop header, or it is sent back, once, to
  /// the node it came from (see above).
  static bool may_forward(const http_request& req, const std::string& owner_url);

  /// Whether `req` carries a hop header at all (signed or not).
  static bool is_hop(const http_request& req);

  /// The hop signature of a request (for tests).
  static std::string sign(const std::string& secret, const std::string& method,
                          const std::string& target, const std::string& time,
                          const std::string& node, const std::string& body);

private:
  std::shared_ptr<outbound_transport> client_;
  std::string node_, secret_;
  int64_t timeout_ms_;
  boost::asio::io_context* io_;
  int64_t stream_idle_ms_;
  int64_t upload_timeout_ms_;
};

/// `inner` (a session's reply handle) with forward() done by `fwd`: the owner's answer to `req`
/// is delivered through `inner`.
reply_handle forwarding_reply(std::shared_ptr<const http_request> req, reply_handle inner,
                              std::shared_ptr<const forwarder> fwd);

} // namespace inboxd
