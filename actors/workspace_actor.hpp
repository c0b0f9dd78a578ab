#pragma once
// The workspace actor owns one workspace: its settings (a copy kept current by the directory),
// its API keys, the contact index (phone -> contact) and the conversation summaries behind list
// queries, all loaded from Redis when it starts (messages are stashed until then). It creates
// contacts and conversations for new phones (one actor decides, so concurrent first messages
// yield exactly one of each), spawns conversation actors on demand, forwards them their events
// and calls, and passivates idle ones. It also spawns the workspace's outbound actor (the
// outbox sender) and media actor (media downloads), and relays their results to the
// conversation actors. GET /api/messages/{id}/media is answered here from the message record
// and the media store.
//
// Members and API keys are stored through the registry store (opts.registry_db) and change in
// memory only once it acknowledged: a write that failed answers 503 and changes nothing (so a
// removed member or revoked key keeps working for the one round trip of its removal).
//
// Event streams (GET /api/events): it keeps the workspace's live subscribers and fans out the
// event log ({ws}:events, appended by the conversation actors in their transactions) in log
// order: after each committed change it reads the log from the last id it delivered. A
// subscriber resuming with Last-Event-ID first replays the log up to that point on its own,
// then joins the live ones; every subscriber only ever gets ids above its cursor, so there is no
// gap and no duplicate at the seam. A subscriber whose stream closed (client gone, too slow) is
// dropped; it never holds up ingestion or the others.
//
// Scale-out (opts.lease.node set): the workspace is loaded and served only while this node holds
// its lease (registry_store::acquire_lease, taken on the first request, renewed every TTL / 3,
// released at shutdown); commits carry the lease's epoch. Elsewhere requests are forwarded to the
// holder (reply_handle::forward, ingest_batch::moved). When the lease is lost (a renew finds
// another holder, no renew succeeded for a whole TTL, or a commit was refused for its epoch),
// the actor stops its conversation actors and outbox sender, closes its event streams, forgets
// the workspace's state and forwards from then on; answers of work in flight are lost with
// the stopped actors (their requests time out with 503).
//
// Handles: ingest_batch, inbox_call, conversation_changed, conversation_idle, workspace_changed,
// send_result, media_result, events_atom, sweep_atom (its own idle sweep: every
// conversation_idle_ms / 2 while it has conversation actors, it asks those nothing was sent to for
// conversation_idle_ms).

#include <memory>

#include <caf/fwd.hpp>

#include "actors/hook_actor.hpp"
#include "actors/media_actor.hpp"
#include "actors/outbound_actor.hpp"
#include "messages/records.hpp"
#include "storage/registry_store.hpp"

namespace inboxd {

class registry_store;
class store;

struct workspace_options {
  int64_t conversation_idle_ms = 60000;
  outbox_options outbox;         // for the workspace's outbound actor
  media_options media;           // for the workspace's media actor
  hook_options hooks;            // for the workspace's hook actor (outgoing webhooks)
  int max_subscribers = 1000;    // event stream subscribers; beyond it 429
  int api_rate = 0; // API requests/s per API key or member, burst 2x (rate_limiter.hpp); 0 = off
  int64_t retention_sweep_ms = 60000; // between steps of the retention sweep (retentionDays)
  std::shared_ptr<store> db;     // the store conversation actors commit change sets to
  std::shared_ptr<registry_store> registry_db; // members, API keys and the initial load
  lease_claim lease; // scale-out: this node (node empty: one node, no lease, epoch 0)
};

caf::actor spawn_workspace_actor(caf::actor_system& sys, workspace ws, workspace_options opts);

} // namespace inboxd
