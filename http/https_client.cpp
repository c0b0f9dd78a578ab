#include "http/https_client.hpp"

#include <utility> // before Asio: Boost 1.74's awaitable.hpp misses it under C++20

#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>

#include "http/response_sink.hpp"
#include "http/spliced_body.hpp"

namespace inboxd {

namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;
using error_code = boost::system::error_code;

constexpr uint32_t kHeaderLimit = 64 * 1024;
constexpr size_t kFileReadBytes = 64 * 1024; // read size of a body written to a file
constexpr int64_t kMaxTimeoutMs = 3600 * 1000;
// An idle connection older than this is not reused: front ends (Meta's, Kapso's, proxies) close
// idle connections after a minute or so, and a connection closed under us costs a retry.
constexpr auto kIdleMax = std::chrono::seconds(50);

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && istarts_with(a, b);
}

bool is_ip_literal(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

// RFC 9110 token characters.
bool valid_header_name(std::string_view s) {
  if (s.empty() || s.size() > 256)
    return false;
  for (unsigned char c : s)
    if (!(std::isalnum(c) ||
          std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos))
      return false;
  return true;
}

// No CR/LF/NUL or other controls (HTAB allowed): a value must not smuggle a header or a request.
bool valid_header_value(std::string_view s) {
  if (s.size() > 8192)
    return false;
  for (unsigned char c : s)
    if ((c < 0x20 && c != '\t') || c == 0x7f)
      return false;
  return true;
}

void invoke(outbound_transport::callback& done, outbound_response res) noexcept {
  if (!done)
    return;
  try {
    done(std::move(res));
  } catch (const std::exception& e) {
    spdlog::error("https_client: a completion callback threw: {}", e.what());
  } catch (...) {
    spdlog::error("https_client: a completion callback threw");
  }
}

outbound_response transport_failure(std::string what, bool tls_verify_failed = false) {
  outbound_response r;
  r.transport_error = std::move(what);
  r.tls_verify_failed = tls_verify_failed;
  return r;
}

std::string describe(const error_code& ec) {
  if (ec == asio::error::eof || ec == bhttp::error::end_of_stream ||
      ec == bhttp::error::partial_message || ec == ssl::error::stream_truncated)
    return "connection closed before a complete response";
  if (ec == asio::error::connection_reset)
    return "connection reset";
  if (ec == asio::error::broken_pipe)
    return "connection closed (broken pipe)";
  if (ec.category() == bhttp::make_error_code(bhttp::error::bad_version).category())
    return "unparsable response: " + ec.message();
  return ec.message();
}

} // namespace

// ---------------------------------------------------------------------------------------------

struct https_client::impl {
  // One TCP (optionally TLS) connection to one (scheme, host, port). Owned by the call using it,
  // or by the idle pool in between. Touched on the client's thread only.
  struct connection {
    connection(asio::io_context& io, ssl::context* tls_ctx, std::string k) : key(std::move(k)) {
      if (tls_ctx)
        tls.emplace(io, *tls_ctx);
      else
        plain.emplace(io);
    }

    tcp::socket& socket() { return tls ? tls->next_layer() : *plain; }

    template <class F>
    void visit(F&& f) {
      if (tls)
        f(*tls);
      else
        f(*plain);
    }

    void close() {
      error_code ec;
      socket().shutdown(tcp::socket::shutdown_both, ec);
      socket().close(ec);
    }

    // An idle connection is worth reusing only when nothing is waiting on it: a peer FIN (0),
    // stray bytes or a TLS alert (> 0) or a socket error all mean the server is done with it.
    bool looks_alive() {
      if (!socket().is_open())
        return false;
      char b;
      auto n = ::recv(socket().native_handle(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
      return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }

    std::string key;
    std::optional<tcp::socket> plain;
    std::optional<ssl::stream<tcp::socket>> tls;
    beast::flat_buffer buffer;
    clock_type::time_point idle_since;
  };

  // One post() in progress. Kept alive by `active` (until it finishes) and by its pending
  // handlers, which also hold the connection their operation uses (a finished call drops its
  // `conn` while an aborted read may still be unwinding inside the stream); every handler starts
  // with `if (finished) return;`, so whichever of response, error, deadline or stop() comes first
  // completes the call, and the others are no-ops. The body goes to `sink` (memory or a file);
  // a failed call removes its file before `done` runs.
  struct call : std::enable_shared_from_this<call> {
    call(impl* o, uint64_t i, http_url u, bhttp::request<spliced_body> r, callback d)
      : owner(o),
        id(i),
        url(std::move(u)),
        key((url.tls ? "https://" : "http://") + url.host + ":" + std::to_string(url.port)),
        request(std::move(r)),
        done(std::move(d)),
        deadline(o->io),
        resolver(o->io) {}

    void start(int64_t timeout_ms) {
      deadline.expires_after(std::chrono::milliseconds(timeout_ms));
      deadline.async_wait([self = shared_from_this()](error_code ec) {
        if (!ec && !self->finished)
          self->fail("timeout");
      });
      conn = owner->take_idle(key);
      reused = conn != nullptr;
      if (conn)
        do_write();
      else
        do_resolve();
    }

    void do_resolve() {
      resolver.async_resolve(
          url.host, std::to_string(url.port),
          [self = shared_from_this()](error_code ec, tcp::resolver::results_type results) {
            self->on_resolve(ec, std::move(results));
          });
    }

    void on_resolve(error_code ec, tcp::resolver::results_type results) {
      if (finished)
        return;
      if (ec || results.empty())
        return fail("cannot resolve " + url.host + ": " +
                    (ec ? ec.message() : std::string("no address")));
      std::vector<tcp::endpoint> endpoints;
      for (auto& r : results)
        if (!owner->settings.public_only || !non_public(r.endpoint().address()))
          endpoints.push_back(r.endpoint());
      if (endpoints.empty())
        return fail("refused: " + url.host + " resolves to a loopback or private address");
      conn = std::make_shared<connection>(owner->io, url.tls ? &*owner->tls_ctx : nullptr, key);
      if (url.tls) {
        SSL* s = conn->tls->native_handle();
        bool ip = is_ip_literal(url.host);
        // SNI carries names only (RFC 6066); the certificate check covers names and IPs.
        X509_VERIFY_PARAM* param = SSL_get0_param(s);
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        bool ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, url.host.c_str()) == 1
                     : X509_VERIFY_PARAM_set1_host(param, url.host.c_str(), 0) == 1 &&
                           SSL_set_tlsext_host_name(s, url.host.c_str()) == 1;
        if (!ok)
          return fail("cannot set up TLS for host " + url.host);
      }
      asio::async_connect(conn->socket(), endpoints,
                          [self = shared_from_this(), c = conn](
                              error_code ec, const tcp::endpoint&) { self->on_connect(ec); });
    }

    void on_connect(error_code ec) {
      if (finished)
        return;
      if (ec)
        return fail("cannot connect to " + url.host + ":" + std::to_string(url.port) + ": " +
                    ec.message());
      conn->socket().set_option(tcp::no_delay(true), ec);
      if (!url.tls)
        return do_write();
      conn->tls->async_handshake(
          ssl::stream_base::client,
          [self = shared_from_this(), c = conn](error_code ec) { self->on_handshake(ec); });
    }

    void on_handshake(error_code ec) {
      if (finished)
        return;
      if (ec) {
        long verify = SSL_get_verify_result(conn->tls->native_handle());
        if (verify != X509_V_OK)
          return fail(std::string("certificate verification failed: ") +
                          X509_verify_cert_error_string(verify),
                      true);
        return fail("TLS handshake failed: " + ec.message());
      }
      do_write();
    }

    void do_write() {
      conn->visit([this](auto& stream) {
        bhttp::async_write(
            stream, request,
            [self = shared_from_this(), c = conn](error_code ec, size_t) { self->on_write(ec); });
      });
    }

    void on_write(error_code ec) {
      if (finished)
        return;
      if (ec)
        return retry_or_fail("write failed: " + describe(ec), true);
      parser.emplace();
      parser->header_limit(kHeaderLimit);
      parser->body_limit(sink.limit()); // a Content-Length over it fails at the header
      parser->get().body().sink = &sink;
      // Header first, then the body: Beast 1.74's eager async_read loses the body_limit error
      // when the header and an oversized body arrive in one read (the body is then accepted).
      // The sink enforces the limit too, whatever the parser does.
      conn->visit([this](auto& stream) {
        bhttp::async_read_header(
            stream, conn->buffer, *parser,
            [self = shared_from_this(), c = conn](error_code ec, size_t) { self->on_header(ec); });
      });
    }

    void on_header(error_code ec) {
      if (finished)
        return;
      if (ec || parser->is_done())
        return on_read(ec);
      // A body bound for a file (a media download) is read in 64 KiB reads, not in the few
      // hundred bytes the header left room for: a recv and a write per 64 KiB, not per KiB.
      if (sink.to_file())
        conn->buffer.reserve(kFileReadBytes);
      conn->visit([this](auto& stream) {
        bhttp::async_read(
            stream, conn->buffer, *parser,
            [self = shared_from_this(), c = conn](error_code ec, size_t) { self->on_read(ec); });
      });
    }

    void on_read(error_code ec) {
      if (finished)
        return;
      bool reusable = true;
      if (ec == ssl::error::stream_truncated && parser->is_header_done() && parser->need_eof()) {
        // A body delimited by the end of the connection, closed without TLS close_notify:
        // complete as far as HTTP can tell.
        error_code eof_ec;
        parser->put_eof(eof_ec);
        ec = eof_ec;
        reusable = false;
      }
      if (!sink.error().empty())
        return fail(sink.error());
      if (ec == bhttp::error::body_limit)
        return fail("response body larger than " + std::to_string(sink.limit()) + " bytes");
      if (ec == bhttp::error::header_limit)
        return fail("response header too large");
      if (ec) {
        bool nothing_received = !parser->got_some() && conn->buffer.size() == 0;
        return retry_or_fail("read failed: " + describe(ec), nothing_received);
      }
      auto& res = parser->get();
      outbound_response out;
      out.status = static_cast<int>(res.result_int());
      out.body_size = sink.size();
      if (sink.to_file()) {
        out.body_sha256 = sink.commit(); // closed before `done` runs
        if (out.body_sha256.empty())
          return fail(sink.error());
      } else {
        out.body = sink.take_text();
      }
      out.content_type = std::string(res[bhttp::field::content_type]);
      reusable = reusable && res.keep_alive() && !parser->need_eof() && conn->buffer.size() == 0;
      finish(std::move(out), reusable);
    }

    // A reused connection may have been closed by the server while idle; that shows as a write
    // error or a read error before any response byte. Such a failure is retried once on a fresh
    // connection (the server may then have seen the request twice: at-least-once delivery).
    void retry_or_fail(std::string what, bool nothing_received) {
      if (reused && !retried && nothing_received && !owner->stopping) {
        if (!sink.restart()) // the file starts over
          return fail(sink.error());
        retried = true;
        reused = false;
        conn->close();
        conn.reset();
        parser.reset();
        return do_resolve();
      }
      fail(std::move(what));
    }

    void fail(std::string what, bool tls_verify_failed = false) {
      finish(transport_failure(std::move(what), tls_verify_failed), false);
    }

    void finish(outbound_response res, bool reusable) {
      if (finished)
        return;
      finished = true;
      if (!res.ok())
        sink.discard(); // no partial file survives a failure
      deadline.cancel();
      resolver.cancel();
      if (conn) {
        if (reusable && !owner->stopping) {
          conn->buffer.shrink_to_fit(); // an idle connection keeps no download-sized buffer
          owner->put_idle(std::move(conn));
        } else
          conn->close();
        conn.reset();
      }
      owner->complete(id, std::move(done), std::move(res));
    }

    impl* owner;
    uint64_t id;
    http_url url;
    std::string key;
    bhttp::request<spliced_body> request;
    callback done;
    asio::steady_timer deadline;
    tcp::resolver resolver;
    std::shared_ptr<connection> conn;
    response_sink sink;
    std::optional<bhttp::response_parser<response_sink::body>> parser;
    bool reused = false;
    bool retried = false;
    bool finished = false;
  };

  enum class state { created, running, stopped };

  explicit impl(https_client_settings s) : settings(std::move(s)) {}

  // --- any thread ------------------------------------------------------------------------------

  std::string start() {
    std::lock_guard lock(mutex);
    if (state_ != state::created)
      return "https_client already started";
    try {
      tls_ctx.emplace(ssl::context::tls_client);
    } catch (const std::exception& e) {
      return std::string("cannot create a TLS context: ") + e.what();
    }
    error_code ec;
    tls_ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                             ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                             ssl::context::no_tlsv1_1,
                         ec);
    if (SSL_CTX_set_min_proto_version(tls_ctx->native_handle(), TLS1_2_VERSION) != 1)
      return "cannot require TLS 1.2";
    tls_ctx->set_default_verify_paths(ec);
    if (ec)
      spdlog::warn("https_client: cannot load the system CA store: {}", ec.message());
    if (!settings.ca_file.empty()) {
      tls_ctx->load_verify_file(settings.ca_file, ec);
      if (ec)
        return "cannot load CA file '" + settings.ca_file + "': " + ec.message();
    }
    tls_ctx->set_verify_mode(ssl::verify_peer, ec);
    if (ec)
      return "cannot enable certificate verification: " + ec.message();
    work.emplace(io.get_executor());
    thread = std::thread([this] {
      sched_param idle{};
      if (settings.background && ::pthread_setschedparam(::pthread_self(), SCHED_IDLE, &idle) != 0)
        spdlog::warn("https_client: cannot run the thread as SCHED_IDLE");
      io.run();
    });
    state_ = state::running;
    return {};
  }

  void stop() {
    {
      std::lock_guard lock(mutex);
      // Posted under the lock: every call accepted by post() was queued before this.
      if (state_ == state::running)
        asio::post(io, [this] { shutdown(); });
      state_ = state::stopped;
    }
    std::lock_guard lock(join_mutex);
    if (thread.joinable() && thread.get_id() != std::this_thread::get_id())
      thread.join();
  }

  void post(outbound_request req, callback done) {
    std::unique_lock lock(mutex);
    if (state_ != state::running) {
      lock.unlock();
      invoke(done, transport_failure("https_client not running"));
      return;
    }
    if (in_flight.load() >= settings.max_in_flight) {
      asio::post(io, [done = std::move(done)]() mutable {
        invoke(done, transport_failure("too many requests in flight"));
      });
      return;
    }
    ++in_flight;
    asio::post(io, [this, req = std::move(req), done = std::move(done)]() mutable {
      begin(std::move(req), std::move(done));
    });
  }

  // --- the client's thread ---------------------------------------------------------------------

  void begin(outbound_request req, callback done) {
    auto fail_now = [&](std::string what) {
      --in_flight;
      invoke(done, transport_failure(std::move(what)));
    };
    if (stopping)
      return fail_now("https_client stopped");
    auto parsed = parse_http_url(req.url);
    if (auto* err = std::get_if<std::string>(&parsed))
      return fail_now("bad url: " + *err);
    auto& url = std::get<http_url>(parsed);
    if (req.timeout_ms <= 0)
      return fail_now("timeout_ms must be positive");
    auto verb = bhttp::string_to_verb(req.method);
    if (verb == bhttp::verb::unknown)
      return fail_now("bad method '" + req.method.substr(0, 16) + "'");
    bhttp::request<spliced_body> r{verb, url.target, 11};
    bool default_port = url.port == (url.tls ? 443 : 80);
    std::string host = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
    r.set(bhttp::field::host, default_port ? host : host + ":" + std::to_string(url.port));
    r.set(bhttp::field::user_agent, "inboxd");
    r.set(bhttp::field::content_type, "application/json");
    for (auto& [name, value] : req.headers) {
      if (!valid_header_name(name) || !valid_header_value(value))
        return fail_now("invalid request header '" + name.substr(0, 64) + "'");
      // Framing is ours: a caller's Host/Content-Length/Transfer-Encoding/Connection is ignored.
      if (iequals(name, "host") || iequals(name, "content-length") ||
          iequals(name, "transfer-encoding") || iequals(name, "connection"))
        continue;
      if (iequals(name, "content-type"))
        r.set(bhttp::field::content_type, value);
      else
        r.insert(name, value);
    }
    r.body().head = std::move(req.body);
    if (!req.upload_file.empty()) {
      struct stat st {};
      if (::stat(req.upload_file.c_str(), &st) != 0)
        return fail_now("cannot read " + req.upload_file + ": " + std::strerror(errno));
      if (!S_ISREG(st.st_mode))
        return fail_now("cannot read " + req.upload_file + ": not a regular file");
      r.body().file = std::move(req.upload_file);
      r.body().file_size = static_cast<uint64_t>(st.st_size);
      r.body().tail = std::move(req.body_tail);
    }
    r.prepare_payload();
    r.keep_alive(true);
    auto c = std::make_shared<call>(this, ++next_id, std::move(url), std::move(r), std::move(done));
    c->sink.set_limit(req.max_body > 0 ? req.max_body : settings.max_body);
    if (!req.body_file.empty()) {
      if (auto err = c->sink.open(req.body_file); !err.empty()) {
        --in_flight;
        invoke(c->done, transport_failure(std::move(err)));
        return;
      }
    }
    active.emplace(c->id, c);
    c->start(std::min(req.timeout_ms, kMaxTimeoutMs));
  }

  void complete(uint64_t id, callback done, outbound_response res) {
    active.erase(id);
    --in_flight; // before the callback: it may post again
    invoke(done, std::move(res));
  }

  std::shared_ptr<connection> take_idle(const std::string& key) {
    auto it = idle.find(key);
    if (it == idle.end())
      return nullptr;
    std::shared_ptr<connection> found;
    auto& list = it->second;
    auto now = clock_type::now();
    while (!list.empty() && !found) { // most recently used first
      auto c = std::move(list.back());
      list.pop_back();
      --idle_count;
      if (now - c->idle_since < kIdleMax && c->looks_alive())
        found = std::move(c);
      else
        c->close();
    }
    if (list.empty())
      idle.erase(it);
    return found;
  }

  void put_idle(std::shared_ptr<connection> c) {
    auto& list = idle[c->key];
    if (list.size() >= settings.max_idle_per_host) {
      c->close();
      if (list.empty())
        idle.erase(c->key);
      return;
    }
    c->idle_since = clock_type::now();
    list.push_back(std::move(c));
    ++idle_count;
  }

  void shutdown() {
    stopping = true;
    std::vector<std::shared_ptr<call>> calls;
    calls.reserve(active.size());
    for (auto& [id, c] : active)
      calls.push_back(c);
    for (auto& c : calls)
      c->fail("https_client stopped");
    for (auto& [key, list] : idle)
      for (auto& c : list)
        c->close();
    idle.clear();
    idle_count = 0;
    work.reset(); // run() returns once the aborted operations' handlers have run
  }

  https_client_settings settings;
  std::optional<ssl::context> tls_ctx; // outlives every connection (declared before io)
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::thread thread;
  std::mutex join_mutex;

  std::mutex mutex; // orders post() against stop()
  state state_ = state::created;
  std::atomic<size_t> in_flight{0};
  std::atomic<size_t> idle_count{0};

  // The client's thread only.
  bool stopping = false;
  uint64_t next_id = 0;
  std::unordered_map<uint64_t, std::shared_ptr<call>> active;
  std::map<std::string, std::vector<std::shared_ptr<connection>>> idle;
};

https_client::https_client(https_client_settings settings)
  : impl_(std::make_unique<impl>(std::move(settings))) {}

https_client::~https_client() {
  stop();
  // The client's thread has ended; the remaining handlers (none, normally) are destroyed with
  // the io_context, after the connections and calls they refer to are released.
  impl_->active.clear();
  impl_->idle.clear();
}

std::string https_client::start() {
  return impl_->start();
}

void https_client::stop() {
  impl_->stop();
}

void https_client::post(outbound_request req, callback done) {
  impl_->post(std::move(req), std::move(done));
}

size_t https_client::in_flight() const {
  return impl_->in_flight.load();
}

size_t https_client::idle_connections() const {
  return impl_->idle_count.load();
}

} // namespace inboxd
