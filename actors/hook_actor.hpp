#pragma once
// The hook actor of one workspace: its outgoing webhooks (the API calls on them) and their
// deliveries.
//
// Deliveries are queued by the commit that stores their event (storage/commit_script.cpp), so
// an event is delivered at least once and never without being stored. This actor works each
// webhook's queue through the hook store: a step records the outcomes of finished attempts and
// claims due deliveries (leased for the attempt's timeout and a margin, so a crash or kill
// releases them) with the records their event names; each one is then composed (the records as
// they are now), signed and POSTed, at most `concurrency` at once per webhook. A 2xx is success;
// anything else is retried with exponential backoff and jitter until the event is
// `retry.retry_for_ms` old, then failed (hook_delivery.hpp). Steps are nudged by the workspace
// actor when the event log grew (events_atom) and otherwise run when a delivery is due; while
// one step of a webhook is in flight, finished attempts gather for the next. Webhooks never wait
// on each other: each has its own queue, slots and steps, and the transport's calls are
// asynchronous.
//
// The workspace's bot (workspace::bot_url) is one more endpoint, "bot": its queue holds the
// message.created events the commit script marked for it (inbound messages of `ai`
// conversations); its deliveries are listed and redelivered like a webhook's
// (/api/webhooks/bot/deliveries), and it is set and removed with the workspace (removing it drops
// what is queued for it).
//
// Handles: inbox_call (hooks_create, hooks_list, hooks_delete, hook_deliveries,
// hook_redeliver; already authorized), events_atom, workspace_changed, internal messages.

#include <cstdint>
#include <memory>
#include <string>

#include <caf/fwd.hpp>

#include "actors/hook_delivery.hpp"
#include "messages/records.hpp"

namespace inboxd {

class hook_store;
class outbound_transport;

struct hook_options {
  std::shared_ptr<hook_store> db;                // null: no webhooks (calls answer 422)
  std::shared_ptr<outbound_transport> transport; // null: webhooks cannot be used here
  int64_t timeout_ms = 10000;
  int concurrency = 4;   // attempts in flight per webhook
  size_t max_hooks = 20; // webhooks per workspace
  bool allow_private = false; // the bot may be on a loopback or private address
  hook_retry_policy retry;
};

/// `epoch`: the workspace's lease epoch (0 on a single node); every queue write carries it, and
/// a refused one is reported to the workspace actor (fenced_atom).
caf::actor spawn_hook_actor(caf::local_actor* parent, caf::actor workspace_actor, workspace ws,
                            hook_options opts, uint64_t epoch);

} // namespace inboxd
