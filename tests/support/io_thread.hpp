#pragma once
// Test helpers around Asio and the Redis client: an io_context on its own thread (as the
// service runs it), parsing a test server's URL, and waiting for a condition to hold.

#include <chrono>
#include <functional>
#include <future>
#include <string>
#include <thread>
#include <variant>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "storage/redis_client.hpp"

namespace inboxd::test {

struct io_thread {
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work =
      boost::asio::make_work_guard(io);
  std::promise<void> finished;
  std::thread thread{[this] {
    io.run();
    finished.set_value();
  }};

  // Lets the io_context run out of work; the client must have released everything after
  // stop(), so run() returns by itself.
  void drain() {
    if (!thread.joinable())
      return;
    work.reset();
    auto done = finished.get_future();
    if (done.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      ADD_FAILURE() << "io_context still has work 10 s after stop()";
      io.stop();
    }
    thread.join();
  }
  ~io_thread() { drain(); }
};

inline redis_endpoint endpoint_of(const std::string& url) {
  auto parsed = parse_redis_url(url);
  if (auto* err = std::get_if<std::string>(&parsed)) {
    ADD_FAILURE() << "parse_redis_url(" << url << "): " << *err;
    return {};
  }
  return std::get<redis_endpoint>(parsed);
}

/// Polls `pred` until it holds or `timeout` passes (a bound on a wait, never a measurement).
inline bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

} // namespace inboxd::test
