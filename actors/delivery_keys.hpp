#pragma once
// The idempotency keys of the webhook deliveries a workspace has stored lately (Kapso's
// X-Idempotency-Key): a delivery repeated with a key in here is acknowledged without being
// processed again. A key is added only once every event of its delivery is stored, so a delivery
// that failed is processed in full when it comes again. Bounded: a key is forgotten after
// kMaxAgeMs, and the oldest go first beyond kMaxKeys. Kept in the workspace actor's memory only:
// after a restart or a lease move a repeat is processed again, which stores nothing twice (every
// message is deduplicated by its wamid, statuses and preferences only move forward).

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <utility>

namespace inboxd {

class delivery_keys {
public:
  static constexpr int64_t kMaxAgeMs = 24 * 3600 * 1000;
  static constexpr size_t kMaxKeys = 10'000;

  bool contains(const std::string& key, int64_t now_ms) {
    expire(now_ms);
    return at_.count(key) != 0;
  }

  void add(const std::string& key, int64_t now_ms) {
    expire(now_ms);
    if (!at_.emplace(key, now_ms).second)
      return;
    order_.emplace_back(now_ms, key);
    while (order_.size() > kMaxKeys)
      forget_oldest();
  }

  size_t size() const { return at_.size(); }

private:
  void expire(int64_t now_ms) {
    while (!order_.empty() && order_.front().first <= now_ms - kMaxAgeMs)
      forget_oldest();
  }
  void forget_oldest() {
    at_.erase(order_.front().second);
    order_.pop_front();
  }

  std::unordered_map<std::string, int64_t> at_;
  std::deque<std::pair<int64_t, std::string>> order_; // by the time each key was added
};

} // namespace inboxd
