#pragma once
// Headless Chromium (Debian's chromium package, /usr/bin/chromium) driven over the Chrome
// DevTools Protocol for browser tests: no websockets, the protocol runs over two pipes
// (--remote-debugging-pipe: Chromium reads commands on its fd 3 and writes answers and events
// on its fd 4, each message JSON terminated by a NUL byte).
//
// The constructor launches Chromium (its own process group, killed with the test process,
// sanitizer variables removed from its environment, a fresh profile in a temp directory, its
// output in <temp dir>/chromium.log) and attaches to its page. Every wait is bounded; a timeout,
// a protocol error or Chromium's exit throws std::runtime_error (with the log's tail where it
// helps). The destructor closes the browser (SIGKILL to its whole group after a bound), reaps
// it, prints the log's tail when the current test has failed, and removes the temp directory.
//
// Console messages, uncaught exceptions and browser log entries (CSP violations, failed loads)
// of the page are collected while commands run: see messages() and problems().
//
// Not thread-safe: one thread drives one browser.

#include <chrono>
#include <deque>
#include <string>
#include <vector>

#include <sys/types.h>

#include <nlohmann/json.hpp>

#include "tests/support/browser.hpp"

namespace inboxd::test {

class chromium final : public browser {
public:
  static constexpr const char* kBinary = "/usr/bin/chromium";

  /// Launches Chromium and attaches to a page (about:blank) within `startup_timeout`.
  explicit chromium(std::chrono::milliseconds startup_timeout = std::chrono::seconds(30));
  ~chromium() override;
  chromium(const chromium&) = delete;
  chromium& operator=(const chromium&) = delete;

  /// Sends `method` to the page's session and returns its result; throws on a protocol error,
  /// after `timeout`, or when Chromium exits. Events read meanwhile are kept (see messages()).
  nlohmann::json call(const std::string& method,
                      const nlohmann::json& params = nlohmann::json::object(),
                      std::chrono::milliseconds timeout = std::chrono::seconds(15));

  std::string name() const override { return "chromium"; }
  /// Page.navigate, then waits for the load event and document.readyState "complete".
  void navigate(const std::string& url,
                std::chrono::milliseconds timeout = std::chrono::seconds(20)) override;
  nlohmann::json eval(const std::string& js) override;
  /// Emulation.setDeviceMetricsOverride (`mobile`: meta viewport honoured, overlay scrollbars)
  /// and touch emulation.
  void set_viewport(int width, int height, bool mobile) override;
  void screenshot(const std::string& path) override;
  /// Input.dispatchKeyEvent, keyDown then keyUp.
  void press_key(const std::string& key) override;
  const std::vector<std::string>& messages() const override { return messages_; }
  std::string log(size_t max_chars = 8000) const override;
  pid_t pid() const { return pid_; }

private:
  void launch();
  void attach(std::chrono::milliseconds timeout);
  nlohmann::json send(const std::string& session, const std::string& method,
                      const nlohmann::json& params, std::chrono::milliseconds timeout);
  void write_message(const std::string& text, std::chrono::steady_clock::time_point deadline);
  /// Reads one message (blocking until `deadline`); false on timeout. Throws when Chromium
  /// closed its end.
  bool read_message(nlohmann::json& out, std::chrono::steady_clock::time_point deadline);
  void on_event(const nlohmann::json& event);
  /// Waits until an event `method` of the page's session has been read (consuming it).
  bool wait_event(const std::string& method, std::chrono::steady_clock::time_point deadline);
  [[noreturn]] void fail(const std::string& what) const;
  void shut_down();

  std::string dir_;
  pid_t pid_ = -1;
  int to_browser_ = -1;   // our write end (Chromium's fd 3)
  int from_browser_ = -1; // our read end (Chromium's fd 4)
  std::string buffer_;    // bytes read but not yet split into messages
  long next_id_ = 1;
  std::string session_;
  std::deque<nlohmann::json> events_; // the page's events not yet consumed (bounded)
  std::vector<std::string> messages_;
};

} // namespace inboxd::test
