#pragma once
// A real redis-server for tests: started on a free loopback port in a fresh temp directory
// (AOF on, appendfsync always), killed and removed on destruction.

#include <string>
#include <vector>
#include <sys/types.h>

namespace inboxd::test {

class redis_server {
public:
  /// Starts redis-server (from PATH) and waits until it answers PING (fails the test via
  /// throw std::runtime_error if it cannot start within 10 s).
  redis_server() : redis_server(std::vector<std::string>{}) {}
  /// With `extra_args` after the defaults (later settings win), e.g. cluster mode.
  explicit redis_server(std::vector<std::string> extra_args);
  ~redis_server();
  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;

  int port() const { return port_; }
  std::string url() const; // redis://127.0.0.1:<port>/0

  /// Stops the server (SIGKILL, waits); data directory kept so start() can bring it back.
  void stop();
  /// Starts it again on the same port and data directory (waits for PING).
  void start();

  /// Sends `sig` to the server (SIGSTOP pauses it, SIGCONT resumes it).
  void signal(int sig) const;

  /// Runs one command through redis-cli and returns its raw output (for assertions).
  std::string cli(const std::string& args) const;

private:
  int port_ = 0;
  pid_t pid_ = -1;
  std::string dir_;
  std::vector<std::string> extra_args_;
};

/// A free TCP port on 127.0.0.1 (bind to port 0, read it back, close).
int free_port();

} // namespace inboxd::test
