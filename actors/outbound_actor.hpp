#pragma once
// The outbound actor of one workspace: sends its durable outbox to the Cloud API.
//
// On start it loads every entry of the workspace's outbox (so a restart resumes what was
// accepted), then takes new entries as outbox_enqueued. It sends due entries through the
// transport, at most
// `concurrency` at once, one at a time per conversation (in order), and no faster than `rate`
// per second (the phone number's limit). By the answer (whatsapp/cloud_api.hpp):
//  - sent or failed: a message's outcome goes to the workspace actor as send_result and the
//    entry is forgotten once the conversation actor answers send_recorded{ok} (retried if not);
//    a read receipt is deleted from the outbox here.
//  - retry: rescheduled with exponential backoff and jitter (stored, so a restart keeps it),
//    until `max_attempts`, then failed.
// Handles: outbox_enqueued, send_recorded, workspace_changed (new send settings), internal ticks.

#include <cstdint>
#include <memory>

#include <caf/fwd.hpp>

#include "messages/records.hpp"

namespace inboxd {

class store;
class outbound_transport;

struct outbox_options {
  std::shared_ptr<outbound_transport> transport; // null: sending disabled in this process
  int64_t timeout_ms = 10000;
  int max_attempts = 8;
  int64_t retry_base_ms = 1000;
  int64_t retry_max_ms = 60000;
  int rate_per_second = 80;
  int concurrency = 32;
};

/// `epoch`: the workspace's lease epoch (0 on a single node). Every write of the outbox carries
/// it, and each send is claimed first by such a write, so a node that lost the workspace sends
/// nothing more: its claim is refused, and the workspace actor is told (fenced_atom).
caf::actor spawn_outbound_actor(caf::local_actor* parent, std::shared_ptr<store> db,
                                caf::actor workspace_actor, workspace ws, outbox_options opts,
                                uint64_t epoch);

} // namespace inboxd
