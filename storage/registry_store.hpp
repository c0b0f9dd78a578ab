#pragma once
// The registry store: what the directory and the workspace actors know of persistence for the
// records they own (storage/KEYS.md, "writer" column): workspaces with their slug and
// phone_number_id indexes, dead letters, a workspace's members and API keys; and the workspace
// actor's initial load (API keys, members, contacts, conversation summaries). An interface, so
// tests can wrap the Redis implementation (storage/redis_registry_store.hpp); actors never spell
// a key or a command.
//
// Contract (the style of storage/store.hpp):
// - Every call may be made from any thread and never blocks; its callback runs exactly once, on
//   a storage thread (actors bring it back to themselves with actors/continuation.hpp).
// - A write is atomic: on ok everything of it is stored; on !ok nothing of it is, except when
//   the connection broke after it was sent (then it may have been applied). Either way a caller
//   treats !ok as "not stored": it changes nothing in memory and answers 503. Every write here is
//   idempotent, so repeating it is safe.
// - Calls go out in the order they were made. The one exception: a script call that Redis
//   answers NOSCRIPT is sent again (EVAL) right away, after calls made meanwhile; a caller must
//   therefore not have two writes of the same record in flight (the directory saves one
//   workspace at a time; the other writes name records no other call in flight names).
// - Reads skip records that are not JSON objects (as the actors always did); a record that is an
//   object but cannot be read as its type fails the read (ok == false, error names it), so a
//   damaged record is reported instead of silently dropping a workspace.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "messages/records.hpp"

namespace inboxd {

/// The outcome of a write.
struct registry_write {
  bool ok = false;
  std::string error;    // !ok: why (for logs)
  std::string conflict; // a workspace save refused: "slug" or "pid" is another workspace's
};

/// A workspace member, as stored under its user id.
struct member {
  std::string role = "agent"; // owner|admin|agent
  int64_t created_at = 0;
};

/// A webhook payload for a phone number no workspace owned when it came.
struct dead_letter_record {
  std::string id;
  std::string phone_number_id;
  int64_t received_at = 0; // ms
  std::string source;      // "meta" | "kapso"
  std::string event_header;
  std::string body;
};

struct workspaces_read {
  bool ok = false;
  std::string error;
  std::vector<workspace> workspaces; // every stored workspace, in no particular order
};

struct dead_letters_read {
  bool ok = false;
  std::string error;
  std::vector<dead_letter_record> letters; // in the order asked for
  int64_t total = 0;                       // letters stored when they were read
};

/// What a workspace actor starts from.
struct workspace_records {
  bool ok = false;
  std::string error;
  std::map<std::string, std::string> api_keys; // key id -> SHA-256 hex of the key
  std::map<std::string, member> members;       // user id -> member
  std::vector<contact> contacts;
  std::vector<conversation> conversations;
};

/// Who a lease call found holding a workspace's lease (DESIGN.md "Scale-out").
struct lease_reply {
  bool ok = false; // false: no answer from Redis (error says why): nothing is known
  std::string error;
  bool mine = false;                   // this node holds the lease under `epoch` (commit with it)
  uint64_t epoch = 0;                  // mine: our epoch; else the holder's (0: none known)
  std::string holder_node, holder_url; // !mine: the holder ("" when the lease is free)
  int64_t ttl_ms = 0;                  // !mine: the holder's lease ends within this time
};

/// This node, as a lease names it.
struct lease_claim {
  std::string node; // INBOXD_NODE_ID
  std::string url;  // INBOXD_ADVERTISE_URL: where other nodes forward requests
  int64_t ttl_ms = 10000;
};

class registry_store {
public:
  using write_done = std::function<void(registry_write)>;

  virtual ~registry_store() = default;

  // --- The directory's records -------------------------------------------------------------

  /// Reads every workspace.
  virtual void load_workspaces(std::function<void(workspaces_read)> done) = 0;

  /// Stores `ws`: its record, its id in the set of workspaces, and its slug and phone_number_id
  /// index entries. `old` is the workspace as stored before (a patch; none when creating):
  /// index entries for a slug or phone_number_id it no longer has are removed in the same write.
  virtual void save_workspace(workspace ws, std::optional<workspace> old, write_done done) = 0;

  /// Stores a dead letter (its record and its place in the list, by received_at).
  virtual void store_dead_letter(dead_letter_record letter, write_done done) = 0;

  /// The newest `limit` dead letters, newest first.
  virtual void list_dead_letters(size_t limit, std::function<void(dead_letters_read)> done) = 0;

  /// The oldest `limit` dead letters, oldest first (the order they are replayed in).
  virtual void oldest_dead_letters(size_t limit, std::function<void(dead_letters_read)> done) = 0;

  /// Removes the dead letters `ids` (records and list entries); unknown ids are ignored.
  virtual void delete_dead_letters(std::vector<std::string> ids, write_done done) = 0;

  // --- A workspace actor's records ---------------------------------------------------------

  /// Reads the workspace's API keys, members, contacts and conversation summaries.
  virtual void load_workspace_state(std::string workspace_id,
                                    std::function<void(workspace_records)> done) = 0;

  /// Stores (adds or replaces) member `user_id`.
  virtual void put_member(std::string workspace_id, std::string user_id, member m,
                          write_done done) = 0;

  /// Removes member `user_id` (ok also when there was none).
  virtual void delete_member(std::string workspace_id, std::string user_id, write_done done) = 0;

  /// Stores API key `key_id` by the SHA-256 hex of the key (the key itself is never stored).
  virtual void put_api_key(std::string workspace_id, std::string key_id, std::string key_hash,
                           write_done done) = 0;

  /// Removes API key `key_id` (ok also when there was none).
  virtual void delete_api_key(std::string workspace_id, std::string key_id, write_done done) = 0;

  // --- Leases (scale-out) ------------------------------------------------------------------
  using lease_done = std::function<void(lease_reply)>;

  /// Takes the workspace's lease under a new epoch unless another node holds it.
  virtual void acquire_lease(std::string workspace_id, lease_claim me, lease_done done) = 0;

  /// Extends the lease held under `epoch`; !mine when another epoch took it.
  virtual void renew_lease(std::string workspace_id, lease_claim me, uint64_t epoch,
                           lease_done done) = 0;

  /// Names `successor` (node and url) in the lease held under `epoch`, for a whole TTL: the
  /// successor's first request takes it (storage/registry_scripts.cpp). The reply names the
  /// successor, or nobody when the lease was not held so (never mine).
  virtual void hand_over_lease(std::string workspace_id, lease_claim me, uint64_t epoch,
                               lease_claim successor, lease_done done) = 0;

  /// Gives up the lease held under `epoch` (nothing when it is not held so).
  virtual void release_lease(std::string workspace_id, lease_claim me, uint64_t epoch,
                             lease_done done) = 0;
};

} // namespace inboxd
