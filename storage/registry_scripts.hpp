#pragma once
// The Lua scripts of storage/redis_registry_store.cpp; each documents its KEYS and ARGV in
// registry_scripts.cpp.

#include "storage/lua_script.hpp"

namespace inboxd {

/// A workspace's record and slug/phone_number_id index entries, refused ('slug' / 'pid') when
/// another workspace holds either.
const lua_script& save_workspace_script();

/// A workspace of the layout before 2026-12-03, copied into the current one.
const lua_script& migrate_workspace_script();

/// A dead letter's record and its list entry.
const lua_script& store_dead_letter_script();

/// Dead letters' records and list entries, removed.
const lua_script& delete_dead_letters_script();

/// A workspace's lease: taken (a new epoch), renewed, released.
const lua_script& acquire_lease_script();
const lua_script& renew_lease_script();
const lua_script& hand_over_lease_script();
const lua_script& release_lease_script();

} // namespace inboxd
