#pragma once
// What a browser test needs of a headless browser, whichever drives it: Chromium over the
// DevTools protocol (chromium.hpp) or Firefox over WebDriver BiDi (firefox.hpp). Every wait is
// bounded; a timeout, a protocol error or the browser's exit throws std::runtime_error.
//
// Console messages, uncaught exceptions and the browser's log entries of the page (CSP
// violations, failed loads) are collected while commands run: see messages() and problems().
// Not thread-safe: one thread drives one browser.

#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace inboxd::test {

class browser {
public:
  virtual ~browser() = default;

  /// "chromium" or "firefox".
  virtual std::string name() const = 0;

  /// Loads `url` and waits (up to `timeout`) until document.readyState is "complete". Throws
  /// when the navigation fails (connection refused, or an HTTP status of 400 or above).
  virtual void navigate(const std::string& url,
                        std::chrono::milliseconds timeout = std::chrono::seconds(20)) = 0;

  /// Evaluates `js` in the page (awaiting a promise) and returns its value as JSON (null for
  /// undefined); throws with the exception's text when it throws.
  virtual nlohmann::json eval(const std::string& js) = 0;

  /// Polls `js_condition` every 50 ms until it is truthy (true) or `timeout` passes (false).
  /// A condition that throws counts as false (e.g. an element that does not exist yet); one
  /// that does not compile throws.
  bool wait_for(const std::string& js_condition, std::chrono::milliseconds timeout);

  /// A `width` x `height` CSS-pixel viewport, device scale factor 1; `mobile` emulates a phone
  /// where the browser can (Chromium: meta viewport, touch; Firefox: the size only).
  virtual void set_viewport(int width, int height, bool mobile) = 0;

  /// Writes a PNG screenshot of the viewport to `path` (creating its directories).
  virtual void screenshot(const std::string& path) = 0;

  /// Presses and releases `key` (a DOM key name: "Enter", "Escape", "ArrowDown", "ArrowUp") as
  /// real keyboard input to the focused element.
  virtual void press_key(const std::string& key) = 0;

  /// Every console message, uncaught exception and browser log entry of the page so far, one
  /// line each: "console.<type>: ...", "exception: ...", "log.<source>.<level>: ...".
  virtual const std::vector<std::string>& messages() const = 0;
  /// The subset that indicates a broken page: exceptions, console.error/assert, and log entries
  /// of level error (CSP violations, failed loads).
  std::vector<std::string> problems() const;

  /// The last `max_chars` of the browser's own output.
  virtual std::string log(size_t max_chars = 8000) const = 0;

protected:
  /// When the current test has failed: prints the browser's output (from `log_path`) and the
  /// page's messages to stderr.
  void report_if_failed(const std::string& log_path) const;
};

} // namespace inboxd::test
