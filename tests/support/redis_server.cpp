#include "tests/support/redis_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "tests/support/shell_command.hpp"

namespace inboxd::test {

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

constexpr auto start_timeout = 10s;

std::string errno_text(const char* what) {
  return std::string(what) + ": " + std::strerror(errno);
}

// Resolves an executable on PATH in the parent, so the child only needs execv (fork in a
// multithreaded process: the child may only call async-signal-safe functions).
std::string find_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty())
      dir = ".";
    std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0)
      return candidate;
  }
  throw std::runtime_error(name + " not found on PATH");
}

class fd_guard {
public:
  explicit fd_guard(int fd) : fd_(fd) {}
  ~fd_guard() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  int get() const { return fd_; }

private:
  int fd_;
};

// Sends `request` and reads until `done(buffer)` or the deadline; false on any failure.
template <class Done>
bool round_trip(int port, const std::string& request, std::string& response, Done done,
                std::chrono::milliseconds timeout) {
  fd_guard fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0)
    return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return false;
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size()))
    return false;
  response.clear();
  char buf[4096];
  auto deadline = clock_type::now() + timeout;
  while (!done(response)) {
    if (clock_type::now() > deadline)
      return false;
    ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n <= 0)
      return false;
    response.append(buf, static_cast<size_t>(n));
  }
  return true;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

} // namespace

namespace {

// The low end of the kernel's ephemeral port range (outgoing connections take their local ports
// from it).
int ephemeral_low() {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 0;
  if (!(in >> low) || low <= 11000)
    low = 32768;
  return low;
}

// Whether nothing is bound to 127.0.0.1:port now (bound without SO_REUSEADDR, as a server's
// listener would collide).
bool bindable(int port) {
  fd_guard fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0)
    throw std::runtime_error(errno_text("socket"));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
}

} // namespace

// A port below the ephemeral range, so no outgoing connection (of any process: parallel tests
// connect to their Redis servers all the time) can take it between this call and the server's
// bind. That race, with a port the kernel had handed out as ephemeral, made e2e tests fail with
// "Address already in use". Among parallel tests, each port is reserved by an flock on a file
// named after it, held until this process exits; a server started by another process (a
// previous test's inboxd or redis-server) shows as not bindable.
int free_port() {
  static std::mutex mutex;
  static std::vector<int> held; // lock descriptors, kept open for the process's lifetime
  std::lock_guard lock(mutex);
  auto dir = std::filesystem::temp_directory_path() / "inboxd-test-ports";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const int low = 10000, high = ephemeral_low();
  std::mt19937 rng(
      static_cast<unsigned>(::getpid()) ^
      static_cast<unsigned>(std::chrono::steady_clock::now().time_since_epoch().count()));
  for (int attempt = 0; attempt < 1000; ++attempt) {
    int port = low + static_cast<int>(rng() % static_cast<unsigned>(high - low));
    auto path = dir / std::to_string(port);
    int fd = ::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0666);
    if (fd < 0)
      throw std::runtime_error(errno_text(("open " + path.string()).c_str()));
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0 && bindable(port)) {
      held.push_back(fd);
      return port;
    }
    ::close(fd);
  }
  throw std::runtime_error("free_port: no free port below the ephemeral range");
}

redis_server::redis_server(std::vector<std::string> extra_args)
  : extra_args_(std::move(extra_args)) {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/inboxd-redis-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr)
    throw std::runtime_error(errno_text("mkdtemp"));
  dir_ = buf.data();
  // free_port() can race with other processes (parallel ctest): when the server cannot start,
  // try again on another port a few times before giving up.
  std::string last_error;
  for (int attempt = 0; attempt < 5; ++attempt) {
    try {
      port_ = free_port();
      start();
      return;
    } catch (const std::exception& e) {
      last_error = e.what();
      stop();
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
  throw std::runtime_error("redis-server did not start: " + last_error);
}

redis_server::~redis_server() {
  stop();
  std::error_code ec;
  if (!dir_.empty())
    std::filesystem::remove_all(dir_, ec);
}

std::string redis_server::url() const {
  return "redis://127.0.0.1:" + std::to_string(port_) + "/0";
}

void redis_server::start() {
  if (pid_ > 0)
    return;
  const std::string exe = find_on_path("redis-server");
  const std::string log = dir_ + "/redis.log";
  std::vector<std::string> args = {exe,
                                   "--port",
                                   std::to_string(port_),
                                   "--bind",
                                   "127.0.0.1",
                                   "--dir",
                                   dir_,
                                   "--appendonly",
                                   "yes",
                                   "--appendfsync",
                                   "always",
                                   "--save",
                                   "",
                                   "--daemonize",
                                   "no",
                                   "--protected-mode",
                                   "yes",
                                   "--logfile",
                                   ""};
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);

  int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0)
    throw std::runtime_error(errno_text("open redis.log"));
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    throw std::runtime_error(errno_text("fork"));
  }
  if (pid == 0) {
    // Child: async-signal-safe calls only. Die with the test process (even on a crash) so no
    // stray redis-server outlives the test run.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent)
      ::_exit(127);
    ::setpgid(0, 0); // keep Ctrl-C in the terminal from reaching it separately
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0)
      ::dup2(null_fd, STDIN_FILENO);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(log_fd);
  pid_ = pid;

  // Ready when it answers PING with PONG (not -LOADING while replaying the AOF), and it is our
  // process that answers (another process may have taken the port).
  const std::string pid_line = "process_id:" + std::to_string(pid_) + "\r";
  auto deadline = clock_type::now() + start_timeout;
  while (true) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      throw std::runtime_error("redis-server exited during startup (status " +
                               std::to_string(status) + "); log:\n" + read_file(log));
    }
    std::string resp;
    if (round_trip(
            port_, "PING\r\n", resp,
            [](const std::string& s) { return s.find("\r\n") != std::string::npos; }, 500ms) &&
        resp.rfind("+PONG", 0) == 0) {
      std::string info;
      bool got = round_trip(
          port_, "INFO server\r\n", info,
          [](const std::string& s) {
            // $<len>\r\n<body>\r\n
            auto eol = s.find("\r\n");
            if (s.empty() || s[0] != '$' || eol == std::string::npos)
              return !s.empty() && s[0] != '$';
            auto len = std::strtoull(s.c_str() + 1, nullptr, 10);
            return s.size() >= eol + 2 + len + 2;
          },
          1000ms);
      if (got && info.find(pid_line) != std::string::npos)
        return;
      if (got && info[0] == '$')
        throw std::runtime_error("port " + std::to_string(port_) + " is another server's");
    }
    if (clock_type::now() > deadline) {
      throw std::runtime_error("redis-server did not answer PING within 10 s; log:\n" +
                               read_file(log));
    }
    std::this_thread::sleep_for(10ms);
  }
}

void redis_server::signal(int sig) const {
  if (pid_ > 0)
    ::kill(pid_, sig);
}

void redis_server::stop() {
  if (pid_ <= 0)
    return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

std::string redis_server::cli(const std::string& args) const {
  return run_command("redis-cli -h 127.0.0.1 -p " + std::to_string(port_) + " " + args).output;
}

} // namespace inboxd::test
