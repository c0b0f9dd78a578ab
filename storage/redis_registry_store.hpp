#pragma once
// The registry store on one Redis server (storage/registry_store.hpp has the contract, the key
// layout is storage/KEYS.md). A write of several keys (a workspace with its set membership and
// index entries; a dead letter; removing dead letters) is one Lua script call
// (storage/registry_scripts.cpp), EVALSHA, EVAL when Redis answers NOSCRIPT (which also loads
// it); a write of one hash field is one HSET or HDEL. Reads are plain commands.

#include <memory>

#include "storage/registry_store.hpp"

namespace inboxd {

class redis_executor;

class redis_registry_store final : public registry_store {
public:
  explicit redis_registry_store(std::shared_ptr<redis_executor> client);

  void load_workspaces(std::function<void(workspaces_read)> done) override;
  void save_workspace(workspace ws, std::optional<workspace> old, write_done done) override;
  void store_dead_letter(dead_letter_record letter, write_done done) override;
  void list_dead_letters(size_t limit, std::function<void(dead_letters_read)> done) override;
  void oldest_dead_letters(size_t limit, std::function<void(dead_letters_read)> done) override;
  void delete_dead_letters(std::vector<std::string> ids, write_done done) override;

  void load_workspace_state(std::string workspace_id,
                            std::function<void(workspace_records)> done) override;
  void put_member(std::string workspace_id, std::string user_id, member m,
                  write_done done) override;
  void delete_member(std::string workspace_id, std::string user_id, write_done done) override;
  void put_api_key(std::string workspace_id, std::string key_id, std::string key_hash,
                   write_done done) override;
  void delete_api_key(std::string workspace_id, std::string key_id, write_done done) override;
  void acquire_lease(std::string workspace_id, lease_claim me, lease_done done) override;
  void renew_lease(std::string workspace_id, lease_claim me, uint64_t epoch,
                   lease_done done) override;
  void hand_over_lease(std::string workspace_id, lease_claim me, uint64_t epoch,
                       lease_claim successor, lease_done done) override;
  void release_lease(std::string workspace_id, lease_claim me, uint64_t epoch,
                     lease_done done) override;

private:
  void read_dead_letters(bool newest_first, size_t limit,
                         std::function<void(dead_letters_read)> done);

  std::shared_ptr<redis_executor> client_;
};

} // namespace inboxd
