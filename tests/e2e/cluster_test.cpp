// End-to-end on a Redis Cluster: the real binary with INBOXD_REDIS_URL=redis-cluster://...
// against redis-server processes in cluster mode. Workspaces land on different masters (each
// workspace's keys share its hash tag); webhooks are stored and read back, and survive a kill -9
// of inboxd, and (masters with replicas) a kill -9 of the master that holds them.

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "storage/cluster_slots.hpp"
#include "tests/e2e/e2e_test.hpp"
#include "tests/support/redis_cluster_servers.hpp"

namespace inboxd::test {
namespace {

using json = nlohmann::json;

class cluster_e2e_test : public ::testing::Test {
protected:
  explicit cluster_e2e_test(int replicas = 0) : cluster_(3, replicas) {}
  // The nodes inboxd is told of (one seed: the rest is discovered).
  virtual std::string seeds() const { return cluster_.url_of(0); }
  void SetUp() override {
    inboxd_ = std::make_unique<inboxd_process>(
        inboxd_process::env_map{{"INBOXD_REDIS_URL", seeds()},
                                {"INBOXD_ADMIN_TOKEN", kAdminToken},
                                {"INBOXD_META_APP_SECRET", kMetaSecret},
                                {"INBOXD_LOG_LEVEL", "info"}});
    wait_ready();
  }
  void wait_ready() { wait_until_ready(inboxd_->port()); }
  http_client client() const { return http_client(inboxd_->port(), false); }
  static header_list admin() { return {{"Authorization", std::string("Bearer ") + kAdminToken}}; }

  // A text message from `from` to the workspace of `pnid`, with a fresh wamid.
  static std::string text_body(const std::string& pnid, const std::string& from,
                               const std::string& text) {
    auto body = with_unique_wamids(fixture_case("meta/message.json", "text"));
    auto& value = body["entry"][0]["changes"][0]["value"];
    value["metadata"]["phone_number_id"] = pnid;
    value["messages"][0]["from"] = from;
    value["contacts"][0]["wa_id"] = from;
    value["contacts"][0].erase("user_id"); // the fixture's user id is one person's
    value["messages"][0]["text"]["body"] = text;
    return body.dump();
  }
  http_response post_raw(const std::string& raw) {
    return client().request("POST", "/api/webhook/whatsapp", raw,
                            {{"Content-Type", "application/json"},
                             {"X-Hub-Signature-256", meta_signature(kMetaSecret, raw)}});
  }
  http_response post_text(const std::string& pnid, const std::string& from,
                          const std::string& text) {
    return post_raw(text_body(pnid, from, text));
  }

  // Delivers the text message as Meta does (the same body again after anything but 200, for up
  // to 30 s): every status seen goes to statuses_, and the text, once acknowledged, to acked_.
  void deliver(const std::string& pnid, const std::string& from, const std::string& text) {
    auto raw = text_body(pnid, from, text);
    int status = deliver_until_acknowledged(
        [&](int) {
          int got = -1; // not answered at all
          try {
            got = post_raw(raw).status;
          } catch (const std::exception&) {
          }
          std::lock_guard<std::mutex> lock(mtx_);
          statuses_.insert(got);
          return got;
        },
        std::chrono::seconds(30));
    std::lock_guard<std::mutex> lock(mtx_);
    if (status == 200)
      acked_[from].push_back(text);
  }

  redis_cluster_servers cluster_;
  std::unique_ptr<inboxd_process> inboxd_;
  std::mutex mtx_;
  std::set<int> statuses_;
  acknowledged_texts acked_;
};

TEST_F(cluster_e2e_test, workspaces_on_several_masters_store_and_serve_their_conversations) {
  struct ws_info {
    std::string id, key, pnid;
  };
  std::vector<ws_info> all;
  std::set<size_t> masters;
  // Workspace ids are random: six or more, until they are on more than one master (all on one
  // has odds of 3 in 3^n).
  for (int i = 0; i < 40 && (i < 6 || masters.size() < 2); ++i) {
    auto pnid = "90000000000" + std::to_string(i);
    auto r = client().post_json("/api/admin/workspaces",
                                json{{"name", "Shop " + std::to_string(i)},
                                     {"slug", "shop-" + std::to_string(i)},
                                     {"phoneNumberId", pnid}},
                                admin());
    ASSERT_EQ(r.status, 201) << r.body;
    ws_info w{r.json()["id"], "", pnid};
    auto k = client().request("POST", "/api/admin/workspaces/" + w.id + "/api-keys", {}, admin());
    ASSERT_EQ(k.status, 201) << k.body;
    w.key = k.json()["key"];
    masters.insert(cluster_.owner_of(key_slot("{ws:" + w.id + "}")));
    all.push_back(w);
  }
  ASSERT_GT(masters.size(), 1u) << "forty workspaces all on one master";
  // The uniqueness check holds on the cluster.
  auto dup = client().post_json(
      "/api/admin/workspaces",
      json{{"name", "Dup"}, {"slug", "shop-0"}, {"phoneNumberId", "900000000099"}}, admin());
  expect_error(dup, 409, "conflict");

  for (auto& w : all)
    for (int m = 0; m < 3; ++m) {
      auto r = post_text(w.pnid, "4477000000" + std::to_string(m), "hello " + w.id);
      ASSERT_EQ(r.status, 200) << r.body;
    }
  auto check = [&] {
    for (auto& w : all) {
      auto r = client().get("/api/conversations?status=all&limit=100", {{"X-API-Key", w.key}});
      ASSERT_EQ(r.status, 200) << r.body;
      auto list = r.json();
      ASSERT_EQ(list["total"], 3) << list.dump();
      auto conv = list["conversations"][0]["id"].get<std::string>();
      auto msgs = client().get("/api/conversations/" + conv + "/messages", {{"X-API-Key", w.key}});
      ASSERT_EQ(msgs.status, 200) << msgs.body;
      ASSERT_EQ(msgs.json()["messages"].size(), 1u) << msgs.body;
      EXPECT_EQ(msgs.json()["messages"][0]["text"], "hello " + w.id);
      // Its records live on the master that serves its slot.
      auto owner = cluster_.owner_of(key_slot("{ws:" + w.id + "}"));
      EXPECT_EQ(cluster_.node(owner).cli("HLEN {ws:" + w.id + "}:convs"), "3\n");
    }
  };
  check();
  // Everything acknowledged is in the cluster: a new process reads it all back.
  inboxd_->restart(true);
  wait_ready();
  check();
}

// Three masters with a replica each. inboxd waits for a replica before it acknowledges a write.
class cluster_failover_e2e_test : public cluster_e2e_test {
protected:
  cluster_failover_e2e_test() : cluster_e2e_test(1) {}
  std::string seeds() const override { return cluster_.url(); }
};

// kill -9 of the master holding a workspace while webhooks arrive: its replica is promoted;
// meanwhile clients see 503 (never another error), and, delivered again as Meta does, every
// webhook is acknowledged, and every one acknowledged is stored once, one conversation per
// contact.
TEST_F(cluster_failover_e2e_test, a_killed_master_loses_nothing_acknowledged) {
  auto r = client().post_json(
      "/api/admin/workspaces",
      json{{"name", "Fail"}, {"slug", "fail"}, {"phoneNumberId", "910000000001"}}, admin());
  ASSERT_EQ(r.status, 201) << r.body;
  std::string ws = r.json()["id"];
  auto k = client().request("POST", "/api/admin/workspaces/" + ws + "/api-keys", {}, admin());
  ASSERT_EQ(k.status, 201) << k.body;
  std::string key = k.json()["key"];
  auto master = cluster_.owner_of(key_slot("{ws:" + ws + "}"));
  // Redis lists a replica (CLUSTER SLOTS) once it reported a replication offset, after the first
  // writes reach it, and inboxd reads the map every 5 s: until then nothing is waited for. The
  // load starts once inboxd waits for replicas.
  auto acknowledged = [&] {
    auto page = client().get("/metrics").body;
    auto at = page.find("inboxd_redis_replica_waits_total{outcome=\"acknowledged\"} ");
    return at == std::string::npos ? 0.0 : std::stod(page.substr(page.find("} ", at) + 2));
  };
  for (int i = 0; i < 300 && acknowledged() == 0; ++i) {
    ASSERT_EQ(post_text("910000000001", "447799999999", "warm " + std::to_string(i)).status, 200);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_GT(acknowledged(), 0) << "inboxd never waited for a replica";

  constexpr int kThreads = 4, kPerThread = 40, kContacts = 6;
  std::atomic<int> sent{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < kThreads; ++t)
    clients.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        deliver("910000000001", "4478000000" + std::to_string((t + i) % kContacts),
                "m" + std::to_string(t) + "-" + std::to_string(i));
        ++sent;
      }
    });
  while (sent.load() < kThreads * kPerThread / 3)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  cluster_.node(master).stop(); // kill -9
  for (auto& c : clients)
    c.join();
  for (int s : statuses_)
    EXPECT_TRUE(s == 200 || s == 503) << "a client saw " << s;
  size_t total = 0;
  auto conversations = expect_stored_once(inboxd_->port(), key, acked_, total);
  EXPECT_EQ(total, static_cast<size_t>(kThreads * kPerThread))
      << "every webhook, delivered again, is acknowledged";
  // And a new process reads the same back from the promoted replica.
  inboxd_->restart(true);
  wait_ready();
  auto again = client().get("/api/conversations?status=all&limit=100", {{"X-API-Key", key}});
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.json()["conversations"].size(), conversations);
}

// `redis-cli --cluster reshard` moves every slot of the master holding a workspace to another
// master while webhooks for it arrive: commits meet TRYAGAIN and ASK while its slot moves;
// clients see only 200 or 503, and, delivered again, every webhook is acknowledged and stored
// once, one conversation per contact.
TEST_F(cluster_e2e_test, a_reshard_under_load_loses_nothing_acknowledged) {
  auto r = client().post_json(
      "/api/admin/workspaces",
      json{{"name", "Move"}, {"slug", "move"}, {"phoneNumberId", "920000000001"}}, admin());
  ASSERT_EQ(r.status, 201) << r.body;
  std::string ws = r.json()["id"];
  auto k = client().request("POST", "/api/admin/workspaces/" + ws + "/api-keys", {}, admin());
  ASSERT_EQ(k.status, 201) << k.body;
  std::string key = k.json()["key"];
  int slot = key_slot("{ws:" + ws + "}");
  auto from = cluster_.owner_of(slot), to = (from + 1) % cluster_.size();
  int slots = cluster_.slots_of(from);
  ASSERT_GT(slots, 0);

  constexpr int kThreads = 4, kMaxPerThread = 1000, kContacts = 6;
  std::atomic<int> sent{0};
  std::atomic<bool> moved{false};
  std::vector<std::thread> clients;
  for (int t = 0; t < kThreads; ++t)
    clients.emplace_back([&, t] {
      // Until the reshard is over (and at most kMaxPerThread webhooks each), a steady trickle.
      for (int i = 0; i < kMaxPerThread && !moved.load(); ++i) {
        deliver("920000000001", "4479000000" + std::to_string((t + i) % kContacts),
                "r" + std::to_string(t) + "-" + std::to_string(i));
        ++sent;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
  while (sent.load() < 20)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto reshard =
      "redis-cli --cluster reshard 127.0.0.1:" + std::to_string(cluster_.node(from).port()) +
      " --cluster-from " + cluster_.id_of(from) + " --cluster-to " + cluster_.id_of(to) +
      " --cluster-slots " + std::to_string(slots) +
      " --cluster-yes --cluster-pipeline 1000 >/dev/null 2>&1";
  int rc = std::system(reshard.c_str());
  moved = true;
  for (auto& c : clients)
    c.join();
  ASSERT_EQ(rc, 0) << reshard;
  EXPECT_EQ(cluster_.owner_of(slot), to) << "the workspace's slot did not move";
  for (int s : statuses_)
    EXPECT_TRUE(s == 200 || s == 503) << "a client saw " << s;
  size_t total = 0;
  expect_stored_once(inboxd_->port(), key, acked_, total);
  EXPECT_EQ(total, static_cast<size_t>(sent.load()))
      << "every webhook, delivered again, is acknowledged";
  EXPECT_GT(sent.load(), 20);
}

} // namespace
} // namespace inboxd::test
