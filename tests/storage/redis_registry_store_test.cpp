// Integration tests: storage/redis_registry_store (workspaces and their indexes, dead letters,
// members, API keys, a workspace's initial load) against a real redis-server.

#include "storage/redis_registry_store.hpp"

#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "storage/redis_client.hpp"
#include "storage/registry_scripts.hpp"
#include "tests/support/io_thread.hpp"
#include "tests/support/redis_server.hpp"

namespace inboxd {
namespace {

using namespace std::chrono_literals;
using test::endpoint_of;
using test::io_thread;
using test::redis_server;
using test::wait_until;

workspace make_workspace(const std::string& id, const std::string& slug, const std::string& pid) {
  workspace ws;
  ws.id = id;
  ws.name = "Name of " + id;
  ws.slug = slug;
  ws.phone_number_id = pid;
  ws.meta_app_secret = "secret-" + id;
  ws.created_at = 1763647391000;
  return ws;
}

dead_letter_record letter(const std::string& id, int64_t received_at) {
  return {id, "5550001", received_at, "meta", "", R"({"object":"whatsapp_business_account"})"};
}

class RedisRegistryStoreTest : public ::testing::Test {
protected:
  void SetUp() override {
    server_ = std::make_unique<redis_server>();
    client_ = std::make_shared<redis_client>(io_.io, endpoint_of(server_->url()));
    client_->start();
    ASSERT_TRUE(wait_until([&] { return client_->connected(); }, 5s)) << "never connected";
    store_ = std::make_unique<redis_registry_store>(client_);
  }
  void TearDown() override {
    store_.reset();
    client_->stop();
    io_.drain();
  }

  // Makes one call through `start` (which gets the callback) and waits for its result.
  template <class Result, class Start>
  Result wait_for(Start start) {
    auto p = std::make_shared<std::promise<Result>>();
    auto f = p->get_future();
    start([p](Result r) { p->set_value(std::move(r)); });
    if (f.wait_for(20s) != std::future_status::ready) {
      ADD_FAILURE() << "no callback";
      return {};
    }
    return f.get();
  }

  registry_write save(const workspace& ws, std::optional<workspace> old = std::nullopt) {
    return wait_for<registry_write>(
        [&](auto done) { store_->save_workspace(ws, old, std::move(done)); });
  }
  workspaces_read load_workspaces() {
    return wait_for<workspaces_read>([&](auto done) { store_->load_workspaces(std::move(done)); });
  }
  registry_write store_letter(const dead_letter_record& d) {
    return wait_for<registry_write>(
        [&](auto done) { store_->store_dead_letter(d, std::move(done)); });
  }
  dead_letters_read list_letters(size_t limit) {
    return wait_for<dead_letters_read>(
        [&](auto done) { store_->list_dead_letters(limit, std::move(done)); });
  }
  dead_letters_read oldest_letters(size_t limit) {
    return wait_for<dead_letters_read>(
        [&](auto done) { store_->oldest_dead_letters(limit, std::move(done)); });
  }
  registry_write delete_letters(std::vector<std::string> ids) {
    return wait_for<registry_write>(
        [&](auto done) { store_->delete_dead_letters(ids, std::move(done)); });
  }
  workspace_records load_state(const std::string& ws) {
    return wait_for<workspace_records>(
        [&](auto done) { store_->load_workspace_state(ws, std::move(done)); });
  }
  registry_write put_member(const std::string& ws, const std::string& user, member m) {
    return wait_for<registry_write>(
        [&](auto done) { store_->put_member(ws, user, m, std::move(done)); });
  }
  registry_write delete_member(const std::string& ws, const std::string& user) {
    return wait_for<registry_write>(
        [&](auto done) { store_->delete_member(ws, user, std::move(done)); });
  }
  registry_write put_api_key(const std::string& ws, const std::string& id, const std::string& h) {
    return wait_for<registry_write>(
        [&](auto done) { store_->put_api_key(ws, id, h, std::move(done)); });
  }
  registry_write delete_api_key(const std::string& ws, const std::string& id) {
    return wait_for<registry_write>(
        [&](auto done) { store_->delete_api_key(ws, id, std::move(done)); });
  }

  std::string cli(const std::string& args) { return server_->cli(args); }

  io_thread io_;
  std::unique_ptr<redis_server> server_;
  std::shared_ptr<redis_client> client_;
  std::unique_ptr<redis_registry_store> store_;
};

TEST_F(RedisRegistryStoreTest, SaveWorkspaceWritesTheRecordAndBothIndexes) {
  auto ws = make_workspace("ws_1", "acme", "111");
  auto w = save(ws);
  ASSERT_TRUE(w.ok) << w.error;
  auto meta = nlohmann::json::parse(cli("HGET {inboxd}:ws ws_1"));
  EXPECT_EQ(meta, nlohmann::json(ws)); // the storage form, secrets included
  EXPECT_EQ(meta["metaAppSecret"], "secret-ws_1");
  EXPECT_EQ(cli("HGET {inboxd}:ws:slug acme"), "ws_1\n");
  EXPECT_EQ(cli("HGET {inboxd}:ws:pid 111"), "ws_1\n");
}

TEST_F(RedisRegistryStoreTest, APatchMovesOnlyTheIndexEntriesThatChanged) {
  auto ws = make_workspace("ws_1", "acme", "111");
  ASSERT_TRUE(save(ws).ok);
  auto renamed = ws;
  renamed.slug = "acme-2";
  ASSERT_TRUE(save(renamed, ws).ok);
  EXPECT_EQ(cli("HEXISTS {inboxd}:ws:slug acme"), "0\n");
  EXPECT_EQ(cli("HGET {inboxd}:ws:slug acme-2"), "ws_1\n");
  EXPECT_EQ(cli("HGET {inboxd}:ws:pid 111"), "ws_1\n");
  auto moved = renamed;
  moved.phone_number_id = "222";
  moved.name = "Moved";
  ASSERT_TRUE(save(moved, renamed).ok);
  EXPECT_EQ(cli("HEXISTS {inboxd}:ws:pid 111"), "0\n");
  EXPECT_EQ(cli("HGET {inboxd}:ws:pid 222"), "ws_1\n");
  EXPECT_EQ(cli("HGET {inboxd}:ws:slug acme-2"), "ws_1\n");
  EXPECT_EQ(cli("HLEN {inboxd}:ws:slug"), "1\n");
  EXPECT_EQ(cli("HLEN {inboxd}:ws:pid"), "1\n");
  EXPECT_EQ(nlohmann::json::parse(cli("HGET {inboxd}:ws ws_1"))["name"], "Moved");
}

// The uniqueness check every node relies on: in the script, against what is stored.
TEST_F(RedisRegistryStoreTest, ASlugOrNumberHeldByAnotherWorkspaceRefusesTheSave) {
  ASSERT_TRUE(save(make_workspace("ws_1", "acme", "111")).ok);
  auto slug = save(make_workspace("ws_2", "acme", "222"));
  EXPECT_FALSE(slug.ok);
  EXPECT_EQ(slug.conflict, "slug");
  auto pid = save(make_workspace("ws_2", "other", "111"));
  EXPECT_FALSE(pid.ok);
  EXPECT_EQ(pid.conflict, "pid");
  EXPECT_EQ(cli("HEXISTS {inboxd}:ws ws_2"), "0\n"); // nothing written
  EXPECT_EQ(cli("HLEN {inboxd}:ws:slug"), "1\n");
  EXPECT_EQ(cli("HLEN {inboxd}:ws:pid"), "1\n");
  // A patch that keeps its own slug and number is no conflict.
  auto same = make_workspace("ws_1", "acme", "111");
  same.name = "Renamed";
  auto w = save(same, make_workspace("ws_1", "acme", "111"));
  EXPECT_TRUE(w.ok) << w.error;
  EXPECT_TRUE(w.conflict.empty());
}

// Data stores from before 2026-12-03 keep their workspaces and dead letters: the first load
// moves them to the current keys and deletes the old ones.
TEST_F(RedisRegistryStoreTest, TheLayoutBeforeTheHashTagIsMovedOnLoad) {
  auto ws1 = make_workspace("ws_1", "a", "111");
  auto ws2 = make_workspace("ws_2", "b", "222");
  cli("SADD inboxd:workspaces ws_1 ws_2 ws_junk");
  cli("SET {ws:ws_1}:meta '" + nlohmann::json(ws1).dump() + "'");
  cli("SET {ws:ws_2}:meta '" + nlohmann::json(ws2).dump() + "'");
  cli("SET {ws:ws_junk}:meta not-json");
  cli("HSET inboxd:ws:slug a ws_1 b ws_2");
  cli("HSET inboxd:ws:pid 111 ws_1 222 ws_2");
  cli("SET inboxd:deadletter:dl_1 '{\"id\":\"dl_1\",\"receivedAt\":7,\"body\":\"x\"}'");
  cli("ZADD inboxd:deadletters 7 dl_1");
  auto r = load_workspaces();
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.workspaces.size(), 2u);
  EXPECT_EQ(cli("HGET {inboxd}:ws:slug b"), "ws_2\n");
  EXPECT_EQ(cli("HGET {inboxd}:ws:pid 111"), "ws_1\n");
  EXPECT_EQ(cli("EXISTS inboxd:workspaces inboxd:ws:slug inboxd:ws:pid {ws:ws_1}:meta "
                "{ws:ws_junk}:meta inboxd:deadletters inboxd:deadletter:dl_1"),
            "0\n");
  auto letters = list_letters(10);
  ASSERT_TRUE(letters.ok) << letters.error;
  ASSERT_EQ(letters.letters.size(), 1u);
  EXPECT_EQ(letters.letters[0].body, "x");
  EXPECT_EQ(letters.letters[0].received_at, 7);
  // The uniqueness checks hold for the moved workspaces.
  EXPECT_EQ(save(make_workspace("ws_3", "a", "333")).conflict, "slug");
  auto again = load_workspaces(); // nothing left to move
  ASSERT_TRUE(again.ok) << again.error;
  EXPECT_EQ(again.workspaces.size(), 2u);
}

TEST_F(RedisRegistryStoreTest, LoadWorkspacesReadsEverySavedOneAndSkipsWhatIsNotAnObject) {
  auto empty = load_workspaces();
  ASSERT_TRUE(empty.ok) << empty.error;
  EXPECT_TRUE(empty.workspaces.empty());
  ASSERT_TRUE(save(make_workspace("ws_1", "a", "111")).ok);
  ASSERT_TRUE(save(make_workspace("ws_2", "b", "222")).ok);
  cli("HSET {inboxd}:ws ws_junk not-json");
  auto r = load_workspaces();
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.workspaces.size(), 2u);
  std::map<std::string, workspace> by_id;
  for (auto& ws : r.workspaces)
    by_id[ws.id] = ws;
  ASSERT_TRUE(by_id.count("ws_1") && by_id.count("ws_2"));
  EXPECT_EQ(nlohmann::json(by_id["ws_1"]), nlohmann::json(make_workspace("ws_1", "a", "111")));
  EXPECT_EQ(by_id["ws_2"].phone_number_id, "222");
}

TEST_F(RedisRegistryStoreTest, AnUnreadableWorkspaceRecordFailsTheLoad) {
  ASSERT_TRUE(save(make_workspace("ws_1", "a", "111")).ok);
  cli(R"(HSET {inboxd}:ws ws_bad '{"id":"ws_bad","slug":42}')");
  auto r = load_workspaces();
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("workspace"), std::string::npos) << r.error;
}

TEST_F(RedisRegistryStoreTest, DeadLettersAreListedNewestFirstAndReplayedOldestFirst) {
  for (int i = 1; i <= 3; ++i)
    ASSERT_TRUE(store_letter(letter("dl_" + std::to_string(i), 1000 * i)).ok);
  auto stored = nlohmann::json::parse(cli("GET {inboxd}:deadletter:dl_2"));
  EXPECT_EQ(stored, (nlohmann::json{{"id", "dl_2"},
                                    {"phoneNumberId", "5550001"},
                                    {"receivedAt", 2000},
                                    {"source", "meta"},
                                    {"eventHeader", ""},
                                    {"body", R"({"object":"whatsapp_business_account"})"}}));
  EXPECT_EQ(cli("ZSCORE {inboxd}:deadletters dl_2"), "2000\n");

  auto newest = list_letters(2);
  ASSERT_TRUE(newest.ok) << newest.error;
  ASSERT_EQ(newest.letters.size(), 2u);
  EXPECT_EQ(newest.letters[0].id, "dl_3");
  EXPECT_EQ(newest.letters[1].id, "dl_2");
  EXPECT_EQ(newest.total, 3);

  auto oldest = oldest_letters(2);
  ASSERT_TRUE(oldest.ok) << oldest.error;
  ASSERT_EQ(oldest.letters.size(), 2u);
  EXPECT_EQ(oldest.letters[0].id, "dl_1");
  EXPECT_EQ(oldest.letters[1].id, "dl_2");
  EXPECT_EQ(oldest.total, 3);
  auto& d = oldest.letters[0];
  EXPECT_EQ(d.phone_number_id, "5550001");
  EXPECT_EQ(d.received_at, 1000);
  EXPECT_EQ(d.source, "meta");
  EXPECT_EQ(d.body, R"({"object":"whatsapp_business_account"})");

  auto del = delete_letters({"dl_1", "dl_2", "dl_unknown"});
  ASSERT_TRUE(del.ok) << del.error;
  EXPECT_EQ(cli("EXISTS {inboxd}:deadletter:dl_1 {inboxd}:deadletter:dl_2"), "0\n");
  EXPECT_EQ(cli("ZRANGE {inboxd}:deadletters 0 -1"), "dl_3\n");
  auto rest = oldest_letters(1000);
  ASSERT_TRUE(rest.ok);
  ASSERT_EQ(rest.letters.size(), 1u);
  EXPECT_EQ(rest.total, 1);
  EXPECT_TRUE(delete_letters({}).ok);
}

TEST_F(RedisRegistryStoreTest, NoDeadLettersReadAsAnEmptyList) {
  auto r = list_letters(25);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_TRUE(r.letters.empty());
  EXPECT_EQ(r.total, 0);
}

TEST_F(RedisRegistryStoreTest, ABodyThatIsNotUtf8IsStoredWithReplacementCharacters) {
  auto d = letter("dl_bin", 5);
  d.body = std::string("ab\xff", 3);
  ASSERT_TRUE(store_letter(d).ok);
  auto r = oldest_letters(1);
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.letters.size(), 1u);
  EXPECT_EQ(r.letters[0].body, "ab\xEF\xBF\xBD"); // U+FFFD
}

TEST_F(RedisRegistryStoreTest, MembersAndApiKeysArePutDeletedAndLoaded) {
  ASSERT_TRUE(put_member("W", "user-1", {"admin", 1700}).ok);
  ASSERT_TRUE(put_member("W", "user-2", {"agent", 1800}).ok);
  ASSERT_TRUE(put_api_key("W", "key_1", "hash1").ok);
  ASSERT_TRUE(put_api_key("W", "key_2", "hash2").ok);
  EXPECT_EQ(nlohmann::json::parse(cli("HGET {ws:W}:members user-1")),
            (nlohmann::json{{"role", "admin"}, {"createdAt", 1700}}));
  EXPECT_EQ(cli("HGET {ws:W}:apikeys key_1"), "hash1\n");
  contact ct;
  ct.id = "ct_1";
  ct.phone = "5511";
  conversation cv;
  cv.id = "cv_1";
  cv.contact_id = "ct_1";
  cv.unread_count = 3;
  cli("HSET {ws:W}:contacts ct_1 '" + nlohmann::json(ct).dump() + "'");
  cli("HSET {ws:W}:convs cv_1 '" + nlohmann::json(cv).dump() + "' cv_junk not-json");

  auto r = load_state("W");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.api_keys,
            (std::map<std::string, std::string>{{"key_1", "hash1"}, {"key_2", "hash2"}}));
  ASSERT_EQ(r.members.size(), 2u);
  EXPECT_EQ(r.members["user-1"].role, "admin");
  EXPECT_EQ(r.members["user-1"].created_at, 1700);
  EXPECT_EQ(r.members["user-2"].role, "agent");
  ASSERT_EQ(r.contacts.size(), 1u);
  EXPECT_EQ(r.contacts[0].phone, "5511");
  ASSERT_EQ(r.conversations.size(), 1u);
  EXPECT_EQ(r.conversations[0].unread_count, 3);

  ASSERT_TRUE(delete_member("W", "user-1").ok);
  ASSERT_TRUE(delete_api_key("W", "key_1").ok);
  ASSERT_TRUE(delete_member("W", "nobody").ok);
  auto after = load_state("W");
  ASSERT_TRUE(after.ok) << after.error;
  EXPECT_EQ(after.members.size(), 1u);
  EXPECT_EQ(after.members.count("user-1"), 0u);
  EXPECT_EQ(after.api_keys, (std::map<std::string, std::string>{{"key_2", "hash2"}}));
}

TEST_F(RedisRegistryStoreTest, AnEmptyWorkspaceLoadsEmpty) {
  auto r = load_state("nothing");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_TRUE(r.api_keys.empty() && r.members.empty() && r.contacts.empty() &&
              r.conversations.empty());
}

TEST_F(RedisRegistryStoreTest, TheScriptsAreLoadedAgainAfterRedisForgetsThem) {
  ASSERT_TRUE(save(make_workspace("ws_1", "a", "111")).ok);
  ASSERT_TRUE(store_letter(letter("dl_1", 1)).ok);
  ASSERT_TRUE(delete_letters({"dl_1"}).ok);
  auto loaded = [&](const lua_script& s) { return cli("SCRIPT EXISTS " + s.sha) == "1\n"; };
  EXPECT_TRUE(loaded(save_workspace_script()));
  cli("SCRIPT FLUSH");
  ASSERT_FALSE(loaded(save_workspace_script()));
  auto renamed = make_workspace("ws_1", "b", "111");
  auto w = save(renamed, make_workspace("ws_1", "a", "111"));
  ASSERT_TRUE(w.ok) << w.error;
  EXPECT_TRUE(loaded(save_workspace_script())); // EVAL loaded it
  EXPECT_EQ(cli("HGET {inboxd}:ws:slug b"), "ws_1\n");
  EXPECT_EQ(cli("HEXISTS {inboxd}:ws:slug a"), "0\n");
  cli("SCRIPT FLUSH");
  ASSERT_TRUE(store_letter(letter("dl_2", 2)).ok);
  EXPECT_EQ(cli("ZSCORE {inboxd}:deadletters dl_2"), "2\n");
  cli("SCRIPT FLUSH");
  ASSERT_TRUE(delete_letters({"dl_2"}).ok);
  EXPECT_EQ(cli("EXISTS {inboxd}:deadletter:dl_2"), "0\n");
  // Loaded again by EVAL: the next call's EVALSHA finds them.
  ASSERT_TRUE(store_letter(letter("dl_3", 3)).ok);
  EXPECT_EQ(cli("ZCARD {inboxd}:deadletters"), "1\n");
}

TEST_F(RedisRegistryStoreTest, AScriptErrorIsAFailedWrite) {
  cli("SET {inboxd}:deadletters not-a-zset");
  auto w = store_letter(letter("dl_1", 1));
  EXPECT_FALSE(w.ok);
  EXPECT_NE(w.error.find("WRONGTYPE"), std::string::npos) << w.error;
}

TEST_F(RedisRegistryStoreTest, WithRedisDownEveryCallFailsAndNothingIsWritten) {
  server_->stop();
  ASSERT_TRUE(wait_until([&] { return !client_->connected(); }, 5s));
  EXPECT_FALSE(save(make_workspace("ws_1", "a", "111")).ok);
  EXPECT_FALSE(store_letter(letter("dl_1", 1)).ok);
  EXPECT_FALSE(delete_letters({"dl_1"}).ok);
  EXPECT_FALSE(put_member("W", "user-1", {"admin", 1}).ok);
  EXPECT_FALSE(delete_member("W", "user-1").ok);
  EXPECT_FALSE(put_api_key("W", "key_1", "h").ok);
  EXPECT_FALSE(delete_api_key("W", "key_1").ok);
  auto ws = load_workspaces();
  EXPECT_FALSE(ws.ok);
  EXPECT_FALSE(ws.error.empty());
  EXPECT_FALSE(list_letters(25).ok);
  EXPECT_FALSE(oldest_letters(25).ok);
  auto st = load_state("W");
  EXPECT_FALSE(st.ok);
  EXPECT_FALSE(st.error.empty());
  server_->start();
  ASSERT_TRUE(wait_until([&] { return client_->connected(); }, 10s));
  EXPECT_EQ(cli("DBSIZE"), "0\n");
  EXPECT_TRUE(save(make_workspace("ws_1", "a", "111")).ok);
}

lease_claim node(const std::string& name) {
  return {name, "http://127.0.0.1:" + std::to_string(name.size() * 1000 + 80), 60000};
}

TEST_F(RedisRegistryStoreTest, ALeaseIsTakenUnderANewEpochAndHeldAgainstOtherNodes) {
  auto take = [&](const lease_claim& me) {
    return wait_for<lease_reply>(
        [&](auto done) { store_->acquire_lease("ws_1", me, std::move(done)); });
  };
  auto a = take(node("a"));
  ASSERT_TRUE(a.ok) << a.error;
  EXPECT_TRUE(a.mine);
  EXPECT_EQ(a.epoch, 1u);
  EXPECT_EQ(cli("GET {ws:ws_1}:owner"), "1|a|" + node("a").url + "\n");
  auto b = take(node("bb"));
  ASSERT_TRUE(b.ok) << b.error;
  EXPECT_FALSE(b.mine);
  EXPECT_EQ(b.epoch, 1u);
  EXPECT_EQ(b.holder_node, "a");
  EXPECT_EQ(b.holder_url, node("a").url);
  EXPECT_GT(b.ttl_ms, 0);
  EXPECT_LE(b.ttl_ms, 60000);
  // Node a restarted (same name): a new epoch fences its earlier incarnation.
  auto again = take(node("a"));
  EXPECT_TRUE(again.mine);
  EXPECT_EQ(again.epoch, 2u);
}

TEST_F(RedisRegistryStoreTest, ARenewKeepsTheLeaseUntilAnotherNodeTookIt) {
  auto a = wait_for<lease_reply>(
      [&](auto done) { store_->acquire_lease("ws_1", node("a"), std::move(done)); });
  ASSERT_TRUE(a.mine);
  auto renew = [&](uint64_t epoch) {
    return wait_for<lease_reply>(
        [&](auto done) { store_->renew_lease("ws_1", node("a"), epoch, std::move(done)); });
  };
  EXPECT_TRUE(renew(a.epoch).mine);
  // Ran out with nobody taking it since: the renew takes it back under the same epoch.
  cli("DEL {ws:ws_1}:owner");
  auto back = renew(a.epoch);
  EXPECT_TRUE(back.mine);
  EXPECT_EQ(cli("GET {ws:ws_1}:owner"), "1|a|" + node("a").url + "\n");
  // Ran out and node bb took it: lost, and bb is named.
  cli("DEL {ws:ws_1}:owner");
  auto b = wait_for<lease_reply>(
      [&](auto done) { store_->acquire_lease("ws_1", node("bb"), std::move(done)); });
  ASSERT_TRUE(b.mine);
  EXPECT_EQ(b.epoch, 2u);
  auto lost = renew(a.epoch);
  ASSERT_TRUE(lost.ok) << lost.error;
  EXPECT_FALSE(lost.mine);
  EXPECT_EQ(lost.holder_node, "bb");
  EXPECT_EQ(lost.epoch, 2u);
  // bb's lease ran out too: a's renew still fails (the epoch moved on), naming nobody.
  cli("DEL {ws:ws_1}:owner");
  auto gone = renew(a.epoch);
  EXPECT_FALSE(gone.mine);
  EXPECT_EQ(gone.holder_url, "");
  EXPECT_EQ(cli("EXISTS {ws:ws_1}:owner"), "0\n");
}

TEST_F(RedisRegistryStoreTest, OnlyTheHolderReleasesALeaseAndTheEpochStays) {
  auto a = wait_for<lease_reply>(
      [&](auto done) { store_->acquire_lease("ws_1", node("a"), std::move(done)); });
  ASSERT_TRUE(a.mine);
  auto release = [&](const lease_claim& me, uint64_t epoch) {
    return wait_for<lease_reply>(
        [&](auto done) { store_->release_lease("ws_1", me, epoch, std::move(done)); });
  };
  EXPECT_FALSE(release(node("bb"), a.epoch).mine);
  EXPECT_FALSE(release(node("a"), a.epoch + 1).mine);
  EXPECT_EQ(cli("EXISTS {ws:ws_1}:owner"), "1\n");
  EXPECT_TRUE(release(node("a"), a.epoch).mine);
  EXPECT_EQ(cli("EXISTS {ws:ws_1}:owner"), "0\n");
  EXPECT_EQ(cli("GET {ws:ws_1}:epoch"), "1\n");
  auto b = wait_for<lease_reply>(
      [&](auto done) { store_->acquire_lease("ws_1", node("bb"), std::move(done)); });
  EXPECT_TRUE(b.mine);
  EXPECT_EQ(b.epoch, 2u);
}

// A hand-over names the successor in the lease (same epoch): everyone else sees it held there,
// the successor's acquire takes it under a new epoch, and the old holder can no longer renew.
TEST_F(RedisRegistryStoreTest, AHandOverNamesTheSuccessorWhoseAcquireTakesIt) {
  auto a = wait_for<lease_reply>(
      [&](auto done) { store_->acquire_lease("ws_1", node("a"), std::move(done)); });
  ASSERT_TRUE(a.mine);
  auto hand_over = [&](const lease_claim& me, uint64_t epoch) {
    return wait_for<lease_reply>([&](auto done) {
      store_->hand_over_lease("ws_1", me, epoch, node("bb"), std::move(done));
    });
  };
  // Only the holder, under its epoch, hands over.
  EXPECT_EQ(hand_over(node("cc"), a.epoch).holder_node, "");
  EXPECT_EQ(hand_over(node("a"), a.epoch + 1).holder_node, "");
  EXPECT_EQ(cli("GET {ws:ws_1}:owner"), "1|a|" + node("a").url + "\n");
  auto h = hand_over(node("a"), a.epoch);
  ASSERT_TRUE(h.ok) << h.error;
  EXPECT_FALSE(h.mine);
  EXPECT_EQ(h.holder_node, "bb");
  EXPECT_EQ(h.holder_url, node("bb").url);
  EXPECT_EQ(cli("GET {ws:ws_1}:owner"), "1|bb|" + node("bb").url + "\n");
  auto other = wait_for<lease_reply>(
      [&](auto done) { store_->acquire_lease("ws_1", node("cc"), std::move(done)); });
  EXPECT_FALSE(other.mine);
  EXPECT_EQ(other.holder_node, "bb");
  EXPECT_FALSE(wait_for<lease_reply>([&](auto done) {
                 store_->renew_lease("ws_1", node("a"), a.epoch, std::move(done));
               }).mine);
  auto b = wait_for<lease_reply>(
      [&](auto done) { store_->acquire_lease("ws_1", node("bb"), std::move(done)); });
  EXPECT_TRUE(b.mine);
  EXPECT_EQ(b.epoch, 2u);
}

} // namespace
} // namespace inboxd
