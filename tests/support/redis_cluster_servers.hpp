#pragma once
// A real Redis Cluster for tests: `masters` redis-server processes in cluster mode on free
// loopback ports (cluster-node-timeout 1000), and `replicas` replicas of each, joined with
// `redis-cli --cluster create`; the constructor returns once every node reports
// cluster_state:ok and every replica is in sync with its master. Killed and removed on
// destruction.

#include <memory>
#include <string>
#include <vector>

#include "tests/support/redis_server.hpp"

namespace inboxd::test {

class redis_cluster_servers {
public:
  explicit redis_cluster_servers(int masters = 3, int replicas = 0);

  size_t size() const { return nodes_.size(); }
  redis_server& node(size_t i) { return *nodes_[i]; }
  /// redis-cluster://127.0.0.1:<port>,... naming every node, or only node `only`.
  std::string url() const;
  std::string url_of(size_t only) const;
  /// The node's cluster id (CLUSTER MYID).
  std::string id_of(size_t i) const;
  /// The index of the node serving `slot`, by asking node 0 (CLUSTER SLOTS).
  size_t owner_of(int slot) const;
  /// How many slots node `i` serves.
  int slots_of(size_t i) const;
  /// The index of a replica of node `master`.
  size_t replica_of(size_t master) const;

  /// Moves `slot` from node `from` to node `to` the way `redis-cli --cluster reshard` does:
  /// IMPORTING on `to`, MIGRATING on `from`, MIGRATE of `keys`, then (when `finish`) SETSLOT
  /// NODE on every node. Without `finish` the slot stays half-moved (ASK answers).
  void move_slot(int slot, size_t from, size_t to, const std::vector<std::string>& keys,
                 bool finish);

private:
  std::vector<std::unique_ptr<redis_server>> nodes_;
};

} // namespace inboxd::test
