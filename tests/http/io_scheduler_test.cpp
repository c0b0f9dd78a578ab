// Actors on an io_context's threads (http/io_scheduler.hpp): they run there, their timers fire, a
// busy actor yields the thread after 64 messages, and jobs still queued when the actor system ends
// are handed back to CAF (ASan's leak check fails this test when they are not).

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <utility> // before Asio: Boost 1.74's awaitable.hpp misses it under C++20

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <caf/all.hpp>
#include <gtest/gtest.h>

#include "http/io_scheduler.hpp"

namespace inboxd {
namespace {

namespace net = boost::asio;
using namespace std::chrono_literals;
using where_atom = caf::atom_constant<caf::atom("iswhere")>;
using later_atom = caf::atom_constant<caf::atom("islater")>;
using count_atom = caf::atom_constant<caf::atom("iscount")>;

uint64_t this_thread() {
  return std::hash<std::thread::id>{}(std::this_thread::get_id());
}

// Runs `io` on a thread for the lifetime of the test's actor system (declared after it, so the
// thread is joined before the system ends: the scheduler's contract).
struct io_thread {
  explicit io_thread(net::io_context& ctx) : io(ctx), work(net::make_work_guard(ctx)) {
    thread = std::thread([this] {
      id = this_thread();
      started = true;
      io.run();
    });
    while (!started)
      std::this_thread::sleep_for(1ms);
  }
  ~io_thread() {
    work.reset();
    io.stop();
    thread.join();
  }
  net::io_context& io;
  net::executor_work_guard<net::io_context::executor_type> work;
  uint64_t id = 0; // written before `started`
  std::atomic<bool> started{false};
  std::thread thread;
};

caf::behavior reporter(caf::event_based_actor* self) {
  return {
      [](where_atom) { return this_thread(); },
      [self](later_atom) {
        auto rp = self->make_response_promise<uint64_t>();
        self->delayed_send(self, 30ms, where_atom::value, 1);
        self->become(caf::keep_behavior, [self, rp](where_atom, int) mutable {
          rp.deliver(this_thread());
          self->unbecome();
        });
        return rp;
      },
  };
}

TEST(IoScheduler, ActorsRunOnTheIoThreadAndTheirTimersFire) {
  net::io_context io(1);
  caf::actor_system_config cfg;
  use_io_scheduler(cfg, io);
  caf::actor_system sys{cfg};
  io_thread thread(io);
  auto a = sys.spawn(reporter);
  caf::scoped_actor self{sys};
  uint64_t seen = 0;
  self->request(a, 5s, where_atom::value)
      .receive([&](uint64_t id) { seen = id; }, [](caf::error& e) { FAIL() << caf::to_string(e); });
  EXPECT_EQ(seen, thread.id);
  EXPECT_NE(seen, this_thread());
  auto t0 = std::chrono::steady_clock::now();
  self->request(a, 5s, later_atom::value)
      .receive([&](uint64_t id) { seen = id; }, [](caf::error& e) { FAIL() << caf::to_string(e); });
  EXPECT_EQ(seen, thread.id);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 30ms); // the delayed message took its time
  // Ended while the io thread still runs it: the system's end waits for every actor, and once
  // the thread is gone nothing would run `a` to its end (the test hung 1 run in 4 without this).
  self->send_exit(a, caf::exit_reason::user_shutdown);
  self->wait_for(a);
}

TEST(IoScheduler, ABusyActorYieldsTheThreadAfter64Messages) {
  net::io_context io(1);
  caf::actor_system_config cfg;
  use_io_scheduler(cfg, io);
  caf::actor_system sys{cfg};
  std::atomic<int> handled{0};
  auto a = sys.spawn([&](caf::event_based_actor*) -> caf::behavior {
    return {[&](int) { ++handled; }, [&](count_atom) { return handled.load(); }};
  });
  // 1000 messages queue up while nothing runs the io_context; the first posted the actor's job.
  for (int i = 0; i < 1000; ++i)
    caf::anon_send(a, i);
  int seen_between = -1;
  net::post(io, [&] { seen_between = handled.load(); }); // queued behind the actor's job
  {
    io_thread thread(io);
    caf::scoped_actor self{sys};
    int total = 0;
    self->request(a, 5s, count_atom::value)
        .receive([&](int n) { total = n; }, [](caf::error& e) { FAIL() << caf::to_string(e); });
    EXPECT_EQ(total, 1000);
    self->send_exit(a, caf::exit_reason::user_shutdown);
    self->wait_for(a);
  }
  // The actor handled 64, went to the back of the queue, and the handler posted after it ran.
  EXPECT_EQ(seen_between, 64);
}

TEST(IoScheduler, JobsLeftQueuedWhenTheSystemEndsAreReleased) {
  net::io_context io(1);
  {
    caf::actor_system_config cfg;
    use_io_scheduler(cfg, io);
    caf::actor_system sys{cfg};
    // Hidden: the system does not wait for it, and its job is still queued at the end because
    // nothing ever ran the io_context. Its messages and the actor itself must be freed.
    auto a = sys.spawn<caf::hidden>(
        [](caf::event_based_actor*) -> caf::behavior { return {[](const std::string&) {}}; });
    caf::anon_send(a, std::string(1000, 'x'));
  }
  // What the io_context still holds refers to nothing of the ended system: running it is safe.
  io.restart();
  io.poll();
  SUCCEED();
}

} // namespace
} // namespace inboxd
