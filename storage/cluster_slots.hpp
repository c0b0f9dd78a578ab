#pragma once
// Redis Cluster's addressing as plain functions (no I/O): the hash slot of a key (CRC16 of the
// key, or of its hash tag `{...}`, modulo 16384), the slot a command addresses, the slot map of
// a CLUSTER SLOTS reply and the redirections a node answers with (MOVED, ASK). The router that
// uses them is storage/redis_cluster.hpp.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/redis_value.hpp"

namespace inboxd {

inline constexpr int kClusterSlots = 16384;

/// CRC16-CCITT (XMODEM), the checksum Redis Cluster hashes keys with.
uint16_t crc16(std::string_view data);

/// The slot of `key`: the part between the first `{` and the next `}` when that part is not
/// empty, else the whole key.
int key_slot(std::string_view key);

/// The keys a command names (by the positions Redis documents for it; none for commands such
/// as PING or SCRIPT LOAD).
std::vector<std::string_view> command_keys(const std::vector<std::string>& cmd);

/// The one slot all keys of `cmd` share; nullopt when it names no key; -1 when its keys live in
/// more than one slot (Redis would answer CROSSSLOT).
std::optional<int> command_slot(const std::vector<std::string>& cmd);

struct cluster_node_address {
  std::string host;
  int port = 0;
  std::string name() const { return host + ":" + std::to_string(port); }
  bool operator==(const cluster_node_address& o) const { return host == o.host && port == o.port; }
};

struct slot_range {
  int first = 0, last = 0;     // inclusive
  cluster_node_address master; // the node that serves the range
  int replicas = 0;            // the replicas listed with it (Redis lists those it can reach)
};

/// The ranges of a CLUSTER SLOTS reply (their masters, and how many replicas each lists); an error
/// message when the reply does not have its documented shape. An empty host (Redis answers "" when
/// it does not know how clients reach it) is replaced by `fallback_host`, the host the reply came
/// from.
std::optional<std::vector<slot_range>> parse_cluster_slots(const redis_value& reply,
                                                           const std::string& fallback_host,
                                                           std::string& error);

/// A redirection in an error reply: "MOVED <slot> <host>:<port>" or "ASK <slot> <host>:<port>".
struct redirection {
  bool ask = false;
  int slot = 0;
  cluster_node_address to;
};
std::optional<redirection> parse_redirection(std::string_view error);

/// Errors after which the command was not run and may be sent again later: the slot is being
/// migrated (TRYAGAIN) or the cluster cannot serve it right now (CLUSTERDOWN).
bool retryable_cluster_error(std::string_view error);

} // namespace inboxd
