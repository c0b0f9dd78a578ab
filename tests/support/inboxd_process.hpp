#pragma once
// The real inboxd binary (compile definition INBOXD_BINARY) as a child process, for end-to-end
// tests. The child gets the test's environment minus every INBOXD_* variable, plus the given map
// (INBOXD_HTTP_PORT defaults to a free port). Its stdout/stderr go to a log file in a fresh temp
// directory; when the current test has failed, the log's tail is printed on destruction (and
// the directory is kept), otherwise the directory is removed.

#include <chrono>
#include <map>
#include <string>
#include <sys/types.h>

namespace inboxd::test {

class inboxd_process {
public:
  using env_map = std::map<std::string, std::string>;

  /// Starts inboxd and waits until GET /healthz answers 200 (throws std::runtime_error with the
  /// log's tail if the process exits or does not become healthy within `startup_timeout`).
  explicit inboxd_process(env_map env,
                          std::chrono::milliseconds startup_timeout = std::chrono::seconds(20));
  /// SIGKILLs the process if it still runs and reaps it.
  ~inboxd_process();
  inboxd_process(const inboxd_process&) = delete;
  inboxd_process& operator=(const inboxd_process&) = delete;

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  /// http://127.0.0.1:<port>
  std::string base_url() const;
  const env_map& env() const { return env_; }
  /// Changes a variable for the next start()/restart().
  void set_env(const std::string& key, const std::string& value) { env_[key] = value; }

  /// Whether the child is still running (reaps it if it has exited).
  bool running();

  /// Sends `sig` (e.g. SIGKILL for crash tests, SIGTERM for a clean stop). Does not wait.
  void kill(int sig);

  /// Waits for the child to exit. Returns its exit code, 128 + signal number if a signal ended
  /// it, or -1 if it was still running after `timeout` (then it keeps running).
  int wait(std::chrono::milliseconds timeout = std::chrono::seconds(20));

  /// SIGTERM, then wait(timeout); if it is still running then, SIGKILL (and returns -1).
  int stop(std::chrono::milliseconds timeout = std::chrono::seconds(20));

  /// Starts the binary again (same environment and port; the log file is appended to) and waits
  /// for /healthz. Precondition: not running.
  void start();

  /// stop() if running (or kill(SIGKILL) when `crash`), then start().
  void restart(bool crash = false);

  /// Exit status of the last exit seen by wait()/running() (same encoding as wait()), or -1.
  int last_exit() const { return last_exit_; }

  /// Path and contents of the combined stdout/stderr log.
  const std::string& log_path() const { return log_path_; }
  std::string log() const;

private:
  void spawn();
  void wait_healthy();

  env_map env_;
  std::chrono::milliseconds startup_timeout_;
  int port_ = 0;
  pid_t pid_ = -1;
  int last_exit_ = -1;
  std::string dir_;
  std::string log_path_;
};

} // namespace inboxd::test
