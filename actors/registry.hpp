#pragma once
// The routing table the HTTP front reads without asking an actor: which workspace owns a
// phone_number_id, slug or id, its webhook secrets and its actor. Written only by the directory
// actor, which publishes a new immutable snapshot after each stored change. Thread-safe.

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include <caf/actor.hpp>

#include "messages/records.hpp"

namespace inboxd {

struct registry_entry {
  workspace ws;
  caf::actor actor;
};

struct registry_snapshot {
  std::unordered_map<std::string, std::shared_ptr<const registry_entry>> by_id, by_slug, by_pid;
  bool loaded = false;

  const registry_entry* find_id(const std::string& id) const {
    auto i = by_id.find(id);
    return i == by_id.end() ? nullptr : i->second.get();
  }
  const registry_entry* find_pid(const std::string& pid) const {
    auto i = by_pid.find(pid);
    return i == by_pid.end() ? nullptr : i->second.get();
  }
};

class registry {
public:
  registry() : current_(std::make_shared<registry_snapshot>()) {}

  std::shared_ptr<const registry_snapshot> get() const {
    std::lock_guard<std::mutex> guard(mtx_);
    return current_;
  }

  void publish(std::shared_ptr<const registry_snapshot> next) {
    std::lock_guard<std::mutex> guard(mtx_);
    current_ = std::move(next);
  }

private:
  mutable std::mutex mtx_;
  std::shared_ptr<const registry_snapshot> current_;
};

} // namespace inboxd
