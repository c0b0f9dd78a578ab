#include "tests/support/chromium.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <openssl/evp.h>

extern char** environ;

namespace inboxd::test {

using json = nlohmann::json;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

constexpr size_t kMaxMessage = 64 * 1024 * 1024; // a screenshot's base64 fits easily
constexpr size_t kMaxEvents = 1000;
constexpr size_t kMaxMessages = 1000;

int remaining_ms(steady::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
  return left.count() < 0 ? 0 : static_cast<int>(std::min<long>(left.count(), 1000));
}

} // namespace

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

namespace {

// The text of a Runtime.RemoteObject for a log line.
std::string remote_text(const json& o) {
  if (o.contains("value"))
    return o["value"].is_string() ? o["value"].get<std::string>() : o["value"].dump();
  if (o.contains("description"))
    return o["description"].get<std::string>();
  if (o.contains("unserializableValue"))
    return o["unserializableValue"].get<std::string>();
  return o.value("type", "?");
}

std::string base64_decode(const std::string& in) {
  if (in.size() % 4 != 0)
    throw std::runtime_error("chromium: screenshot data is not base64");
  std::string out(in.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0)
    throw std::runtime_error("chromium: screenshot data is not base64");
  // EVP_DecodeBlock counts the padding as zero bytes.
  size_t pad = 0;
  for (size_t i = in.size(); i > 0 && in[i - 1] == '=' && pad < 2; --i)
    ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

} // namespace

chromium::chromium(std::chrono::milliseconds startup_timeout) {
  char tmpl[] = "/tmp/inboxd-chromium-XXXXXX";
  if (!::mkdtemp(tmpl))
    throw std::runtime_error(std::string("chromium: mkdtemp: ") + std::strerror(errno));
  dir_ = tmpl;
  try {
    launch();
    attach(startup_timeout);
  } catch (...) {
    shut_down();
    throw;
  }
}

chromium::~chromium() {
  shut_down();
}

void chromium::launch() {
  if (::access(kBinary, X_OK) != 0)
    throw std::runtime_error(std::string("chromium: ") + kBinary +
                             " is missing (Debian's chromium package; scripts/deps.sh)");
  std::vector<std::string> args = {kBinary,
                                   "--headless=new",
                                   "--no-sandbox", // tests run as root in containers
                                   "--disable-gpu",
                                   "--disable-dev-shm-usage",
                                   "--remote-debugging-pipe",
                                   "--user-data-dir=" + dir_ + "/profile",
                                   "--no-first-run",
                                   "--no-default-browser-check",
                                   "--disable-background-networking",
                                   "--disable-component-update",
                                   "--disable-default-apps",
                                   "--disable-extensions",
                                   "--disable-sync",
                                   "--disable-breakpad",
                                   "--mute-audio",
                                   "--hide-scrollbars",
                                   "about:blank"};
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  // Chromium must not inherit the sanitizer settings meant for inboxd.
  std::vector<std::string> env_strings;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    if (kv.starts_with("ASAN_OPTIONS=") || kv.starts_with("UBSAN_OPTIONS=") ||
        kv.starts_with("LSAN_OPTIONS=") || kv.starts_with("LD_PRELOAD="))
      continue;
    env_strings.emplace_back(kv);
  }
  std::vector<char*> envp;
  for (auto& s : env_strings)
    envp.push_back(s.data());
  envp.push_back(nullptr);

  auto log_path = dir_ + "/chromium.log";
  int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0)
    throw std::runtime_error("chromium: cannot open " + log_path);
  int commands[2], answers[2];
  if (::pipe2(commands, O_CLOEXEC) != 0) {
    ::close(log_fd);
    throw std::runtime_error(std::string("chromium: pipe: ") + std::strerror(errno));
  }
  if (::pipe2(answers, O_CLOEXEC) != 0) {
    ::close(log_fd);
    ::close(commands[0]);
    ::close(commands[1]);
    throw std::runtime_error(std::string("chromium: pipe: ") + std::strerror(errno));
  }
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    for (int fd : {log_fd, commands[0], commands[1], answers[0], answers[1]})
      ::close(fd);
    throw std::runtime_error(std::string("chromium: fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    // Only async-signal-safe calls from here on. The browser dies with the test process.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent)
      ::_exit(127);
    ::setpgid(0, 0); // its helpers (zygote, renderers) share its group: killed together
    // Move the pipe ends and the log above 4 first: placing them on 1..4 must not clobber one
    // that sits there (the log may well be fd 3 or 4).
    int in = ::fcntl(commands[0], F_DUPFD, 10);
    int out = ::fcntl(answers[1], F_DUPFD, 10);
    int log = ::fcntl(log_fd, F_DUPFD, 10);
    if (in < 0 || out < 0 || log < 0 || ::dup2(in, 3) < 0 || ::dup2(out, 4) < 0 ||
        ::dup2(log, STDOUT_FILENO) < 0 || ::dup2(log, STDERR_FILENO) < 0)
      ::_exit(127);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0)
      ::dup2(devnull, STDIN_FILENO);
    ::close_range(5, ~0u, 0);
    ::execve(argv[0], argv.data(), envp.data());
    const char msg[] = "chromium: execve failed\n";
    auto n = ::write(STDERR_FILENO, msg, sizeof(msg) - 1);
    (void)n;
    ::_exit(127);
  }
  pid_ = pid;
  ::setpgid(pid, pid); // also from here, so kill(-pid) works whichever runs first
  ::close(log_fd);
  ::close(commands[0]);
  ::close(answers[1]);
  to_browser_ = commands[1];
  from_browser_ = answers[0];
}

void chromium::attach(std::chrono::milliseconds timeout) {
  auto deadline = steady::now() + timeout;
  auto left = [&] {
    return std::max(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()),
                    1ms);
  };
  std::string target;
  // The page of about:blank exists once the browser is up; create one if it does not show.
  for (int i = 0; i < 20 && target.empty(); ++i) {
    auto targets = send("", "Target.getTargets", json::object(), left());
    for (auto& t : targets.value("targetInfos", json::array()))
      if (t.value("type", "") == "page") {
        target = t.value("targetId", "");
        break;
      }
    if (target.empty())
      std::this_thread::sleep_for(50ms);
  }
  if (target.empty())
    target =
        send("", "Target.createTarget", {{"url", "about:blank"}}, left()).value("targetId", "");
  auto attached =
      send("", "Target.attachToTarget", {{"targetId", target}, {"flatten", true}}, left());
  session_ = attached.value("sessionId", "");
  if (session_.empty())
    fail("Target.attachToTarget gave no sessionId: " + attached.dump());
  for (auto* domain : {"Page.enable", "Runtime.enable", "Log.enable"})
    send(session_, domain, json::object(), left());
}

json chromium::call(const std::string& method, const json& params,
                    std::chrono::milliseconds timeout) {
  return send(session_, method, params, timeout);
}

json chromium::send(const std::string& session, const std::string& method, const json& params,
                    std::chrono::milliseconds timeout) {
  if (pid_ <= 0 || to_browser_ < 0)
    throw std::runtime_error("chromium: not running (" + method + ")");
  auto deadline = steady::now() + timeout;
  long id = next_id_++;
  json message = {{"id", id}, {"method", method}, {"params", params}};
  if (!session.empty())
    message["sessionId"] = session;
  write_message(message.dump(), deadline);
  json in;
  while (read_message(in, deadline)) {
    if (in.contains("id")) {
      if (!in["id"].is_number_integer() || in["id"].get<long>() != id)
        continue; // an answer to an earlier call that timed out
      if (in.contains("error"))
        throw std::runtime_error("chromium: " + method + " failed: " + in["error"].dump());
      return in.value("result", json::object());
    }
    on_event(in);
  }
  fail(method + ": no answer within " + std::to_string(timeout.count()) + " ms");
}

void chromium::write_message(const std::string& text, steady::time_point deadline) {
  std::string bytes = text;
  bytes.push_back('\0');
  // A write to a pipe Chromium has closed must fail with EPIPE, not kill the test with SIGPIPE:
  // block the signal around the write and discard one it raised.
  sigset_t pipe_set, old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  size_t done = 0;
  std::string error;
  while (done < bytes.size() && error.empty()) {
    pollfd p{to_browser_, POLLOUT, 0};
    int r = ::poll(&p, 1, remaining_ms(deadline));
    if (r < 0 && errno == EINTR)
      continue;
    if (r == 0) {
      if (steady::now() >= deadline)
        error = "timed out writing a command";
      continue;
    }
    auto n = ::write(to_browser_, bytes.data() + done, bytes.size() - done);
    if (n > 0)
      done += static_cast<size_t>(n);
    else if (n < 0 && errno != EINTR && errno != EAGAIN)
      error = std::string("write: ") + std::strerror(errno);
  }
  if (!error.empty()) {
    timespec zero{0, 0};
    while (sigtimedwait(&pipe_set, nullptr, &zero) > 0) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (!error.empty())
    fail(error);
}

bool chromium::read_message(json& out, steady::time_point deadline) {
  for (;;) {
    auto end = buffer_.find('\0');
    if (end != std::string::npos) {
      auto text = buffer_.substr(0, end);
      buffer_.erase(0, end + 1);
      try {
        out = json::parse(text);
      } catch (const std::exception& e) {
        fail("not JSON from the DevTools pipe (" + std::string(e.what()) +
             "): " + text.substr(0, 2000));
      }
      if (!out.is_object())
        fail("not a JSON object from the DevTools pipe: " + text.substr(0, 2000));
      return true;
    }
    if (buffer_.size() > kMaxMessage)
      fail("a DevTools message over " + std::to_string(kMaxMessage) + " bytes");
    pollfd p{from_browser_, POLLIN, 0};
    int r = ::poll(&p, 1, remaining_ms(deadline));
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      fail(std::string("poll: ") + std::strerror(errno));
    if (r == 0) {
      if (steady::now() >= deadline)
        return false;
      continue;
    }
    char chunk[65536];
    auto n = ::read(from_browser_, chunk, sizeof(chunk));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (n < 0)
      fail(std::string("read: ") + std::strerror(errno));
    if (n == 0)
      fail("Chromium closed the DevTools pipe (it exited?)");
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

void chromium::on_event(const json& event) {
  if (event.value("sessionId", "") != session_ || session_.empty())
    return; // the browser's own events
  auto method = event.value("method", "");
  const auto& params = event.contains("params") ? event["params"] : json::object();
  std::string line;
  if (method == "Runtime.consoleAPICalled") {
    line = "console." + params.value("type", "log") + ":";
    for (auto& arg : params.value("args", json::array()))
      line += " " + remote_text(arg);
  } else if (method == "Runtime.exceptionThrown") {
    auto details = params.value("exceptionDetails", json::object());
    line = "exception: " + details.value("text", "");
    if (details.contains("exception"))
      line += " " + remote_text(details["exception"]);
    line += " (" + details.value("url", "") + ":" + std::to_string(details.value("lineNumber", 0)) +
            ")";
  } else if (method == "Log.entryAdded") {
    auto entry = params.value("entry", json::object());
    line = "log." + entry.value("source", "?") + "." + entry.value("level", "?") + ": " +
           entry.value("text", "");
    if (entry.contains("url"))
      line += " (" + entry.value("url", "") + ")";
  } else {
    events_.push_back(event);
    if (events_.size() > kMaxEvents)
      events_.pop_front();
    return;
  }
  if (messages_.size() < kMaxMessages)
    messages_.push_back(line);
}

bool chromium::wait_event(const std::string& method, steady::time_point deadline) {
  for (;;) {
    for (auto it = events_.begin(); it != events_.end(); ++it)
      if (it->value("method", "") == method) {
        events_.erase(it);
        return true;
      }
    json in;
    if (!read_message(in, deadline))
      return false;
    if (!in.contains("id"))
      on_event(in);
  }
}

void chromium::navigate(const std::string& url, std::chrono::milliseconds timeout) {
  auto deadline = steady::now() + timeout;
  std::erase_if(events_,
                [](const json& e) { return e.value("method", "") == "Page.loadEventFired"; });
  auto result = call("Page.navigate", {{"url", url}}, timeout);
  if (result.contains("errorText") && !result["errorText"].get<std::string>().empty())
    fail("navigating to " + url + ": " + result["errorText"].get<std::string>());
  if (!wait_event("Page.loadEventFired", deadline))
    fail("no load event for " + url + " within " + std::to_string(timeout.count()) + " ms");
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
  if (!wait_for("document.readyState === 'complete'", std::max(left, 100ms)))
    fail("document.readyState of " + url + " never became complete");
  auto status = eval("performance.getEntriesByType('navigation')[0]?.responseStatus ?? 0");
  if (status.is_number_integer() && status.get<int>() >= 400)
    fail("navigating to " + url + ": HTTP " + status.dump());
}

json chromium::eval(const std::string& js) {
  auto result = call(
      "Runtime.evaluate",
      {{"expression", js}, {"returnByValue", true}, {"awaitPromise", true}, {"userGesture", true}});
  if (result.contains("exceptionDetails")) {
    auto& d = result["exceptionDetails"];
    auto text = d.contains("exception") ? remote_text(d["exception"]) : d.value("text", "");
    throw std::runtime_error("chromium: evaluating `" + js + "` threw: " + text);
  }
  auto value = result.value("result", json::object());
  return value.contains("value") ? value["value"] : json();
}

void chromium::press_key(const std::string& key) {
  // The DOM key names the tests use, with their Windows virtual key codes and typed text.
  struct known {
    const char* key;
    int code;
    const char* text;
  };
  static constexpr known keys[] = {{"Enter", 13, "\r"},
                                   {"Escape", 27, ""},
                                   {"ArrowUp", 38, ""},
                                   {"ArrowDown", 40, ""},
                                   {"Tab", 9, ""}};
  const known* k = nullptr;
  for (auto& candidate : keys)
    if (key == candidate.key)
      k = &candidate;
  if (!k)
    throw std::runtime_error("chromium: press_key does not know the key " + key);
  for (auto type : {"keyDown", "keyUp"})
    call("Input.dispatchKeyEvent", {{"type", type},
                                    {"key", key},
                                    {"code", key},
                                    {"windowsVirtualKeyCode", k->code},
                                    {"nativeVirtualKeyCode", k->code},
                                    {"text", std::string(type) == "keyDown" ? k->text : ""}});
}

void chromium::set_viewport(int width, int height, bool mobile) {
  call("Emulation.setDeviceMetricsOverride",
       {{"width", width}, {"height", height}, {"deviceScaleFactor", 1}, {"mobile", mobile}});
  call("Emulation.setTouchEmulationEnabled", {{"enabled", mobile}});
}

void chromium::screenshot(const std::string& path) {
  auto result = call("Page.captureScreenshot", {{"format", "png"}}, 30s);
  auto png = base64_decode(result.value("data", ""));
  std::filesystem::path p(path);
  if (p.has_parent_path())
    std::filesystem::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(png.data(), static_cast<std::streamsize>(png.size()));
  if (!out)
    throw std::runtime_error("chromium: cannot write " + path);
}

std::vector<std::string> chromium::problems() const {
  std::vector<std::string> out;
  for (auto& m : messages_)
    if (m.starts_with("exception:") || m.starts_with("console.error:") ||
        m.starts_with("console.assert:") ||
        (m.starts_with("log.") && m.find(".error: ") != std::string::npos))
      out.push_back(m);
  return out;
}

std::string chromium::log(size_t max_chars) const {
  // Without the lines of its complaints that no D-Bus runs (every start in a container).
  std::ifstream in(dir_ + "/chromium.log", std::ios::binary);
  std::string s, line;
  while (std::getline(in, line))
    if (line.find(":ERROR:dbus/") == std::string::npos)
      s += line + "\n";
  return s.size() > max_chars ? "[...]" + s.substr(s.size() - max_chars) : s;
}

[[noreturn]] void chromium::fail(const std::string& what) const {
  throw std::runtime_error("chromium: " + what + "\n---- chromium log ----\n" + log(4000) +
                           "\n---- end of chromium log ----");
}

void chromium::shut_down() {
  if (pid_ > 0) {
    if (to_browser_ >= 0) {
      try {
        send("", "Browser.close", json::object(), 3s);
      } catch (const std::exception&) {
        // it may exit before it answers
      }
    }
    int status = 0;
    bool reaped = false;
    for (auto until = steady::now() + 5s; !reaped && steady::now() < until;) {
      auto r = ::waitpid(pid_, &status, WNOHANG);
      reaped = r == pid_ || (r < 0 && errno != EINTR);
      if (!reaped)
        std::this_thread::sleep_for(20ms);
    }
    // Its helpers (zygote, renderers, network service) write into the profile too: kill the
    // whole group and remove the directory only once none of them runs any more.
    ::kill(-pid_, SIGKILL);
    if (!reaped)
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
    for (int i = 0; i < 500 && process_group_runs(pid_); ++i)
      std::this_thread::sleep_for(10ms);
    pid_ = -1;
  }
  for (int* fd : {&to_browser_, &from_browser_})
    if (*fd >= 0) {
      ::close(*fd);
      *fd = -1;
    }
  if (dir_.empty())
    return;
  if (::testing::Test::HasFailure())
    std::cerr << "---- chromium log (" << dir_ << "/chromium.log) ----\n"
              << log() << "\n---- end of chromium log ----" << std::endl;
  if (!messages_.empty() && ::testing::Test::HasFailure()) {
    std::cerr << "---- the page's console and log ----\n";
    for (auto& m : messages_)
      std::cerr << m << "\n";
    std::cerr << "---- end of the page's console and log ----" << std::endl;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
  dir_.clear();
}

} // namespace inboxd::test
