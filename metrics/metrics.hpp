#pragma once
// Process-wide metrics, exposed by GET /metrics in the Prometheus text format 0.0.4.
//
// A family (counter, gauge, histogram) is created once, usually as a namespace-scope static next
// to the code that observes it, with every label set it will ever have. Observing is then a
// relaxed atomic add on a fixed cell: no lock, no allocation, any thread. Label sets are indexes
// into that fixed list (an enum where the code has one), never built from request data, so no
// series per workspace, contact or id can appear.
//
// A scrape (registry::render) takes the registry's lock (held only by scrapes and by families
// being created or destroyed) and reads the cells while writers go on: the series are not one
// snapshot. A histogram's _count is the sum of its buckets as read, so it always equals its +Inf
// bucket.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace inboxd::metrics {

class registry;

/// Label indexes may be given as an enum (its values 0, 1, ... name the label sets in order).
template <class T>
concept enumeration = std::is_enum_v<T>;

/// One metric family: its name, help text and type, and the samples it writes. Not copyable;
/// registered with its registry for its whole lifetime.
class family {
public:
  family(const family&) = delete;
  family& operator=(const family&) = delete;
  virtual ~family();

  /// Appends the family's exposition: # HELP, # TYPE and its samples.
  virtual void write(std::string& out) const = 0;

  const std::string& name() const { return name_; }

protected:
  /// `type`: "counter", "gauge" or "histogram".
  family(std::string name, std::string help, const char* type, registry& reg);
  void write_header(std::string& out) const;

  std::string name_;

private:
  std::string help_;
  const char* type_;
  registry& reg_;
};

/// The families of a process (global()) or of a test.
class registry {
public:
  registry() = default;
  registry(const registry&) = delete;
  registry& operator=(const registry&) = delete;

  /// The process-wide registry, which GET /metrics renders.
  static registry& global();

  /// Every family's exposition, in the order they were created.
  std::string render() const;

private:
  friend class family;
  void add(const family* f);
  void remove(const family* f);

  mutable std::mutex mutex_;
  std::vector<const family*> families_;
};

/// One label set `name="value"` per value, in order, escaped as the text format requires: the
/// `labels` argument of a family with one label.
std::vector<std::string> label_values(std::string_view name,
                                      std::initializer_list<std::string_view> values);
/// `name="value"`, escaped.
std::string label(std::string_view name, std::string_view value);

/// Appends one sample line `name{labels} value` (no braces when `labels` is empty).
void write_sample(std::string& out, std::string_view name, std::string_view labels, double value);

/// Counters: values that only grow. `labels` holds one preformatted label set per series
/// ({""}: a single series without labels); series are addressed by their index.
class counter_family final : public family {
public:
  counter_family(std::string name, std::string help, std::vector<std::string> labels = {""},
                 registry& reg = registry::global());

  void inc(size_t series = 0, uint64_t n = 1) noexcept {
    cells_[series].fetch_add(n, std::memory_order_relaxed);
  }
  template <enumeration Enum>
  void inc(Enum series, uint64_t n = 1) noexcept {
    inc(static_cast<size_t>(series), n);
  }
  uint64_t value(size_t series = 0) const noexcept {
    return cells_[series].load(std::memory_order_relaxed);
  }
  template <enumeration Enum>
  uint64_t value(Enum series) const noexcept {
    return value(static_cast<size_t>(series));
  }

  void write(std::string& out) const override;

private:
  std::vector<std::string> labels_;
  std::unique_ptr<std::atomic<uint64_t>[]> cells_;
};

/// Gauges: values that go up and down (one series per label set, as counter_family).
class gauge_family final : public family {
public:
  gauge_family(std::string name, std::string help, std::vector<std::string> labels = {""},
               registry& reg = registry::global());

  void add(int64_t delta, size_t series = 0) noexcept {
    cells_[series].fetch_add(delta, std::memory_order_relaxed);
  }
  void set(int64_t v, size_t series = 0) noexcept {
    cells_[series].store(v, std::memory_order_relaxed);
  }
  int64_t value(size_t series = 0) const noexcept {
    return cells_[series].load(std::memory_order_relaxed);
  }

  void write(std::string& out) const override;

private:
  std::vector<std::string> labels_;
  std::unique_ptr<std::atomic<int64_t>[]> cells_;
};

/// Histograms with fixed buckets. Observations are integers in the family's unit (e.g.
/// microseconds); `divisor` converts them to the exposed unit (1e6: seconds), for the `le`
/// bounds and _sum alike. A value counts in the first bucket whose bound is >= it, +Inf beyond.
/// With `omit_empty`, series nothing was observed in are left out of the exposition (for a
/// large fixed label space such as route x status class).
class histogram_family final : public family {
public:
  static constexpr size_t max_bounds = 20;

  /// `bounds`: strictly ascending, at most max_bounds (checked: std::invalid_argument).
  histogram_family(std::string name, std::string help, std::span<const uint64_t> bounds,
                   double divisor, std::vector<std::string> labels = {""}, bool omit_empty = false,
                   registry& reg = registry::global());

  void observe(uint64_t v, size_t series = 0) noexcept;

  /// Observations so far, and their sum (in the family's unit).
  uint64_t count(size_t series = 0) const noexcept;
  uint64_t sum(size_t series = 0) const noexcept {
    return series_[series].sum.load(std::memory_order_relaxed);
  }

  void write(std::string& out) const override;

private:
  struct cells {
    std::array<std::atomic<uint64_t>, max_bounds + 1> buckets{}; // the last one is +Inf
    std::atomic<uint64_t> sum{0};
  };
  std::vector<uint64_t> bounds_;
  std::vector<std::string> le_; // the bounds as exposed, then "+Inf"
  double divisor_;
  std::vector<std::string> labels_;
  bool omit_empty_;
  std::unique_ptr<cells[]> series_;
};

/// One value computed at scrape time (read from /proc, summed over owners, ...). `value` runs
/// on the scraping thread, under the registry's lock.
class computed_family final : public family {
public:
  computed_family(std::string name, std::string help, const char* type,
                  std::function<double()> value, registry& reg = registry::global());

  void write(std::string& out) const override;

private:
  std::function<double()> value_;
};

/// Series computed at scrape time, one per label set the function returns then (a set that
/// varies, such as the outgoing webhooks of the moment: never per workspace or contact).
class computed_series_family final : public family {
public:
  using samples = std::vector<std::pair<std::string, double>>; // label set, value
  computed_series_family(std::string name, std::string help, const char* type,
                         std::function<samples()> values, registry& reg = registry::global());

  void write(std::string& out) const override;

private:
  std::function<samples()> values_;
};

/// Latency buckets in microseconds (use with divisor 1e6): 0.5 ms to 10 s.
inline constexpr std::array<uint64_t, 14> latency_bounds_us{
    500,    1000,   2500,   5000,    10000,   25000,   50000,
    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};

} // namespace inboxd::metrics
