#pragma once
// The workspace actor owns one workspace: its settings (a copy kept current by the directory),
// its API keys, the contact index (phone -> contact) and the conversation summaries behind list
// queries, all loaded from Redis when it starts (messages are stashed until then). It creates
// contacts and conversations for new phones (one actor decides, so concurrent first messages
// yield exactly one of each), spawns conversation actors on demand, forwards them their events
// and calls, and passivates idle ones.
//
// Handles: ingest_batch, inbox_call, conversation_changed, conversation_idle, workspace_changed.

#include <memory>

#include <caf/fwd.hpp>

#include "messages/records.hpp"

namespace inboxd {

class redis_client;

struct workspace_options {
  int64_t conversation_idle_ms = 60000;
};

caf::actor spawn_workspace_actor(caf::actor_system& sys, std::shared_ptr<redis_client> store,
                                 workspace ws, workspace_options opts);

} // namespace inboxd
