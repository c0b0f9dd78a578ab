#pragma once
// A CAF scheduler that runs actors on the threads of an Asio io_context: the threads that also run
// the HTTP sessions and the Redis clients. A webhook then crosses no thread on its way from the
// socket through its actors to Redis and back: CAF's own workers cost a wake-up (a futex, a
// context switch) at every hand-off between an I/O thread and an actor, several per webhook, and
// on a lightly loaded node those wake-ups were most of its CPU per webhook (bench/README.md).
//
// Install it before the actor_system is constructed:
//   caf::actor_system_config cfg;
//   use_io_scheduler(cfg, io);
//   caf::actor_system sys{cfg};
// Contract:
// - `io` outlives the actor_system; something runs it (io.run() on one or more threads) while
//   actors are expected to make progress.
// - The actor_system is destroyed only after every thread running `io` has returned: its
//   destructor hands the jobs still queued back to CAF (cleanup_and_release) on the calling
//   thread, which must not race with a thread resuming them.
// - An actor must never block its thread (DESIGN.md rule 5): here it would stall HTTP and Redis
//   I/O as well.
// Each actor runs at most `scheduler.max-throughput` messages per turn, then yields the thread.

namespace boost::asio {
class io_context;
}
namespace caf {
class actor_system_config;
}

namespace inboxd {

void use_io_scheduler(caf::actor_system_config& cfg, boost::asio::io_context& io);

} // namespace inboxd
