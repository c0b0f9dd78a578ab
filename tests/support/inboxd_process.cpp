#include "tests/support/inboxd_process.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "tests/support/http_client.hpp"
#include "tests/support/redis_server.hpp"

extern char** environ;

namespace inboxd::test {

namespace {

std::string tail(const std::string& s, size_t max_chars = 20000) {
  if (s.size() <= max_chars)
    return s;
  auto cut = s.find('\n', s.size() - max_chars);
  return "[...]\n" + s.substr(cut == std::string::npos ? s.size() - max_chars : cut + 1);
}

int decode_status(int status) {
  if (WIFEXITED(status))
    return WEXITSTATUS(status);
  if (WIFSIGNALED(status))
    return 128 + WTERMSIG(status);
  return -1;
}

} // namespace

inboxd_process::inboxd_process(env_map env, std::chrono::milliseconds startup_timeout)
  : env_(std::move(env)), startup_timeout_(startup_timeout) {
  char tmpl[] = "/tmp/inboxd-e2e-XXXXXX";
  if (!mkdtemp(tmpl))
    throw std::runtime_error(std::string("inboxd_process: mkdtemp: ") + std::strerror(errno));
  dir_ = tmpl;
  log_path_ = dir_ + "/inboxd.log";
  if (!env_.count("INBOXD_HTTP_ADDR"))
    env_["INBOXD_HTTP_ADDR"] = "127.0.0.1";
  if (!env_.count("INBOXD_HTTP_PORT"))
    env_["INBOXD_HTTP_PORT"] = std::to_string(free_port());
  port_ = std::atoi(env_["INBOXD_HTTP_PORT"].c_str());
  note_inboxd_port(port_);
  start();
}

inboxd_process::~inboxd_process() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }
  if (::testing::Test::HasFailure()) {
    std::cerr << "---- inboxd log (" << log_path_ << ") ----\n"
              << tail(log()) << "\n---- end of inboxd log ----" << std::endl;
  } else {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string inboxd_process::base_url() const {
  return "http://127.0.0.1:" + std::to_string(port_);
}

std::string inboxd_process::log() const {
  std::ifstream in(log_path_, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void inboxd_process::spawn() {
  // Everything the child needs is prepared before fork(): after it, only async-signal-safe calls.
  std::vector<std::string> env_strings;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    if (kv.rfind("INBOXD_", 0) == 0)
      continue; // hermetic: only the variables the test chose
    env_strings.emplace_back(kv);
  }
  for (auto& [k, v] : env_)
    env_strings.push_back(k + "=" + v);
  // A sanitizer build of inboxd aborts on CAF 0.17's known UBSan report unless suppressed (see
  // DESIGN.md); CTest and scripts/test.sh set this, a test binary run by hand may not.
  if (!std::getenv("UBSAN_OPTIONS") && !env_.count("UBSAN_OPTIONS"))
    env_strings.push_back(std::string("UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:"
                                      "suppressions=") +
                          INBOXD_SOURCE_DIR + "/tests/ubsan.supp");
  std::vector<char*> envp;
  for (auto& s : env_strings)
    envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string binary = INBOXD_BINARY;
  std::vector<char*> argv{binary.data(), nullptr};

  int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0)
    throw std::runtime_error("inboxd_process: cannot open " + log_path_);
  {
    std::string banner = "==== starting " + binary + " on port " + std::to_string(port_) + "\n";
    auto n = ::write(log_fd, banner.data(), banner.size());
    (void)n;
  }
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    ::close(log_fd);
    throw std::runtime_error(std::string("inboxd_process: fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    // The child dies with the test process (even if that one is SIGKILLed).
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
      _exit(127);
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0)
      dup2(devnull, STDIN_FILENO);
    close_range(3, ~0u, 0); // no inherited sockets or pipes of the test process
    execve(argv[0], argv.data(), envp.data());
    const char msg[] = "inboxd_process: execve failed\n";
    auto n = ::write(STDERR_FILENO, msg, sizeof(msg) - 1);
    (void)n;
    _exit(127);
  }
  ::close(log_fd);
  pid_ = pid;
}

void inboxd_process::wait_healthy() {
  auto deadline = std::chrono::steady_clock::now() + startup_timeout_;
  std::string last_error;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!running())
      throw std::runtime_error("inboxd exited during startup (status " +
                               std::to_string(last_exit_) + "); log " + log_path_ + ":\n" +
                               tail(log(), 8000));
    try {
      http_client c(port_);
      c.set_timeout(std::chrono::seconds(2));
      auto r = c.get("/healthz");
      if (r.status == 200)
        return;
      last_error = "GET /healthz -> " + std::to_string(r.status);
    } catch (const std::exception& e) {
      last_error = e.what();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  throw std::runtime_error("inboxd not healthy within " + std::to_string(startup_timeout_.count()) +
                           " ms (" + last_error + "); log " + log_path_ + ":\n" +
                           tail(log(), 8000));
}

bool inboxd_process::running() {
  if (pid_ <= 0)
    return false;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == 0)
    return true;
  if (r == pid_)
    last_exit_ = decode_status(status);
  pid_ = -1;
  return false;
}

void inboxd_process::kill(int sig) {
  if (pid_ > 0)
    ::kill(pid_, sig);
}

int inboxd_process::wait(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() >= deadline)
      return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return last_exit_;
}

int inboxd_process::stop(std::chrono::milliseconds timeout) {
  if (!running())
    return last_exit_;
  kill(SIGTERM);
  int code = wait(timeout);
  if (code == -1) {
    kill(SIGKILL);
    wait(std::chrono::seconds(10));
    return -1;
  }
  return code;
}

void inboxd_process::start() {
  if (running())
    throw std::logic_error("inboxd_process::start: already running");
  spawn();
  try {
    wait_healthy();
  } catch (...) {
    kill(SIGKILL);
    wait(std::chrono::seconds(10));
    throw;
  }
}

void inboxd_process::restart(bool crash) {
  if (crash) {
    kill(SIGKILL);
    wait(std::chrono::seconds(10));
  } else {
    stop();
  }
  start();
}

} // namespace inboxd::test
