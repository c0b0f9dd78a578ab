// Unit tests: Server-Sent Events streams in the Beast HTTP server (http_server + reply_handle::
// open_stream), over real loopback sockets. Every read has a deadline; no test waits unboundedly.

#include <gtest/gtest.h>

#include <poll.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <nlohmann/json.hpp>

#include "http/http_server.hpp"
#include "tests/support/http_client.hpp"

namespace inboxd {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

constexpr size_t kBufferBytes = 64 * 1024;

// A raw loopback connection read incrementally with deadlines (poll + non-blocking reads).
class raw_client {
public:
  explicit raw_client(uint16_t port) : socket_(io_) {
    socket_.connect({net::ip::make_address("127.0.0.1"), port});
    socket_.non_blocking(true);
  }

  void send(const std::string& bytes) { net::write(socket_, net::buffer(bytes)); }

  // Reads until `needle` occurs `count` times in everything received, EOF, or the deadline.
  bool read_until(const std::string& needle, std::chrono::milliseconds wait, int count = 1) {
    auto deadline = clock_type::now() + wait;
    while (occurrences(needle) < count) {
      if (eof_ || !read_some(deadline))
        return occurrences(needle) >= count;
    }
    return true;
  }

  // Reads until the server closes the connection (true) or the deadline (false).
  bool read_until_eof(std::chrono::milliseconds wait) {
    auto deadline = clock_type::now() + wait;
    while (!eof_)
      if (!read_some(deadline))
        return eof_;
    return true;
  }

  const std::string& data() const { return data_; }
  void close() {
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

private:
  int occurrences(const std::string& needle) const {
    int n = 0;
    for (auto pos = data_.find(needle); pos != std::string::npos;
         pos = data_.find(needle, pos + needle.size()))
      ++n;
    return n;
  }

  // One read; false on deadline. Sets eof_ on EOF or error.
  bool read_some(clock_type::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
    if (left.count() <= 0)
      return false;
    pollfd p{socket_.native_handle(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
      return false;
    char buf[16 * 1024];
    boost::system::error_code ec;
    auto n = socket_.read_some(net::buffer(buf), ec);
    if (ec == net::error::would_block || ec == net::error::try_again)
      return true;
    if (ec) {
      eof_ = true;
      return true;
    }
    data_.append(buf, n);
    return true;
  }

  net::io_context io_;
  tcp::socket socket_;
  std::string data_;
  bool eof_ = false;
};

std::string stream_request(const std::string& path = "/stream", const std::string& rid = "") {
  std::string r = "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n";
  if (!rid.empty())
    r += "X-Request-Id: " + rid + "\r\n";
  return r + "\r\n";
}

// The body of a raw streamed response (after the head), with ping comments removed.
std::string events_of(const std::string& raw) {
  auto pos = raw.find("\r\n\r\n");
  if (pos == std::string::npos)
    return "";
  std::string body = raw.substr(pos + 4);
  const std::string ping = ": ping\n\n";
  for (auto p = body.find(ping); p != std::string::npos; p = body.find(ping))
    body.erase(p, ping.size());
  return body;
}

// Polls `pred` until true or the deadline.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds wait = 3s) {
  auto deadline = clock_type::now() + wait;
  while (!pred()) {
    if (clock_type::now() > deadline)
      return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

class event_stream_test : public ::testing::Test {
protected:
  void SetUp() override {
    cfg_.http_addr = "127.0.0.1";
    cfg_.http_port = 0;
    cfg_.sse_ping_ms = ping_ms_;
    cfg_.sse_buffer_bytes = kBufferBytes;
    cfg_.sse_max_streams = 3;
    cfg_.request_timeout_ms = 2000;
    server_ = std::make_unique<http_server>(
      io_, cfg_, [this](std::shared_ptr<const http_request> req, reply_handle reply) {
        dispatch(std::move(req), std::move(reply));
      });
    port_ = server_->listen();
    for (int i = 0; i < 2; ++i)
      threads_.emplace_back([this] { io_.run(); });
  }

  void TearDown() override {
    server_->close_streams();
    server_->stop_accepting();
    {
      std::lock_guard lock(mutex_);
      streams_.clear();
    }
    work_.reset();
    io_.stop();
    for (auto& t : threads_)
      t.join();
    server_.reset();
  }

  void dispatch(std::shared_ptr<const http_request> req, reply_handle reply) {
    if (req->path == "/stream") {
      http_response head;
      head.headers.emplace_back("X-Stream", "yes");
      auto s = reply.open_stream(std::move(head));
      if (!s) {
        reply.error(api_error::rate_limited, "too many streams"); // the request is still unanswered
        return;
      }
      s->push("event: hello\ndata: {}\n\n"); // before the session switches to streaming
      std::lock_guard lock(mutex_);
      streams_.push_back(std::move(s));
      cv_.notify_all();
      return;
    }
    if (req->path == "/answered-then-stream") {
      reply.json(200, {{"ok", true}});
      late_stream_null_ = reply.open_stream(http_response{}) == nullptr;
      late_stream_tried_ = true;
      return;
    }
    reply.json(200, {{"path", req->path}});
  }

  // Waits until the dispatcher has handed out `n` streams; returns the n-th (1-based).
  event_stream_ptr wait_stream(size_t n) {
    std::unique_lock lock(mutex_);
    if (!cv_.wait_for(lock, 5s, [&] { return streams_.size() >= n; }))
      return nullptr;
    return streams_[n - 1];
  }

  // Opens a stream on a new raw connection and reads its head.
  std::pair<std::unique_ptr<raw_client>, event_stream_ptr> open(size_t nth) {
    auto c = std::make_unique<raw_client>(port_);
    c->send(stream_request());
    auto s = wait_stream(nth);
    EXPECT_TRUE(s);
    EXPECT_TRUE(c->read_until("event: hello\n", 3s)) << c->data();
    return {std::move(c), std::move(s)};
  }

  int ping_ms_ = 200; // sse_ping_ms
  net::io_context io_;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_{
    net::make_work_guard(io_)};
  settings cfg_;
  std::unique_ptr<http_server> server_;
  uint16_t port_ = 0;
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<event_stream_ptr> streams_;
  std::atomic<bool> late_stream_null_{false};
  std::atomic<bool> late_stream_tried_{false};
};

// The same server with an hour between pings: within a test, no ping is ever written.
class event_stream_quiet_test : public event_stream_test {
protected:
  event_stream_quiet_test() { ping_ms_ = 3600 * 1000; }
};

TEST_F(event_stream_test, head_and_frames_arrive_in_order) {
  raw_client c(port_);
  c.send(stream_request("/stream", "rid-sse-1"));
  auto s = wait_stream(1);
  ASSERT_TRUE(s);
  std::string expected = "event: hello\ndata: {}\n\n";
  for (int i = 0; i < 300; ++i) {
    std::string frame =
        "id: " + std::to_string(i) + "\ndata: {\"n\":" + std::to_string(i) + "}\n\n";
    expected += frame;
    ASSERT_TRUE(s->push(frame));
  }
  ASSERT_TRUE(c.read_until("id: 299\n", 5s)) << c.data();
  ASSERT_TRUE(c.read_until("\"n\":299}\n\n", 2s));
  const auto& raw = c.data();
  auto head = raw.substr(0, raw.find("\r\n\r\n") + 4);
  EXPECT_TRUE(head.starts_with("HTTP/1.1 200 OK\r\n")) << head;
  EXPECT_NE(head.find("\r\nContent-Type: text/event-stream; charset=utf-8\r\n"), std::string::npos);
  EXPECT_NE(head.find("\r\nCache-Control: no-cache\r\n"), std::string::npos);
  EXPECT_NE(head.find("\r\nX-Request-Id: rid-sse-1\r\n"), std::string::npos);
  EXPECT_NE(head.find("\r\nConnection: close\r\n"), std::string::npos);
  EXPECT_NE(head.find("\r\nX-Stream: yes\r\n"), std::string::npos);
  EXPECT_EQ(head.find("Content-Length"), std::string::npos);
  EXPECT_EQ(head.find("chunked"), std::string::npos);
  EXPECT_EQ(events_of(raw), expected);
  EXPECT_EQ(server_->open_streams(), 1u);
  EXPECT_EQ(server_->in_flight(), 0); // a stream counts as an answer
  EXPECT_FALSE(s->closed());
}

TEST_F(event_stream_test, pings_arrive_while_idle) {
  auto [c, s] = open(1);
  ASSERT_TRUE(c->read_until(": ping\n\n", 20s, 2)) << c->data();
  EXPECT_FALSE(s->closed());
  ASSERT_TRUE(s->push("data: after-pings\n\n"));
  EXPECT_TRUE(c->read_until("data: after-pings\n\n", 20s));
}

// Pings follow sse_ping_ms (here an hour): frames pushed back to back arrive with no ping
// between them (a ping timer that ignored its interval would flood them).
TEST_F(event_stream_quiet_test, pings_follow_the_configured_interval) {
  auto [c, s] = open(1);
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(s->push("data: " + std::to_string(i) + "\n\n"));
  ASSERT_TRUE(c->read_until("data: 19\n\n", 20s)) << c->data();
  EXPECT_EQ(c->data().find(": ping"), std::string::npos) << c->data();
}

TEST_F(event_stream_quiet_test, client_disconnect_closes_stream) {
  auto [c, s] = open(1);
  EXPECT_EQ(server_->open_streams(), 1u);
  c->close();
  // Noticed by the session's read: no push and no ping (an hour away) write to the closed peer,
  // so only the read can close it.
  EXPECT_TRUE(eventually([&] { return s->closed(); }, 20s));
  EXPECT_FALSE(s->push("data: x\n\n"));
  EXPECT_EQ(server_->open_streams(), 0u);
}

TEST_F(event_stream_test, slow_client_is_dropped_and_others_keep_streaming) {
  auto [slow, slow_stream] = open(1); // never reads past its head
  auto [fast, fast_stream] = open(2);

  // The fast subscriber reads as it goes and receives well over the buffer bound in total.
  std::string chunk(1000, 'f');
  for (int i = 0; i < 200; ++i) {
    std::string id = "id: f" + std::to_string(i) + "\n";
    ASSERT_TRUE(fast_stream->push(id + "data: " + chunk + "\n\n")) << i;
    ASSERT_TRUE(fast->read_until(id, 3s)) << i;
  }

  // The slow one fills the socket buffers, then the stream's bound: push fails, stream closed.
  std::string big(4096, 's');
  size_t pushed = 0;
  bool refused = false;
  auto deadline = clock_type::now() + 10s;
  while (clock_type::now() < deadline && pushed < 256u * 1024 * 1024) {
    if (!slow_stream->push("data: " + big + "\n\n")) {
      refused = true;
      break;
    }
    pushed += big.size();
  }
  ASSERT_TRUE(refused) << "pushed " << pushed << " bytes without hitting the bound";
  EXPECT_TRUE(slow_stream->closed());
  EXPECT_FALSE(slow_stream->push("data: z\n\n"));
  EXPECT_TRUE(slow->read_until_eof(5s)); // its connection ends

  // The fast stream is unaffected.
  EXPECT_FALSE(fast_stream->closed());
  ASSERT_TRUE(fast_stream->push("data: still-here\n\n"));
  EXPECT_TRUE(fast->read_until("data: still-here\n\n", 3s));
  EXPECT_TRUE(eventually([&] { return server_->open_streams() == 1; }));
}

TEST_F(event_stream_test, limit_returns_null_then_429_and_frees_slots) {
  auto [c1, s1] = open(1);
  auto [c2, s2] = open(2);
  auto [c3, s3] = open(3);
  EXPECT_EQ(server_->open_streams(), 3u);

  test::http_client client(port_);
  client.set_timeout(5s);
  auto res = client.get("/stream");
  EXPECT_EQ(res.status, 429);
  EXPECT_EQ(res.json()["error"]["code"], "rate_limited");
  EXPECT_EQ(server_->open_streams(), 3u);
  EXPECT_EQ(server_->in_flight(), 0);

  c1->close();
  ASSERT_TRUE(eventually([&] { return server_->open_streams() == 2; }));
  auto [c4, s4] = open(4); // the freed slot is usable again
  EXPECT_TRUE(c4->data().starts_with("HTTP/1.1 200 OK\r\n"));
  EXPECT_EQ(server_->open_streams(), 3u);
}

TEST_F(event_stream_test, open_stream_after_an_answer_is_null) {
  test::http_client client(port_);
  client.set_timeout(5s);
  auto res = client.get("/answered-then-stream");
  EXPECT_EQ(res.status, 200);
  ASSERT_TRUE(eventually([&] { return late_stream_tried_.load(); }));
  EXPECT_TRUE(late_stream_null_.load());
  EXPECT_EQ(server_->open_streams(), 0u);
}

TEST_F(event_stream_test, close_streams_ends_every_stream) {
  auto [c1, s1] = open(1);
  auto [c2, s2] = open(2);
  ASSERT_EQ(server_->open_streams(), 2u);
  server_->close_streams();
  EXPECT_TRUE(s1->closed());
  EXPECT_TRUE(s2->closed());
  EXPECT_FALSE(s1->push("data: late\n\n"));
  EXPECT_EQ(server_->open_streams(), 0u);
  EXPECT_TRUE(c1->read_until_eof(3s));
  EXPECT_TRUE(c2->read_until_eof(3s));
  EXPECT_EQ(c1->data().find("data: late"), std::string::npos);
}

TEST_F(event_stream_test, normal_requests_and_keep_alive_still_work) {
  test::http_client client(port_, /*keep_alive=*/true);
  client.set_timeout(5s);
  auto a = client.get("/a");
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.json()["path"], "/a");
  EXPECT_TRUE(client.connected());
  auto b = client.get("/b");
  EXPECT_EQ(b.status, 200);
  EXPECT_EQ(b.json()["path"], "/b");
  EXPECT_TRUE(client.connected());

  // Two requests on one connection get two answers (Content-Length framed, keep-alive).
  auto raw = client.send_raw("GET /x HTTP/1.1\r\nHost: h\r\n\r\n"
                             "GET /y HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
                             3s);
  size_t answers = 0;
  for (auto p = raw.find("HTTP/1.1 200 OK\r\n"); p != std::string::npos;
       p = raw.find("HTTP/1.1 200 OK\r\n", p + 1))
    ++answers;
  EXPECT_EQ(answers, 2u) << raw;
  EXPECT_NE(raw.find("{\"path\":\"/y\"}"), std::string::npos);
  EXPECT_NE(raw.find("Content-Length"), std::string::npos);
  EXPECT_EQ(raw.find("text/event-stream"), std::string::npos);
  EXPECT_EQ(server_->open_streams(), 0u);
}

} // namespace
} // namespace inboxd
