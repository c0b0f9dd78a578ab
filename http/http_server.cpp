#include "http/http_server.hpp"

#include <optional>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include "http/query_string.hpp"
#include "messages/ids.hpp"

namespace inboxd {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = net::ip::tcp;

namespace {

constexpr size_t kHeaderLimit = 16 * 1024;
constexpr auto kReadTimeout = std::chrono::seconds(30);

bool valid_request_id(const std::string& id) {
  if (id.empty() || id.size() > 128)
    return false;
  for (char c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'))
      return false;
  return true;
}

} // namespace

struct http_server::impl : std::enable_shared_from_this<http_server::impl> {
  net::io_context& io;
  settings cfg;
  dispatch_fn dispatch;
  tcp::acceptor acceptor;
  std::atomic<int64_t> in_flight{0};
  std::atomic<int> connections{0};
  std::atomic<bool> accepting{true};

  impl(net::io_context& io, const settings& cfg, dispatch_fn d)
      : io(io), cfg(cfg), dispatch(std::move(d)), acceptor(net::make_strand(io)) {}

  void do_accept();
};

namespace {

class session : public std::enable_shared_from_this<session> {
public:
  session(tcp::socket&& socket, std::shared_ptr<http_server::impl> server)
      : stream_(std::move(socket)), server_(std::move(server)), deadline_(stream_.get_executor()) {}

  ~session() { --server_->connections; }

  void start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->do_read(); });
  }

  // Called from any thread by the reply sink.
  void post_reply(uint64_t generation, http_response res) {
    net::post(stream_.get_executor(),
              [self = shared_from_this(), generation, res = std::move(res)]() mutable {
                self->on_reply(generation, std::move(res));
              });
  }

private:
  class sink : public reply_sink {
  public:
    sink(std::weak_ptr<session> s, uint64_t generation) : s_(std::move(s)), gen_(generation) {}
    void deliver(http_response res) override {
      if (answered_.exchange(true))
        return;
      if (auto s = s_.lock())
        s->post_reply(gen_, std::move(res));
    }

  private:
    std::weak_ptr<session> s_;
    uint64_t gen_;
    std::atomic<bool> answered_{false};
  };

  void do_read() {
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(server_->cfg.webhook_body_limit);
    stream_.expires_after(std::chrono::milliseconds(server_->cfg.http_idle_timeout_ms));
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             beast::bind_front_handler(&session::on_header, shared_from_this()));
  }

  void on_header(beast::error_code ec, size_t) {
    if (ec == bhttp::error::body_limit) // Content-Length over every route's limit
      return reject_now(413, "payload_too_large", "request body too large");
    if (ec)
      return fail(ec);
    auto target = parser_->get().target();
    bool webhook = target.starts_with("/api/webhook/");
    size_t limit = webhook ? server_->cfg.webhook_body_limit : server_->cfg.api_body_limit;
    auto len = parser_->content_length();
    if (len && *len > limit)
      return reject_now(413, "payload_too_large", "request body too large");
    parser_->body_limit(limit);
    stream_.expires_after(kReadTimeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      beast::bind_front_handler(&session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, size_t) {
    if (ec == bhttp::error::body_limit)
      return reject_now(413, "payload_too_large", "request body too large");
    if (ec)
      return fail(ec);
    stream_.expires_never();
    auto& msg = parser_->get();
    auto req = std::make_shared<http_request>();
    req->method = std::string(msg.method_string());
    auto target = std::string(msg.target());
    auto q = target.find('?');
    req->path = target.substr(0, q);
    bool query_ok = true;
    if (q != std::string::npos)
      query_ok = parse_query(target.substr(q + 1), req->query);
    for (auto& f : msg) {
      std::string name(f.name_string());
      for (auto& c : name)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      req->headers.emplace_back(std::move(name), std::string(f.value()));
    }
    req->body = std::move(msg.body());
    auto rid = req->header("x-request-id");
    req->request_id = valid_request_id(rid) ? rid : new_id("req_");
    request_id_ = req->request_id;
    keep_alive_ = msg.keep_alive();
    ++generation_;
    awaiting_ = true;
    ++server_->in_flight;
    if (!query_ok) {
      on_reply(generation_, make_error("bad_request", "malformed query string"));
      return;
    }
    if (server_->in_flight.load() > server_->cfg.max_in_flight) {
      // Overloaded: shed load at the door instead of growing actor mailboxes without bound.
      on_reply(generation_, make_error("unavailable", "overloaded; try again"));
      return;
    }
    deadline_.expires_after(std::chrono::milliseconds(server_->cfg.request_timeout_ms));
    deadline_.async_wait([self = shared_from_this(), gen = generation_](beast::error_code ec) {
      if (!ec)
        self->on_reply(gen, make_error("unavailable", "the request timed out; try again"));
    });
    server_->dispatch(req, reply_handle(std::make_shared<sink>(weak_from_this(), generation_)));
  }

  void on_reply(uint64_t generation, http_response res) {
    if (!awaiting_ || generation != generation_)
      return; // answered already (timeout) or a stale answer
    awaiting_ = false;
    --server_->in_flight;
    deadline_.cancel();
    write(std::move(res));
  }

  void write(http_response res) {
    auto out = std::make_shared<bhttp::response<bhttp::string_body>>();
    out->version(11);
    out->result(static_cast<unsigned>(res.status));
    out->set(bhttp::field::server, "inboxd");
    if (!res.content_type.empty())
      out->set(bhttp::field::content_type, res.content_type);
    out->set("X-Request-Id", request_id_.empty() ? new_id("req_") : request_id_);
    for (auto& [k, v] : res.headers)
      out->set(k, v);
    out->body() = std::move(res.body);
    out->keep_alive(keep_alive_ && server_->accepting.load());
    out->prepare_payload();
    stream_.expires_after(kReadTimeout);
    bhttp::async_write(stream_, *out,
                       [self = shared_from_this(), out](beast::error_code ec, size_t) {
                         self->on_write(ec, out->need_eof());
                       });
  }

  // Answers without dispatching (limits hit while reading) and closes the connection.
  void reject_now(int status, const char* code, const char* message) {
    (void) status;
    keep_alive_ = false;
    request_id_ = new_id("req_");
    write(make_error(code, message));
  }

  void on_write(beast::error_code ec, bool close) {
    if (ec)
      return fail(ec);
    if (close) {
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      return;
    }
    do_read();
  }

  void fail(beast::error_code ec) {
    if (ec != bhttp::error::end_of_stream && ec != net::error::operation_aborted &&
        ec != beast::error::timeout && ec != net::error::connection_reset && ec != net::error::eof)
      spdlog::debug("http session: {}", ec.message());
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    if (awaiting_) {
      awaiting_ = false;
      --server_->in_flight;
      deadline_.cancel();
    }
  }

  beast::tcp_stream stream_;
  std::shared_ptr<http_server::impl> server_;
  net::steady_timer deadline_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::string request_id_;
  bool keep_alive_ = true;
  bool awaiting_ = false;
  uint64_t generation_ = 0;
};

} // namespace

void http_server::impl::do_accept() {
  acceptor.async_accept(net::make_strand(io), [self = shared_from_this()](beast::error_code ec,
                                                                          tcp::socket socket) {
    if (!self->accepting)
      return;
    if (!ec) {
      if (self->connections.load() >= self->cfg.max_connections) {
        beast::error_code ignored;
        socket.close(ignored); // over the cap: refuse rather than queue without bound
      } else {
        ++self->connections;
        std::make_shared<session>(std::move(socket), self)->start();
      }
    }
    self->do_accept();
  });
}

http_server::http_server(net::io_context& io, const settings& cfg, dispatch_fn dispatch)
    : impl_(std::make_shared<impl>(io, cfg, std::move(dispatch))) {}

http_server::~http_server() = default;

uint16_t http_server::listen() {
  beast::error_code ec;
  auto addr = net::ip::make_address(impl_->cfg.http_addr, ec);
  if (ec)
    throw std::runtime_error("invalid INBOXD_HTTP_ADDR '" + impl_->cfg.http_addr + "'");
  tcp::endpoint ep{addr, static_cast<uint16_t>(impl_->cfg.http_port)};
  auto& a = impl_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec)
    a.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec)
    a.bind(ep, ec);
  if (!ec)
    a.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    throw std::runtime_error("cannot listen on " + impl_->cfg.http_addr + ":" +
                             std::to_string(impl_->cfg.http_port) + ": " + ec.message());
  impl_->do_accept();
  return a.local_endpoint().port();
}

void http_server::stop_accepting() {
  impl_->accepting = false;
  net::post(impl_->acceptor.get_executor(), [self = impl_] {
    beast::error_code ignored;
    self->acceptor.close(ignored);
  });
}

int64_t http_server::in_flight() const {
  return impl_->in_flight.load();
}

} // namespace inboxd
