// The browser drivers (tests/support/browser.hpp: Debian's headless Chromium over the DevTools
// protocol, chromium.hpp; Debian's headless firefox-esr over WebDriver BiDi, firefox.hpp) on
// pages of their own, no inboxd: navigation, evaluation, bounded waits, screenshots, key presses,
// the collection of console messages, exceptions and CSP violations, failed loads, and that no
// process of the browser outlives its driver. The web inbox tests run in both.

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "tests/e2e/web_page.hpp"
#include "tests/support/browser_process.hpp"
#include "tests/support/fake_cloud_api.hpp"
#include "tests/support/fixtures.hpp"

namespace inboxd::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

bool has(const std::vector<std::string>& lines, const std::string& part) {
  for (auto& l : lines)
    if (l.find(part) != std::string::npos)
      return true;
  return false;
}

// Whether a process of Firefox `pid` (its process group, or its crash helper, which runs in a
// group of its own) still runs.
bool firefox_runs(pid_t pid) {
  if (process_group_runs(pid))
    return true;
  std::error_code ec;
  for (auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    std::ifstream in(entry.path() / "cmdline", std::ios::binary);
    std::string program, first;
    if (std::getline(in, program, '\0') && std::getline(in, first, '\0') &&
        program.ends_with("/crashhelper") && first == std::to_string(pid)) {
      std::ifstream stat(entry.path() / "stat");
      std::string line;
      if (std::getline(stat, line) && line.find(") Z") == std::string::npos)
        return true;
    }
  }
  return false;
}

// A local port that refuses connections: a bound socket that does not listen (answers a SYN
// with a RST), held open so no one else takes the port meanwhile.
class refusing_port {
public:
  refusing_port() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      throw std::runtime_error("refusing_port: cannot bind");
    port_ = ntohs(addr.sin_port);
  }
  ~refusing_port() { ::close(fd_); }
  refusing_port(const refusing_port&) = delete;
  refusing_port& operator=(const refusing_port&) = delete;
  int port() const { return port_; }

private:
  int fd_ = -1;
  int port_ = 0;
};

// A browser of `name` and whether any process of it still runs (checked after it is gone).
struct launched {
  std::unique_ptr<browser> page;
  std::function<bool()> still_runs;
};

launched launch(const std::string& name) {
  if (name == "firefox") {
    auto f = std::make_unique<firefox>();
    auto pid = f->pid();
    return {std::move(f), [pid] { return firefox_runs(pid); }};
  }
  auto c = std::make_unique<chromium>();
  auto pid = c->pid();
  return {std::move(c), [pid] { return process_group_runs(pid); }};
}

class browser_driver : public ::testing::TestWithParam<std::string> {};

TEST_P(browser_driver, drives_a_page_and_reports_its_console_and_csp_violations) {
  auto started = steady::now();
  std::function<bool()> still_runs;
  {
    auto opened = launch(GetParam());
    auto& browser = *opened.page;
    still_runs = opened.still_runs;
    auto launched = steady::now();
    browser.set_viewport(800, 600, false);
    browser.navigate(
        data_url("<!doctype html><meta http-equiv=\"Content-Security-Policy\" "
                 "content=\"script-src 'none'\"><title>driver</title>"
                 "<meta name=\"viewport\" content=\"width=device-width\">"
                 "<p id=\"p\">Olá, driver</p><script>window.inline = 1</script>"));
    EXPECT_EQ(browser.eval("document.title"), "driver");
    EXPECT_EQ(browser.eval("document.getElementById('p').textContent"), "Olá, driver");
    EXPECT_EQ(browser.eval("1 + 2"), 3);
    EXPECT_EQ(browser.eval("Promise.resolve({a: [1, 'x']})"), json::parse(R"({"a":[1,"x"]})"));
    EXPECT_TRUE(browser.eval("undefined").is_null());
    EXPECT_EQ(browser.eval("typeof window.inline"), "undefined") << "CSP let an inline script run";
    EXPECT_THROW(browser.eval("null.x"), std::runtime_error);
    EXPECT_THROW(browser.wait_for("(", 1s), std::runtime_error) << "a syntax error is not false";
    // Firefox: BiDi's RemoteValues come back as JSON.stringify would give them (Chromium's
    // returnByValue has its own rules for Map, Set and BigInt).
    if (GetParam() == "firefox") {
      EXPECT_EQ(browser.eval("({n: null, u: undefined, f() {}, t: true, d: 2.5, neg: -0, nan: NaN, "
                             "inf: -Infinity, s: 'é\\u0000', nested: [[{}], [undefined]], "
                             "m: new Map([['k', 1]]), set: new Set([1, 1, 2]), big: 12n})"),
                json::parse(R"({"n": null, "t": true, "d": 2.5, "neg": 0, "nan": null,
                             "inf": null, "s": "é\u0000", "nested": [[{}], [null]],
                             "m": {"k": 1}, "set": [1, 2], "big": "12"})"));
    }
    EXPECT_EQ(browser.eval("'x'.repeat(300000)").get<std::string>().size(), 300000u)
        << "a large message (Firefox: in 64-bit-length frames)";

    browser.eval("setTimeout(() => { document.title = 'later'; }, 200); true");
    EXPECT_TRUE(browser.wait_for("document.title === 'later'", 5s));
    EXPECT_FALSE(browser.wait_for("document.querySelector('#later').id === 'later'", 300ms))
        << "a condition that throws counts as false";
    auto t0 = steady::now();
    EXPECT_FALSE(browser.wait_for("false", 300ms));
    EXPECT_LT(steady::now() - t0, 5s);

    browser.eval(
        "console.log('plain', 42); console.error('boom'); setTimeout(() => { throw new "
        "Error('uncaught'); }, 0); true");
    EXPECT_TRUE(browser.wait_for("new Promise(r => setTimeout(() => r(true), 100))", 5s));
    auto problems = browser.problems();
    EXPECT_TRUE(has(browser.messages(), "console.log: plain 42"));
    EXPECT_FALSE(has(problems, "plain 42"));
    EXPECT_TRUE(has(problems, "console.error: boom"));
    EXPECT_TRUE(has(problems, "uncaught"));
    EXPECT_TRUE(has(problems, "Content Security Policy")) << "the blocked inline script";
    for (auto& m : browser.messages())
      std::cout << "  page: " << m << "\n";

    browser.set_viewport(390, 844, true);
    EXPECT_TRUE(browser.wait_for("window.innerWidth === 390", 5s));
    auto shot = std::filesystem::temp_directory_path() / ("inboxd-driver-" + unique_id() + ".png");
    browser.screenshot(shot.string());
    EXPECT_TRUE(is_png(shot));
    EXPECT_GT(std::filesystem::file_size(shot), 100u);
    std::filesystem::remove(shot);

    // Keys reach the focused element as real keyboard input.
    browser.navigate(
        data_url("<!doctype html><input id=\"i\"><script>window.keys = []; "
                 "document.getElementById('i').addEventListener('keydown', e => keys.push(e.key)); "
                 "document.getElementById('i').focus();</script>"));
    for (auto* key : {"Enter", "ArrowDown", "Escape"})
      browser.press_key(key);
    EXPECT_EQ(browser.eval("keys"), json::parse(R"(["Enter", "ArrowDown", "Escape"])"));
    EXPECT_EQ(browser.eval("document.activeElement.id"), "i");
    EXPECT_THROW(browser.press_key("NoSuchKey"), std::runtime_error);

    // Failed loads: a refused connection and an HTTP error status fail navigate(); a failing
    // request of the page is a problem.
    refusing_port refusing;
    EXPECT_THROW(browser.navigate("http://127.0.0.1:" + std::to_string(refusing.port()) + "/"),
                 std::runtime_error)
        << "a refused connection is a failed navigation";
    fake_cloud_api server(false);
    server.set_responder([](const recorded_request& r) {
      reply out;
      out.headers = {{"Content-Type", "text/html; charset=utf-8"}};
      if (r.target == "/missing") {
        out.status = 404;
        out.body = "<!doctype html><title>missing</title>";
      } else {
        out.body = "<!doctype html><title>ok</title><img src=\"/missing.png\">";
        if (r.target == "/missing.png")
          out.status = 404;
      }
      return out;
    });
    EXPECT_THROW(browser.navigate(server.url("/missing")), std::runtime_error)
        << "HTTP 404 is a failed navigation";
    browser.navigate(server.url("/page"));
    EXPECT_EQ(browser.eval("document.title"), "ok");
    EXPECT_TRUE(browser.wait_for("document.images[0].complete", 5s));
    auto failed = browser.problems();
    auto missing = std::find_if(failed.begin(), failed.end(), [&](const std::string& p) {
      return p.starts_with("log.network.error: ") && p.find("404") != std::string::npos &&
             p.find(server.url("/missing.png")) != std::string::npos;
    });
    EXPECT_TRUE(missing != failed.end()) << "a subresource's 404:" << joined(failed);
    std::cout << GetParam() << " driver test: started in "
              << std::chrono::duration_cast<std::chrono::milliseconds>(launched - started).count()
              << " ms\n";
  }
  EXPECT_FALSE(still_runs()) << "a process of the browser outlived the driver";
  std::cout
      << GetParam() << " driver test: "
      << std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - started).count()
      << " ms\n";
}

INSTANTIATE_TEST_SUITE_P(browsers, browser_driver, ::testing::Values("chromium", "firefox"),
                         [](const auto& info) { return info.param; });

} // namespace
} // namespace inboxd::test
