#include "http/request_metrics.hpp"

#include <iterator>
#include <string>
#include <vector>

#include "metrics/metrics.hpp"
#include "metrics/webhook_items.hpp"

namespace inboxd {

namespace {

constexpr const char* kClasses[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
constexpr size_t kClassCount = std::size(kClasses);

size_t route_count() {
  size_t n = 0;
  while (route_name(static_cast<route>(n)))
    ++n;
  return n;
}

const size_t kRoutes = route_count();

// Every route x status class, route-major: series = route * kClassCount + class.
std::vector<std::string> route_labels() {
  std::vector<std::string> out;
  for (size_t r = 0; r < kRoutes; ++r)
    for (auto c : kClasses)
      out.push_back(metrics::label("route", route_name(static_cast<route>(r))) + "," +
                    metrics::label("status", c));
  return out;
}

metrics::histogram_family requests(
    "inboxd_http_request_duration_seconds",
    "HTTP requests by route and status class: time from the request's head to its answer (for "
    "event streams: to the stream's start). _count counts the requests.",
    metrics::latency_bounds_us, 1e6, route_labels(), true);

} // namespace

void observe_request(route r, int status, std::chrono::steady_clock::duration took) {
  auto ri = static_cast<size_t>(r);
  if (ri >= kRoutes)
    ri = static_cast<size_t>(route::not_found);
  auto ci = static_cast<size_t>(status / 100 - 1);
  if (ci >= kClassCount)
    ci = kClassCount - 1; // not a valid status: counted as a server error
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(took).count();
  requests.observe(us > 0 ? static_cast<uint64_t>(us) : 0, ri * kClassCount + ci);
  if ((r == route::wa_webhook || r == route::kapso_webhook) && status >= 400 && status < 500)
    metrics::webhook_items.inc(metrics::webhook_outcome::rejected);
}

} // namespace inboxd
