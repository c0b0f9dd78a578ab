#pragma once
// The HTTP front actor: routes each request (http_exchange) by path, authenticates it, checks
// webhook signatures and decodes webhook bodies, then hands the work to the directory or the
// owning workspace actor. It never touches Redis. Several instances run side by side (they keep
// no state), so webhook decoding spreads over the scheduler's threads.

#include <memory>

#include <caf/fwd.hpp>

#include "config/settings.hpp"

namespace inboxd {

class store;
class registry;
class forwarder;

struct front_deps {
  settings cfg;
  std::shared_ptr<registry> reg;
  caf::actor* directory = nullptr; // outlives the front actors
  std::shared_ptr<store> db; // only to report readiness
  std::shared_ptr<const forwarder> fwd; // scale-out: forwards to lease holders (null: one node)
};

caf::actor spawn_front_actor(caf::actor_system& sys, front_deps deps);

} // namespace inboxd
