#pragma once
// GET /metrics for HTTP requests: inboxd_http_request_duration_seconds{route,status} (its _count
// is the request count), by route name (router.hpp) and status class ("2xx", "4xx", ...), never
// by path. A webhook body refused with a 4xx also counts as
// inboxd_webhook_items_total{outcome="rejected"}.

#include <chrono>

#include "http/router.hpp"

namespace inboxd {

/// One answered request (any thread; a few relaxed atomic adds, no lock, no allocation).
/// `took`: from the request's head to its answer.
void observe_request(route r, int status, std::chrono::steady_clock::duration took);

} // namespace inboxd
