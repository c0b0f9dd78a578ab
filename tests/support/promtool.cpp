#include "tests/support/promtool.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace inboxd::test {

promtool_result promtool_check_metrics(const std::string& exposition) {
  promtool_result out;
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
    out.output = "promtool not found (package prometheus: bash scripts/deps.sh installs it)";
    return out;
  }
  auto path = std::filesystem::temp_directory_path() /
              ("inboxd-metrics-" + std::to_string(::getpid()) + ".txt");
  std::ofstream(path, std::ios::binary) << exposition;
  auto cmd = "promtool check metrics < '" + path.string() + "' 2>&1";
  if (auto* p = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0)
      out.output.append(buf, n);
    int status = ::pclose(p);
    out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  } else {
    out.output = "cannot run promtool";
  }
  std::filesystem::remove(path);
  return out;
}

} // namespace inboxd::test
