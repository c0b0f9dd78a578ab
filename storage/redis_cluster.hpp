#pragma once
// A Redis Cluster client (hiredis 0.14 has none, and Debian packages none for it): one
// redis_client per master, a slot map read with CLUSTER SLOTS, and exec() routed by the slots
// of the commands' keys (storage/cluster_slots.hpp).
//
// Contract (redis_executor's, with what a cluster changes):
// - A pipeline whose keys all share one slot (every pipeline of the stores: a workspace's keys
//   share its hash tag) goes to that slot's master as one pipeline, in order. A pipeline over
//   several slots is split per master; the order then holds within each master's part only. A
//   single command whose keys span slots gets the error reply Redis would give (CROSSSLOT).
// - MOVED: the command did not run; the slot map is corrected (and read again in the
//   background) and the command is sent to the node the answer named. ASK: sent once to the
//   named node after ASKING. At most kMaxRedirects redirections in a row per command; after
//   that (two nodes naming each other while a slot's new owner is announced) it is retried
//   like TRYAGAIN.
//   TRYAGAIN and CLUSTERDOWN: sent again after a backoff (25 ms doubling, 7 times: about 3 s),
//   then its error reply stands (the stores answer 503). A slot that is being migrated answers
//   TRYAGAIN to every multi-key command that creates a key (every commit of the workspace)
//   until its last key moved: `redis-cli --cluster reshard --cluster-pipeline 1000` keeps that
//   short.
// - A transport failure (connection lost, timed out) fails the call as on one node (the outcome
//   is unknown, nothing is resent) and makes the client read the slot map again.
// - exec_durable(): after the pipeline, WAIT 1 <replica_wait> on the connection that carried it
//   to its master, when the slot map lists a replica for that master. Calls finishing while a
//   WAIT to the same master is in flight share the next one. Redis holds a connection's later
//   replies while its WAIT blocks, so replica_wait stays well below the node connections'
//   command timeout. A WAIT that times out makes the client read the slot map again (a replica
//   that failed is no longer listed there, and is no longer waited for). A write redirected
//   with ASK during a reshard is waited for on the slot's current master, not on the importing
//   node that ran it.
// - Until the slot map is loaded, calls fail at once with "redis cluster map not loaded".

#include <chrono>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "storage/cluster_slots.hpp"
#include "storage/redis_client.hpp"

namespace inboxd {

struct redis_cluster_endpoint {
  std::vector<cluster_node_address> seeds; // any nodes of the cluster
  std::string password;                    // empty: no AUTH
};

/// Parses `redis-cluster://[:password@]host:port[,host:port...]` (no database: a cluster has
/// only 0); an error message on failure.
std::variant<redis_cluster_endpoint, std::string> parse_redis_cluster_url(const std::string& url);

struct redis_cluster_timing {
  /// First delay before a command answered TRYAGAIN or CLUSTERDOWN is sent again; doubled per
  /// attempt, at most `retry_attempts` attempts (25 ms doubling 7 times: about 3 s in all,
  /// enough for a replica to be promoted with cluster-node-timeout 1000).
  std::chrono::milliseconds retry_delay{25};
  int retry_attempts = 7;
  /// How often the slot map is read again while nothing suggests it changed.
  std::chrono::milliseconds refresh_interval{5000};
  /// The delay before the slot map is read again after a failed read.
  std::chrono::milliseconds refresh_backoff{200};
  /// How long exec_durable() waits for one replica (0: it does not wait).
  std::chrono::milliseconds replica_wait{0};
};

class redis_cluster final : public redis_executor {
public:
  static constexpr int kMaxRedirects = 5;

  redis_cluster(boost::asio::io_context& io, redis_cluster_endpoint endpoint,
                redis_client_timing node_timing = {}, redis_cluster_timing timing = {});
  ~redis_cluster() override;
  redis_cluster(const redis_cluster&) = delete;
  redis_cluster& operator=(const redis_cluster&) = delete;

  /// Connects to the seeds and reads the slot map (asynchronously). Call once.
  void start();
  /// Closes every connection; pending calls fail. `stopped`, when given, runs on the io_context
  /// once every connection is closed (see redis_client::stop).
  void stop(std::function<void()> stopped = {});

  void exec(redis_pipeline cmds, callback done) override;
  void exec_durable(redis_pipeline cmds, callback done) override;
  /// True once the slot map is loaded and every master that serves a slot is connected.
  bool connected() const override;

private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

} // namespace inboxd
