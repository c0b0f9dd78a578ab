#pragma once
// The Lua script that commits change sets (see storage/redis_store.cpp for its argument layout),
// with its SHA-1 for EVALSHA.

#include "storage/lua_script.hpp"

namespace inboxd {

const lua_script& commit_script();

} // namespace inboxd
