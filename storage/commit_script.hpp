#pragma once
// The Lua script that commits change sets (see storage/redis_store.cpp for its argument layout)
// and its SHA-1, for EVALSHA.

#include <string>

namespace inboxd {

/// The script's source text.
const std::string& commit_script();

/// Lowercase hex SHA-1 of commit_script(), as SCRIPT LOAD would answer.
const std::string& commit_script_sha();

} // namespace inboxd
