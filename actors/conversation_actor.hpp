#pragma once
// The conversation actor: the only writer of one conversation's keys (its messages, timeline,
// parked events, its record and its contact's record). Handles, one batch at a time:
//  - ingest_batch: events of its contact; each event's ack completes after the batch's change set
//    is committed by the store (or fails: nothing of the batch is stored). The conversation's
//    memory changes only after the commit; after a commit of unknown outcome it reloads its
//    records from the store before the next change.
//  - inbox_call messages_list: reads a page of the timeline.
//  - inbox_call actions (assign, handover, read, status, tags, contact patch, send_message):
//    queued behind the events that came first, one at a time, stored before the answer.
//    send_message stores the message as queued together with its outbox entry (one change
//    set), then tells the outbound actor; mark_read also queues a read receipt when sending is on.
//  - send_result: records a send's outcome on the message (sent + wamid, or failed + error),
//    applies what was parked for the wamid, and takes the entry out of the outbox, atomically;
//    answers send_recorded to the outbound actor.
//  - media_result: records a media download's end on its message and takes the job out of the
//    media queue, atomically; answers media_recorded to the media actor. A batch that stores
//    messages with media also stores their download jobs, then tells the media actor.
// Statuses, reactions and echoes naming a wamid we were given for a sent message find that
// message through its alias (storage/KEYS.md).
// After each stored change it sends conversation_changed to its workspace actor (before acking,
// so reads that follow an acknowledged webhook see it). Asked by the workspace actor's idle
// sweep (idle_check_atom) while it has nothing in progress, it reports conversation_idle; the
// workspace actor answers stop_atom if nothing was sent to it meanwhile.

#include <memory>
#include <string>

#include <caf/actor.hpp>

#include "messages/records.hpp"

namespace inboxd {

class store;

struct conversation_seed {
  std::string workspace_id;
  conversation conv;
  contact ct;
  bool persisted = false;        // conversation + contact records already in Redis
  caf::actor outbound;           // the workspace's outbox sender (told of new entries)
  caf::actor media;              // the workspace's media downloader (told of new jobs)
  std::shared_ptr<store> db;     // where its changes are committed and read (storage/store.hpp)
  uint64_t epoch = 0;            // the workspace's lease epoch its commits carry (0: one node)
};

caf::actor spawn_conversation_actor(caf::local_actor* parent, caf::actor workspace,
                                    conversation_seed seed);

} // namespace inboxd
