#pragma once
// A change set: everything one actor step writes, committed atomically by the store (one Lua
// script call; see storage/store.hpp). Plain data: actors fill it in terms of records and ids,
// never keys or commands; storage/ turns it into the key layout of storage/KEYS.md.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "messages/outbox_entry.hpp"
#include "messages/records.hpp"

namespace inboxd {

/// The durable job queues of a workspace: the outbox (sends and read receipts, worked by the
/// outbound actor) and media downloads (worked by the media actor). Same entry shape.
enum class job_queue : uint8_t { outbox, media };
/// The queue's code in the key layout and the commit script: `ob` or `md`.
inline const char* queue_code(job_queue q) {
  return q == job_queue::media ? "md" : "ob";
}

/// Changes to one job queue.
struct queue_changes {
  std::vector<outbox_entry> add; // new entries (due at due_ms)
  /// Entries rescheduled by their worker: written only while still queued (one removed
  /// meanwhile, because its outcome was recorded, stays removed).
  std::vector<outbox_entry> reschedule;
  std::vector<std::string> remove; // entries done with
  bool empty() const { return add.empty() && reschedule.empty() && remove.empty(); }
};

struct change_set {
  std::string workspace_id;

  // Preconditions, checked in the same script call before anything is written. When one does
  // not hold, nothing of this change set is written and the commit reports it (conflicts).
  /// Messages this change set creates: refused when one is already stored (the dedupe mark).
  std::vector<std::string> new_messages;
  /// Messages assumed to have no alias (a wamid of a message we sent) and nothing parked for
  /// them: the optimistic ingest path checks these instead of reading first.
  std::vector<std::string> unlinked;
  /// An agent's send with a clientMessageId: refused when the id already names a message (the
  /// conflict reports which); stored, it names `message_id` for 48 hours (the store's setting).
  struct client_message_mark {
    std::string client_message_id, message_id;
  };
  std::optional<client_message_mark> client_message;

  // Writes, applied in this order.
  std::vector<std::pair<std::string, nlohmann::json>> messages; // message id -> record (API shape)
  std::string timeline_of;                                   // conversation id of `timeline`
  std::vector<std::pair<std::string, int64_t>> timeline;     // message id -> score
  std::vector<std::string> drop_messages; // records (and timeline entries) to delete
  std::vector<std::string> unpark;        // drop what was parked for these
  std::vector<std::pair<std::string, std::vector<std::string>>> park; // target id -> events JSON
  std::optional<conversation> conv;                                   // the conversation record
  std::optional<contact> ct;                                          // the contact record
  std::vector<std::pair<std::string, std::string>> aliases; // derived id -> our message id
  queue_changes outbox;                                     // the outbox
  queue_changes media;                                      // media downloads
  queue_changes& jobs(job_queue q) { return q == job_queue::media ? media : outbox; }
  const queue_changes& jobs(job_queue q) const { return q == job_queue::media ? media : outbox; }

  /// An event names what changed; its document is read when the event is delivered (the
  /// record's state then, never older than this change): a message event names the message, a
  /// conversation event the conversation and its contact.
  struct event {
    std::string type;
    std::string conversation_id, contact_id; // conversation events
    std::string message_id;                  // message events
    bool bot = false; // an inbound message of an `ai` conversation: also delivered to the bot
  };
  std::vector<event> events; // appended to the workspace's event log, in order

  /// Media files (SHA-256) a message of this change set now holds, stored: counted per workspace
  /// so that erasure knows when a file has no message left.
  std::vector<std::string> media_refs;

  /// Erasure of a contact with its conversation (DELETE /api/contacts/{id}), with
  /// drop_messages, unpark and the queues' removals naming what it held; or, with no
  /// conversation_id and nothing to scrub, of messages past the workspace's retention.
  struct erasure {
    std::string conversation_id, contact_id; // "": the conversation and contact stay
    /// Message ids redeliveries must not recreate (inbound ids, and the ids of the wamids of
    /// messages we sent): marked gone for 8 days (the park TTL).
    std::vector<std::string> gone;
    std::vector<std::string> aliases;         // alias entries to delete (derived ids)
    std::vector<std::string> client_messages; // clientMessageId marks to delete
    std::vector<std::string> media;           // SHA-256 of stored media files the messages held
    /// Ids (messages, conversation, contact) whose retained events and webhook deliveries go.
    std::vector<std::string> scrub;
  };
  std::optional<erasure> erase;
};

} // namespace inboxd
