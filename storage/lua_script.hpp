#pragma once
// A Lua script for Redis and its SHA-1, for EVALSHA (EVAL when Redis answers NOSCRIPT).

#include <string>

namespace inboxd {

struct lua_script {
  std::string source;
  std::string sha; // lowercase hex SHA-1 of source, as SCRIPT LOAD would answer

  explicit lua_script(std::string text);
};

} // namespace inboxd
