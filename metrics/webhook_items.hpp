#pragma once
// inboxd_webhook_items_total{outcome}: what became of webhook items. Shared by the HTTP layer
// (rejections) and the actors (stores, duplicates, dead letters), hence here.

#include <cstdint>

#include "metrics/metrics.hpp"

namespace inboxd::metrics {

enum class webhook_outcome : uint8_t {
  stored,        // a message, status or echo acknowledged as stored (dead letters not included)
  duplicate,     // a message or echo already stored (acknowledged, nothing new stored)
  dead_lettered, // a body part for a phone number no workspace owns, stored as a dead letter
  rejected,      // a webhook body refused with a 4xx (its items are not counted: it was not read)
  repeated,      // an item of a Kapso delivery stored lately (same X-Idempotency-Key and body)
};

extern counter_family webhook_items;

} // namespace inboxd::metrics
