// http/event_relay: an owner's event stream passed on frame by frame, its other answers passed on
// as they are, and 503 when the owner cannot be reached or answers nonsense. The owner here is a
// scripted TCP server over loopback that writes what each test gives it.

#include "http/event_relay.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/io_thread.hpp"

using namespace inboxd;
using namespace std::chrono_literals;

namespace {

// One connection: reads the request head, then writes `parts` with a pause between them, then
// closes (or, with `hold`, waits for the peer to close first).
class scripted_owner {
public:
  scripted_owner(std::vector<std::string> parts, bool hold = false) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 1);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this, parts = std::move(parts), hold] {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0)
        return;
      char buf[4096];
      std::string req;
      while (req.find("\r\n\r\n") == std::string::npos) {
        auto n = ::read(c, buf, sizeof buf);
        if (n <= 0)
          break;
        req.append(buf, static_cast<size_t>(n));
      }
      {
        std::lock_guard lock(mu_);
        request_ = req;
      }
      for (auto& p : parts) {
        if (::write(c, p.data(), p.size()) < 0)
          break;
        std::this_thread::sleep_for(20ms);
      }
      if (hold)
        while (::read(c, buf, sizeof buf) > 0) {
        }
      ::close(c);
    });
  }
  ~scripted_owner() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  uint16_t port() const { return port_; }
  std::string request() {
    std::lock_guard lock(mu_);
    return request_;
  }

private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::string request_;
};

// What the relay gave the client: an answer, or a stream and what was pushed to it.
class recorded : public reply_sink, public event_stream {
public:
  void deliver(http_response res) override {
    std::lock_guard lock(mu_);
    answer_ = std::move(res);
    answered_ = true;
    cv_.notify_all();
  }
  event_stream_ptr open_stream(http_response) override {
    std::lock_guard lock(mu_);
    opened_ = true;
    return std::shared_ptr<event_stream>(self_.lock(), this);
  }
  bool push(std::string bytes) override {
    std::lock_guard lock(mu_);
    if (closed_)
      return false;
    pushes_.push_back(std::move(bytes));
    cv_.notify_all();
    return true;
  }
  bool closed() const override {
    std::lock_guard lock(mu_);
    return closed_;
  }
  void close() override {
    std::lock_guard lock(mu_);
    closed_ = true;
    cv_.notify_all();
  }
  size_t unsent() const override { return 0; }
  size_t capacity() const override { return 1 << 16; }

  template <class Pred>
  bool wait(Pred pred, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return pred(); });
  }

  std::weak_ptr<recorded> self_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  http_response answer_;
  bool answered_ = false, opened_ = false, closed_ = false;
  std::vector<std::string> pushes_;
};

std::shared_ptr<recorded> make_recorded() {
  auto r = std::make_shared<recorded>();
  r->self_ = r;
  return r;
}

const std::string kRequest = "GET /api/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

TEST(event_relay, frames_pass_whole_and_the_stream_ends_with_the_owners) {
  scripted_owner owner(
      {"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
       "Connection: close\r\n\r\nretry: 2000\n\nid: 1\nevent: a\ndata: {\"x\"",
       ":1}\n\n: ping\n\nid: 2\ndata: {}\n\nid: 3\ndata: cut"});
  test::io_thread io;
  auto rec = make_recorded();
  std::atomic<bool> reached{false};
  relay_event_stream(io.io, "127.0.0.1", owner.port(), kRequest, reply_handle(rec), {2000, 45000},
                     [&](bool r) { reached = r; });
  ASSERT_TRUE(rec->wait([&] { return rec->closed_; })) << "the relay outlived the owner's stream";
  EXPECT_TRUE(reached);
  EXPECT_EQ(owner.request(), kRequest);
  std::lock_guard lock(rec->mu_);
  EXPECT_TRUE(rec->opened_);
  EXPECT_FALSE(rec->answered_);
  std::string all;
  for (auto& p : rec->pushes_) {
    EXPECT_EQ(p.substr(p.size() - 2), "\n\n") << "a push ended inside a frame: " << p;
    all += p;
  }
  // The frame the owner never finished is not passed on.
  EXPECT_EQ(all,
            "retry: 2000\n\nid: 1\nevent: a\ndata: {\"x\":1}\n\n: ping\n\nid: 2\ndata: {}\n\n");
}

TEST(event_relay, other_answers_are_passed_on_as_they_are) {
  scripted_owner owner(
      {"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
       "Content-Length: 17\r\nRetry-After: 3\r\n\r\n{\"error\":",
       "\"nope\"}"});
  test::io_thread io;
  auto rec = make_recorded();
  relay_event_stream(io.io, "127.0.0.1", owner.port(), kRequest, reply_handle(rec), {2000, 45000},
                     [](bool) {});
  ASSERT_TRUE(rec->wait([&] { return rec->answered_; }));
  std::lock_guard lock(rec->mu_);
  EXPECT_FALSE(rec->opened_);
  EXPECT_EQ(rec->answer_.status, 401);
  EXPECT_EQ(rec->answer_.body, "{\"error\":\"nope\"}");
  EXPECT_EQ(rec->answer_.content_type, "application/json");
  ASSERT_EQ(rec->answer_.headers.size(), 1u);
  EXPECT_EQ(rec->answer_.headers[0].second, "3");
}

TEST(event_relay, an_owner_that_answers_nonsense_or_nothing_is_503) {
  for (std::string reply : {std::string("SSH-2.0-OpenSSH\r\n\r\n"), std::string(20000, 'x')}) {
    scripted_owner owner({reply}, true);
    test::io_thread io;
    auto rec = make_recorded();
    std::atomic<bool> reached{true};
    relay_event_stream(io.io, "127.0.0.1", owner.port(), kRequest, reply_handle(rec), {2000, 45000},
                       [&](bool r) { reached = r; });
    ASSERT_TRUE(rec->wait([&] { return rec->answered_; }));
    std::lock_guard lock(rec->mu_);
    EXPECT_EQ(rec->answer_.status, 503);
    EXPECT_FALSE(rec->opened_);
    EXPECT_FALSE(reached);
  }
  // Nobody listening.
  uint16_t closed_port = 0;
  {
    scripted_owner gone({});
    closed_port = gone.port();
  }
  test::io_thread io;
  auto rec = make_recorded();
  relay_event_stream(io.io, "127.0.0.1", closed_port, kRequest, reply_handle(rec), {2000, 45000},
                     [](bool) {});
  ASSERT_TRUE(rec->wait([&] { return rec->answered_; }));
  EXPECT_EQ(rec->answer_.status, 503);
}

TEST(event_relay, a_silent_owner_ends_the_relay) {
  scripted_owner owner({"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n: hi\n\n"},
                       true);
  test::io_thread io;
  auto rec = make_recorded();
  relay_event_stream(io.io, "127.0.0.1", owner.port(), kRequest, reply_handle(rec), {2000, 300},
                     [](bool) {});
  ASSERT_TRUE(rec->wait([&] { return rec->closed_; }))
      << "a relay whose owner sent nothing for its idle time stayed open";
  std::lock_guard lock(rec->mu_);
  EXPECT_EQ(rec->pushes_, std::vector<std::string>{": hi\n\n"});
}

} // namespace
