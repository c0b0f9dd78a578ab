// Integration tests: storage/redis_cluster against a real Redis Cluster (three redis-server
// processes in cluster mode on loopback), and the store committing through it.

#include "storage/redis_cluster.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <future>
#include <regex>
#include <set>
#include <sstream>

#include "metrics/metrics.hpp"
#include "storage/redis_store.hpp"
#include "tests/support/io_thread.hpp"
#include "tests/support/redis_cluster_servers.hpp"

namespace inboxd {
namespace {

using namespace std::chrono_literals;
using test::io_thread;
using test::redis_cluster_servers;
using test::wait_until;

redis_result exec_sync(redis_executor& r, redis_pipeline cmds) {
  std::promise<redis_result> p;
  auto f = p.get_future();
  r.exec(std::move(cmds), [&p](redis_result res) { p.set_value(std::move(res)); });
  if (f.wait_for(10s) != std::future_status::ready) {
    ADD_FAILURE() << "no answer within 10 s";
    return {{}, "timeout"};
  }
  return f.get();
}

// The value of inboxd_redis_cluster_redirects_total{kind="<kind>"} in GET /metrics' text.
uint64_t redirects(const std::string& kind) {
  std::smatch m;
  auto text = metrics::registry::global().render();
  std::regex re("inboxd_redis_cluster_redirects_total\\{kind=\"" + kind + "\"\\} ([0-9]+)");
  return std::regex_search(text, m, re) ? std::stoull(m[1]) : 0;
}

// The value of inboxd_redis_replica_waits_total{outcome="<outcome>"}.
uint64_t replica_waits(const std::string& outcome) {
  std::smatch m;
  auto text = metrics::registry::global().render();
  std::regex re("inboxd_redis_replica_waits_total\\{outcome=\"" + outcome + "\"\\} ([0-9]+)");
  return std::regex_search(text, m, re) ? std::stoull(m[1]) : 0;
}

redis_result durable_sync(redis_executor& r, redis_pipeline cmds) {
  std::promise<redis_result> p;
  auto f = p.get_future();
  r.exec_durable(std::move(cmds), [&p](redis_result res) { p.set_value(std::move(res)); });
  if (f.wait_for(10s) != std::future_status::ready) {
    ADD_FAILURE() << "no answer within 10 s";
    return {{}, "timeout"};
  }
  return f.get();
}

// A change set that stores message `id` (new) in conversation cv_1 of workspace `ws`.
change_set new_message(const std::string& ws, const std::string& id,
                       const std::string& text = "hello") {
  change_set cs;
  cs.workspace_id = ws;
  cs.new_messages = {id};
  cs.unlinked = {id};
  cs.messages = {{id, nlohmann::json{{"id", id},
                                     {"conversationId", "cv_1"},
                                     {"direction", "inbound"},
                                     {"origin", "whatsapp"},
                                     {"status", "received"},
                                     {"type", "text"},
                                     {"text", text}}}};
  cs.timeline_of = "cv_1";
  cs.timeline = {{id, 1000}};
  conversation cv;
  cv.id = "cv_1";
  cv.contact_id = "ct_1";
  cs.conv = cv;
  change_set::event e;
  e.type = "message.created";
  e.message_id = id;
  cs.events = {e};
  return cs;
}

class RedisClusterTest : public ::testing::Test {
protected:
  void connect(const std::string& url) {
    auto ep = parse_redis_cluster_url(url);
    ASSERT_TRUE(std::holds_alternative<redis_cluster_endpoint>(ep));
    client_ = std::make_shared<redis_cluster>(io_.io, std::get<redis_cluster_endpoint>(ep));
    client_->start();
    ASSERT_TRUE(wait_until([&] { return client_->connected(); }, 10s)) << "never connected";
  }
  void TearDown() override {
    if (client_)
      client_->stop();
    client_.reset();
    io_.drain();
  }
  std::string get(const std::string& key) {
    auto r = exec_sync(*client_, {{"GET", key}});
    EXPECT_TRUE(r.ok()) << r.error;
    return r.ok() && !r.replies.empty() ? r.replies[0].str : "";
  }
  // The keys node i holds in `slot` (it answers for its own keys even while the slot moves),
  // sorted, one per line.
  std::string keys_in(size_t i, int slot) {
    auto out = cluster_.node(i).cli("CLUSTER GETKEYSINSLOT " + std::to_string(slot) + " 1000");
    std::vector<std::string> keys;
    std::istringstream in(out);
    for (std::string k; std::getline(in, k);)
      if (!k.empty())
        keys.push_back(k);
    std::sort(keys.begin(), keys.end());
    std::string joined;
    for (auto& k : keys)
      joined += k + "\n";
    return joined;
  }
  // The number of keys node i holds.
  int64_t keys_on(size_t i) { return std::stoll(cluster_.node(i).cli("DBSIZE")); }

  redis_cluster_servers cluster_;
  io_thread io_;
  std::shared_ptr<redis_cluster> client_;
};

TEST_F(RedisClusterTest, routes_each_key_to_its_master_and_splits_pipelines_over_masters) {
  connect(cluster_.url());
  for (int i = 0; i < 100; ++i) {
    auto r = exec_sync(*client_, {{"SET", "k" + std::to_string(i), "v" + std::to_string(i)}});
    ASSERT_TRUE(r.ok()) << r.error;
    ASSERT_EQ(r.replies[0].str, "OK");
  }
  EXPECT_EQ(keys_on(0) + keys_on(1) + keys_on(2), 100);
  for (size_t n = 0; n < 3; ++n)
    EXPECT_GT(keys_on(n), 0) << "node " << n << " got none of 100 keys";
  redis_pipeline all;
  for (int i = 0; i < 100; ++i)
    all.push_back({"GET", "k" + std::to_string(i)});
  auto r = exec_sync(*client_, all);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.replies.size(), 100u);
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(r.replies[i].str, "v" + std::to_string(i));
}

TEST_F(RedisClusterTest, finds_every_master_from_one_seed) {
  connect(cluster_.url_of(1));
  for (int i = 0; i < 30; ++i)
    ASSERT_TRUE(exec_sync(*client_, {{"SET", "s" + std::to_string(i), "x"}}).ok());
  EXPECT_EQ(keys_on(0) + keys_on(1) + keys_on(2), 30);
}

TEST_F(RedisClusterTest, a_command_whose_keys_span_slots_is_refused_without_being_sent) {
  connect(cluster_.url());
  auto r = exec_sync(*client_, {{"MSET", "a", "1", "b", "2"}, {"SET", "c", "3"}});
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_TRUE(r.replies[0].is_error());
  EXPECT_EQ(r.replies[0].str.rfind("CROSSSLOT", 0), 0u) << r.replies[0].str;
  EXPECT_EQ(r.replies[1].str, "OK");
  EXPECT_EQ(get("a"), "");
}

TEST_F(RedisClusterTest, follows_moved_after_its_slot_moved_to_another_master) {
  connect(cluster_.url());
  const std::string key = "{moving}k";
  ASSERT_EQ(exec_sync(*client_, {{"SET", key, "before"}}).replies[0].str, "OK");
  int slot = key_slot(key);
  size_t from = cluster_.owner_of(slot), to = (from + 1) % 3;
  cluster_.move_slot(slot, from, to, {key}, true);
  auto moved_before = redirects("moved");
  EXPECT_EQ(get(key), "before"); // the client's map still names `from`: MOVED, then `to`
  EXPECT_EQ(redirects("moved"), moved_before + 1);
  ASSERT_EQ(exec_sync(*client_, {{"SET", key, "after"}}).replies[0].str, "OK");
  EXPECT_EQ(redirects("moved"), moved_before + 1); // the map was corrected
  EXPECT_EQ(cluster_.node(to).cli("GET '" + key + "'"), "after\n");
}

TEST_F(RedisClusterTest, follows_ask_while_its_slot_is_being_migrated) {
  connect(cluster_.url());
  const std::string key = "{half}k", other = "{half}new";
  ASSERT_EQ(exec_sync(*client_, {{"SET", key, "v"}}).replies[0].str, "OK");
  int slot = key_slot(key);
  size_t from = cluster_.owner_of(slot), to = (from + 2) % 3;
  cluster_.move_slot(slot, from, to, {key}, false); // the key moved, the slot not yet
  auto ask_before = redirects("ask");
  EXPECT_EQ(get(key), "v");
  EXPECT_EQ(redirects("ask"), ask_before + 1);
  // A new key of a migrating slot is created on the importing node, as ASK says.
  ASSERT_EQ(exec_sync(*client_, {{"SET", other, "w"}}).replies[0].str, "OK");
  EXPECT_EQ(get(other), "w");
  EXPECT_EQ(keys_in(to, slot), "{half}k\n{half}new\n");
  EXPECT_EQ(keys_in(from, slot), "");
}

// The store's change sets and reads go through the cluster unchanged: a workspace's keys share
// its hash tag, so each call is one pipeline to one master.
TEST_F(RedisClusterTest, the_store_commits_and_reads_workspaces_on_several_masters) {
  connect(cluster_.url());
  redis_store_options opts;
  opts.declare_keys = true;
  redis_store store(client_, opts);
  std::set<size_t> masters;
  for (int w = 0; w < 6; ++w) {
    auto ws = "W" + std::to_string(w);
    masters.insert(cluster_.owner_of(key_slot("{ws:" + ws + "}")));
    auto cs = new_message(ws, "msg_" + ws, "hello " + ws);
    std::promise<commit_result> p;
    store.commit(cs, 0, [&](commit_result r) { p.set_value(std::move(r)); });
    auto r = p.get_future().get();
    ASSERT_EQ(r.status, commit_status::applied) << r.error;
    // Committed twice: the dedupe mark refuses it on whichever master holds the workspace.
    std::promise<commit_result> again;
    store.commit(cs, 0, [&](commit_result r2) { again.set_value(std::move(r2)); });
    EXPECT_EQ(again.get_future().get().status, commit_status::conflict);
    std::promise<timeline_page> page;
    store.load_timeline(ws, "cv_1", 0, 10, [&](timeline_page t) { page.set_value(std::move(t)); });
    auto t = page.get_future().get();
    ASSERT_TRUE(t.ok) << t.error;
    ASSERT_EQ(t.entries.size(), 1u);
    ASSERT_TRUE(t.entries[0].record);
    EXPECT_EQ(nlohmann::json::parse(*t.entries[0].record)["text"], "hello " + ws);
  }
  EXPECT_GT(masters.size(), 1u) << "six workspaces all on one master";
}

// A slot half moved (some keys on each side): the commit script, which names every key it
// touches, is refused before it runs (TRYAGAIN) instead of failing halfway, is sent again, and
// is applied whole on the new master once the move is finished.
TEST_F(RedisClusterTest, a_commit_while_its_slot_moves_is_applied_whole_after_the_move) {
  connect(cluster_.url());
  redis_store_options opts;
  opts.declare_keys = true;
  redis_store store(client_, opts);
  auto commit = [&](const change_set& cs) {
    auto p = std::make_shared<std::promise<commit_result>>();
    auto f = p->get_future();
    store.commit(cs, 0, [p](commit_result r) { p->set_value(std::move(r)); });
    return f;
  };
  ASSERT_EQ(commit(new_message("M", "msg_1")).get().status, commit_status::applied);
  int slot = key_slot("{ws:M}");
  size_t from = cluster_.owner_of(slot), to = (from + 1) % 3;
  // Move only the timeline: the conversation record stays behind.
  cluster_.move_slot(slot, from, to, {"{ws:M}:tl:cv_1"}, false);
  auto retries = redirects("retry");
  auto pending = commit(new_message("M", "msg_2"));
  ASSERT_TRUE(wait_until([&] { return redirects("retry") > retries; }, 5s)) << "never refused";
  // Nothing half-written on either side.
  EXPECT_EQ(keys_in(from, slot), "{ws:M}:convs\n{ws:M}:events\n{ws:M}:m:msg_1\n");
  EXPECT_EQ(keys_in(to, slot), "{ws:M}:tl:cv_1\n");
  cluster_.move_slot(slot, from, to, {"{ws:M}:m:msg_1", "{ws:M}:convs", "{ws:M}:events"}, true);
  auto r = pending.get();
  ASSERT_EQ(r.status, commit_status::applied) << r.error;
  EXPECT_EQ(cluster_.node(to).cli("ZCARD {ws:M}:tl:cv_1"), "2\n");
  EXPECT_EQ(cluster_.node(to).cli("EXISTS {ws:M}:m:msg_2"), "1\n");
  EXPECT_EQ(cluster_.node(to).cli("XLEN {ws:M}:events"), "2\n");
  EXPECT_EQ(cluster_.node(from).cli("DBSIZE"), "0\n");
}

// Masters with a replica each: a durable write is answered once a replica has it; with the
// replica paused it fails (it ran on the master only: its outcome is unknown to the caller),
// until the cluster marks the replica failed and no longer lists it, when writes go on without
// waiting. A plain exec never waits.
TEST(RedisClusterReplicas, a_durable_write_waits_for_a_replica_and_fails_when_none_has_it) {
  redis_cluster_servers cluster(3, 1);
  io_thread io;
  auto ep = parse_redis_cluster_url(cluster.url());
  ASSERT_TRUE(std::holds_alternative<redis_cluster_endpoint>(ep));
  redis_cluster_timing timing;
  timing.replica_wait = 300ms;
  timing.refresh_interval = 200ms; // the failed replica drops out of the map soon
  auto client = std::make_shared<redis_cluster>(io.io, std::get<redis_cluster_endpoint>(ep),
                                                redis_client_timing{}, timing);
  client->start();
  ASSERT_TRUE(wait_until([&] { return client->connected(); }, 10s)) << "never connected";
  // Redis lists a replica in CLUSTER SLOTS once it has reported a replication offset (after the
  // first writes reach it): until then there is nothing to wait for.
  auto acked = replica_waits("acknowledged");
  redis_result r;
  ASSERT_TRUE(wait_until(
      [&] {
        r = durable_sync(*client, {{"SET", "{w}a", "1"}});
        return r.ok() && replica_waits("acknowledged") > acked;
      },
      20s))
      << "no replica was ever listed: " << r.error;
  auto timed_out = replica_waits("timed_out");
  auto master = cluster.owner_of(key_slot("{w}a"));
  auto replica = cluster.replica_of(master);
  cluster.node(replica).signal(SIGSTOP);
  r = durable_sync(*client, {{"SET", "{w}b", "2"}});
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.error.find("no replica acknowledged"), std::string::npos) << r.error;
  ASSERT_EQ(r.replies.size(), 1u);
  EXPECT_EQ(r.replies[0].str, "OK"); // it ran on the master
  EXPECT_EQ(replica_waits("timed_out"), timed_out + 1);
  r = exec_sync(*client, {{"SET", "{w}c", "3"}});
  EXPECT_TRUE(r.ok()) << r.error;
  // The other masters' replicas mark it failed (node timeout 1 s): no longer listed, no longer
  // waited for.
  EXPECT_TRUE(wait_until(
      [&] {
        return durable_sync(*client, {{"SET", "{w}d", "4"}}).ok();
      },
      20s))
      << "durable writes never went on without the paused replica";
  cluster.node(replica).signal(SIGCONT);
  client->stop();
  client.reset();
  io.drain();
}

} // namespace
} // namespace inboxd
