#include "actors/rate_limiter.hpp"

#include <gtest/gtest.h>

using namespace inboxd;

TEST(rate_limiter, off_at_zero) {
  rate_limiter off(0);
  for (int i = 0; i < 10000; ++i)
    ASSERT_EQ(off.take("k", 0), 0);
  EXPECT_EQ(off.size(), 0u);
}

TEST(rate_limiter, burst_of_twice_the_rate_then_refused_until_refilled) {
  rate_limiter l(10); // burst 20, one token per 100 ms
  for (int i = 0; i < 20; ++i)
    ASSERT_EQ(l.take("a", 1000), 0) << i;
  auto wait = l.take("a", 1000);
  EXPECT_EQ(wait, 100);
  EXPECT_EQ(l.take("a", 1050), 50); // half a token back: still refused, nothing taken
  EXPECT_EQ(l.take("a", 1100), 0);  // one token
  EXPECT_EQ(l.take("a", 1100), 100);
  // Another key has its own bucket.
  for (int i = 0; i < 20; ++i)
    ASSERT_EQ(l.take("b", 1100), 0) << i;
  EXPECT_GT(l.take("b", 1100), 0);
  // Refilled to the burst, never beyond.
  for (int i = 0; i < 20; ++i)
    ASSERT_EQ(l.take("a", 60000), 0) << i;
  EXPECT_GT(l.take("a", 60000), 0);
}

TEST(rate_limiter, sustained_rate_is_the_configured_one) {
  rate_limiter l(5);
  int allowed = 0;
  for (int64_t t = 0; t < 10000; t += 10) // 100 requests/s for 10 s
    allowed += l.take("k", t) == 0 ? 1 : 0;
  // The burst (10) plus 5/s over 10 s (one token per 200 ms: 49 more before t = 10000).
  EXPECT_GE(allowed, 58);
  EXPECT_LE(allowed, 60);
}

TEST(rate_limiter, retry_after_is_whole_seconds_at_least_one) {
  EXPECT_EQ(retry_after_seconds(1), 1);
  EXPECT_EQ(retry_after_seconds(1000), 1);
  EXPECT_EQ(retry_after_seconds(1001), 2);
  rate_limiter slow(1); // burst 2, a token per second
  slow.take("k", 0);
  slow.take("k", 0);
  EXPECT_EQ(retry_after_seconds(slow.take("k", 0)), 1);
  EXPECT_EQ(retry_after_seconds(slow.take("k", 400)), 1);
}

TEST(rate_limiter, idle_buckets_are_dropped_so_memory_stays_bounded) {
  rate_limiter l(1); // refills to its burst in 2 s
  int64_t t = 0;
  // A stream of distinct keys, each used once, 100 ms apart: at most 20 are not yet refilled at
  // any time, so the table never holds more than a small multiple of that.
  size_t most = 0;
  for (int i = 0; i < 100000; ++i, t += 100) {
    ASSERT_EQ(l.take("key" + std::to_string(i), t), 0);
    most = std::max(most, l.size());
  }
  EXPECT_LE(most, 2 * rate_limiter::kMinSweep);
  // A key dropped while full starts full again: nothing of its limit is lost.
  for (int i = 0; i < 2; ++i)
    ASSERT_EQ(l.take("key0", t), 0);
  EXPECT_GT(l.take("key0", t), 0);
}
