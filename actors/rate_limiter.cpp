#include "actors/rate_limiter.hpp"

#include <algorithm>
#include <cmath>

#include "metrics/metrics.hpp"

namespace inboxd {

namespace {

metrics::counter_family rate_limited_total(
    "inboxd_rate_limited_total",
    "API requests refused with 429 rate_limited (INBOXD_API_RATE per API key or user).");

} // namespace

double rate_limiter::refilled(const bucket& b, int64_t now_ms) const {
  auto elapsed = std::max<int64_t>(0, now_ms - b.at_ms);
  return std::min(burst_, b.tokens + static_cast<double>(elapsed) * rate_ / 1000.0);
}

int64_t rate_limiter::take(const std::string& key, int64_t now_ms) {
  if (!enabled())
    return 0;
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= sweep_at_)
      sweep(now_ms);
    buckets_.emplace(key, bucket{burst_ - 1, now_ms});
    return 0;
  }
  auto& b = it->second;
  b.tokens = refilled(b, now_ms);
  b.at_ms = std::max(b.at_ms, now_ms);
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return 0;
  }
  rate_limited_total.inc();
  auto wait = std::ceil((1 - b.tokens) * 1000.0 / rate_);
  return std::max<int64_t>(1, static_cast<int64_t>(wait));
}

void rate_limiter::sweep(int64_t now_ms) {
  for (auto it = buckets_.begin(); it != buckets_.end();)
    if (refilled(it->second, now_ms) >= burst_)
      it = buckets_.erase(it);
    else
      ++it;
  sweep_at_ = std::max(kMinSweep, 2 * buckets_.size());
}

int64_t retry_after_seconds(int64_t ms) {
  return std::max<int64_t>(1, (ms + 999) / 1000);
}

} // namespace inboxd
