// Integration tests: storage/redis_client against a real redis-server (tests/support).

#include "storage/redis_client.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "tests/support/io_thread.hpp"
#include "tests/support/redis_server.hpp"

namespace inboxd {
namespace {

using namespace std::chrono_literals;
using test::redis_server;
using vtype = redis_value::type;

using test::endpoint_of;
using test::io_thread;
using test::wait_until;

// Runs one pipeline and waits for its callback (a second callback would throw from set_value).
redis_result run(redis_client& client, redis_pipeline cmds, std::chrono::seconds timeout = 20s) {
  auto p = std::make_shared<std::promise<redis_result>>();
  auto f = p->get_future();
  client.exec(std::move(cmds), [p](redis_result r) { p->set_value(std::move(r)); });
  if (f.wait_for(timeout) != std::future_status::ready) {
    ADD_FAILURE() << "no callback within " << timeout.count() << " s";
    return redis_result{{}, "test: no callback"};
  }
  return f.get();
}

redis_value run1(redis_client& client, redis_command cmd) {
  auto r = run(client, {std::move(cmd)});
  EXPECT_TRUE(r.ok()) << r.error;
  if (!r.ok() || r.replies.size() != 1) {
    ADD_FAILURE() << "expected one reply, got " << r.replies.size();
    return redis_value{vtype::error, 0, "test: no reply", {}};
  }
  return r.replies[0];
}

// Short timeouts and backoff for the tests about them: timeouts and reconnects happen at once,
// and the tests assert what happened (which error, in which order), never how long it took.
redis_client_timing fast_timing() {
  redis_client_timing t;
  t.initial_backoff = 5ms;
  t.max_backoff = 20ms;
  t.connect_timeout = 300ms;
  t.command_timeout = 100ms;
  t.tick_interval = 10ms;
  return t;
}

// The number that follows `prefix` (e.g. "blocked_clients:") in the server's INFO `section`,
// or -1. `cli_args` go before the command (e.g. a password).
long info_field(const redis_server& server, const std::string& section, const std::string& prefix,
                const std::string& cli_args = "") {
  auto info = server.cli(cli_args + "INFO " + section);
  auto pos = info.find(prefix);
  if (pos == std::string::npos)
    return -1;
  return std::strtol(info.c_str() + pos + prefix.size(), nullptr, 10);
}

pid_t server_pid(const redis_server& server) {
  auto info = server.cli("INFO server");
  auto pos = info.find("process_id:");
  if (pos == std::string::npos)
    return -1;
  return static_cast<pid_t>(std::stol(info.substr(pos + 11)));
}

class RedisClientTest : public ::testing::Test {
protected:
  void SetUp() override {
    server_ = std::make_unique<redis_server>();
    client_ = make_client(endpoint_of(server_->url()));
    ASSERT_TRUE(wait_until([&] { return client_->connected(); }, 5s)) << "never connected";
  }

  void TearDown() override {
    for (auto& c : clients_)
      c->stop();
    io_.drain();
    clients_.clear();
  }

  redis_client* make_client(redis_endpoint ep, size_t max_pending = 1 << 20,
                            redis_client_timing timing = {}) {
    clients_.push_back(std::make_unique<redis_client>(io_.io, std::move(ep), max_pending, timing));
    clients_.back()->start();
    return clients_.back().get();
  }

  io_thread io_;
  std::unique_ptr<redis_server> server_;
  std::vector<std::unique_ptr<redis_client>> clients_;
  redis_client* client_ = nullptr;
};

TEST_F(RedisClientTest, SetGetRoundtrip) {
  auto set = run1(*client_, {"SET", "greeting", "hello"});
  EXPECT_EQ(set.kind, vtype::status);
  EXPECT_EQ(set.str, "OK");
  auto get = run1(*client_, {"GET", "greeting"});
  EXPECT_EQ(get.kind, vtype::string);
  EXPECT_EQ(get.str, "hello");
  auto missing = run1(*client_, {"GET", "nope"});
  EXPECT_TRUE(missing.is_nil());
  auto n = run1(*client_, {"INCRBY", "counter", "-7"});
  EXPECT_EQ(n.kind, vtype::integer);
  EXPECT_EQ(n.integer, -7);
  // Written through the client, visible to another client.
  EXPECT_EQ(server_->cli("GET greeting"), "hello\n");
}

TEST_F(RedisClientTest, PipelineKeepsOrder) {
  redis_pipeline p;
  for (int i = 1; i <= 500; ++i) {
    p.push_back({"RPUSH", "list", std::to_string(i)});
    p.push_back({"SET", "k" + std::to_string(i), std::to_string(i * 2)});
    p.push_back({"GET", "k" + std::to_string(i)});
  }
  p.push_back({"LRANGE", "list", "0", "-1"});
  auto r = run(*client_, p);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.replies.size(), p.size());
  for (int i = 1; i <= 500; ++i) {
    const auto& push = r.replies[(i - 1) * 3];
    const auto& get = r.replies[(i - 1) * 3 + 2];
    ASSERT_EQ(push.kind, vtype::integer);
    EXPECT_EQ(push.integer, i);
    EXPECT_EQ(r.replies[(i - 1) * 3 + 1].str, "OK");
    EXPECT_EQ(get.str, std::to_string(i * 2));
  }
  const auto& range = r.replies.back();
  ASSERT_EQ(range.kind, vtype::array);
  ASSERT_EQ(range.elements.size(), 500u);
  for (int i = 0; i < 500; ++i)
    EXPECT_EQ(range.elements[i].str, std::to_string(i + 1));
}

TEST_F(RedisClientTest, MultiExecIsAnArray) {
  auto r = run(*client_,
               {{"MULTI"}, {"SET", "a", "1"}, {"INCR", "a"}, {"HSET", "h", "f", "v"}, {"EXEC"}});
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.replies.size(), 5u);
  EXPECT_EQ(r.replies[0].str, "OK");
  for (int i = 1; i <= 3; ++i)
    EXPECT_EQ(r.replies[i].str, "QUEUED");
  const auto& exec = r.replies[4];
  ASSERT_EQ(exec.kind, vtype::array);
  ASSERT_EQ(exec.elements.size(), 3u);
  EXPECT_EQ(exec.elements[0].kind, vtype::status);
  EXPECT_EQ(exec.elements[1].kind, vtype::integer);
  EXPECT_EQ(exec.elements[1].integer, 2);
  EXPECT_EQ(exec.elements[2].integer, 1);

  // A runtime error inside the block is an error element of EXEC's array, not a call failure.
  auto r2 = run(*client_, {{"MULTI"}, {"LPUSH", "a", "x"}, {"INCR", "a"}, {"EXEC"}});
  ASSERT_TRUE(r2.ok()) << r2.error;
  ASSERT_EQ(r2.replies.size(), 4u);
  ASSERT_EQ(r2.replies[3].kind, vtype::array);
  ASSERT_EQ(r2.replies[3].elements.size(), 2u);
  EXPECT_TRUE(r2.replies[3].elements[0].is_error());
  EXPECT_NE(r2.replies[3].elements[0].str.find("WRONGTYPE"), std::string::npos);
  EXPECT_EQ(r2.replies[3].elements[1].integer, 3);

  // WATCH + a conflicting write: EXEC answers nil (aborted).
  auto w = run(*client_, {{"WATCH", "a"}});
  ASSERT_TRUE(w.ok());
  server_->cli("SET a 100");
  auto r3 = run(*client_, {{"MULTI"}, {"INCR", "a"}, {"EXEC"}});
  ASSERT_TRUE(r3.ok()) << r3.error;
  EXPECT_TRUE(r3.replies[2].is_nil());
  EXPECT_EQ(run1(*client_, {"GET", "a"}).str, "100");
}

TEST_F(RedisClientTest, BinarySafeValues) {
  std::string key("bin\0key", 7);
  std::string value("a\0b\r\nc\xff\x00\x01", 10);
  value += std::string(100000, '\0');
  auto set = run1(*client_, {"SET", key, value});
  EXPECT_EQ(set.str, "OK");
  auto get = run1(*client_, {"GET", key});
  ASSERT_EQ(get.kind, vtype::string);
  EXPECT_EQ(get.str.size(), value.size());
  EXPECT_EQ(get.str, value);
  auto len = run1(*client_, {"STRLEN", key});
  EXPECT_EQ(len.integer, static_cast<int64_t>(value.size()));
  // Empty argument and empty value.
  EXPECT_EQ(run1(*client_, {"SET", "", ""}).str, "OK");
  auto empty = run1(*client_, {"GET", ""});
  EXPECT_EQ(empty.kind, vtype::string);
  EXPECT_EQ(empty.str, "");
}

TEST_F(RedisClientTest, ErrorReplyIsAValueNotAFailure) {
  auto r =
      run(*client_, {{"SET", "s", "abc"}, {"INCR", "s"}, {"NOSUCHCOMMAND", "x"}, {"GET", "s"}});
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.replies.size(), 4u);
  EXPECT_EQ(r.replies[0].str, "OK");
  EXPECT_TRUE(r.replies[1].is_error());
  EXPECT_EQ(r.replies[1].str.rfind("ERR", 0), 0u) << r.replies[1].str;
  EXPECT_TRUE(r.replies[2].is_error());
  EXPECT_NE(r.replies[2].str.find("unknown command"), std::string::npos) << r.replies[2].str;
  EXPECT_EQ(r.replies[3].str, "abc");
  // A Lua script error, too.
  auto lua = run1(*client_, {"EVAL", "return redis.error_reply('boom')", "0"});
  EXPECT_TRUE(lua.is_error());
  EXPECT_NE(lua.str.find("boom"), std::string::npos) << lua.str;
}

TEST_F(RedisClientTest, InvalidCallsFailWithoutReachingRedis) {
  auto empty = run(*client_, {});
  EXPECT_FALSE(empty.ok());
  auto empty_cmd = run(*client_, {{"SET", "x", "1"}, {}});
  EXPECT_FALSE(empty_cmd.ok());
  EXPECT_TRUE(run1(*client_, {"GET", "x"}).is_nil());
}

TEST_F(RedisClientTest, ConcurrentCallersFromManyThreads) {
  constexpr int threads = 8, per_thread = 2000;
  std::atomic<int> done{0}, failed{0}, off_io_thread{0};
  std::thread::id io_id;
  {
    std::promise<std::thread::id> p;
    client_->exec({{"PING"}}, [&p](redis_result) { p.set_value(std::this_thread::get_id()); });
    io_id = p.get_future().get();
  }
  EXPECT_EQ(io_id, io_.thread.get_id());
  std::vector<std::thread> callers;
  for (int t = 0; t < threads; ++t) {
    callers.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        client_->exec({{"INCR", "counter"}, {"RPUSH", "t" + std::to_string(t), std::to_string(i)}},
                      [&, io_id](redis_result r) {
                        if (!r.ok() || r.replies.size() != 2 || r.replies[0].is_error())
                          ++failed;
                        if (std::this_thread::get_id() != io_id)
                          ++off_io_thread;
                        ++done;
                      });
      }
    });
  }
  for (auto& c : callers)
    c.join();
  ASSERT_TRUE(wait_until([&] { return done == threads * per_thread; }, 30s)) << done.load();
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(off_io_thread, 0);
  EXPECT_EQ(run1(*client_, {"GET", "counter"}).str, std::to_string(threads * per_thread));
  // Each thread's calls arrived in that thread's order.
  for (int t = 0; t < threads; ++t) {
    auto list = run1(*client_, {"LRANGE", "t" + std::to_string(t), "0", "-1"});
    ASSERT_EQ(list.elements.size(), static_cast<size_t>(per_thread));
    for (int i = 0; i < per_thread; ++i)
      ASSERT_EQ(list.elements[i].str, std::to_string(i));
  }
}

TEST_F(RedisClientTest, HundredThousandCommandsPipelined) {
  constexpr int n = 100000;
  redis_pipeline p;
  p.reserve(n);
  for (int i = 0; i < n; ++i)
    p.push_back({"SET", "key:" + std::to_string(i), std::to_string(i)});
  auto r = run(*client_, std::move(p), 60s);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.replies.size(), static_cast<size_t>(n));
  for (const auto& v : r.replies)
    ASSERT_EQ(v.str, "OK");
  EXPECT_EQ(run1(*client_, {"DBSIZE"}).integer, n);

  // And as many separate calls, all outstanding at once.
  std::atomic<int> ok{0}, done{0};
  for (int i = 0; i < n; ++i) {
    client_->exec({{"INCR", "many"}}, [&](redis_result res) {
      if (res.ok() && res.replies.size() == 1 && res.replies[0].integer > 0)
        ++ok;
      ++done;
    });
  }
  ASSERT_TRUE(wait_until([&] { return done == n; }, 60s)) << done.load();
  EXPECT_EQ(ok, n);
  EXPECT_EQ(run1(*client_, {"GET", "many"}).str, std::to_string(n));
}

TEST_F(RedisClientTest, MaxPendingBoundsOutstandingCommands) {
  auto* small = make_client(endpoint_of(server_->url()), 10);
  ASSERT_TRUE(wait_until([&] { return small->connected(); }, 5s));
  redis_pipeline eleven(11, redis_command{"PING"});
  auto over = run(*small, eleven);
  EXPECT_FALSE(over.ok());
  EXPECT_NE(over.error.find("limit"), std::string::npos) << over.error;
  redis_pipeline ten(10, redis_command{"PING"});
  auto fits = run(*small, ten);
  ASSERT_TRUE(fits.ok()) << fits.error;
  EXPECT_EQ(fits.replies.size(), 10u);

  // Hold 10 commands outstanding behind a pop that blocks until the test pushes; the next call
  // is refused without waiting for them: its answer comes while the pop still blocks.
  std::promise<redis_result> blocked;
  auto blocked_done = blocked.get_future();
  redis_pipeline pops(9, redis_command{"PING"});
  pops.insert(pops.begin(), redis_command{"BLPOP", "wake", "0"});
  small->exec(pops, [&](redis_result r) { blocked.set_value(std::move(r)); });
  auto refused = run(*small, {{"PING"}});
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.error.find("limit"), std::string::npos) << refused.error;
  EXPECT_EQ(blocked_done.wait_for(0s), std::future_status::timeout) << "the pop did not block";
  EXPECT_EQ(run1(*client_, {"LPUSH", "wake", "now"}).integer, 1);
  ASSERT_EQ(blocked_done.wait_for(20s), std::future_status::ready);
  auto pops_result = blocked_done.get();
  EXPECT_TRUE(pops_result.ok()) << pops_result.error;
  // The capacity is given back once the replies are in.
  EXPECT_TRUE(run(*small, ten).ok());
}

TEST_F(RedisClientTest, ServerStoppedCallsFailWithoutWaitingForATimeout) {
  // Timeouts far beyond the waits below: every failure here comes from the connection going
  // away or being down, never from a timer.
  auto timing = fast_timing();
  timing.command_timeout = 1h;
  timing.connect_timeout = 1h;
  auto* c = make_client(endpoint_of(server_->url()), 1 << 20, timing);
  ASSERT_TRUE(wait_until([&] { return c->connected(); }, 20s));
  ASSERT_EQ(run1(*c, {"SET", "durable", "yes"}).str, "OK");
  // A call in flight when the server dies fails; it does not hang.
  std::promise<redis_result> in_flight;
  c->exec({{"BLPOP", "never", "0"}}, [&](redis_result r) { in_flight.set_value(std::move(r)); });
  ASSERT_TRUE(wait_until([&] { return info_field(*server_, "clients", "blocked_clients:") == 1; },
                         20s));
  server_->stop();
  auto f = in_flight.get_future();
  ASSERT_EQ(f.wait_for(20s), std::future_status::ready);
  auto lost = f.get();
  EXPECT_FALSE(lost.ok());
  EXPECT_EQ(lost.error.find("timeout"), std::string::npos) << lost.error;
  EXPECT_TRUE(wait_until([&] { return !c->connected(); }, 20s));
  // While it is down (and the client keeps trying to reconnect), calls fail without a round
  // trip.
  for (int i = 0; i < 50; ++i) {
    auto r = run(*c, {{"GET", "durable"}});
    EXPECT_FALSE(r.ok());
    EXPECT_NE(r.error.find("not connected"), std::string::npos) << r.error;
  }
}

TEST(RedisClientTiming, BackoffDoublesUpToItsCap) {
  redis_client_timing t; // production's: 100 ms, doubled, at most 1 s
  std::vector<long> delays;
  for (auto d = t.initial_backoff; delays.size() < 7; d = next_backoff(d, t))
    delays.push_back(static_cast<long>(d.count()));
  EXPECT_EQ(delays, (std::vector<long>{100, 200, 400, 800, 1000, 1000, 1000}));
}

TEST_F(RedisClientTest, ReconnectsAfterServerRestart) {
  auto* c = make_client(endpoint_of(server_->url()), 1 << 20, fast_timing());
  ASSERT_TRUE(wait_until([&] { return c->connected(); }, 20s));
  ASSERT_EQ(run1(*c, {"SET", "durable", "yes"}).str, "OK");
  server_->stop();
  ASSERT_TRUE(wait_until([&] { return !c->connected(); }, 20s));
  EXPECT_FALSE(run(*c, {{"PING"}}).ok());
  server_->start();
  ASSERT_TRUE(wait_until([&] { return c->connected(); }, 20s));
  // AOF with appendfsync always: the acknowledged write survived the SIGKILL.
  EXPECT_EQ(run1(*c, {"GET", "durable"}).str, "yes");
  EXPECT_EQ(run1(*c, {"SET", "after", "restart"}).str, "OK");
  // A second outage, to show it is not a one-shot.
  server_->stop();
  ASSERT_TRUE(wait_until([&] { return !c->connected(); }, 20s));
  server_->start();
  ASSERT_TRUE(wait_until([&] { return c->connected(); }, 20s));
  EXPECT_EQ(run1(*c, {"GET", "after"}).str, "restart");
}

TEST_F(RedisClientTest, HungServerTimesOutAndRecovers) {
  pid_t pid = server_pid(*server_);
  ASSERT_GT(pid, 0);
  struct resume {
    pid_t pid;
    ~resume() { ::kill(pid, SIGCONT); }
  } guard{pid};
  // A 100 ms command timeout, so that the test waits for the timeout, not for a duration.
  auto* c = make_client(endpoint_of(server_->url()), 1 << 20, fast_timing());
  ASSERT_TRUE(wait_until([&] { return c->connected(); }, 20s));
  ASSERT_EQ(::kill(pid, SIGSTOP), 0);
  auto r = run(*c, {{"SET", "k", "v"}});
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.error.find("redis command timeout"), std::string::npos) << r.error;
  // The kernel still accepts TCP connections for the stopped server, but without a PONG the
  // client does not count as connected (its handshakes time out), and calls fail without a
  // round trip.
  EXPECT_TRUE(wait_until([&] { return !c->connected(); }, 20s));
  auto ping = run(*c, {{"PING"}});
  EXPECT_FALSE(ping.ok());
  EXPECT_NE(ping.error.find("not connected"), std::string::npos) << ping.error;
  ::kill(pid, SIGCONT);
  ASSERT_TRUE(wait_until([&] { return c->connected(); }, 20s));
  EXPECT_EQ(run1(*c, {"SET", "k", "v2"}).str, "OK");
}

TEST_F(RedisClientTest, StopFailsEveryPendingCallExactlyOnce) {
  auto* c = make_client(endpoint_of(server_->url()));
  ASSERT_TRUE(wait_until([&] { return c->connected(); }, 5s));
  constexpr int calls = 2000;
  std::vector<std::atomic<int>> hits(calls);
  std::atomic<int> failed{0};
  for (int i = 0; i < calls; ++i) {
    redis_pipeline p(20, redis_command{"INCR", "stopped"});
    c->exec(std::move(p), [&, i](redis_result r) {
      ++hits[i];
      if (!r.ok())
        ++failed;
    });
  }
  c->stop();
  ASSERT_TRUE(wait_until(
      [&] {
        for (auto& h : hits)
          if (h == 0)
            return false;
        return true;
      },
      20s));
  EXPECT_FALSE(c->connected());
  auto after = run(*c, {{"PING"}});
  EXPECT_FALSE(after.ok());
  EXPECT_NE(after.error.find("stopped"), std::string::npos) << after.error;
  // stop() is idempotent.
  c->stop();
  // Once every client stopped, the io_context runs out of work and its thread ends: nothing
  // can call back after that, so a second completion would show here.
  for (auto& other : clients_)
    other->stop();
  io_.drain();
  for (int i = 0; i < calls; ++i)
    EXPECT_EQ(hits[i], 1) << "call " << i;
}

// stop(done): a call still waiting for its reply (a BLPOP Redis holds) has failed when `done`
// runs, so the io_context can stop then without leaving a callback behind (inboxd's shutdown).
TEST_F(RedisClientTest, StopRunsItsCallbackAfterFailingCallsInFlight) {
  auto* c = make_client(endpoint_of(server_->url()));
  ASSERT_TRUE(wait_until([&] { return c->connected(); }, 5s));
  std::atomic<int> failed{0};
  c->exec({{"BLPOP", "never-pushed", "30"}}, [&](redis_result r) {
    if (!r.ok())
      ++failed;
  });
  ASSERT_TRUE(
      wait_until([&] { return info_field(*server_, "clients", "blocked_clients:") == 1; }, 5s));
  std::promise<int> stopped;
  c->stop([&] { stopped.set_value(failed.load()); });
  auto f = stopped.get_future();
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready) << "stop's callback never ran";
  EXPECT_EQ(f.get(), 1) << "the blocked call had not failed when stop's callback ran";
  // A second stop still reports.
  std::promise<void> again;
  c->stop([&] { again.set_value(); });
  EXPECT_EQ(again.get_future().wait_for(5s), std::future_status::ready);
}

TEST_F(RedisClientTest, AuthAndSelect) {
  ASSERT_NE(server_->cli("CONFIG SET requirepass s3cret").find("OK"), std::string::npos);
  auto* good = make_client(
      endpoint_of("redis://:s3cret@127.0.0.1:" + std::to_string(server_->port()) + "/3"));
  auto* bad = make_client(
      endpoint_of("redis://:wrong@127.0.0.1:" + std::to_string(server_->port()) + "/0"), 1 << 20,
      fast_timing());
  ASSERT_TRUE(wait_until([&] { return good->connected(); }, 20s));
  EXPECT_EQ(run1(*good, {"SET", "in3", "yes"}).str, "OK");
  EXPECT_NE(server_->cli("--no-auth-warning -a s3cret -n 3 GET in3").find("yes"),
            std::string::npos);
  EXPECT_NE(server_->cli("--no-auth-warning -a s3cret -n 0 EXISTS in3").find("0"),
            std::string::npos);
  // The server refused the wrong password twice: the client went on to a second attempt after
  // the first refusal, and it never counted as connected.
  const std::string auth = "--no-auth-warning -a s3cret ";
  EXPECT_TRUE(wait_until(
      [&] {
        return info_field(*server_, "errorstats", "errorstat_WRONGPASS:count=", auth) >= 2;
      },
      20s))
      << server_->cli(auth + "INFO errorstats");
  EXPECT_FALSE(bad->connected());
  auto r = run(*bad, {{"PING"}});
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.error.find("not connected"), std::string::npos) << r.error;
}

// A peer that accepts TCP connections and never answers: the handshake times out and the client
// retries on a new connection instead of hanging on the first one.
TEST_F(RedisClientTest, ConnectTimeoutRetries) {
  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(lfd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  ASSERT_EQ(::listen(lfd, 16), 0);
  std::atomic<bool> quit{false};
  std::atomic<int> accepted{0};
  std::thread acceptor([&] {
    std::vector<int> held;
    while (!quit) {
      pollfd pfd{lfd, POLLIN, 0};
      if (::poll(&pfd, 1, 50) == 1) {
        int fd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) {
          held.push_back(fd);
          ++accepted;
        }
      }
    }
    for (int fd : held)
      ::close(fd);
  });
  redis_endpoint ep;
  ep.port = ntohs(addr.sin_port);
  auto* c = make_client(ep, 1 << 20, fast_timing());
  EXPECT_TRUE(wait_until([&] { return accepted >= 2; }, 20s)) << accepted.load();
  EXPECT_FALSE(c->connected());
  EXPECT_FALSE(run(*c, {{"PING"}}).ok());
  c->stop();
  quit = true;
  acceptor.join();
  ::close(lfd);
}

TEST_F(RedisClientTest, DestroyWithoutStopReleasesEverything) {
  auto c = std::make_unique<redis_client>(io_.io, endpoint_of(server_->url()));
  c->start();
  ASSERT_TRUE(wait_until([&] { return c->connected(); }, 5s));
  std::atomic<int> done{0};
  for (int i = 0; i < 100; ++i)
    c->exec({{"INCR", "x"}}, [&](redis_result) { ++done; });
  c.reset(); // the destructor stops; every callback still runs once
  EXPECT_TRUE(wait_until([&] { return done == 100; }, 5s)) << done.load();
}

TEST(ParseRedisUrl, Accepts) {
  auto ep = std::get<redis_endpoint>(parse_redis_url("redis://127.0.0.1:6379/0"));
  EXPECT_EQ(ep.host, "127.0.0.1");
  EXPECT_EQ(ep.port, 6379);
  EXPECT_EQ(ep.db, 0);
  EXPECT_EQ(ep.password, "");

  ep = std::get<redis_endpoint>(parse_redis_url("redis://:pa%40ss/w@redis.internal:6380/5"));
  EXPECT_EQ(ep.host, "redis.internal");
  EXPECT_EQ(ep.port, 6380);
  EXPECT_EQ(ep.db, 5);
  EXPECT_EQ(ep.password, "pa@ss/w");

  ep = std::get<redis_endpoint>(parse_redis_url("redis://"));
  EXPECT_EQ(ep.host, "127.0.0.1");
  EXPECT_EQ(ep.port, 6379);
  EXPECT_EQ(ep.db, 0);

  ep = std::get<redis_endpoint>(parse_redis_url("redis://localhost"));
  EXPECT_EQ(ep.host, "localhost");
  EXPECT_EQ(ep.port, 6379);

  ep = std::get<redis_endpoint>(parse_redis_url("redis://cache:7000/"));
  EXPECT_EQ(ep.port, 7000);
  EXPECT_EQ(ep.db, 0);

  ep = std::get<redis_endpoint>(parse_redis_url("redis://[::1]:6390/2"));
  EXPECT_EQ(ep.host, "::1");
  EXPECT_EQ(ep.port, 6390);
  EXPECT_EQ(ep.db, 2);

  ep = std::get<redis_endpoint>(parse_redis_url("redis://:secret@/1"));
  EXPECT_EQ(ep.host, "127.0.0.1");
  EXPECT_EQ(ep.password, "secret");
  EXPECT_EQ(ep.db, 1);
}

TEST(ParseRedisUrl, Rejects) {
  for (const char* bad : {
           "",
           "http://127.0.0.1:6379",
           "rediss://127.0.0.1:6379",
           "127.0.0.1:6379",
           "redis:/127.0.0.1",
           "redis://127.0.0.1:",
           "redis://127.0.0.1:0",
           "redis://127.0.0.1:65536",
           "redis://127.0.0.1:99999999999",
           "redis://127.0.0.1:-1",
           "redis://127.0.0.1:63a9",
           "redis://127.0.0.1:6379/x",
           "redis://127.0.0.1:6379/-1",
           "redis://127.0.0.1:6379/1/2",
           "redis://127.0.0.1:6379?db=1",
           "redis://user:pw@127.0.0.1:6379",
           "redis://pw@127.0.0.1:6379",
           "redis://:@127.0.0.1",
           "redis://:bad%zzescape@127.0.0.1",
           "redis://:bad%4@127.0.0.1",
           "redis://host name:6379",
           "redis://[::1:6379",
           "redis://[nothex]:6379",
       }) {
    auto r = parse_redis_url(bad);
    ASSERT_TRUE(std::holds_alternative<std::string>(r)) << "accepted: " << bad;
    EXPECT_FALSE(std::get<std::string>(r).empty()) << bad;
  }
}

} // namespace
} // namespace inboxd
