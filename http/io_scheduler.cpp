#include "http/io_scheduler.hpp"

#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include <boost/asio/defer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/detail/set_thread_name.hpp>
#include <caf/detail/thread_safe_actor_clock.hpp>
#include <caf/execution_unit.hpp>
#include <caf/resumable.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>

namespace inboxd {
namespace {
namespace net = boost::asio;

// Messages an actor handles per turn before it yields its thread to other actors and to I/O.
constexpr size_t kMaxThroughput = 64;

// The jobs (actors with mail) waiting for a thread. Every job queued has one handler on the
// io_context that takes one job from here and resumes it. The handlers share this queue, not the
// scheduler: one that runs after the scheduler stopped finds `stopped` and returns.
struct job_queue {
  std::mutex mu;
  std::deque<caf::resumable*> jobs;
  bool stopped = false;

  bool push(caf::resumable* job) {
    std::lock_guard lock(mu);
    if (stopped)
      return false;
    jobs.push_back(job);
    return true;
  }
  caf::resumable* pop() {
    std::lock_guard lock(mu);
    if (stopped || jobs.empty())
      return nullptr;
    auto* job = jobs.front();
    jobs.pop_front();
    return job;
  }
  std::deque<caf::resumable*> close() {
    std::lock_guard lock(mu);
    stopped = true;
    return std::exchange(jobs, {});
  }
};

class io_scheduler;

// What an actor sees as its thread: an actor it wakes from there goes to the same queue.
class io_unit final : public caf::execution_unit {
public:
  io_unit(caf::actor_system& sys, io_scheduler& s) : caf::execution_unit(&sys), s_(s) {}
  void exec_later(caf::resumable* job) override;

private:
  io_scheduler& s_;
};

class io_scheduler final : public caf::scheduler::abstract_coordinator {
public:
  io_scheduler(caf::actor_system& sys, net::io_context& io)
    : abstract_coordinator(sys), io_(io), unit_(sys, *this) {}

  void enqueue(caf::resumable* job) override {
    if (!queue_->push(job)) { // after stop(): nothing will run it
      cleanup_and_release(job);
      return;
    }
    auto run = [q = queue_, this] {
      if (auto* next = q->pop())
        resume(next);
    };
    // From an io thread (an HTTP handler, a Redis reply, an actor waking another), the job stays
    // on this thread after the current handler: no other thread is woken for it. From outside
    // (CAF's clock, the HTTPS client threads) an idle io thread is woken.
    if (io_.get_executor().running_in_this_thread())
      net::defer(io_, std::move(run));
    else
      net::post(io_, std::move(run));
  }

  caf::detail::thread_safe_actor_clock& clock() noexcept override { return clock_; }

  void start() override {
    // Timeouts and delayed messages: CAF's clock on its own thread, as with CAF's schedulers.
    clock_thread_ = std::thread([this] {
      caf::detail::set_thread_name("caf.clock");
      system().thread_started();
      clock_.run_dispatch_loop();
      system().thread_terminates();
    });
    abstract_coordinator::start();
  }

  void stop() override {
    stop_actors();
    clock_.cancel_dispatch_loop();
    clock_thread_.join();
    for (auto* job : queue_->close())
      cleanup_and_release(job);
  }

private:
  void resume(caf::resumable* job) {
    switch (job->resume(&unit_, max_throughput_)) {
      case caf::resumable::resume_later: // more mail: back of the queue, after the others
        enqueue(job);
        break;
      case caf::resumable::done:
      case caf::resumable::awaiting_message: // its next message enqueues it again
        caf::intrusive_ptr_release(job);
        break;
      case caf::resumable::shutdown_execution_unit: // only CAF's worker shutdown, not used here
        break;
    }
  }

  net::io_context& io_;
  io_unit unit_;
  std::shared_ptr<job_queue> queue_ = std::make_shared<job_queue>();
  caf::detail::thread_safe_actor_clock clock_;
  std::thread clock_thread_;
};

void io_unit::exec_later(caf::resumable* job) {
  s_.enqueue(job);
}

} // namespace

void use_io_scheduler(caf::actor_system_config& cfg, net::io_context& io) {
  cfg.set("scheduler.max-throughput", kMaxThroughput);
  cfg.module_factories.push_back([&io](caf::actor_system& sys) -> caf::actor_system::module* {
    return new io_scheduler(sys, io);
  });
}

} // namespace inboxd
