#pragma once
// The directory owns the set of workspaces: it loads them at start, creates and patches them
// (slug and phone_number_id are unique across workspaces: one actor decides), spawns one
// workspace actor per workspace and publishes the routing registry. It also owns the
// dead-letter store for payloads of phone numbers no workspace owns.
//
// Creates and patches are handled one at a time (the next waits until the previous is stored),
// and the routing registry changes only after the store acknowledged.
//
// Handles: admin_call (workspaces, dead letters), dead_letter. (API keys and members are the
// workspace actor's: the front sends those calls to it directly.)

#include <memory>

#include <caf/fwd.hpp>

#include "actors/workspace_actor.hpp"

namespace inboxd {

class registry;
class registry_store;

/// `db` holds the directory's records; the workspace actors get it too (opts.registry_db).
caf::actor spawn_directory_actor(caf::actor_system& sys, std::shared_ptr<registry_store> db,
                                 std::shared_ptr<registry> reg, workspace_options opts);

} // namespace inboxd
