#pragma once
// The store on one Redis server (storage/store.hpp has the contract): change sets are committed
// by the Lua script of storage/commit_script.cpp, run with EVALSHA (EVAL when Redis answers
// NOSCRIPT, which also loads it), several change sets of one workspace per call (group commit).
// The key layout is storage/KEYS.md. Transport errors after a call was sent are reported as
// commit_status::unknown (redis_client times a stalled call out and reconnects).

#include <cstddef>
#include <cstdint>
#include <memory>

#include "storage/store.hpp"

namespace inboxd {

class redis_executor;

struct redis_store_options {
  int64_t events_retain = 10000;            // event log length kept (XADD MAXLEN ~)
  int64_t park_ttl_seconds = 8 * 24 * 3600; // events parked for a message not seen yet
  int64_t client_message_ttl_seconds = 48 * 3600; // clientMessageId -> message (API.md: >= 24 h)
  size_t max_queued = 4096;                 // calls waiting per workspace; beyond: overloaded
  /// The commit script names every key it touches in KEYS (a Redis Cluster needs that: see
  /// touched_keys in redis_store.cpp); one Redis server does not, and skips the bytes.
  bool declare_keys = false;
};

/// Totals over every redis_store of the process since it started (thread-safe reads; GET
/// /metrics exposes them as inboxd_store_*).
struct store_counters {
  uint64_t calls = 0;       // round trips made by the workspace queues
  uint64_t change_sets = 0; // change sets sent
  uint64_t overloaded = 0;  // calls refused because a workspace's queue was full
};
store_counters store_totals();

class redis_store final : public store {
public:
  redis_store(std::shared_ptr<redis_executor> client, redis_store_options opts);
  ~redis_store() override;

  bool reachable() const override;
  void commit(change_set cs, uint64_t epoch, std::function<void(commit_result)> done) override;
  void load_targets(std::string workspace_id, std::vector<std::string> ids,
                    std::function<void(message_targets)> done) override;
  void load_conversation(std::string workspace_id, std::string conversation_id,
                         std::string contact_id,
                         std::function<void(conversation_records)> done) override;
  void load_messages(std::string workspace_id, std::vector<std::string> ids,
                     std::string client_message_id,
                     std::function<void(message_lookup)> done) override;
  void load_timeline(std::string workspace_id, std::string conversation_id, int64_t before,
                     int64_t limit, std::function<void(timeline_page)> done) override;
  void load_queue(std::string workspace_id, job_queue q,
                  std::function<void(queue_read)> done) override;
  void read_events(std::string workspace_id, std::string after, std::string upto, size_t count,
                   std::function<void(event_read)> done) override;
  void media_garbage(std::string workspace_id, std::vector<std::string> also,
                     std::function<void(media_garbage_read)> done) override;
  void media_collected(std::string workspace_id, std::vector<std::string> removed,
                       std::function<void(bool)> done) override;

private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

} // namespace inboxd
