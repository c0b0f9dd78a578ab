// The metrics module's text exposition (Prometheus format 0.0.4), checked exactly and by promtool.

#include <array>
#include <stdexcept>

#include <gtest/gtest.h>

#include "metrics/metrics.hpp"
#include "tests/support/promtool.hpp"

namespace inboxd::metrics {
namespace {

constexpr std::array<uint64_t, 3> kBounds{500, 1000, 2500}; // microseconds

TEST(metrics, histogram_buckets_are_cumulative_with_inf_sum_and_count) {
  registry reg;
  histogram_family h("test_latency_seconds", "Latency.", kBounds, 1e6,
                     label_values("route", {"a", "b"}), false, reg);
  h.observe(100, 0);
  h.observe(500, 0); // on a bound: counts in that bucket (le is "less or equal")
  h.observe(501, 0);
  h.observe(3000000, 0); // beyond every bound: only +Inf
  EXPECT_EQ(h.count(0), 4u);
  EXPECT_EQ(h.sum(0), 3001101u);
  EXPECT_EQ(reg.render(),
            "# HELP test_latency_seconds Latency.\n"
            "# TYPE test_latency_seconds histogram\n"
            "test_latency_seconds_bucket{route=\"a\",le=\"0.0005\"} 2\n"
            "test_latency_seconds_bucket{route=\"a\",le=\"0.001\"} 3\n"
            "test_latency_seconds_bucket{route=\"a\",le=\"0.0025\"} 3\n"
            "test_latency_seconds_bucket{route=\"a\",le=\"+Inf\"} 4\n"
            "test_latency_seconds_sum{route=\"a\"} 3.001101\n"
            "test_latency_seconds_count{route=\"a\"} 4\n"
            "test_latency_seconds_bucket{route=\"b\",le=\"0.0005\"} 0\n"
            "test_latency_seconds_bucket{route=\"b\",le=\"0.001\"} 0\n"
            "test_latency_seconds_bucket{route=\"b\",le=\"0.0025\"} 0\n"
            "test_latency_seconds_bucket{route=\"b\",le=\"+Inf\"} 0\n"
            "test_latency_seconds_sum{route=\"b\"} 0\n"
            "test_latency_seconds_count{route=\"b\"} 0\n");
}

TEST(metrics, histogram_without_labels_and_with_empty_series_omitted) {
  registry reg;
  histogram_family plain("test_batch_size", "Items per batch.", kBounds, 1, {""}, false, reg);
  plain.observe(7);
  histogram_family sparse("test_sparse_seconds", "Only used series.", kBounds, 1e6,
                          label_values("route", {"unused", "used"}), true, reg);
  sparse.observe(2000, 1);
  EXPECT_EQ(reg.render(),
            "# HELP test_batch_size Items per batch.\n"
            "# TYPE test_batch_size histogram\n"
            "test_batch_size_bucket{le=\"500\"} 1\n"
            "test_batch_size_bucket{le=\"1000\"} 1\n"
            "test_batch_size_bucket{le=\"2500\"} 1\n"
            "test_batch_size_bucket{le=\"+Inf\"} 1\n"
            "test_batch_size_sum 7\n"
            "test_batch_size_count 1\n"
            "# HELP test_sparse_seconds Only used series.\n"
            "# TYPE test_sparse_seconds histogram\n"
            "test_sparse_seconds_bucket{route=\"used\",le=\"0.0005\"} 0\n"
            "test_sparse_seconds_bucket{route=\"used\",le=\"0.001\"} 0\n"
            "test_sparse_seconds_bucket{route=\"used\",le=\"0.0025\"} 1\n"
            "test_sparse_seconds_bucket{route=\"used\",le=\"+Inf\"} 1\n"
            "test_sparse_seconds_sum{route=\"used\"} 0.002\n"
            "test_sparse_seconds_count{route=\"used\"} 1\n");
}

TEST(metrics, histogram_bounds_must_ascend) {
  registry reg;
  constexpr std::array<uint64_t, 3> unordered{5, 5, 10};
  EXPECT_THROW(histogram_family("test_bad", "Bad.", unordered, 1, {""}, false, reg),
               std::invalid_argument);
  std::array<uint64_t, histogram_family::max_bounds + 1> too_many{};
  for (size_t i = 0; i < too_many.size(); ++i)
    too_many[i] = i + 1;
  EXPECT_THROW(histogram_family("test_bad", "Bad.", too_many, 1, {""}, false, reg),
               std::invalid_argument);
  EXPECT_EQ(reg.render(), ""); // nothing stays registered from a failed construction
}

TEST(metrics, counters_gauges_and_computed_values_with_escaping) {
  registry reg;
  counter_family c("test_items_total", "Items by outcome.\nSecond line \\ backslash.",
                   label_values("outcome", {"stored", "odd \"value\"\\\n"}), reg);
  enum class outcome { stored, odd };
  c.inc(outcome::stored, 3);
  c.inc(outcome::odd);
  gauge_family g("test_open", "Open things.", {""}, reg);
  g.add(5);
  g.add(-2);
  computed_family v(
      "test_ratio", "Computed at scrape time.", "gauge", [] { return 0.25; }, reg);
  computed_family big(
      "test_bytes", "Whole numbers stay integers.", "gauge", [] { return 714731520.0; }, reg);
  EXPECT_EQ(c.value(outcome::stored), 3u);
  EXPECT_EQ(g.value(), 3);
  EXPECT_EQ(reg.render(),
            "# HELP test_items_total Items by outcome.\\nSecond line \\\\ backslash.\n"
            "# TYPE test_items_total counter\n"
            "test_items_total{outcome=\"stored\"} 3\n"
            "test_items_total{outcome=\"odd \\\"value\\\"\\\\\\n\"} 1\n"
            "# HELP test_open Open things.\n"
            "# TYPE test_open gauge\n"
            "test_open 3\n"
            "# HELP test_ratio Computed at scrape time.\n"
            "# TYPE test_ratio gauge\n"
            "test_ratio 0.25\n"
            "# HELP test_bytes Whole numbers stay integers.\n"
            "# TYPE test_bytes gauge\n"
            "test_bytes 714731520\n");
}

TEST(metrics, a_destroyed_family_leaves_the_registry) {
  registry reg;
  counter_family kept("test_kept_total", "Kept.", {""}, reg);
  {
    counter_family gone("test_gone_total", "Gone.", {""}, reg);
    EXPECT_NE(reg.render().find("test_gone_total"), std::string::npos);
  }
  EXPECT_EQ(reg.render(),
            "# HELP test_kept_total Kept.\n# TYPE test_kept_total counter\n"
            "test_kept_total 0\n");
}

TEST(metrics, promtool_accepts_every_kind_of_family) {
  registry reg;
  counter_family c("test_requests_total", "Requests.", label_values("code", {"2xx", "5xx"}), reg);
  c.inc(1, 2);
  gauge_family g("test_queue_entries", "Entries.", {""}, reg);
  g.set(-1);
  histogram_family h("test_request_duration_seconds", "Durations.", latency_bounds_us, 1e6,
                     label_values("route", {"a", "b"}), true, reg);
  h.observe(1234, 1);
  h.observe(20000000, 1);
  computed_family cpu(
      "test_cpu_seconds_total", "CPU.", "counter", [] { return 1.5; }, reg);
  auto text = reg.render();
  auto checked = test::promtool_check_metrics(text);
  EXPECT_TRUE(checked.ok()) << "exit " << checked.exit_code << ": " << checked.output << "\n"
                            << text;
  // The process-wide registry (process_* and whatever this binary links) passes too.
  auto global = test::promtool_check_metrics(registry::global().render());
  EXPECT_TRUE(global.ok()) << "exit " << global.exit_code << ": " << global.output;
}

} // namespace
} // namespace inboxd::metrics
