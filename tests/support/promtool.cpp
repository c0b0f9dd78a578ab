#include "tests/support/promtool.hpp"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "tests/support/shell_command.hpp"

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
  auto r = run_command("promtool check metrics < '" + path.string() + "'");
  out.exit_code = r.exit_code;
  out.output = std::move(r.output);
  std::filesystem::remove(path);
  return out;
}

} // namespace inboxd::test
