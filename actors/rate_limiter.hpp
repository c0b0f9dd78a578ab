#pragma once
// API rate limits (API.md "Data protection and limits"): a token bucket per credential, `rate`
// tokens a second up to a burst of 2 x rate; a request takes one token or is refused (429
// rate_limited with Retry-After). One limiter per workspace actor, so only credentials that the
// workspace has authenticated (its API keys, its members) ever get a bucket, and a request is
// counted once, on the node that owns the workspace (a request forwarded there is counted there
// only). Not thread-safe: its actor's alone.
//
// Memory: a bucket that has refilled to the burst is the same as none, so such buckets are
// dropped whenever the table has doubled since the last sweep (at least kMinSweep entries).

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>

namespace inboxd {

class rate_limiter {
public:
  static constexpr size_t kMinSweep = 64;

  /// `rate`: tokens per second; 0 = no limit.
  explicit rate_limiter(int rate = 0) : rate_(rate), burst_(2.0 * rate) {}

  bool enabled() const { return rate_ > 0; }

  /// Takes a token of `key`'s bucket at `now_ms` (a monotonic clock): 0 when the request may
  /// go on, else the milliseconds until a token is there (at least 1). A refused request takes
  /// nothing. Counts refusals in inboxd_rate_limited_total.
  int64_t take(const std::string& key, int64_t now_ms);

  /// Buckets held now.
  size_t size() const { return buckets_.size(); }

private:
  struct bucket {
    double tokens = 0;
    int64_t at_ms = 0; // when `tokens` was computed
  };
  double refilled(const bucket& b, int64_t now_ms) const;
  void sweep(int64_t now_ms);

  int rate_;
  double burst_;
  std::unordered_map<std::string, bucket> buckets_;
  size_t sweep_at_ = kMinSweep;
};

/// Retry-After for a wait of `ms`: whole seconds, rounded up, at least 1.
int64_t retry_after_seconds(int64_t ms);

} // namespace inboxd
