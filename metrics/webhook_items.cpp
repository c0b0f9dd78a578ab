#include "metrics/webhook_items.hpp"

namespace inboxd::metrics {

counter_family webhook_items(
    "inboxd_webhook_items_total",
    "Webhook items by outcome: stored, duplicate, dead_lettered (per phone number without a "
    "workspace), rejected (per webhook body refused with a 4xx), repeated (of a Kapso delivery "
    "stored lately, acknowledged without processing).",
    label_values("outcome", {"stored", "duplicate", "dead_lettered", "rejected", "repeated"}));

} // namespace inboxd::metrics
