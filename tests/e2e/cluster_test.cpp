// End-to-end on a Redis Cluster: the real binary with INBOXD_REDIS_URL=redis-cluster://...
// against three redis-server processes in cluster mode. Workspaces land on different masters
// (each workspace's keys share its hash tag); webhooks are stored and read back, and survive a
// kill -9 of inboxd.

#include <set>
#include <string>
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
  void SetUp() override {
    inboxd_ = std::make_unique<inboxd_process>(inboxd_process::env_map{
        {"INBOXD_REDIS_URL", cluster_.url_of(0)}, // one seed: the rest is discovered
        {"INBOXD_ADMIN_TOKEN", kAdminToken},
        {"INBOXD_META_APP_SECRET", kMetaSecret},
        {"INBOXD_LOG_LEVEL", "info"}});
    wait_ready();
  }
  void wait_ready() { wait_until_ready(inboxd_->port()); }
  http_client client() const { return http_client(inboxd_->port(), false); }
  static header_list admin() { return {{"Authorization", std::string("Bearer ") + kAdminToken}}; }

  // A text message from `from` to the workspace of `pnid`, signed.
  http_response post_text(const std::string& pnid, const std::string& from,
                          const std::string& text) {
    auto body = with_unique_wamids(fixture_case("meta/message.json", "text"));
    auto& value = body["entry"][0]["changes"][0]["value"];
    value["metadata"]["phone_number_id"] = pnid;
    value["messages"][0]["from"] = from;
    value["contacts"][0]["wa_id"] = from;
    value["messages"][0]["text"]["body"] = text;
    auto raw = body.dump();
    return client().request("POST", "/api/webhook/whatsapp", raw,
                            {{"Content-Type", "application/json"},
                             {"X-Hub-Signature-256", meta_signature(kMetaSecret, raw)}});
  }

  redis_cluster_servers cluster_;
  std::unique_ptr<inboxd_process> inboxd_;
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

} // namespace
} // namespace inboxd::test
