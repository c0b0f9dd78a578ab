#pragma once
// The live side of a workspace's event log (see event_log.hpp): its subscribers, and the reads
// that fan the log out to them in log order. Lives in the workspace actor's state and runs on
// its thread only; it reads the log through `read` (the store's read_events, answered on the
// actor's thread).
//
// Invariants: `live_id_` is the last log id delivered to live subscribers (known while anyone
// subscribes); every subscriber has a cursor and only ever receives ids above it; a subscriber
// behind `live_id_` (resuming with Last-Event-ID) replays (cursor, live_id_] by itself and joins
// the live ones once it has caught up. So nothing is missed or repeated at the seam.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "actors/event_log.hpp"
#include "messages/http_exchange.hpp"

namespace inboxd {

class event_hub {
public:
  /// store::read_events(<this workspace>, after, upto, count, ...), answered on the actor's thread.
  using reader = std::function<void(std::string after, std::string upto, size_t count,
                                    std::function<void(event_read&)>)>;
  /// Runs a function on the owning actor's thread after a delay.
  using timer = std::function<void(std::chrono::milliseconds, std::function<void()>)>;

  event_hub(reader read, timer later, int max_subscribers);

  /// Opens an event stream on `reply` (429 when the workspace or process limit is reached, 503
  /// when storage fails). `last_event_id` empty: events from now on; otherwise every retained
  /// event after it (an unknown or malformed id replays everything retained), then live ones.
  void subscribe(reply_handle reply, const std::string& last_event_id);

  /// The log grew: deliver what is new to the live subscribers.
  void appended();

  /// Closes every stream, also those still opening (the workspace moved to another node: its
  /// clients resume there with Last-Event-ID).
  void close_all();

  /// Open subscribers (closed streams are dropped lazily).
  size_t size() const { return subs_.size() + opening_; }

private:
  struct subscriber {
    event_stream_ptr stream;
    stream_id cursor{0, 0};
    bool live = false;
    bool reading = false;
  };

  void catch_up(const std::shared_ptr<subscriber>& sub);
  void read_tail();
  void sweep();
  static bool push(subscriber& sub, const stream_entry& e);

  reader read_;
  timer later_;
  int max_subscribers_;
  std::vector<std::shared_ptr<subscriber>> subs_;
  int opening_ = 0;          // subscribe() calls waiting for the log's tail
  uint64_t generation_ = 0;  // close_all() calls: a subscribe() from before one is refused
  bool tail_known_ = false;  // live_id_ is current (someone subscribes)
  stream_id live_id_{0, 0};
  bool tail_reading_ = false;
  bool tail_again_ = false;
};

} // namespace inboxd
