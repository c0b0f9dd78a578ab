#pragma once
// The Lua scripts of storage/redis_registry_store.cpp; each documents its KEYS and ARGV in
// registry_scripts.cpp.

#include "storage/lua_script.hpp"

namespace inboxd {

/// A workspace's record, set membership and slug/phone_number_id index entries.
const lua_script& save_workspace_script();

/// A dead letter's record and its list entry.
const lua_script& store_dead_letter_script();

/// Dead letters' records and list entries, removed.
const lua_script& delete_dead_letters_script();

} // namespace inboxd
