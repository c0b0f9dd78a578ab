#include "tests/support/redis_cluster_servers.hpp"

#include <chrono>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/shell_command.hpp"

namespace inboxd::test {

namespace {

using namespace std::chrono_literals;

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' '))
    s.pop_back();
  return s;
}

std::string run(const std::string& cmd) {
  auto r = run_command(cmd);
  if (r.exit_code != 0)
    throw std::runtime_error(cmd + " failed: " + r.output);
  return r.output;
}

} // namespace

redis_cluster_servers::redis_cluster_servers(int masters, int replicas) {
  for (int i = 0; i < masters * (1 + replicas); ++i)
    nodes_.push_back(std::make_unique<redis_server>(
        std::vector<std::string>{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                                 "--cluster-node-timeout", "1000", "--appendfsync", "everysec"}));
  std::string create = "redis-cli --cluster create";
  for (auto& n : nodes_)
    create += " 127.0.0.1:" + std::to_string(n->port());
  run(create + " --cluster-replicas " + std::to_string(replicas) + " --cluster-yes");
  // Bounded wait for the nodes to agree (gossip), not a measurement.
  auto deadline = std::chrono::steady_clock::now() + 20s;
  for (auto& n : nodes_)
    while (n->cli("CLUSTER INFO").find("cluster_state:ok") == std::string::npos) {
      if (std::chrono::steady_clock::now() > deadline)
        throw std::runtime_error("cluster not ok after 20 s: " + n->cli("CLUSTER INFO"));
      std::this_thread::sleep_for(50ms);
    }
  // ROLE on a replica: slave, master host, master port, state (connected once in sync), offset.
  for (auto& n : nodes_)
    while (true) {
      std::istringstream role(n->cli("ROLE"));
      std::string kind, host, port, state;
      role >> kind >> host >> port >> state;
      if (kind != "slave" || state == "connected")
        break;
      if (std::chrono::steady_clock::now() > deadline)
        throw std::runtime_error("replica not in sync after 20 s: " + n->cli("ROLE"));
      std::this_thread::sleep_for(50ms);
    }
}

std::string redis_cluster_servers::url() const {
  std::string u = "redis-cluster://";
  for (size_t i = 0; i < nodes_.size(); ++i)
    u += (i ? ",127.0.0.1:" : "127.0.0.1:") + std::to_string(nodes_[i]->port());
  return u;
}

std::string redis_cluster_servers::url_of(size_t only) const {
  return "redis-cluster://127.0.0.1:" + std::to_string(nodes_[only]->port());
}

std::string redis_cluster_servers::id_of(size_t i) const {
  return trim(nodes_[i]->cli("CLUSTER MYID"));
}

// The slot ranges node `n` serves, from its own line of CLUSTER NODES ("myself"): id addr flags
// master ping pong epoch state, then "first-last" or "slot" ("[...]" marks a slot being moved).
static std::vector<std::pair<int, int>> ranges_of(const redis_server& n) {
  std::vector<std::pair<int, int>> out;
  std::istringstream in(n.cli("CLUSTER NODES"));
  for (std::string line; std::getline(in, line);) {
    if (line.find("myself") == std::string::npos)
      continue;
    std::istringstream fields(line);
    std::vector<std::string> f;
    for (std::string x; fields >> x;)
      f.push_back(x);
    for (size_t i = 8; i < f.size(); ++i) {
      if (f[i].empty() || f[i][0] == '[')
        continue;
      auto dash = f[i].find('-');
      int first = std::stoi(f[i].substr(0, dash));
      out.emplace_back(first, dash == std::string::npos ? first : std::stoi(f[i].substr(dash + 1)));
    }
  }
  return out;
}

size_t redis_cluster_servers::owner_of(int slot) const {
  for (size_t n = 0; n < nodes_.size(); ++n)
    for (auto [first, last] : ranges_of(*nodes_[n]))
      if (slot >= first && slot <= last)
        return n;
  throw std::runtime_error("no owner for slot " + std::to_string(slot));
}

int redis_cluster_servers::slots_of(size_t i) const {
  int n = 0;
  for (auto [first, last] : ranges_of(*nodes_[i]))
    n += last - first + 1;
  return n;
}

size_t redis_cluster_servers::replica_of(size_t master) const {
  auto port = std::to_string(nodes_[master]->port());
  for (size_t i = 0; i < nodes_.size(); ++i) {
    std::istringstream role(nodes_[i]->cli("ROLE"));
    std::string kind, host, master_port;
    role >> kind >> host >> master_port;
    if (kind == "slave" && master_port == port)
      return i;
  }
  throw std::runtime_error("node " + std::to_string(master) + " has no replica");
}

void redis_cluster_servers::move_slot(int slot, size_t from, size_t to,
                                      const std::vector<std::string>& keys, bool finish) {
  auto s = std::to_string(slot);
  auto to_id = id_of(to);
  nodes_[to]->cli("CLUSTER SETSLOT " + s + " IMPORTING " + id_of(from));
  nodes_[from]->cli("CLUSTER SETSLOT " + s + " MIGRATING " + to_id);
  if (!keys.empty()) {
    std::string cmd =
        "MIGRATE 127.0.0.1 " + std::to_string(nodes_[to]->port()) + " \"\" 0 5000 KEYS";
    for (auto& k : keys)
      cmd += " '" + k + "'";
    auto out = nodes_[from]->cli(cmd);
    if (out.find("OK") == std::string::npos)
      throw std::runtime_error("MIGRATE: " + out);
  }
  if (!finish)
    return;
  for (auto& n : nodes_)
    n->cli("CLUSTER SETSLOT " + s + " NODE " + to_id);
}

} // namespace inboxd::test
