#pragma once
// A Lua script for Redis and its SHA-1, for EVALSHA (EVAL when Redis answers NOSCRIPT).

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace inboxd {

struct lua_script {
  std::string source;
  std::string sha; // lowercase hex SHA-1 of source, as SCRIPT LOAD would answer

  explicit lua_script(std::string text);
};

class redis_executor;
struct redis_result;

/// Runs `script` on `keys` and `args` with EVALSHA; when Redis answers NOSCRIPT (restart, SCRIPT
/// FLUSH) nothing ran, and EVAL runs it (and loads it for the next EVALSHA). `done` gets the
/// result of the call that ran. Every such script writes, and its caller acknowledges what it
/// wrote: the call is durable (redis_executor::exec_durable). `script` must outlive the call.
void run_script(const std::shared_ptr<redis_executor>& client, const lua_script& script,
                std::vector<std::string> keys, std::vector<std::string> args,
                std::function<void(redis_result)> done);

} // namespace inboxd
