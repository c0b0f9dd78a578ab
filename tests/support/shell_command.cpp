#include "tests/support/shell_command.hpp"

#include <sys/wait.h>

#include <cstdio>

namespace inboxd::test {

command_result run_command(const std::string& command) {
  command_result r;
  FILE* p = ::popen(("(" + command + ") 2>&1").c_str(), "r");
  if (p == nullptr) {
    r.output = "cannot run: " + command;
    return r;
  }
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0)
    r.output.append(buf, n);
  int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

} // namespace inboxd::test
