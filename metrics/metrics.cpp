#include "metrics/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include <unistd.h>

namespace inboxd::metrics {

namespace {

// Whole numbers as integers ("714731520", not "7.1473152e+08"); others as the shortest text
// that reads back as `v`, in %g style ("0.0005", not "5e-04").
std::string format_number(double v) {
  constexpr double exact = 9007199254740992.0; // 2^53: every integer below it is exact
  if (std::isnan(v))
    return "NaN";
  if (std::isinf(v))
    return v > 0 ? "+Inf" : "-Inf";
  if (v == std::trunc(v) && std::fabs(v) < exact)
    return std::to_string(static_cast<int64_t>(v));
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general);
  return ec == std::errc{} ? std::string(buf, end) : std::string("NaN");
}

// Help text escapes backslash and newline; label values also the double quote.
void append_escaped(std::string& out, std::string_view s, bool quote) {
  for (char c : s) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (quote && c == '"')
      out += "\\\"";
    else
      out += c;
  }
}

// The labels of a series plus one more (`le` of a bucket).
std::string with_label(const std::string& labels, std::string_view extra) {
  return labels.empty() ? std::string(extra) : labels + "," + std::string(extra);
}

std::vector<std::string> checked(std::vector<std::string> labels) {
  if (labels.empty())
    throw std::invalid_argument("a metric family needs at least one series");
  return labels;
}

// /proc/self: resident memory and CPU time of the process (0 when unreadable).
double resident_bytes() {
  long size = 0, pages = 0;
  if (auto* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &size, &pages) != 2)
      pages = 0;
    std::fclose(f);
  }
  return static_cast<double>(pages) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

double cpu_seconds() {
  char buf[1024];
  size_t n = 0;
  if (auto* f = std::fopen("/proc/self/stat", "r")) {
    n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
  }
  buf[n] = '\0';
  // The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
  auto* p = std::strrchr(buf, ')');
  unsigned long utime = 0, stime = 0;
  if (!p || std::sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
                        &stime) != 2)
    return 0;
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

computed_family process_rss("process_resident_memory_bytes", "Resident memory size in bytes.",
                            "gauge", resident_bytes);
computed_family process_cpu("process_cpu_seconds_total",
                            "Total user and system CPU time spent in seconds.", "counter",
                            cpu_seconds);

} // namespace

// --- family and registry -------------------------------------------------------------------------

family::family(std::string name, std::string help, const char* type, registry& reg)
  : name_(std::move(name)), help_(std::move(help)), type_(type), reg_(reg) {
  reg_.add(this);
}

family::~family() {
  reg_.remove(this);
}

void family::write_header(std::string& out) const {
  out += "# HELP ";
  out += name_;
  out += ' ';
  append_escaped(out, help_, false);
  out += "\n# TYPE ";
  out += name_;
  out += ' ';
  out += type_;
  out += '\n';
}

registry& registry::global() {
  static registry instance;
  return instance;
}

void registry::add(const family* f) {
  std::lock_guard lock(mutex_);
  families_.push_back(f);
}

void registry::remove(const family* f) {
  std::lock_guard lock(mutex_);
  families_.erase(std::remove(families_.begin(), families_.end(), f), families_.end());
}

std::string registry::render() const {
  std::string out;
  std::lock_guard lock(mutex_);
  for (auto* f : families_)
    f->write(out);
  return out;
}

// --- text helpers --------------------------------------------------------------------------------

std::string label(std::string_view name, std::string_view value) {
  std::string out(name);
  out += "=\"";
  append_escaped(out, value, true);
  out += '"';
  return out;
}

std::vector<std::string> label_values(std::string_view name,
                                      std::initializer_list<std::string_view> values) {
  std::vector<std::string> out;
  for (auto v : values)
    out.push_back(label(name, v));
  return out;
}

void write_sample(std::string& out, std::string_view name, std::string_view labels, double value) {
  out += name;
  if (!labels.empty()) {
    out += '{';
    out += labels;
    out += '}';
  }
  out += ' ';
  out += format_number(value);
  out += '\n';
}

// --- counters and gauges -------------------------------------------------------------------------

counter_family::counter_family(std::string name, std::string help, std::vector<std::string> labels,
                               registry& reg)
  : family(std::move(name), std::move(help), "counter", reg),
    labels_(checked(std::move(labels))),
    cells_(new std::atomic<uint64_t>[labels_.size()]()) {}

void counter_family::write(std::string& out) const {
  write_header(out);
  for (size_t i = 0; i < labels_.size(); ++i)
    write_sample(out, name_, labels_[i], static_cast<double>(value(i)));
}

gauge_family::gauge_family(std::string name, std::string help, std::vector<std::string> labels,
                           registry& reg)
  : family(std::move(name), std::move(help), "gauge", reg),
    labels_(checked(std::move(labels))),
    cells_(new std::atomic<int64_t>[labels_.size()]()) {}

void gauge_family::write(std::string& out) const {
  write_header(out);
  for (size_t i = 0; i < labels_.size(); ++i)
    write_sample(out, name_, labels_[i], static_cast<double>(value(i)));
}

// --- histograms ----------------------------------------------------------------------------------

histogram_family::histogram_family(std::string name, std::string help,
                                   std::span<const uint64_t> bounds, double divisor,
                                   std::vector<std::string> labels, bool omit_empty, registry& reg)
  : family(std::move(name), std::move(help), "histogram", reg),
    bounds_(bounds.begin(), bounds.end()),
    divisor_(divisor),
    labels_(checked(std::move(labels))),
    omit_empty_(omit_empty),
    series_(new cells[labels_.size()]()) {
  if (bounds_.size() > max_bounds ||
      std::adjacent_find(bounds_.begin(), bounds_.end(), std::greater_equal<>()) != bounds_.end())
    throw std::invalid_argument("histogram bounds must ascend, at most max_bounds of them");
  for (auto b : bounds_)
    le_.push_back(label("le", format_number(static_cast<double>(b) / divisor_)));
  le_.push_back(label("le", "+Inf"));
}

void histogram_family::observe(uint64_t v, size_t series) noexcept {
  auto i =
      static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  auto& c = series_[series];
  c.buckets[i].fetch_add(1, std::memory_order_relaxed);
  c.sum.fetch_add(v, std::memory_order_relaxed);
}

uint64_t histogram_family::count(size_t series) const noexcept {
  uint64_t n = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i)
    n += series_[series].buckets[i].load(std::memory_order_relaxed);
  return n;
}

void histogram_family::write(std::string& out) const {
  write_header(out);
  for (size_t s = 0; s < labels_.size(); ++s) {
    auto& c = series_[s];
    uint64_t cumulative = 0;
    std::array<uint64_t, max_bounds + 1> at{};
    for (size_t i = 0; i <= bounds_.size(); ++i) {
      cumulative += c.buckets[i].load(std::memory_order_relaxed);
      at[i] = cumulative;
    }
    if (omit_empty_ && cumulative == 0)
      continue;
    auto bucket = name_ + "_bucket";
    for (size_t i = 0; i <= bounds_.size(); ++i)
      write_sample(out, bucket, with_label(labels_[s], le_[i]), static_cast<double>(at[i]));
    write_sample(out, name_ + "_sum", labels_[s],
                 static_cast<double>(c.sum.load(std::memory_order_relaxed)) / divisor_);
    write_sample(out, name_ + "_count", labels_[s], static_cast<double>(cumulative));
  }
}

// --- computed ------------------------------------------------------------------------------------

computed_family::computed_family(std::string name, std::string help, const char* type,
                                 std::function<double()> value, registry& reg)
  : family(std::move(name), std::move(help), type, reg), value_(std::move(value)) {}

void computed_family::write(std::string& out) const {
  write_header(out);
  write_sample(out, name_, "", value_());
}

computed_series_family::computed_series_family(std::string name, std::string help, const char* type,
                                               std::function<samples()> values, registry& reg)
  : family(std::move(name), std::move(help), type, reg), values_(std::move(values)) {}

void computed_series_family::write(std::string& out) const {
  write_header(out);
  for (auto& [labels, v] : values_())
    write_sample(out, name_, labels, v);
}

} // namespace inboxd::metrics
