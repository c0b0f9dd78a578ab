#include "storage/redis_client.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <chrono>
#include <climits>
#include <cstdint>
#include <deque>
#include <utility>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "metrics/metrics.hpp"

namespace inboxd {

namespace {

namespace asio = boost::asio;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

// GET /metrics: transport trouble, over every client of the process.
metrics::counter_family failed_calls(
    "inboxd_redis_failed_calls_total",
    "Redis pipelines failed by the transport (not connected, connection lost or timed out, "
    "pipeline limit reached, client stopped); error replies of single commands are not counted.");
metrics::counter_family connection_errors(
    "inboxd_redis_connection_errors_total",
    "Failed Redis connection attempts and handshakes, and established connections lost.");

redis_value convert(const redisReply* r) {
  redis_value v;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      v.kind = redis_value::type::string;
      v.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      v.kind = redis_value::type::status;
      v.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      v.kind = redis_value::type::error;
      v.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      v.kind = redis_value::type::integer;
      v.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      v.kind = redis_value::type::array;
      v.elements.reserve(r->elements);
      // hiredis' reader bounds the nesting depth (7), so this recursion is bounded too.
      for (size_t i = 0; i < r->elements; ++i)
        v.elements.push_back(convert(r->element[i]));
      break;
    case REDIS_REPLY_NIL:
    default:
      v.kind = redis_value::type::nil;
      break;
  }
  return v;
}

// Callbacks must not throw: they run inside hiredis' C frames. A throwing callback is a bug, and
// terminating is better than unwinding through C code and corrupting the context.
void invoke(redis_client::callback& cb, redis_result r) noexcept {
  if (!r.ok())
    failed_calls.inc();
  if (cb)
    cb(std::move(r));
}

bool parse_int(std::string_view s, int lo, int hi, int& out) {
  if (s.empty() || s.size() > 10)
    return false;
  for (char c : s)
    if (c < '0' || c > '9')
      return false;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || v < lo || v > hi)
    return false;
  out = static_cast<int>(v);
  return true;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

} // namespace

std::variant<redis_endpoint, std::string> parse_redis_url(const std::string& url) {
  constexpr std::string_view scheme = "redis://";
  if (url.size() > 4096)
    return std::string("redis url too long");
  if (url.rfind("rediss://", 0) == 0)
    return std::string("rediss:// (TLS) is not supported");
  if (url.rfind(scheme, 0) != 0)
    return std::string("redis url must start with redis://");
  redis_endpoint ep;
  std::string_view rest(url);
  rest.remove_prefix(scheme.size());
  if (rest.find_first_of("?#") != std::string_view::npos)
    return std::string("redis url must not have a query or fragment");
  // Authority ends at the first '/' after the userinfo; the password may itself contain '/',
  // so split userinfo at the last '@' first.
  std::string_view path;
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = rest.substr(0, at);
    rest.remove_prefix(at + 1);
    auto colon = userinfo.find(':');
    if (colon == std::string_view::npos)
      return std::string("redis url userinfo must be :password");
    if (colon != 0)
      return std::string("redis url usernames (ACL users) are not supported");
    std::string_view pw = userinfo.substr(1);
    for (size_t i = 0; i < pw.size(); ++i) {
      if (pw[i] == '%') {
        int hi = i + 2 < pw.size() ? hex_digit(pw[i + 1]) : -1;
        int lo = i + 2 < pw.size() ? hex_digit(pw[i + 2]) : -1;
        if (hi < 0 || lo < 0)
          return std::string("redis url password has a bad %-escape");
        ep.password.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
      } else {
        ep.password.push_back(pw[i]);
      }
    }
    if (ep.password.empty())
      return std::string("redis url password is empty");
  }
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    path = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  std::string_view host = rest, port;
  if (!rest.empty() && rest.front() == '[') { // [ipv6]:port
    auto close = rest.find(']');
    if (close == std::string_view::npos)
      return std::string("redis url has an unclosed '['");
    host = rest.substr(1, close - 1);
    auto after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':')
        return std::string("redis url: junk after ']'");
      port = after.substr(1);
      if (port.empty())
        return std::string("redis url port is empty");
    }
    boost::system::error_code ec;
    asio::ip::make_address_v6(std::string(host), ec);
    if (ec)
      return std::string("redis url has a bad IPv6 address");
  } else if (auto colon = rest.find(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    if (port.empty())
      return std::string("redis url port is empty");
    for (char c : host)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_'))
        return std::string("redis url host has invalid characters");
  } else {
    for (char c : host)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_'))
        return std::string("redis url host has invalid characters");
  }
  if (host.size() > 253)
    return std::string("redis url host too long");
  if (!host.empty())
    ep.host = std::string(host);
  if (!port.empty() && !parse_int(port, 1, 65535, ep.port))
    return std::string("redis url port must be a number in 1..65535");
  if (!path.empty() && !parse_int(path, 0, INT_MAX, ep.db))
    return std::string("redis url database must be a non-negative number");
  return ep;
}

// ---------------------------------------------------------------------------------------------

struct redis_client::impl : std::enable_shared_from_this<redis_client::impl> {
  using strand_type = asio::strand<asio::io_context::executor_type>;

  // One exec() call in flight. Owned by the hiredis reply callbacks: it is deleted when the last
  // of its `expected` callbacks ran (hiredis runs every registered callback exactly once, with
  // NULL when the context is freed), so it never dangles even when it was failed early.
  struct call {
    callback done;
    std::vector<redis_value> replies;
    size_t expected = 0;
    size_t received = 0;
    size_t counted = 0; // commands charged against max_pending
    clock_type::time_point sent;
    bool finished = false;
  };

  // One hiredis context and the descriptor that watches its socket. Everything here is touched
  // on the strand only. hiredis owns the fd and frees the context on disconnect; cleanup()
  // releases (never closes) the descriptor.
  struct connection : std::enable_shared_from_this<connection> {
    connection(impl* o, strand_type ex, uint64_t n) : owner(o), sd(ex), id(n) {}
    impl* owner;
    asio::posix::stream_descriptor sd;
    uint64_t id;
    redisAsyncContext* ac = nullptr; // null once hiredis freed it
    bool want_read = false, want_write = false;
    bool read_waiting = false, write_waiting = false;
    bool ready = false; // TCP connected and handshake done
    std::string drop_reason;
    std::deque<call*> inflight; // unfinished calls, in send order
    clock_type::time_point created;
    clock_type::time_point last_progress;
  };

  impl(asio::io_context& io, redis_endpoint ep, size_t max_pending, redis_client_timing timing)
    : strand_(asio::make_strand(io)),
      endpoint_(std::move(ep)),
      max_pending_(max_pending),
      timing_(timing),
      resolver_(strand_),
      reconnect_timer_(strand_),
      tick_timer_(strand_),
      backoff_(timing.initial_backoff) {}

  ~impl() {
    // Only reached with a live context when the io_context stopped before stop() ran. The
    // callbacks' executor is gone then, so they are destroyed without being called.
    destroying_ = true;
    if (conn_ && conn_->ac) {
      auto keep = conn_;
      redisAsyncFree(conn_->ac);
    }
  }

  // --- strand-side operations -----------------------------------------------------------------

  void do_start() {
    if (stopped_ || started_)
      return;
    started_ = true;
    tick();
    connect();
  }

  void do_stop() {
    reconnect_timer_.cancel();
    tick_timer_.cancel();
    resolver_.cancel();
    // Before the drop: it fails the pending calls, whose callers may ask connected() at once.
    connected_ = false;
    if (conn_) {
      auto c = conn_;
      drop(c, "redis client stopped");
      conn_.reset();
    }
  }

  void connect() {
    if (stopped_)
      return;
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(endpoint_.host, ec);
    if (!ec) {
      connect_to(addr.to_string());
      return;
    }
    // hiredis would resolve the name with a blocking getaddrinfo on this thread; Asio's resolver
    // runs it on its own thread instead.
    resolver_.async_resolve(
        endpoint_.host, std::to_string(endpoint_.port),
        [self = shared_from_this()](boost::system::error_code ec,
                                    asio::ip::tcp::resolver::results_type results) {
          if (self->stopped_)
            return;
          if (ec || results.empty()) {
            self->note_failure("cannot resolve " + self->endpoint_.host + ": " +
                               (ec ? ec.message() : std::string("no address")));
            self->schedule_reconnect();
            return;
          }
          self->connect_to(results.begin()->endpoint().address().to_string());
        });
  }

  void connect_to(const std::string& ip) {
    redisAsyncContext* ac = redisAsyncConnect(ip.c_str(), endpoint_.port);
    if (ac == nullptr) {
      note_failure("cannot allocate a hiredis context");
      schedule_reconnect();
      return;
    }
    if (ac->err) {
      note_failure(ac->errstr);
      redisAsyncFree(ac); // no event hooks attached yet: plain free, closes the fd
      schedule_reconnect();
      return;
    }
    auto c = std::make_shared<connection>(this, strand_, ++next_conn_id_);
    boost::system::error_code ec;
    c->sd.assign(ac->c.fd, ec);
    if (ec) {
      note_failure("cannot watch the redis socket: " + ec.message());
      redisAsyncFree(ac);
      schedule_reconnect();
      return;
    }
    c->ac = ac;
    c->created = c->last_progress = clock_type::now();
    ac->data = c.get();
    ac->ev.data = c.get();
    ac->ev.addRead = &impl::hook_add_read;
    ac->ev.delRead = &impl::hook_del_read;
    ac->ev.addWrite = &impl::hook_add_write;
    ac->ev.delWrite = &impl::hook_del_write;
    ac->ev.cleanup = &impl::hook_cleanup;
    conn_ = c;
    // Sets onConnect and arms the first write event (connect completion).
    redisAsyncSetConnectCallback(ac, &impl::on_connect);
  }

  void schedule_reconnect() {
    if (stopped_ || destroying_)
      return;
    auto delay = backoff_;
    backoff_ = next_backoff(backoff_, timing_);
    reconnect_timer_.expires_after(delay);
    reconnect_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->stopped_)
        return;
      if (!self->conn_)
        self->connect();
    });
  }

  // Frees the context from our side. hiredis then fails every outstanding callback with NULL
  // (-> `reason`) and calls cleanup, which schedules the reconnect. Never called from inside a
  // hiredis callback (those post a drop instead).
  void drop(const std::shared_ptr<connection>& c, std::string reason) {
    if (!c->ac)
      return;
    c->drop_reason = std::move(reason);
    redisAsyncFree(c->ac);
  }

  void post_drop(connection* c, std::string reason) {
    asio::post(strand_,
               [self = shared_from_this(), c = c->shared_from_this(),
                reason = std::move(reason)]() mutable { self->drop(c, std::move(reason)); });
  }

  // Periodic check: connect timeout and command timeout. One timer per client, not per call.
  void tick() {
    tick_timer_.expires_after(timing_.tick_interval);
    tick_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->stopped_)
        return;
      self->check_timeouts();
      self->tick();
    });
  }

  void check_timeouts() {
    auto c = conn_;
    if (!c || !c->ac)
      return;
    auto now = clock_type::now();
    if (!c->ready) {
      if (now - c->created > timing_.connect_timeout)
        drop(c, "redis connect timeout");
      return;
    }
    if (!c->inflight.empty()) {
      auto oldest = c->inflight.front()->sent;
      if (now - oldest > timing_.command_timeout &&
          now - c->last_progress > timing_.command_timeout)
        drop(c, "redis command timeout");
    }
  }

  void do_exec(redis_pipeline& cmds, callback& done) {
    auto n = cmds.size();
    auto fail = [&](const char* why) {
      pending_ -= n;
      invoke(done, redis_result{{}, why});
    };
    if (stopped_)
      return fail("redis client stopped");
    auto c = conn_;
    if (!c || !c->ac || !c->ready)
      return fail("redis not connected");
    auto* k = new call;
    k->done = std::move(done);
    k->counted = n;
    send(*c, k, cmds);
  }

  // Registers every command of the pipeline on the context, in order. hiredis only buffers
  // here; the write happens when the descriptor is writable.
  void send(connection& c, call* k, const redis_pipeline& cmds) {
    k->sent = clock_type::now();
    if (c.inflight.empty())
      c.last_progress = k->sent; // idle time is not a stall
    k->replies.reserve(cmds.size());
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const auto& cmd : cmds) {
      argv.clear();
      lens.clear();
      for (const auto& a : cmd) {
        argv.push_back(a.data());
        lens.push_back(a.size());
      }
      if (redisAsyncCommandArgv(c.ac, &impl::on_reply, k, static_cast<int>(argv.size()),
                                argv.data(), lens.data()) != REDIS_OK)
        break;
      ++k->expected;
    }
    if (k->expected == cmds.size()) {
      c.inflight.push_back(k);
      return;
    }
    // The context refused a command (it is going away): fail the call now; the callbacks
    // already registered still run and release `k` after the last one.
    finish(c, k, "redis connection lost");
    if (k->expected == 0)
      release(k);
  }

  void finish(connection& c, call* k, std::string error) {
    if (k->finished)
      return;
    k->finished = true;
    forget(c, k);
    auto done = std::move(k->done);
    if (destroying_)
      return;
    invoke(done, redis_result{std::move(k->replies), std::move(error)});
  }

  // Replies come in send order, so the call is almost always the front one.
  static void forget(connection& c, call* k) {
    if (!c.inflight.empty() && c.inflight.front() == k) {
      c.inflight.pop_front();
      return;
    }
    if (auto it = std::find(c.inflight.begin(), c.inflight.end(), k); it != c.inflight.end())
      c.inflight.erase(it);
  }

  void release(call* k) {
    pending_ -= k->counted;
    delete k;
  }

  void handle_reply(connection& c, call* k, redisReply* r) {
    ++k->received;
    if (r != nullptr) {
      c.last_progress = clock_type::now();
      if (!k->finished)
        k->replies.push_back(convert(r));
    } else {
      finish(c, k, c.drop_reason.empty() ? std::string("redis connection lost") : c.drop_reason);
    }
    if (k->received == k->expected) {
      if (k->finished) {
        release(k);
        return;
      }
      // Give the capacity back before the callback runs, so a caller reacting to it can reuse it.
      k->finished = true;
      forget(c, k);
      auto done = std::move(k->done);
      auto replies = std::move(k->replies);
      release(k);
      if (!destroying_)
        invoke(done, redis_result{std::move(replies), {}});
    }
  }

  void handle_connect(connection& c, int status) {
    if (status != REDIS_OK) {
      // hiredis frees the context right after this returns; cleanup schedules the retry.
      note_failure(c.ac && c.ac->errstr ? c.ac->errstr : "connect failed");
      return;
    }
    redis_pipeline hello;
    if (!endpoint_.password.empty())
      hello.push_back({"AUTH", endpoint_.password});
    if (endpoint_.db != 0)
      hello.push_back({"SELECT", std::to_string(endpoint_.db)});
    // A TCP connect alone proves little: the kernel accepts for a stopped or hung server, and
    // a restarted one answers -LOADING while it replays its AOF. Ready means PONG.
    hello.push_back({"PING"});
    auto* k = new call;
    // Weak references: this call is owned by the context, which the impl owns.
    k->done = [weak = weak_from_this(), wconn = c.weak_from_this()](redis_result r) {
      auto self = weak.lock();
      auto conn = wconn.lock();
      if (!self || !conn || !r.ok())
        return; // connection gone; cleanup handles the retry
      for (const auto& v : r.replies) {
        if (v.is_error() || (&v == &r.replies.back() && v.str != "PONG")) {
          self->note_failure("redis handshake failed: " + v.str);
          self->post_drop(conn.get(), "redis handshake failed: " + v.str);
          return;
        }
      }
      self->mark_ready(*conn);
    };
    send(c, k, hello);
  }

  void mark_ready(connection& c) {
    if (!c.ac || &c != conn_.get())
      return;
    c.ready = true;
    backoff_ = timing_.initial_backoff;
    connected_ = true;
    spdlog::info("redis {}:{} connected", endpoint_.host, endpoint_.port);
    last_failure_.clear();
  }

  // Logs a failure once per distinct reason, so a Redis that stays down does not flood the log.
  void note_failure(const std::string& why) {
    connection_errors.inc();
    if (why == last_failure_)
      return;
    last_failure_ = why;
    spdlog::warn("redis {}:{}: {}", endpoint_.host, endpoint_.port, why);
  }

  void handle_cleanup(connection& c) {
    // hiredis already ran every pending callback with NULL and closes the fd after we return.
    c.ac = nullptr;
    c.want_read = c.want_write = false;
    c.sd.release(); // cancels our waits (operation_aborted); the fd stays hiredis'
    if (&c != conn_.get())
      return;
    bool was_ready = c.ready;
    connected_ = false;
    if (destroying_)
      return;
    if (was_ready && !stopped_)
      note_failure(c.drop_reason.empty() ? std::string("connection lost") : c.drop_reason);
    // Keep the connection object alive until we are out of hiredis' stack.
    asio::post(strand_, [c = c.shared_from_this()] {});
    conn_.reset();
    schedule_reconnect();
  }

  // --- descriptor readiness -------------------------------------------------------------------

  void arm_read(connection& c) {
    if (c.read_waiting || !c.ac)
      return;
    auto self = weak_from_this().lock();
    if (!self)
      return;
    c.read_waiting = true;
    c.sd.async_wait(asio::posix::stream_descriptor::wait_read,
                    [self, conn = c.shared_from_this()](boost::system::error_code ec) {
                      conn->read_waiting = false;
                      if (ec || !conn->ac || !conn->want_read)
                        return;
                      // May free the context (error/EOF); `conn` keeps our object alive.
                      redisAsyncHandleRead(conn->ac);
                    });
  }

  void arm_write(connection& c) {
    if (c.write_waiting || !c.ac)
      return;
    auto self = weak_from_this().lock();
    if (!self)
      return;
    c.write_waiting = true;
    c.sd.async_wait(asio::posix::stream_descriptor::wait_write,
                    [self, conn = c.shared_from_this()](boost::system::error_code ec) {
                      conn->write_waiting = false;
                      if (ec || !conn->ac || !conn->want_write)
                        return;
                      redisAsyncHandleWrite(conn->ac);
                    });
  }

  // hiredis hooks (C callbacks). They must be idempotent; a pending wait whose interest was
  // removed simply does nothing when it fires.
  static connection& conn_of(void* p) { return *static_cast<connection*>(p); }
  static void hook_add_read(void* p) {
    auto& c = conn_of(p);
    c.want_read = true;
    c.owner->arm_read(c);
  }
  static void hook_del_read(void* p) { conn_of(p).want_read = false; }
  static void hook_add_write(void* p) {
    auto& c = conn_of(p);
    c.want_write = true;
    c.owner->arm_write(c);
  }
  static void hook_del_write(void* p) { conn_of(p).want_write = false; }
  static void hook_cleanup(void* p) {
    auto& c = conn_of(p);
    c.owner->handle_cleanup(c);
  }
  static void on_connect(const redisAsyncContext* ac, int status) {
    auto& c = conn_of(ac->data);
    c.owner->handle_connect(c, status);
  }
  static void on_reply(redisAsyncContext* ac, void* reply, void* privdata) {
    auto& c = conn_of(ac->data);
    c.owner->handle_reply(c, static_cast<call*>(privdata), static_cast<redisReply*>(reply));
  }

  // --- state ----------------------------------------------------------------------------------

  strand_type strand_;
  const redis_endpoint endpoint_;
  const size_t max_pending_;
  const redis_client_timing timing_;
  asio::ip::tcp::resolver resolver_;
  asio::steady_timer reconnect_timer_;
  asio::steady_timer tick_timer_;

  // Shared with other threads.
  std::atomic<bool> connected_{false};
  std::atomic<bool> stopped_{false};
  std::atomic<size_t> pending_{0};

  // Strand only.
  std::shared_ptr<connection> conn_;
  uint64_t next_conn_id_ = 0;
  std::chrono::milliseconds backoff_;
  bool started_ = false;
  bool destroying_ = false;
  std::string last_failure_;
};

// -----------------------------------------------------------------------------------------------

std::chrono::milliseconds next_backoff(std::chrono::milliseconds current,
                                       const redis_client_timing& timing) {
  return std::min(current * 2, timing.max_backoff);
}

redis_client::redis_client(boost::asio::io_context& io, redis_endpoint endpoint, size_t max_pending,
                           redis_client_timing timing)
  : impl_(std::make_shared<impl>(io, std::move(endpoint), max_pending, timing)) {}

redis_client::~redis_client() {
  // Pending callbacks fail on the io thread; the impl lives until its handlers are done.
  stop();
}

void redis_client::start() {
  asio::post(impl_->strand_, [self = impl_] { self->do_start(); });
}

void redis_client::stop(std::function<void()> stopped) {
  bool again = impl_->stopped_.exchange(true);
  if (again && !stopped)
    return;
  asio::post(impl_->strand_, [self = impl_, again, stopped = std::move(stopped)] {
    if (!again)
      self->do_stop();
    if (stopped)
      stopped();
  });
}

void redis_client::exec(redis_pipeline cmds, callback done) {
  auto& im = *impl_;
  const size_t n = cmds.size();
  auto fail_later = [&](std::string why) {
    asio::post(im.strand_, [done = std::move(done), why = std::move(why)]() mutable {
      invoke(done, redis_result{{}, std::move(why)});
    });
  };
  if (n == 0)
    return fail_later("empty redis pipeline");
  for (const auto& c : cmds)
    if (c.empty())
      return fail_later("empty redis command");
  if (im.stopped_)
    return fail_later("redis client stopped");
  // Fail fast without a round trip through the strand while the connection is down.
  if (!im.connected_)
    return fail_later("redis not connected");
  size_t before = im.pending_.fetch_add(n);
  if (before + n > im.max_pending_) {
    im.pending_ -= n;
    return fail_later("redis pipeline limit reached");
  }
  asio::post(im.strand_, [self = impl_, cmds = std::move(cmds), done = std::move(done)]() mutable {
    self->do_exec(cmds, done);
  });
}

bool redis_client::connected() const {
  return impl_->connected_;
}

} // namespace inboxd
