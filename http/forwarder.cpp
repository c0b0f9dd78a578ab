#include "http/forwarder.hpp"

#include <algorithm>
#include <chrono>

#include "http/event_relay.hpp"
#include "http/https_client.hpp"
#include "messages/crypto.hpp"
#include "metrics/metrics.hpp"
#include "whatsapp/outbound_transport.hpp"

namespace inboxd {

namespace {

constexpr int64_t kMaxSkewMs = 60000;

enum class forward_outcome : uint8_t { answered, unreachable, second_hop };

metrics::counter_family forwards(
    "inboxd_forwarded_requests_total",
    "Requests this node forwarded to the workspace's lease holder, by outcome: answered (the "
    "owner's answer was passed on; a relayed event stream counts when the owner's answer "
    "begins), unreachable (503), second_hop (a forwarded request that would have needed another "
    "forward: 503).",
    metrics::label_values("outcome", {"answered", "unreachable", "second_hop"}));

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Headers that describe this hop's connection or our own hop, not the request.
// What a hop signature covers: the body, or for a spooled upload (POST /api/media) its SHA-256.
std::string signed_body(const http_request& req, const std::string& body) {
  return req.body_file ? "sha256:" + req.body_file->sha256 : body;
}

bool hop_by_hop(const std::string& name) {
  return name == "host" || name == "content-length" || name == "transfer-encoding" ||
         name == "connection" || name == "keep-alive" || name == "expect" || name == "upgrade" ||
         name.rfind("x-inboxd-hop", 0) == 0;
}

} // namespace

forwarder::forwarder(std::shared_ptr<outbound_transport> client, std::string node_id,
                     std::string secret, int64_t timeout_ms, boost::asio::io_context* io,
                     int64_t stream_idle_ms, int64_t upload_timeout_ms)
  : client_(std::move(client)),
    node_(std::move(node_id)),
    secret_(std::move(secret)),
    timeout_ms_(timeout_ms),
    io_(io),
    stream_idle_ms_(stream_idle_ms),
    upload_timeout_ms_(upload_timeout_ms) {}

std::string forwarder::sign(const std::string& secret, const std::string& method,
                            const std::string& target, const std::string& time,
                            const std::string& node, const std::string& body) {
  std::string data;
  data.reserve(method.size() + target.size() + time.size() + node.size() + body.size() + 4);
  data.append(method).append("\n").append(target).append("\n").append(time).append("\n");
  data.append(node).append("\n").append(body);
  return hmac_sha256_hex(secret, data);
}

bool forwarder::is_hop(const http_request& req) {
  for (auto& [name, value] : req.headers)
    if (name == "x-inboxd-hop")
      return true;
  return false;
}

bool forwarder::from_peer(const http_request& req) const {
  auto node = req.header("x-inboxd-hop");
  auto time = req.header("x-inboxd-hop-time");
  auto sig = req.header("x-inboxd-hop-signature");
  if (node.empty() || time.empty() || sig.size() != 64 || time.size() > 15)
    return false;
  int64_t t = 0;
  for (char c : time) {
    if (c < '0' || c > '9')
      return false;
    t = t * 10 + (c - '0');
  }
  auto skew = now_ms() - t;
  if (skew > kMaxSkewMs || skew < -kMaxSkewMs)
    return false;
  return constant_time_equal(
      sign(secret_, req.method, req.target, time, node, signed_body(req, req.body)), sig);
}

bool forwarder::may_forward(const http_request& req, const std::string& owner_url) {
  if (!is_hop(req))
    return true;
  // Back to the node it came from, once: that node forwarded it here while this node handed
  // the workspace over to it (its view of the lease was a second old at most).
  auto from = req.header("x-inboxd-hop");
  auto space = from.find(' ');
  return req.header("x-inboxd-hops") == "1" && space != std::string::npos &&
         from.substr(space + 1) == owner_url;
}

std::vector<std::pair<std::string, std::string>> forwarder::hop_headers(
    const http_request& req, const std::string& body) const {
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& [name, value] : req.headers)
    if (!hop_by_hop(name))
      out.emplace_back(name, value);
  if (req.header("x-request-id").empty())
    out.emplace_back("x-request-id", req.request_id);
  auto time = std::to_string(now_ms());
  out.emplace_back("x-inboxd-hop", node_);
  out.emplace_back("x-inboxd-hops", is_hop(req) ? "2" : "1");
  out.emplace_back("x-inboxd-hop-time", time);
  out.emplace_back("x-inboxd-hop-signature",
                   sign(secret_, req.method, req.target, time, node_, signed_body(req, body)));
  return out;
}

void forwarder::forward(const http_request& req, const std::string& owner_url, std::string body,
                        std::function<void(http_response)> done) const {
  if (!may_forward(req, owner_url)) {
    forwards.inc(static_cast<size_t>(forward_outcome::second_hop));
    return done(
        make_error(api_error::unavailable, "the workspace is moving between nodes; try again"));
  }
  outbound_request out;
  out.method = req.method;
  out.url = owner_url + req.target;
  out.timeout_ms = timeout_ms_;
  out.headers = hop_headers(req, body);
  out.body = std::move(body);
  if (req.body_file) { // streamed from its file; the owner passes it on to the Cloud API
    out.upload_file = req.body_file->path;
    out.timeout_ms = std::max(timeout_ms_, upload_timeout_ms_);
  }
  client_->post(std::move(out), [done = std::move(done)](outbound_response res) {
    if (!res.ok()) {
      forwards.inc(static_cast<size_t>(forward_outcome::unreachable));
      return done(
          make_error(api_error::unavailable, "the workspace's node is unreachable; try again"));
    }
    forwards.inc(static_cast<size_t>(forward_outcome::answered));
    http_response r;
    r.status = res.status;
    r.body = std::move(res.body);
    if (!res.content_type.empty())
      r.content_type = std::move(res.content_type);
    done(std::move(r));
  });
}

void forwarder::forward_stream(const http_request& req, const std::string& owner_url,
                               reply_handle reply) const {
  if (!may_forward(req, owner_url)) {
    forwards.inc(static_cast<size_t>(forward_outcome::second_hop));
    return reply.error(api_error::unavailable, "the workspace is moving between nodes; try again");
  }
  auto parsed = parse_http_url(owner_url);
  auto* url = std::get_if<http_url>(&parsed);
  if (!io_ || !url || url->tls) { // peers speak plain HTTP (DESIGN.md "Scale-out")
    forwards.inc(static_cast<size_t>(forward_outcome::unreachable));
    return reply.error(api_error::unavailable, "the workspace's node is unreachable; try again");
  }
  std::string text = req.method + " " + req.target + " HTTP/1.1\r\nHost: " + url->host + ":" +
                     std::to_string(url->port) + "\r\n";
  for (auto& [name, value] : hop_headers(req, req.body))
    text.append(name).append(": ").append(value).append("\r\n");
  text += "Connection: close\r\n\r\n";
  relay_event_stream(*io_, url->host, url->port, std::move(text), std::move(reply),
                     relay_timing{timeout_ms_, stream_idle_ms_}, [](bool reached) {
                       forwards.inc(static_cast<size_t>(reached ? forward_outcome::answered
                                                                : forward_outcome::unreachable));
                     });
}

namespace {

class forwarding_sink final : public reply_sink {
public:
  forwarding_sink(std::shared_ptr<const http_request> req, reply_handle inner,
                  std::shared_ptr<const forwarder> fwd)
    : req_(std::move(req)), inner_(std::move(inner)), fwd_(std::move(fwd)) {}
  void deliver(http_response res) override { inner_.send(std::move(res)); }
  event_stream_ptr open_stream(http_response head) override {
    return inner_.open_stream(std::move(head));
  }
  void set_route(int route) override { inner_.set_route(route); }
  void set_workspace(const std::string& id) override { inner_.set_workspace(id); }
  void forward(const std::string& owner_url) override {
    if (req_->method == "GET" && req_->path == "/api/events")
      return fwd_->forward_stream(*req_, owner_url, inner_);
    // The request (and a spooled upload's file) lives until the owner has answered.
    fwd_->forward(*req_, owner_url, req_->body,
                  [inner = inner_, req = req_](http_response res) { inner.send(std::move(res)); });
  }

private:
  std::shared_ptr<const http_request> req_;
  reply_handle inner_;
  std::shared_ptr<const forwarder> fwd_;
};

} // namespace

reply_handle forwarding_reply(std::shared_ptr<const http_request> req, reply_handle inner,
                              std::shared_ptr<const forwarder> fwd) {
  return reply_handle(
      std::make_shared<forwarding_sink>(std::move(req), std::move(inner), std::move(fwd)));
}

} // namespace inboxd
