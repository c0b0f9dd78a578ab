#pragma once
// A command run through sh, for tests that drive real tools (redis-cli, promtool, openssl, the
// project's scripts).

#include <string>

namespace inboxd::test {

struct command_result {
  int exit_code = -1; // -1: it could not be run, or a signal ended it
  std::string output; // stdout and stderr together
};

/// Runs `command` through sh, with its stderr joined to its stdout, and waits for it.
command_result run_command(const std::string& command);

} // namespace inboxd::test
