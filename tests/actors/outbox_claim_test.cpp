// Outbox sends are claimed with a fenced write (issue 13): the outbound actor of a node whose
// lease epoch is no longer the workspace's sends nothing and tells its workspace actor; under
// the current epoch the entry goes out and is then removed from Redis. Real actors, a real
// Redis, the real HTTPS client and a fake Cloud API server.

#include <gtest/gtest.h>

#include <future>
#include <memory>

#include <caf/all.hpp>

#include "actors/outbound_actor.hpp"
#include "http/https_client.hpp"
#include "messages/actor_messages.hpp"
#include "storage/redis_client.hpp"
#include "storage/redis_store.hpp"
#include "tests/support/fake_cloud_api.hpp"
#include "tests/support/io_thread.hpp"
#include "tests/support/redis_server.hpp"

namespace inboxd {
namespace {

using namespace std::chrono_literals;
using test::wait_until;

class OutboxClaimTest : public ::testing::Test {
protected:
  void SetUp() override {
    client_ = std::make_shared<redis_client>(io_.io, test::endpoint_of(server_.url()));
    client_->start();
    ASSERT_TRUE(wait_until([&] { return client_->connected(); }, 5s));
    db_ = std::make_shared<redis_store>(client_, redis_store_options{});
    https_client_settings tls;
    tls.ca_file = api_.ca_file();
    transport_ = std::make_shared<https_client>(tls);
    ASSERT_EQ(transport_->start(), "");
    api_.set_responder([](const test::recorded_request&) {
      return test::reply::json(200, R"({"success":true})");
    });
    ws_.id = "ws_claim";
    ws_.phone_number_id = "1234567890";
    ws_.send.base_url = "https://127.0.0.1:" + std::to_string(api_.port());
    ws_.send.access_token = "token";
    // A read receipt queued under epoch 5, the workspace's epoch in Redis.
    server_.cli("SET {ws:ws_claim}:epoch 5");
    outbox_entry e;
    e.id = "rr_claim";
    e.kind = "read";
    e.payload = {{"messaging_product", "whatsapp"}, {"status", "read"}, {"message_id", "wamid.X"}};
    change_set cs;
    cs.workspace_id = ws_.id;
    cs.outbox.add.push_back(e);
    std::promise<bool> stored;
    db_->commit(cs, 5, [&](commit_result r) { stored.set_value(r.ok()); });
    ASSERT_TRUE(stored.get_future().get());
  }

  void TearDown() override {
    sys_.await_all_actors_done();
    transport_->stop();
    client_->stop();
    io_.drain();
  }

  // Spawns the workspace's outbound actor with `epoch` under a stand-in workspace actor, which
  // records the epoch of a fenced_atom it receives (0: none).
  void run_outbound(uint64_t epoch) {
    auto fenced = fenced_;
    auto stand_in = sys_.spawn([fenced](caf::event_based_actor*) -> caf::behavior {
      return {[fenced](fenced_atom, uint64_t e) { fenced->store(e); }};
    });
    outbox_options opts;
    opts.transport = transport_;
    opts.timeout_ms = 2000;
    caf::scoped_actor self{sys_};
    outbound_ = spawn_outbound_actor(self.ptr(), db_, stand_in, ws_, opts, epoch);
    stand_in_ = stand_in;
  }

  void stop_outbound() {
    caf::anon_send_exit(outbound_, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(stand_in_, caf::exit_reason::user_shutdown);
  }

  test::redis_server server_;
  test::io_thread io_;
  test::fake_cloud_api api_;
  std::shared_ptr<redis_client> client_;
  std::shared_ptr<redis_store> db_;
  std::shared_ptr<https_client> transport_;
  workspace ws_;
  caf::actor_system_config cfg_;
  caf::actor_system sys_{cfg_};
  std::shared_ptr<std::atomic<uint64_t>> fenced_ = std::make_shared<std::atomic<uint64_t>>(0);
  caf::actor outbound_, stand_in_;
};

TEST_F(OutboxClaimTest, ANodeWithAStaleEpochSendsNothing) {
  run_outbound(4); // the node that had the workspace before epoch 5
  ASSERT_TRUE(wait_until([&] { return fenced_->load() == 4; }, 5s))
      << "the workspace actor was not told";
  // The claim was refused before anything was posted; the entry is as it was.
  EXPECT_EQ(api_.count(), 0u);
  EXPECT_EQ(server_.cli("ZCARD {ws:ws_claim}:outbox"), "1\n");
  stop_outbound();
}

TEST_F(OutboxClaimTest, TheOwnerClaimsSendsAndRemovesTheEntry) {
  run_outbound(5);
  ASSERT_TRUE(api_.wait_for(1, 5s)) << "the read receipt was not sent";
  // Removed once answered: under the lease's epoch (epoch 0 was refused in scale-out before).
  EXPECT_TRUE(wait_until([&] { return server_.cli("ZCARD {ws:ws_claim}:outbox") == "0\n"; }, 5s));
  EXPECT_EQ(fenced_->load(), 0u);
  EXPECT_EQ(api_.count(), 1u);
  stop_outbound();
}

} // namespace
} // namespace inboxd
