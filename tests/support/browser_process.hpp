#pragma once
// What the browser drivers (chromium.cpp, firefox.cpp) share below the protocol: starting the
// browser in a process group of its own, ending that group, reading its log, and the screenshot
// bytes.

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include <sys/types.h>

namespace inboxd::test {

/// Whether a process of group `pgid` still runs (zombies and exited ones do not), from /proc.
bool process_group_runs(pid_t pgid);

/// Whether process `pid` runs (not a zombie, not gone), from /proc.
bool process_runs(pid_t pid);

struct browser_launch {
  std::vector<std::string> args; // args[0]: the binary
  std::string log_path;          // stdout and stderr (stdin is /dev/null)
  /// Environment variables left out (by prefix, e.g. "MOZ_"), besides the sanitizers' and
  /// LD_PRELOAD, which the browser must not inherit from the test process.
  std::vector<std::string> drop_env;
  std::vector<std::string> add_env; // "NAME=value"
  /// Descriptors passed on: {ours, the number the browser sees}; the browser's numbers from 3 up
  /// (every other descriptor is closed in the browser).
  std::vector<std::pair<int, int>> fds;
};

/// Forks and execs the browser in a process group of its own (its helpers share it) that gets
/// SIGKILL when the test process dies. Returns its pid; throws std::runtime_error when it cannot.
pid_t spawn_browser(const browser_launch& launch);

/// Reaps browser `pid` (waiting up to `grace` for it to exit by itself), kills its whole group
/// and waits (up to 5 s) until none of the group runs: the profile directory can go then.
void end_browser(pid_t pid, std::chrono::milliseconds grace);

/// The milliseconds to `deadline` for one poll (0 when past, at most 1000).
int poll_ms(std::chrono::steady_clock::time_point deadline);

/// The base64 of a screenshot decoded; throws std::runtime_error (naming `who`) when it is not.
std::string base64_decode(const std::string& in, const std::string& who);

/// Writes `bytes` to `path`, creating its directories; throws std::runtime_error when it cannot.
void write_file(const std::string& path, const std::string& bytes);

/// The last `max_chars` of `text`, marked "[...]" when cut.
std::string tail(const std::string& text, size_t max_chars);

} // namespace inboxd::test
