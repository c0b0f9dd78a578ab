#include "tests/support/chromium.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "tests/support/browser_process.hpp"

namespace inboxd::test {

using json = nlohmann::json;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

constexpr size_t kMaxMessage = 64 * 1024 * 1024; // a screenshot's base64 fits easily
constexpr size_t kMaxEvents = 1000;
constexpr size_t kMaxMessages = 1000;

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
  int commands[2], answers[2];
  if (::pipe2(commands, O_CLOEXEC) != 0)
    throw std::runtime_error(std::string("chromium: pipe: ") + std::strerror(errno));
  if (::pipe2(answers, O_CLOEXEC) != 0) {
    ::close(commands[0]);
    ::close(commands[1]);
    throw std::runtime_error(std::string("chromium: pipe: ") + std::strerror(errno));
  }
  to_browser_ = commands[1];
  from_browser_ = answers[0];
  browser_launch launch;
  launch.args = {kBinary,
                 "--headless=new",
                 "--no-sandbox", // tests run as root in containers
                 "--disable-gpu",
                 "--disable-dev-shm-usage",
                 "--remote-debugging-pipe", // commands on its fd 3, answers on its fd 4
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
  launch.log_path = dir_ + "/chromium.log";
  launch.fds = {{commands[0], 3}, {answers[1], 4}};
  try {
    pid_ = spawn_browser(launch);
  } catch (const std::exception& e) {
    ::close(commands[0]);
    ::close(answers[1]);
    throw std::runtime_error(std::string("chromium: ") + e.what());
  }
  ::close(commands[0]);
  ::close(answers[1]);
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
    int r = ::poll(&p, 1, poll_ms(deadline));
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
    int r = ::poll(&p, 1, poll_ms(deadline));
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
  write_file(path, base64_decode(result.value("data", ""), "chromium"));
}

std::string chromium::log(size_t max_chars) const {
  // Without the lines of its complaints that no D-Bus runs (every start in a container).
  std::ifstream in(dir_ + "/chromium.log", std::ios::binary);
  std::string s, line;
  while (std::getline(in, line))
    if (line.find(":ERROR:dbus/") == std::string::npos)
      s += line + "\n";
  return tail(s, max_chars);
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
    end_browser(pid_, 5s); // its zygote, renderers and network service write into the profile
    pid_ = -1;
  }
  for (int* fd : {&to_browser_, &from_browser_})
    if (*fd >= 0) {
      ::close(*fd);
      *fd = -1;
    }
  if (dir_.empty())
    return;
  report_if_failed(dir_ + "/chromium.log");
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
  dir_.clear();
}

} // namespace inboxd::test
