#pragma once
// Headless Firefox (Debian's firefox-esr package, /usr/bin/firefox-esr) driven over WebDriver
// BiDi for browser tests. Firefox speaks BiDi on a WebSocket only: it is started with
// --remote-debugging-port=0, prints "WebDriver BiDi listening on ws://127.0.0.1:<port>" to its
// log, and a minimal RFC 6455 client (in firefox.cpp: a non-blocking socket, poll with deadlines,
// masked client frames, fragmented messages, ping/pong, close) connects to ws://.../session.
//
// The constructor launches Firefox (its own process group, killed with the test process,
// sanitizer variables removed from its environment, a fresh profile with a user.js that keeps it
// off the network, its output in <temp dir>/firefox.log), opens a BiDi session, subscribes to
// the page's log and network events and attaches to its tab. Every wait is bounded; a timeout, a
// protocol error or Firefox's exit throws std::runtime_error (with the log's tail where it
// helps). The destructor closes the browser (browser.close; SIGKILL to its whole group after a
// bound, and to its crash helper, which Firefox starts in a group of its own), reaps it, prints
// the log's tail when the current test has failed, and removes the temp directory.
//
// Messages (see browser.hpp) in Chromium's formats: log.entryAdded of type console gives
// "console.<method>: <text>" (warn as "warning", like Chromium); of type javascript (Firefox
// forwards its script errors of level error only) a CSP violation gives "log.security.error:
// Content Security Policy: <Firefox's text>", anything else (uncaught exceptions, unhandled
// rejections, scripts that fail to load or compile, an EventSource that cannot connect)
// "exception: <text> (<url>:<line>)"; a response of status 400 or above or a failed request
// (network.fetchError, except an abort) gives "log.network.error: <status or error> (<url>)".
//
// Not thread-safe: one thread drives one browser.

#include <chrono>
#include <string>
#include <vector>

#include <sys/types.h>

#include <nlohmann/json.hpp>

#include "tests/support/browser.hpp"

namespace inboxd::test {

class firefox final : public browser {
public:
  static constexpr const char* kBinary = "/usr/bin/firefox-esr";

  /// Launches Firefox and attaches to its tab (about:blank) within `startup_timeout`.
  explicit firefox(std::chrono::milliseconds startup_timeout = std::chrono::seconds(30));
  ~firefox() override;
  firefox(const firefox&) = delete;
  firefox& operator=(const firefox&) = delete;

  /// Sends the BiDi command `method` and returns its result; throws on an error answer, after
  /// `timeout`, or when Firefox exits. Events read meanwhile are collected (see messages()).
  nlohmann::json call(const std::string& method,
                      const nlohmann::json& params = nlohmann::json::object(),
                      std::chrono::milliseconds timeout = std::chrono::seconds(15));

  std::string name() const override { return "firefox"; }
  /// browsingContext.navigate (wait "complete"), then checks the document's HTTP status.
  void navigate(const std::string& url,
                std::chrono::milliseconds timeout = std::chrono::seconds(20)) override;
  /// script.evaluate; the result (a BiDi RemoteValue) as JSON the way JSON.stringify would
  /// give it (undefined, functions and symbols: null, or left out of objects; NaN, Infinity:
  /// null; -0: 0; Map: object; Set: array; Date: its ISO string; BigInt: its decimal string).
  nlohmann::json eval(const std::string& js) override;
  /// browsingContext.setViewport, device pixel ratio 1. `mobile` changes nothing: Firefox's
  /// BiDi has no touch or meta-viewport emulation.
  void set_viewport(int width, int height, bool mobile) override;
  void screenshot(const std::string& path) override;
  /// input.performActions (keyDown, keyUp) with WebDriver's key code, then input.releaseActions.
  /// Knows Enter, Escape, Tab, the four arrows, Backspace and any single character.
  void press_key(const std::string& key) override;
  const std::vector<std::string>& messages() const override { return messages_; }
  std::string log(size_t max_chars = 8000) const override;
  pid_t pid() const { return pid_; }
  /// The BiDi id of the tab's browsing context.
  const std::string& context() const { return context_; }

private:
  void write_profile();
  void launch();
  int wait_for_port(std::chrono::steady_clock::time_point deadline);
  void connect(int port, std::chrono::steady_clock::time_point deadline);
  void start_session(std::chrono::steady_clock::time_point deadline);
  /// Writes all of `bytes` to the socket by `deadline` (`what` names them in a failure).
  void send_all(const std::string& bytes, const std::string& what,
                std::chrono::steady_clock::time_point deadline);
  void send_frame(int opcode, const std::string& payload,
                  std::chrono::steady_clock::time_point deadline);
  enum class frame { incomplete, other, message };
  /// Takes one complete frame off buffer_ and handles it (answers a ping, throws on a close):
  /// `incomplete` when buffer_ holds no complete frame, `message` when the frame completed a
  /// message (then in `out`).
  frame take_frame(std::string& out, std::chrono::steady_clock::time_point deadline);
  /// Reads one BiDi message (blocking until `deadline`); false on timeout. Throws when Firefox
  /// closed the connection.
  bool read_message(nlohmann::json& out, std::chrono::steady_clock::time_point deadline);
  void on_event(const nlohmann::json& event);
  void add_message(std::string line);
  [[noreturn]] void fail(const std::string& what) const;
  void shut_down();

  std::string dir_;
  pid_t pid_ = -1;
  int socket_ = -1;
  bool closing_ = false;    // a close frame was sent or received
  std::string buffer_;      // bytes read but not yet taken as frames
  std::string fragments_;   // the data of a fragmented message so far
  bool in_message_ = false; // a fragmented message has begun
  long next_id_ = 1;
  std::string context_;
  std::vector<std::string> messages_;
};

} // namespace inboxd::test
