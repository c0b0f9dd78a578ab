#pragma once
// The store: what actors know of persistence. An interface, so tests can wrap the real Redis
// implementation (storage/redis_store.hpp) to inject faults; no mock replaces Redis.
//
// Contract:
// - Every call may be made from any thread and never blocks; its callback runs exactly once,
//   on a storage thread (actors turn it into a message to themselves).
// - Calls of one workspace are applied in the order they were made. While one call of a
//   workspace is in flight, the next ones queue (at most `max_queued`; beyond it they fail at
//   once with commit_status::overloaded) and go together in the next round trip: group commit.
// - commit() applies a change set atomically, or nothing of it: its preconditions (dedupe
//   marks, optimistic assumptions) and the fencing epoch are checked in the same script call.
// - A call not answered within the store's timeout reports commit_status::unknown: the change
//   may or may not have been applied. The workspace's later calls still wait for that
//   outstanding reply, so a read issued after `unknown` sees the final outcome.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "messages/records.hpp"
#include "storage/change_set.hpp"

namespace inboxd {

enum class commit_status : uint8_t {
  applied,     // every write of the change set is stored
  conflict,    // a precondition failed (see conflicts); nothing written
  stale_epoch, // the workspace is owned under a newer epoch; nothing written
  overloaded,  // too many calls queued for the workspace; nothing sent
  failed,      // storage unavailable or refused the call; nothing written
  unknown,     // no answer in time: outcome unknown
};

const char* to_string(commit_status s);

struct commit_result {
  commit_status status = commit_status::failed;
  std::vector<std::string> duplicates; // conflict: new_messages already stored
  std::vector<std::string> linked;     // conflict: unlinked ids that have an alias or parked events
  std::string client_message_taken;    // conflict: the message the client message id names
  std::string error;                   // failed/unknown/stale_epoch: why (for logs)
  bool ok() const { return status == commit_status::applied; }
};

/// What the ingest path reads about messages before changing them.
struct message_targets {
  bool ok = false;
  std::string error;
  std::map<std::string, std::string> records;             // message id -> record JSON (own ids)
  std::map<std::string, std::string> aliases;             // derived id -> our message id
  std::map<std::string, std::vector<std::string>> parked; // message id -> parked events JSON
  std::set<std::string> gone; // ids erased (DELETE /api/contacts/{id}): never stored again
};

/// A conversation and its contact as stored (either may be missing).
struct conversation_records {
  bool ok = false;
  std::string error;
  std::optional<conversation> conv;
  std::optional<contact> ct;
};

/// Message records by id, and the message a client message id names.
struct message_lookup {
  bool ok = false;
  std::string error;
  std::map<std::string, std::string> records; // message id -> record JSON (found ones)
  std::string client_message;                 // the id the client message id names, or ""
};

/// A page of a conversation's timeline, newest first.
struct timeline_page {
  bool ok = false;
  std::string error;
  struct entry {
    std::string id;
    int64_t score = 0;
    std::optional<std::string> record; // JSON; missing when the record is gone
  };
  std::vector<entry> entries;
};

/// A job queue of the workspace (change_set.hpp): every entry, earliest due first.
struct queue_read {
  bool ok = false;
  std::string error;
  std::vector<std::string> entries; // entry JSON
};

/// Entries of the workspace's event log. An event names records (change_set::event); a read
/// returns them as stored now (absent when deleted since), and `data` is the event's document
/// once composed from them (log entries written before events named records hold it already).
struct stream_entry {
  std::string id, type, data;
  std::string message_id, conversation_id, contact_id; // the records the entry names
  std::string message, conversation, contact; // their JSON, "" when not named or gone
  bool names_records = false;                 // false: an old entry, `data` as stored
};
struct event_read {
  bool ok = false;
  std::string error;
  std::vector<stream_entry> entries; // oldest first
};

/// Media files of the workspace that may have no message left (see media_garbage).
struct media_garbage_read {
  bool ok = false;
  std::string error;
  std::vector<std::string> hashes; // SHA-256 of files no message holds
};

class store {
public:
  virtual ~store() = default;

  /// False while storage cannot be reached (readiness; calls made now fail).
  virtual bool reachable() const = 0;

  /// Commits `cs` for `epoch` (0 while the workspace has no epoch key: single node).
  virtual void commit(change_set cs, uint64_t epoch, std::function<void(commit_result)> done) = 0;

  /// Reads the records of `ids`, the aliases of those not stored under their own id (and the
  /// records they name), and what is parked for each of `ids`.
  virtual void load_targets(std::string workspace_id, std::vector<std::string> ids,
                            std::function<void(message_targets)> done) = 0;

  /// Reads one conversation record and its contact record.
  virtual void load_conversation(std::string workspace_id, std::string conversation_id,
                                 std::string contact_id,
                                 std::function<void(conversation_records)> done) = 0;

  // Reads that need no ordering with the workspace's queued commits (a commit that was
  // acknowledged is visible to them); they do not queue.

  /// Reads the records of `ids`, and the message `client_message_id` names (when not empty; its
  /// record is read too).
  virtual void load_messages(std::string workspace_id, std::vector<std::string> ids,
                             std::string client_message_id,
                             std::function<void(message_lookup)> done) = 0;

  /// Reads up to `limit` timeline entries of a conversation with a score below `before` (no
  /// bound when 0), newest first, and their records.
  virtual void load_timeline(std::string workspace_id, std::string conversation_id,
                             int64_t before, int64_t limit,
                             std::function<void(timeline_page)> done) = 0;

  /// Reads one of the workspace's job queues.
  virtual void load_queue(std::string workspace_id, job_queue q,
                          std::function<void(queue_read)> done) = 0;

  /// Reads the event log: up to `count` entries with ids above `after` and at most `upto`
  /// ("" = no bound; ids as "ms-seq"). With `count` 0: only the newest entry, if any.
  virtual void read_events(std::string workspace_id, std::string after, std::string upto,
                           size_t count, std::function<void(event_read)> done) = 0;
  /// The workspace's media garbage (files whose last message was erased): adds `also`, drops
  /// those a message holds again (counted when their media is stored), returns the rest.
  virtual void media_garbage(std::string workspace_id, std::vector<std::string> also,
                             std::function<void(media_garbage_read)> done) = 0;
  /// Takes `removed` (their files are gone) out of the media garbage.
  virtual void media_collected(std::string workspace_id, std::vector<std::string> removed,
                               std::function<void(bool)> done) = 0;
};

} // namespace inboxd
