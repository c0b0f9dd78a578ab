// Backups and durability (README "Backups and durability"): scripts/backup.sh takes a snapshot of
// a Redis run as scripts/run.sh runs it, scripts/restore.sh puts it back, and inboxd then serves
// exactly the backed-up state; and with appendfsync always, kill -9 of redis-server under load
// loses no acknowledged webhook.

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>

#include "tests/e2e/e2e_test.hpp"
#include "tests/support/shell_command.hpp"

namespace inboxd::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// The last non-empty line of `text` (a script's result after its progress messages).
std::string last_line(std::string text) {
  while (!text.empty() && text.back() == '\n')
    text.pop_back();
  auto nl = text.rfind('\n');
  return nl == std::string::npos ? text : text.substr(nl + 1);
}

std::string script(const std::string& name) {
  return std::string(INBOXD_SOURCE_DIR) + "/scripts/" + name;
}

// redis-server started the way scripts/run.sh starts it (daemonized, AOF everysec, a data
// directory with redis.pid and redis.log), so scripts/restore.sh can stop and start it. The
// directory is a fresh temp one; the server (whatever its pid by then) is killed at the end.
class run_sh_redis {
public:
  run_sh_redis() : port_(free_port()) {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/inboxd-backup-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr)
      throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    std::filesystem::create_directories(data_dir());
    auto r = run_command(
        "redis-server --bind 127.0.0.1 --port " + std::to_string(port_) + " --dir " + data_dir() +
        " --appendonly yes --appendfsync everysec --daemonize yes" + " --pidfile " + data_dir() +
        "/redis.pid --logfile " + data_dir() + "/redis.log");
    if (r.exit_code != 0)
      throw std::runtime_error("redis-server: " + r.output);
    for (int i = 0; i < 100 && cli("PING").find("PONG") == std::string::npos; ++i)
      std::this_thread::sleep_for(100ms);
  }
  ~run_sh_redis() {
    kill_server();
    std::error_code ec;
    if (!::testing::Test::HasFailure())
      std::filesystem::remove_all(dir_, ec);
    else
      std::cerr << "backup test files kept in " << dir_ << "\n";
  }
  run_sh_redis(const run_sh_redis&) = delete;
  run_sh_redis& operator=(const run_sh_redis&) = delete;

  int port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_) + "/0"; }
  std::string data_dir() const { return dir_ + "/redis"; }
  std::string backup_dir() const { return dir_ + "/backups"; }
  std::string cli(const std::string& args) const {
    return run_command("redis-cli -h 127.0.0.1 -p " + std::to_string(port_) + " " + args).output;
  }

private:
  void kill_server() {
    std::ifstream in(data_dir() + "/redis.pid");
    pid_t pid = 0;
    if (in >> pid && pid > 0)
      ::kill(pid, SIGKILL);
  }

  int port_;
  std::string dir_;
};

// A text message from `from` to the test workspace, with wamid `wamid`.
std::string text_body(const std::string& wamid, const std::string& from, const std::string& text) {
  auto body = fixture_case("meta/message.json", "text");
  auto& value = body["entry"][0]["changes"][0]["value"];
  value["metadata"]["phone_number_id"] = kPhoneNumberId;
  value["messages"][0]["id"] = wamid;
  value["messages"][0]["from"] = from;
  value["contacts"][0]["wa_id"] = from;
  value["contacts"][0].erase("user_id");
  value["messages"][0]["text"]["body"] = text;
  return body.dump();
}

class backup_test : public ::testing::Test {
protected:
  void SetUp() override {
    inboxd_ = std::make_unique<inboxd_process>(
        inboxd_process::env_map{{"INBOXD_REDIS_URL", redis_.url()},
                                {"INBOXD_ADMIN_TOKEN", kAdminToken},
                                {"INBOXD_META_APP_SECRET", kMetaSecret},
                                {"INBOXD_LOG_LEVEL", "info"}});
    wait_until_ready(inboxd_->port());
    auto admin = header_list{{"Authorization", std::string("Bearer ") + kAdminToken}};
    auto ws = client().post_json(
        "/api/admin/workspaces",
        json{{"name", "Acme"}, {"slug", "acme"}, {"phoneNumberId", kPhoneNumberId}}, admin);
    ASSERT_EQ(ws.status, 201) << ws.body;
    auto key = client().request(
        "POST", "/api/admin/workspaces/" + ws.json()["id"].get<std::string>() + "/api-keys", {},
        admin);
    ASSERT_EQ(key.status, 201) << key.body;
    key_ = key.json()["key"];
  }

  http_client client() const { return http_client(inboxd_->port(), false); }

  void ingest(const std::string& wamid, const std::string& from, const std::string& text) {
    EXPECT_EQ(webhook_status(inboxd_->port(), text_body(wamid, from, text)), 200) << wamid;
  }

  json get(const std::string& target) {
    auto r = client().get(target, {{"X-API-Key", key_}});
    EXPECT_EQ(r.status, 200) << target << ": " << r.body;
    return r.status == 200 ? r.json() : json();
  }

  // Everything the inbox API shows of the workspace: the conversation list (all statuses) and
  // each conversation's messages, by conversation id.
  json state() {
    json s;
    s["list"] = get("/api/conversations?status=all&limit=100");
    for (auto& c : s["list"]["conversations"]) {
      std::string id = c["id"];
      s["messages"][id] = get("/api/conversations/" + id + "/messages?limit=100");
    }
    return s;
  }

  std::string conversation_of(const std::string& phone) {
    auto page = get("/api/conversations?status=all&limit=100");
    for (auto& c : page["conversations"])
      if (c["contact"]["phone"] == phone)
        return c["id"];
    return "";
  }

  run_sh_redis redis_;
  std::unique_ptr<inboxd_process> inboxd_;
  std::string key_;
};

// Ingest, back up (while inboxd runs), ingest and change more, stop inboxd, restore, start:
// the API shows exactly the backed-up state, and the service goes on working.
TEST_F(backup_test, restore_brings_back_exactly_the_backed_up_state) {
  for (int c = 1; c <= 3; ++c)
    for (int i = 0; i < 4; ++i)
      ingest("wamid.before." + std::to_string(c) + "." + std::to_string(i),
             "3161234567" + std::to_string(c),
             "before " + std::to_string(c) + "/" + std::to_string(i));
  auto first = conversation_of("31612345671");
  ASSERT_FALSE(first.empty());
  auto tagged = client().request("PUT", "/api/conversations/" + first + "/tags",
                                 json{{"tags", {"vip"}}}.dump(),
                                 {{"X-API-Key", key_}, {"Content-Type", "application/json"}});
  ASSERT_EQ(tagged.status, 200) << tagged.body;
  auto backed_up = state();
  ASSERT_EQ(backed_up["list"]["conversations"].size(), 3u) << backed_up.dump();

  auto backup = run_command(script("backup.sh") + " --url " + redis_.url() + " --dest " +
                            redis_.backup_dir());
  ASSERT_EQ(backup.exit_code, 0) << backup.output;
  std::string rdb = last_line(backup.output);
  ASSERT_TRUE(std::filesystem::is_regular_file(rdb)) << backup.output;
  EXPECT_TRUE(rdb.ends_with(".rdb")) << rdb;
  // The remote-capable method (redis-cli --rdb) gives a valid snapshot too.
  auto replica = run_command(script("backup.sh") + " --method replica --url " + redis_.url() +
                             " --dest " + redis_.backup_dir());
  EXPECT_EQ(replica.exit_code, 0) << replica.output;
  EXPECT_NE(replica.output.find("via replica"), std::string::npos) << replica.output;

  // After the backup: more messages in a known conversation, a new contact, a status change.
  for (int i = 0; i < 3; ++i)
    ingest("wamid.after.1." + std::to_string(i), "31612345671", "after 1/" + std::to_string(i));
  ingest("wamid.after.4.0", "31612345674", "after 4/0");
  auto closed = client().request("POST", "/api/conversations/" + first + "/status",
                                 json{{"status", "closed"}}.dump(),
                                 {{"X-API-Key", key_}, {"Content-Type", "application/json"}});
  ASSERT_EQ(closed.status, 200) << closed.body;
  auto later = state();
  ASSERT_EQ(later["list"]["conversations"].size(), 4u);
  ASSERT_NE(later, backed_up);

  // Restore refuses while inboxd is connected; after inboxd stops it goes through.
  auto refused = run_command(script("restore.sh") + " --rdb " + rdb + " --dir " +
                             redis_.data_dir() + " --port " + std::to_string(redis_.port()));
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_NE(refused.output.find("stop inboxd first"), std::string::npos) << refused.output;
  ASSERT_EQ(inboxd_->stop(), 0) << "inboxd exits 0 on SIGTERM";
  auto restore = run_command(script("restore.sh") + " --rdb " + rdb + " --dir " +
                             redis_.data_dir() + " --port " + std::to_string(redis_.port()));
  ASSERT_EQ(restore.exit_code, 0) << restore.output;
  EXPECT_NE(redis_.cli("CONFIG GET appendonly").find("yes"), std::string::npos)
      << "Redis runs with AOF on after the restore";
  EXPECT_NE(restore.output.find("pre-restore-"), std::string::npos)
      << "the data it replaced is kept: " << restore.output;

  inboxd_->start();
  wait_until_ready(inboxd_->port());
  EXPECT_EQ(state(), backed_up) << "the API shows exactly the backed-up state";

  // The service works on: a new message in a restored conversation, and the post-backup webhook
  // of the new contact, delivered again (its dedupe record went with the restore), is stored.
  ingest("wamid.restored.1", "31612345671", "after restore");
  ingest("wamid.after.4.0", "31612345674", "after 4/0");
  auto now = state();
  EXPECT_EQ(now["list"]["conversations"].size(), 4u) << now["list"].dump();
  auto msgs = get("/api/conversations/" + first + "/messages?limit=100")["messages"];
  ASSERT_EQ(msgs.size(), 5u) << msgs.dump();
  EXPECT_EQ(msgs.back()["text"], "after restore");
  EXPECT_EQ(msgs.front()["text"], "before 1/0");

  // The restored Redis is one scripts/run.sh would reuse: a restart loads it from the AOF.
  ASSERT_EQ(inboxd_->stop(), 0);
  auto again = run_command(script("restore.sh") + " --rdb " + rdb + " --dir " + redis_.data_dir() +
                           " --port " + std::to_string(redis_.port()));
  EXPECT_EQ(again.exit_code, 0) << "restore is repeatable: " << again.output;
  inboxd_->start();
  wait_until_ready(inboxd_->port());
  EXPECT_EQ(state(), backed_up);
}

TEST_F(backup_test, backup_and_restore_fail_clearly) {
  auto no_redis = run_command(script("backup.sh") + " --url redis://127.0.0.1:1/0 --dest " +
                              redis_.backup_dir());
  EXPECT_EQ(no_redis.exit_code, 1);
  EXPECT_NE(no_redis.output.find("does not answer PING"), std::string::npos) << no_redis.output;
  auto bad_url = run_command(script("backup.sh") + " --url http://x:1");
  EXPECT_EQ(bad_url.exit_code, 1);
  EXPECT_NE(bad_url.output.find("unsupported URL scheme"), std::string::npos) << bad_url.output;

  std::filesystem::create_directories(redis_.backup_dir());
  auto junk = redis_.backup_dir() + "/junk.rdb";
  std::ofstream(junk) << "REDIS0010 not really";
  auto invalid = run_command(script("restore.sh") + " --rdb " + junk + " --dir " +
                             redis_.data_dir() + " --port " + std::to_string(redis_.port()));
  EXPECT_EQ(invalid.exit_code, 1);
  EXPECT_NE(invalid.output.find("not a valid RDB file"), std::string::npos) << invalid.output;
  auto missing = run_command(script("restore.sh") + " --rdb " + redis_.backup_dir() + "/none.rdb");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.output.find("no readable file"), std::string::npos) << missing.output;
  // A valid snapshot but the wrong data directory for the Redis on that port: nothing touched.
  auto backup = run_command(script("backup.sh") + " --url " + redis_.url() + " --dest " +
                            redis_.backup_dir());
  ASSERT_EQ(backup.exit_code, 0) << backup.output;
  auto rdb = last_line(backup.output);
  auto wrong =
      run_command(script("restore.sh") + " --rdb " + rdb + " --dir " + redis_.backup_dir() +
                  " --port " + std::to_string(redis_.port()) + " --force");
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.output.find("not " + redis_.backup_dir()), std::string::npos) << wrong.output;
  EXPECT_EQ(http_client(inboxd_->port(), false).get("/readyz").status, 200);
}

// appendfsync always (the e2e Redis' setting): kill -9 of redis-server while webhooks stream in,
// then a restart on the same data: every webhook answered 200 is stored, once.
TEST_F(e2e_test, redis_kill_9_under_load_loses_no_acknowledged_webhook) {
  constexpr int kThreads = 4, kContacts = 5, kAfterRestart = 25;
  std::mutex mtx;
  acknowledged_texts acked;
  std::atomic<int> acked_count{0}, acked_after{0};
  std::atomic<bool> restarted{false}, stop{false};
  std::vector<std::thread> clients;
  for (int t = 0; t < kThreads; ++t)
    clients.emplace_back([&, t] {
      for (int i = 0; !stop; ++i) {
        std::string from = "4915100000" + std::to_string((t + i) % kContacts);
        std::string text = "m" + std::to_string(t) + "-" + std::to_string(i);
        bool after = restarted;
        if (webhook_status(inboxd_->port(), text_body(unique_id("wamid."), from, text)) == 200) {
          std::lock_guard lock(mtx);
          acked[from].push_back(text);
          ++acked_count;
          if (after && ++acked_after >= kThreads * kAfterRestart)
            stop = true;
        } else {
          std::this_thread::sleep_for(20ms); // as Meta backs off; no busy loop while Redis is down
        }
      }
    });
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (acked_count < 200 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  redis_->stop(); // SIGKILL
  redis_->start();
  restarted = true;
  while (!stop && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  stop = true;
  for (auto& c : clients)
    c.join();
  EXPECT_GE(acked_after.load(), kThreads * kAfterRestart) << "ingest resumed after the restart";
  size_t total = 0;
  auto conversations = expect_stored_once(inboxd_->port(), api_key_, acked, total);
  EXPECT_EQ(conversations, static_cast<size_t>(kContacts));
  EXPECT_EQ(total, static_cast<size_t>(acked_count.load()));
}

} // namespace
} // namespace inboxd::test
