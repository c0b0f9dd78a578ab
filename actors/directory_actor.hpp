#pragma once
// The directory owns the set of workspaces: it loads them at start, creates and patches them
// (slug and phone_number_id are unique across workspaces: one actor decides), spawns one
// workspace actor per workspace and publishes the routing registry. It also owns the
// dead-letter store for payloads of phone numbers no workspace owns.
//
// Handles: admin_call (workspaces, dead letters), dead_letter, inbox_call create/revoke_api_key
// (forwarded to the workspace actor, addressed by inbox_call::id = "<workspaceId>/<keyId>").

#include <memory>

#include <caf/fwd.hpp>

#include "actors/workspace_actor.hpp"

namespace inboxd {

class redis_client;
class registry;

caf::actor spawn_directory_actor(caf::actor_system& sys, std::shared_ptr<redis_client> store,
                                 std::shared_ptr<registry> reg, workspace_options opts);

} // namespace inboxd
