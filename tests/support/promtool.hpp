#pragma once
// `promtool check metrics` (Debian package prometheus; scripts/deps.sh installs it) on a
// Prometheus text exposition: the format and the naming conventions Prometheus lints for.

#include <string>

namespace inboxd::test {

struct promtool_result {
  int exit_code = -1; // 0: valid and no lint problems; -1: promtool could not be run
  std::string output; // what promtool printed (its problems), or why it could not run
  bool ok() const { return exit_code == 0 && output.empty(); }
};

/// Runs `promtool check metrics` with `exposition` as its input.
promtool_result promtool_check_metrics(const std::string& exposition);

} // namespace inboxd::test
