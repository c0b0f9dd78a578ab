#include "tests/support/browser_process.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <thread>

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

extern char** environ;

namespace inboxd::test {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

bool process_group_runs(pid_t pgid) {
  std::error_code ec;
  for (auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    std::ifstream in(entry.path() / "stat");
    std::string line;
    if (!std::getline(in, line))
      continue;
    auto close = line.rfind(')'); // the command name may hold spaces and parentheses
    if (close == std::string::npos)
      continue;
    std::istringstream rest(line.substr(close + 1));
    char state = 0;
    long ppid = 0, pgrp = 0;
    if (rest >> state >> ppid >> pgrp && pgrp == pgid && state != 'Z' && state != 'X')
      return true;
  }
  return false;
}

bool process_runs(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line))
    return false;
  auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z' &&
         line[close + 2] != 'X';
}

pid_t spawn_browser(const browser_launch& launch) {
  const auto& who = launch.args.at(0);
  if (::access(who.c_str(), X_OK) != 0)
    throw std::runtime_error(who + " is missing (scripts/deps.sh installs it)");
  std::vector<std::string> args = launch.args;
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    bool drop = kv.starts_with("ASAN_OPTIONS=") || kv.starts_with("UBSAN_OPTIONS=") ||
                kv.starts_with("LSAN_OPTIONS=") || kv.starts_with("LD_PRELOAD=");
    for (auto& prefix : launch.drop_env)
      drop = drop || kv.starts_with(prefix);
    if (!drop)
      env_strings.emplace_back(kv);
  }
  env_strings.insert(env_strings.end(), launch.add_env.begin(), launch.add_env.end());
  std::vector<char*> envp;
  for (auto& s : env_strings)
    envp.push_back(s.data());
  envp.push_back(nullptr);
  int highest = 2;
  for (auto& [ours, theirs] : launch.fds) {
    if (theirs <= 2 || theirs >= 10)
      throw std::invalid_argument("spawn_browser: descriptors go to 3..9");
    highest = std::max(highest, theirs);
  }

  int log_fd = ::open(launch.log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0)
    throw std::runtime_error("cannot open " + launch.log_path);
  std::vector<std::pair<int, int>> fds = launch.fds;
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    throw std::runtime_error(who + ": fork: " + std::strerror(errno));
  }
  if (pid == 0) {
    // Only async-signal-safe calls from here on. The browser dies with the test process.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent)
      ::_exit(127);
    ::setpgid(0, 0); // its helpers (renderers, content processes) share its group
    // Move every descriptor above 9 first: placing one on 1..9 must not clobber another that
    // sits there (the log may well be fd 3 or 4).
    int log = ::fcntl(log_fd, F_DUPFD, 10);
    if (log < 0)
      ::_exit(127);
    for (auto& fd : fds)
      if ((fd.first = ::fcntl(fd.first, F_DUPFD, 10)) < 0)
        ::_exit(127);
    for (auto& [ours, theirs] : fds)
      if (::dup2(ours, theirs) < 0)
        ::_exit(127);
    if (::dup2(log, STDOUT_FILENO) < 0 || ::dup2(log, STDERR_FILENO) < 0)
      ::_exit(127);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0)
      ::dup2(devnull, STDIN_FILENO);
    ::close_range(static_cast<unsigned>(highest) + 1, ~0u, 0);
    ::execve(argv[0], argv.data(), envp.data());
    const char msg[] = "execve of the browser failed\n";
    auto n = ::write(STDERR_FILENO, msg, sizeof(msg) - 1);
    (void)n;
    ::_exit(127);
  }
  ::setpgid(pid, pid); // also from here, so kill(-pid) works whichever runs first
  ::close(log_fd);
  return pid;
}

void end_browser(pid_t pid, std::chrono::milliseconds grace) {
  int status = 0;
  bool reaped = false;
  for (auto until = steady::now() + grace; !reaped && steady::now() < until;) {
    auto r = ::waitpid(pid, &status, WNOHANG);
    reaped = r == pid || (r < 0 && errno != EINTR);
    if (!reaped)
      std::this_thread::sleep_for(20ms);
  }
  // Its helpers write into the profile too: kill the whole group, and let the caller remove the
  // directory only once none of them runs any more.
  ::kill(-pid, SIGKILL);
  if (!reaped)
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  for (int i = 0; i < 500 && process_group_runs(pid); ++i)
    std::this_thread::sleep_for(10ms);
}

int poll_ms(steady::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
  return left.count() < 0 ? 0 : static_cast<int>(std::min<long>(left.count(), 1000));
}

std::string base64_decode(const std::string& in, const std::string& who) {
  if (in.empty() || in.size() % 4 != 0)
    throw std::runtime_error(who + ": screenshot data is not base64");
  std::string out(in.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0)
    throw std::runtime_error(who + ": screenshot data is not base64");
  // EVP_DecodeBlock counts the padding as zero bytes.
  size_t pad = 0;
  for (size_t i = in.size(); i > 0 && in[i - 1] == '=' && pad < 2; --i)
    ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

void write_file(const std::string& path, const std::string& bytes) {
  std::filesystem::path p(path);
  if (p.has_parent_path())
    std::filesystem::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out)
    throw std::runtime_error("cannot write " + path);
}

std::string tail(const std::string& text, size_t max_chars) {
  return text.size() > max_chars ? "[...]" + text.substr(text.size() - max_chars) : text;
}

} // namespace inboxd::test
