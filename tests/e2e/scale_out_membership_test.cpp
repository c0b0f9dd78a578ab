// End-to-end scale-out membership: a node joins and another leaves while webhooks arrive. Three
// real inboxd nodes share one Redis; the test is the balancer: each workspace goes to the first
// live node of its own preference list (rendezvous hashing, as HAProxy's consistent hash moves
// only the keys of the nodes that come or go). A fourth node joins under load, then one of the
// first three is stopped (SIGTERM) under load: every webhook, delivered again until answered 200
// as Meta does, is stored exactly once; the workspaces routed to the joining node are handed
// over to it by their holders (the lease follows the webhooks), and the leaving node's
// workspaces are taken by the nodes the balancer now sends them to.

#include <algorithm>
#include <atomic>
#include <csignal>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/e2e/e2e_test.hpp"

namespace inboxd::test {
namespace {

using json = nlohmann::json;

// Each workspace's nodes in order of preference: it goes to the first one that is live.
const std::vector<std::vector<std::string>> kPreference = {
    {"a", "d", "b", "c"}, // a's; moves to d, the new node, when a leaves
    {"b", "c", "a", "d"}, // b's throughout
    {"c", "a", "b", "d"}, // c's throughout
    {"d", "a", "b", "c"}, // a's; handed over to d once d joins
    {"a", "b", "c", "d"}, // a's; moves to b when a leaves
    {"d", "c", "a", "b"}, // c's; handed over to d once d joins
};

class scale_out_membership_test : public ::testing::Test {
protected:
  void start(const std::string& name) {
    auto port = free_port();
    auto node = std::make_unique<inboxd_process>(node_env(name, port, redis_.url(), "2000"));
    wait_until_ready(node->port());
    std::lock_guard lock(mu_);
    ports_[name] = node->port();
    nodes_[name] = std::move(node);
  }

  void SetUp() override {
    for (auto name : {"a", "b", "c"})
      start(name);
    // Each workspace is created through the node the balancer sends it to, whose first request
    // for it (the API key) takes its lease.
    for (size_t i = 0; i < kPreference.size(); ++i) {
      auto pid = "20000000000" + std::to_string(i);
      auto ws = http_client(route(i), false)
                    .post_json("/api/admin/workspaces",
                               json{{"name", "W" + std::to_string(i)},
                                    {"slug", "w" + std::to_string(i)},
                                    {"phoneNumberId", pid}},
                               admin());
      ASSERT_EQ(ws.status, 201) << ws.body;
      ws_ids_.push_back(ws.json()["id"]);
      pids_.push_back(pid);
      auto key = http_client(route(i), false)
                     .request("POST", "/api/admin/workspaces/" + ws_ids_.back() + "/api-keys", {},
                              admin());
      ASSERT_EQ(key.status, 201) << key.body;
      keys_.push_back(key.json()["key"]);
    }
  }

  static header_list admin() { return {{"Authorization", std::string("Bearer ") + kAdminToken}}; }

  std::string owner(size_t ws) {
    auto v = redis_.cli("GET {ws:" + ws_ids_[ws] + "}:owner");
    auto bar = v.find('|');
    return bar == std::string::npos ? "" : v.substr(bar + 1, v.find('|', bar + 1) - bar - 1);
  }

  // The node the balancer sends workspace `ws`'s webhooks to now (0: none is live).
  int route(size_t ws) {
    std::lock_guard lock(mu_);
    for (auto& name : kPreference[ws])
      if (live_.count(name))
        return ports_[name];
    return 0;
  }

  std::string body(size_t ws, const std::string& from, const std::string& text) {
    auto b = with_unique_wamids(fixture_case("meta/message.json", "text"));
    auto& value = b["entry"][0]["changes"][0]["value"];
    value["metadata"]["phone_number_id"] = pids_[ws];
    value["messages"][0]["text"]["body"] = text;
    value["messages"][0]["from"] = from;
    value["contacts"][0]["wa_id"] = from;
    value["contacts"][0].erase("user_id"); // the fixture's user id is one person's
    return b.dump();
  }

  redis_server redis_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<inboxd_process>> nodes_;
  std::map<std::string, int> ports_;
  std::set<std::string> live_{"a", "b", "c"};
  std::vector<std::string> ws_ids_, pids_, keys_;
};

TEST_F(scale_out_membership_test, a_node_joins_and_another_leaves_under_load_losing_nothing) {
  for (size_t ws = 0; ws < kPreference.size(); ++ws) {
    ASSERT_EQ(webhook_status(route(ws), body(ws, "972530000000", "hello")), 200);
    EXPECT_EQ(owner(ws), kPreference[ws][0] == "d" ? kPreference[ws][1] : kPreference[ws][0]);
  }
  constexpr int kThreads = 4;
  std::mutex acked_mu;
  std::vector<acknowledged_texts> acked(kPreference.size());
  for (size_t ws = 0; ws < kPreference.size(); ++ws)
    acked[ws]["972530000000"].push_back("hello");
  std::atomic<int> sent{0}, unacknowledged{0};
  std::atomic<bool> done{false};
  std::vector<std::thread> clients;
  for (int t = 0; t < kThreads; ++t)
    clients.emplace_back([&, t] {
      for (int i = 0; !done.load() && i < 2000; ++i) {
        size_t ws = static_cast<size_t>(t + i) % kPreference.size();
        auto from = "97253000000" + std::to_string(i % 3);
        auto text = "t" + std::to_string(t) + "-" + std::to_string(i);
        auto raw = body(ws, from, text);
        // Like Meta: delivered again (the same body) until answered 200, for up to 20 s; each
        // attempt goes where the balancer sends it at that moment.
        int status = deliver_until_acknowledged([&](int) { return webhook_status(route(ws), raw); },
                                                std::chrono::seconds(20));
        ++sent;
        if (status != 200) {
          ++unacknowledged;
          continue;
        }
        std::lock_guard lock(acked_mu);
        acked[ws][from].push_back(text);
      }
    });
  auto wait_sent = [&](int n) {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (sent.load() < n && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return sent.load() >= n;
  };
  bool phases = wait_sent(60);
  if (phases) {
    start("d"); // joins under load; the balancer sends it its share once it is ready
    std::lock_guard lock(mu_);
    live_.insert("d");
  }
  // The workspaces the balancer now sends to d follow their webhooks there: their holders hand
  // their leases over to d.
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (phases && (owner(3) != "d" || owner(5) != "d") && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(owner(3), "d") << "a did not hand workspace 3 over to d";
  EXPECT_EQ(owner(5), "d") << "c did not hand workspace 5 over to d";
  phases = phases && wait_sent(sent.load() + 60);
  if (phases) {
    nodes_["a"]->kill(SIGTERM); // leaves under load: the balancer stops sending to it
    {
      std::lock_guard lock(mu_);
      live_.erase("a");
    }
    EXPECT_EQ(nodes_["a"]->wait(), 0);
  }
  phases = phases && wait_sent(sent.load() + 60);
  done = true;
  for (auto& c : clients)
    c.join();
  ASSERT_TRUE(phases) << "the load stalled (" << sent.load() << " webhooks delivered)";
  EXPECT_EQ(unacknowledged.load(), 0) << "webhooks never answered 200 within 20 s";

  // Every workspace is held where the balancer sends it now.
  const std::vector<std::string> want = {"d", "b", "c", "d", "b", "d"};
  for (size_t ws = 0; ws < kPreference.size(); ++ws)
    EXPECT_EQ(owner(ws), want[ws]) << "workspace " << ws;
  EXPECT_EQ(metric(ports_["d"], "inboxd_leases_held"), 3);
  EXPECT_EQ(metric(ports_["c"], "inboxd_lease_changes_total{change=\"handed_over\"}"), 1);
  // Every acknowledged webhook is stored exactly once, one conversation per contact, read
  // through any node (b here: most of it forwarded).
  size_t total = 0;
  for (size_t ws = 0; ws < kPreference.size(); ++ws)
    expect_stored_once(ports_["b"], keys_[ws], acked[ws], total);
  EXPECT_EQ(total, static_cast<size_t>(sent.load()) + kPreference.size());
}

} // namespace
} // namespace inboxd::test
