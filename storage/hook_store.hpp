#pragma once
// The store of outgoing webhooks (storage/KEYS.md, `wh`, `whsub`, `wq:`, `wl:`, `wr:`, `wok:`,
// `wf:`): the webhooks of a workspace and their delivery queues. The commit script puts each
// event's deliveries into the queues in the change set that stores the event
// (storage/commit_script.cpp); the hook actor works them through this store.
//
// The workspace's bot has a queue too, under the id "bot" (queued by the commit script for
// events marked for it; its URL and secret live in the workspace record).
//
// A delivery is named by its queue member "<event id> <type code> <record ids>" (the records
// the event names, as in the event log) and, once attempted, has a log record (JSON, written by
// actors/hook_delivery.hpp) under its event id. Its state is where it is: pending in the queue
// (scored by when it is due), succeeded or failed in their sets (scored by when that happened).
//
// Contract (the style of storage/store.hpp): calls never block, `done` runs once on a storage
// thread; every write is one Lua script call, atomic, within the workspace's slot; the queue
// writes carry the workspace's epoch and are refused (stale) when it moved on.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "storage/store.hpp"

namespace inboxd {

class redis_executor;

struct hook_record {
  std::string id, url, secret;
  std::vector<std::string> events; // event types ("message.created", ...)
  std::string description;
  bool has_description = false;
  int64_t created_at = 0;
};

struct hooks_read {
  bool ok = false;
  std::string error;
  std::vector<hook_record> hooks; // oldest first
};

struct hook_write {
  bool ok = false;
  std::string error;
  bool stale = false;   // the workspace's epoch moved on: nothing written
  bool missing = false; // what the call names does not exist: nothing written
};

/// The outcome of one delivery attempt, for step().
struct settled_delivery {
  enum class outcome : uint8_t { succeeded, retry, failed };
  outcome what = outcome::retry;
  std::string member;
  int64_t due_ms = 0;   // retry: when it is due again
  int64_t event_ms = 0; // the event's time
  std::string log;      // the delivery's log record
};

/// A delivery claimed by step(): due, now leased to the caller until `lease_until`.
struct claimed_delivery {
  std::string member;
  std::string log;    // its log record, "" before its first attempt
  stream_entry event; // id, type and the records it names as stored now (message in API shape)
};

struct hook_step {
  bool ok = false;
  std::string error;
  bool stale = false; // the workspace's epoch moved on: nothing written
  bool gone = false;  // the webhook was deleted: nothing written
  std::vector<claimed_delivery> claimed;
  int64_t depth = 0;       // deliveries pending (claimed ones included)
  int64_t oldest_ms = 0;   // time of the oldest pending event (0: none)
  int64_t next_due_ms = 0; // earliest due (or lease end) in the queue (0: empty)
};

/// Deliveries as listed: pending ones by due time, finished ones newest first.
struct delivery_row {
  std::string member; // "" when the log record is gone
  std::string event_id;
  std::string log;
  int64_t score = 0; // pending: due (ms); finished: when it ended (ms)
};
struct delivery_rows {
  bool ok = false;
  std::string error;
  std::vector<delivery_row> rows;
};

class hook_store {
public:
  explicit hook_store(std::shared_ptr<redis_executor> client);

  void load_hooks(std::string workspace_id, std::function<void(hooks_read)> done);
  /// Stores the webhook and its subscription (the codes the commit script matches).
  void save_hook(std::string workspace_id, hook_record hook, std::function<void(hook_write)> done);
  /// Deletes the webhook, its subscription, queue and logs.
  void delete_hook(std::string workspace_id, std::string hook_id,
                   std::function<void(hook_write)> done);

  /// Records `settled` (each only while its member is still queued), then claims up to `claim`
  /// deliveries due at `now_ms` (their score becomes `lease_until`) and reads their records.
  void step(std::string workspace_id, std::string hook_id, uint64_t epoch,
            std::vector<settled_delivery> settled, size_t claim, int64_t now_ms,
            int64_t lease_until, std::function<void(hook_step)> done);

  /// `state`: "pending", "succeeded" or "failed".
  void list(std::string workspace_id, std::string hook_id, std::string state, size_t limit,
            std::function<void(delivery_rows)> done);

  /// Queues an attempted delivery again, due now (missing: no log record for that event).
  /// The row answered is the delivery as now stored.
  void redeliver(std::string workspace_id, std::string hook_id, uint64_t epoch,
                 std::string event_id, int64_t now_ms, std::function<void(delivery_rows)> done);

  /// Succeeded and failed deliveries kept per webhook (the oldest go first).
  static constexpr size_t kKeepFinished = 1000;

private:
  std::shared_ptr<redis_executor> client_;
};

/// "mc" and so on for the subscription of `events` (" mc cu "); types without a code are left out.
std::string subscription_codes(const std::vector<std::string>& events);

} // namespace inboxd
