#pragma once
// The conversation actor: the only writer of one conversation's keys (its messages, timeline,
// parked events, its record and its contact's record). Handles, one batch at a time:
//  - ingest_batch: events of its contact; each event's ack completes after the batch is stored
//    in one MULTI/EXEC (or fails: nothing of the batch is stored).
//  - inbox_call messages_list: reads a page of the timeline.
// After each stored change it sends conversation_changed to its workspace actor (before acking,
// so reads that follow an acknowledged webhook see it). When idle for `idle_ms` it reports
// conversation_idle; the workspace actor answers stop_atom if nothing was sent to it meanwhile.

#include <memory>
#include <string>

#include <caf/fwd.hpp>

#include "messages/records.hpp"

namespace inboxd {

class redis_client;

struct conversation_seed {
  std::string workspace_id;
  conversation conv;
  contact ct;
  bool persisted = false; // conversation + contact records already in Redis
  int64_t idle_ms = 60000;
};

caf::actor spawn_conversation_actor(caf::local_actor* parent, std::shared_ptr<redis_client> store,
                                    caf::actor workspace, conversation_seed seed);

} // namespace inboxd
