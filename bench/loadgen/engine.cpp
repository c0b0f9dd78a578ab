#include "bench/loadgen/engine.hpp"

#include <utility> // before Asio: Boost 1.74's awaitable.hpp misses it under C++20

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

namespace inboxd::bench {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using clock_type = std::chrono::steady_clock;
using time_point = clock_type::time_point;

namespace {

std::atomic<uint64_t> g_next{0};    // request numbers, shared by every thread of a run
std::atomic<uint64_t> g_started{0}; // closed loop with max_requests: how many were taken

class worker;

// One keep-alive connection with at most one request in flight.
struct connection {
  connection(worker* w, asio::io_context& io) : owner(w), socket(io), pause(io) {}

  worker* owner;
  tcp::socket socket;
  asio::steady_timer pause; // closed loop: a short wait after a transport error
  bool connected = false;
  bool busy = false;
  boost::beast::flat_buffer buffer;
  std::optional<bhttp::response_parser<bhttp::string_body>> parser;
  std::string out;
  request_meta meta;
  time_point scheduled{};
};

class worker {
public:
  worker(const engine_options& opts, const request_source& src, int conns, double rate,
         size_t nkinds)
    : opts_(opts), src_(src), rate_(rate), tick_(io_), stop_timer_(io_) {
    result_.kinds.resize(nkinds);
    if (opts.open_loop) {
      auto expected = static_cast<size_t>(rate * opts.duration_s * 1.05 / double(nkinds)) + 16;
      for (auto& k : result_.kinds)
        k.latencies_us.reserve(std::min<size_t>(expected, 50'000'000));
    }
    endpoint_ = tcp::endpoint(asio::ip::make_address(opts.host), static_cast<unsigned short>(opts.port));
    for (int i = 0; i < conns; ++i) {
      conns_.push_back(std::make_unique<connection>(this, io_));
      auto& c = *conns_.back();
      error_code ec;
      c.socket.connect(endpoint_, ec); // before the clock starts: connecting is not measured
      if (!ec) {
        c.connected = true;
        c.socket.set_option(tcp::no_delay(true), ec);
      }
    }
  }

  // Runs the schedule from `start` until `end`, then drains until `hard_stop` at the latest.
  void run(time_point start, time_point end, time_point hard_stop, double phase) {
    start_ = start;
    end_ = end;
    phase_ = phase;
    stop_timer_.expires_at(hard_stop);
    stop_timer_.async_wait([this](error_code ec) {
      if (!ec)
        finish();
    });
    if (opts_.open_loop) {
      for (auto& c : conns_)
        idle_.push_back(c.get());
      tick_.expires_at(start_);
      tick_.async_wait([this](error_code ec) { on_tick(ec); });
    } else {
      tick_.expires_at(start_);
      tick_.async_wait([this](error_code ec) {
        if (ec)
          return;
        for (auto& c : conns_)
          next_closed(*c);
        maybe_done();
      });
    }
    io_.run();
  }

  engine_result& result() { return result_; }

private:
  time_point scheduled_at(uint64_t k) const {
    double seconds = (double(k) + phase_) / rate_;
    return start_ + std::chrono::nanoseconds(static_cast<int64_t>(seconds * 1e9));
  }

  void on_tick(error_code ec) {
    if (ec)
      return;
    auto now = clock_type::now();
    for (;;) {
      auto t = scheduled_at(scheduled_);
      if (t >= end_) {
        scheduling_done_ = true;
        maybe_done();
        return;
      }
      if (t > now) {
        tick_.expires_at(t);
        tick_.async_wait([this](error_code e) { on_tick(e); });
        return;
      }
      ++scheduled_;
      if (!idle_.empty()) {
        connection* c = idle_.back();
        idle_.pop_back();
        start_request(*c, t);
      } else {
        backlog_.push_back(t); // every connection is busy: the request waits here, its clock runs
      }
    }
  }

  void next_closed(connection& c) {
    if (done_)
      return;
    auto now = clock_type::now();
    if (now >= end_)
      return;
    if (opts_.max_requests != 0 && g_started.fetch_add(1) >= opts_.max_requests)
      return;
    start_request(c, now);
  }

  void start_request(connection& c, time_point scheduled) {
    c.busy = true;
    ++in_flight_;
    c.scheduled = scheduled;
    c.meta = request_meta{};
    src_.make(g_next.fetch_add(1, std::memory_order_relaxed), c.out, c.meta);
    if (!c.connected) {
      c.socket.async_connect(endpoint_, [this, &c](error_code ec) {
        if (ec)
          return on_transport_error(c, "connect: " + ec.message());
        c.connected = true;
        error_code ignored;
        c.socket.set_option(tcp::no_delay(true), ignored);
        write(c);
      });
      return;
    }
    write(c);
  }

  void write(connection& c) {
    asio::async_write(c.socket, asio::buffer(c.out), [this, &c](error_code ec, size_t) {
      if (ec)
        return on_transport_error(c, "write: " + ec.message());
      c.parser.emplace();
      c.parser->body_limit(64 * 1024 * 1024);
      bhttp::async_read(c.socket, c.buffer, *c.parser, [this, &c](error_code e, size_t) {
        if (e)
          return on_transport_error(c, "read: " + e.message());
        on_response(c);
      });
    });
  }

  void on_response(connection& c) {
    auto now = clock_type::now();
    auto& res = c.parser->get();
    int status = static_cast<int>(res.result_int());
    auto& k = result_.kinds[static_cast<size_t>(c.meta.kind)];
    ++result_.requests;
    ++k.requests;
    ++result_.statuses[status];
    if (status == c.meta.expect || (status >= 200 && status < 300)) {
      ++result_.ok;
      ++k.ok;
      result_.items += static_cast<uint64_t>(c.meta.items);
      auto us = std::chrono::duration_cast<std::chrono::microseconds>(now - c.scheduled).count();
      k.latencies_us.push_back(static_cast<uint32_t>(std::clamp<int64_t>(us, 0, UINT32_MAX)));
    } else {
      ++result_.http_errors;
      if (result_.first_error.empty())
        result_.first_error = "HTTP " + std::to_string(status) + ": " + res.body().substr(0, 300);
    }
    last_answer_ = now;
    bool keep = res.keep_alive();
    c.parser.reset();
    if (!keep) {
      error_code ignored;
      c.socket.close(ignored);
      c.connected = false;
      c.buffer.clear();
    }
    release(c);
  }

  void on_transport_error(connection& c, std::string what) {
    ++result_.requests;
    ++result_.kinds[static_cast<size_t>(c.meta.kind)].requests;
    ++result_.transport_errors;
    if (result_.first_error.empty())
      result_.first_error = std::move(what);
    error_code ignored;
    c.socket.close(ignored);
    c.connected = false;
    c.buffer.clear();
    c.parser.reset();
    last_answer_ = clock_type::now();
    if (opts_.open_loop || done_)
      return release(c);
    // Closed loop: do not spin on a refusing server.
    c.pause.expires_after(std::chrono::milliseconds(20));
    c.pause.async_wait([this, &c](error_code) { release(c); });
  }

  void release(connection& c) {
    c.busy = false;
    --in_flight_;
    if (done_)
      return;
    if (opts_.open_loop) {
      if (!backlog_.empty()) {
        auto t = backlog_.front();
        backlog_.pop_front();
        start_request(c, t);
      } else {
        idle_.push_back(&c);
      }
    } else {
      next_closed(c);
    }
    maybe_done();
  }

  void maybe_done() {
    if (done_ || in_flight_ != 0 || !backlog_.empty())
      return;
    if (opts_.open_loop && !scheduling_done_)
      return;
    finish();
  }

  // Ends the run: whatever is still queued or in flight is unfinished.
  void finish() {
    if (done_)
      return;
    done_ = true;
    result_.unfinished += backlog_.size() + static_cast<uint64_t>(in_flight_);
    backlog_.clear();
    tick_.cancel();
    stop_timer_.cancel();
    for (auto& c : conns_) {
      error_code ignored;
      c->pause.cancel();
      c->socket.close(ignored);
    }
    io_.stop();
  }

public:
  time_point last_answer_{};

private:
  const engine_options& opts_;
  const request_source& src_;
  double rate_;
  asio::io_context io_{1};
  tcp::endpoint endpoint_;
  std::vector<std::unique_ptr<connection>> conns_;
  std::vector<connection*> idle_;
  std::deque<time_point> backlog_;
  asio::steady_timer tick_;
  asio::steady_timer stop_timer_;
  time_point start_{}, end_{};
  double phase_ = 0;
  uint64_t scheduled_ = 0;
  bool scheduling_done_ = false;
  bool done_ = false;
  int in_flight_ = 0;
  engine_result result_;
};

} // namespace

engine_result run_engine(const engine_options& opts, const request_source& source) {
  g_next = 0;
  g_started = 0;
  int threads = std::max(1, opts.threads);
  int conns = std::max(threads, opts.connections);
  size_t nkinds = source.kinds().size();
  std::vector<std::unique_ptr<worker>> workers;
  for (int t = 0; t < threads; ++t) {
    int mine = conns / threads + (t < conns % threads ? 1 : 0);
    workers.push_back(std::make_unique<worker>(opts, source, mine, opts.rate / threads, nkinds));
  }
  auto start = clock_type::now() + std::chrono::milliseconds(20);
  auto end = start + std::chrono::nanoseconds(static_cast<int64_t>(opts.duration_s * 1e9));
  auto hard = end + std::chrono::nanoseconds(static_cast<int64_t>(opts.drain_s * 1e9));
  std::vector<std::thread> running;
  for (int t = 0; t < threads; ++t)
    running.emplace_back([&, t] { workers[t]->run(start, end, hard, double(t) / threads); });
  for (auto& th : running)
    th.join();

  engine_result total;
  total.kinds.resize(nkinds);
  time_point last = start;
  for (auto& w : workers) {
    auto& r = w->result();
    total.requests += r.requests;
    total.ok += r.ok;
    total.http_errors += r.http_errors;
    total.transport_errors += r.transport_errors;
    total.unfinished += r.unfinished;
    total.items += r.items;
    for (auto& [s, n] : r.statuses)
      total.statuses[s] += n;
    if (total.first_error.empty())
      total.first_error = r.first_error;
    for (size_t k = 0; k < nkinds; ++k) {
      auto& dst = total.kinds[k];
      auto& src = r.kinds[k];
      dst.requests += src.requests;
      dst.ok += src.ok;
      dst.latencies_us.insert(dst.latencies_us.end(), src.latencies_us.begin(),
                              src.latencies_us.end());
    }
    last = std::max(last, w->last_answer_);
  }
  total.elapsed_s = std::chrono::duration<double>(last - start).count();
  return total;
}

} // namespace inboxd::bench
