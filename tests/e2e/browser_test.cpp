// End-to-end with a real browser client: headless Chromium (Debian's chromium package) opens a
// page whose EventSource subscribes to inboxd's /api/events with ?access_token=; the page reports
// what it receives to a local recorder (the fake Cloud API in plain HTTP mode, which records every
// request). A webhook posted to inboxd must reach the page.

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "tests/e2e/e2e_test.hpp"
#include "tests/support/browser_process.hpp"
#include "tests/support/fake_cloud_api.hpp"

extern char** environ;

namespace inboxd::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kChromium = "/usr/bin/chromium";

class browser_test : public e2e_test {
protected:
  void TearDown() override {
    if (browser_ > 0) {
      // Chromium's helpers (zygote, network service) write into the profile too: kill its whole
      // process group and remove the directory only once none of them runs any more.
      ::kill(-browser_, SIGKILL);
      int status = 0;
      ::waitpid(browser_, &status, 0);
      for (int i = 0; i < 500 && process_group_runs(browser_); ++i)
        std::this_thread::sleep_for(10ms);
      EXPECT_FALSE(process_group_runs(browser_)) << "Chromium's helpers outlived SIGKILL";
    }
    if (!dir_.empty())
      std::filesystem::remove_all(dir_);
    e2e_test::TearDown();
  }

  // Starts Chromium on `page` (a file path), in a process group of its own.
  void launch(const std::string& page) {
    std::vector<std::string> args = {kChromium,
                                     "--headless=new",
                                     "--no-sandbox",
                                     "--disable-gpu",
                                     "--disable-dev-shm-usage",
                                     "--disable-web-security", // the page is a file: origin
                                     "--no-first-run",
                                     "--disable-background-networking",
                                     "--disable-component-update",
                                     "--disable-sync",
                                     "--disable-quic",
                                     "--user-data-dir=" + dir_ + "/profile",
                                     "file://" + page};
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    auto log = dir_ + "/chromium.log";
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    // Chromium must not inherit the sanitizer settings meant for inboxd.
    std::vector<std::string> env_store;
    for (char** e = environ; *e; ++e) {
      std::string kv = *e;
      if (kv.rfind("ASAN_OPTIONS=", 0) != 0 && kv.rfind("UBSAN_OPTIONS=", 0) != 0 &&
          kv.rfind("LSAN_OPTIONS=", 0) != 0)
        env_store.push_back(kv);
    }
    std::vector<char*> envp;
    for (auto& kv : env_store)
      envp.push_back(kv.data());
    envp.push_back(nullptr);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    int rc = posix_spawn(&browser_, kChromium, &fa, &attr, argv.data(), envp.data());
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    ASSERT_EQ(rc, 0) << "cannot start " << kChromium;
  }

  std::string chromium_log() const {
    std::ifstream in(dir_ + "/chromium.log");
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return s.size() > 4000 ? s.substr(s.size() - 4000) : s;
  }

  pid_t browser_ = -1;
  std::string dir_;
};

TEST_F(browser_test, an_event_source_in_headless_chromium_receives_a_webhook_message) {
  ASSERT_TRUE(std::filesystem::exists(kChromium))
      << "Debian's chromium package is needed (scripts/deps.sh installs it)";
  char tmpl[] = "/tmp/inboxd-browser-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  dir_ = tmpl;
  fake_cloud_api recorder(/*tls=*/false);
  auto beacon = "http://127.0.0.1:" + std::to_string(recorder.port());
  auto stream = "http://127.0.0.1:" + std::to_string(inboxd_->port()) +
                "/api/events?access_token=" + api_key_;
  auto page = dir_ + "/page.html";
  std::ofstream(page) << "<!doctype html><title>inbox</title><script>\n"
                      << "const beacon = '" << beacon << "';\n"
                      << "const report = (path, body) => fetch(beacon + path, "
                         "{method: 'POST', mode: 'no-cors', body});\n"
                      << "const es = new EventSource('" << stream << "');\n"
                      << "es.onopen = () => report('/open', 'open');\n"
                      << "es.addEventListener('message.created', e => report('/event', "
                         "JSON.stringify({id: e.lastEventId, data: JSON.parse(e.data)})));\n"
                      << "</script>\n";
  launch(page);
  // Wait until the page's EventSource is open, then post a webhook.
  bool open = false;
  for (int i = 0; i < 300 && !open; ++i) {
    for (auto& r : recorder.requests())
      open = open || r.target == "/open";
    if (!open)
      std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(open) << "the EventSource never opened; chromium log:\n" << chromium_log();
  auto body = with_unique_wamids(fixture_case("meta/message.json", "text"));
  body["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"] = "Olá do navegador";
  auto wamid = first_wamid(body);
  ASSERT_EQ(post_meta(body.dump()).status, 200);
  json got;
  for (int i = 0; i < 200 && got.is_null(); ++i) {
    for (auto& r : recorder.requests())
      if (r.target == "/event")
        got = json::parse(r.body, nullptr, false);
    if (got.is_null())
      std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(got.is_object()) << "no event reached the page; chromium log:\n" << chromium_log();
  EXPECT_FALSE(got["id"].get<std::string>().empty()) << "lastEventId is set from the id: line";
  EXPECT_EQ(got["data"]["type"], "message.created");
  EXPECT_EQ(got["data"]["workspaceId"], ws_id_);
  EXPECT_EQ(got["data"]["message"]["text"], "Olá do navegador");
  EXPECT_EQ(got["data"]["message"]["waMessageId"], wamid);
}

} // namespace
} // namespace inboxd::test
