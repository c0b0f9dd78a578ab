#pragma once
// Counts the items of one webhook body until each has been durably stored (or failed), then
// calls `done` exactly once. Thread-safe: conversation actors complete items concurrently.

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>

namespace inboxd {

class ingest_ack {
public:
  /// `done(ok)` runs on the thread of the last complete(); ok is false if any item failed.
  ingest_ack(size_t items, std::function<void(bool ok)> done)
      : remaining_(items), done_(std::move(done)) {
    if (items == 0)
      fire();
  }

  void complete(bool ok) {
    if (!ok)
      failed_.store(true, std::memory_order_relaxed);
    if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1)
      fire();
  }

private:
  void fire() {
    auto f = std::move(done_);
    if (f)
      f(!failed_.load(std::memory_order_relaxed));
  }
  std::atomic<size_t> remaining_;
  std::atomic<bool> failed_{false};
  std::function<void(bool)> done_;
};

using ingest_ack_ptr = std::shared_ptr<ingest_ack>;

} // namespace inboxd
