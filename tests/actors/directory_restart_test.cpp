// A workspace actor that dies is started again by the directory, which lives on: before, the
// directory was linked to it without an exit handler, so one workspace's death ended the
// directory and, through the links, every workspace of the node. Real actors on a real Redis.

#include <gtest/gtest.h>

#include <future>
#include <memory>

#include <caf/all.hpp>

#include "actors/directory_actor.hpp"
#include "actors/registry.hpp"
#include "actors/workspace_actor.hpp"
#include "messages/actor_messages.hpp"
#include "messages/ingest_ack.hpp"
#include "storage/redis_client.hpp"
#include "storage/redis_registry_store.hpp"
#include "storage/redis_store.hpp"
#include "tests/support/io_thread.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/text_event.hpp"

namespace inboxd {
namespace {

using namespace std::chrono_literals;
using test::wait_until;

class DirectoryRestartTest : public ::testing::Test {
protected:
  void SetUp() override {
    client_ = std::make_shared<redis_client>(io_.io, test::endpoint_of(server_.url()));
    client_->start();
    ASSERT_TRUE(wait_until([&] { return client_->connected(); }, 5s));
    auto registry_db = std::make_shared<redis_registry_store>(client_);
    workspace ws;
    ws.id = "ws_restart";
    ws.name = ws.slug = "restart";
    ws.phone_number_id = "1234567890";
    std::promise<bool> saved;
    registry_db->save_workspace(ws, std::nullopt, [&](registry_write w) { saved.set_value(w.ok); });
    ASSERT_TRUE(saved.get_future().get());
    workspace_options opts;
    opts.db = std::make_shared<redis_store>(client_, redis_store_options{});
    directory_ = spawn_directory_actor(sys_, registry_db, reg_, opts);
    ASSERT_TRUE(wait_until([&] { return actor_of("ws_restart") != nullptr; }, 5s));
  }

  void TearDown() override {
    caf::anon_send_exit(directory_, caf::exit_reason::user_shutdown);
    sys_.await_all_actors_done();
    client_->stop();
    io_.drain();
  }

  // The workspace's actor as the registry publishes it (null before the first load).
  caf::actor_addr actor_of(const std::string& id) {
    auto snap = reg_->get();
    auto* e = snap->find_id(id);
    return e ? e->actor.address() : caf::actor_addr{};
  }

  // Ingests one text message through the actor the registry names; true once it is stored.
  bool ingest(const std::string& wamid) {
    auto e = test::text_event("5511999990000", wamid);
    std::promise<bool> done;
    auto ack = std::make_shared<ingest_ack>(1, [&](bool ok) { done.set_value(ok); });
    auto snap = reg_->get();
    caf::anon_send(snap->find_id("ws_restart")->actor, ingest_batch{{e}, ack, {}, {}, {}});
    auto f = done.get_future();
    return f.wait_for(5s) == std::future_status::ready && f.get();
  }

  test::redis_server server_;
  test::io_thread io_;
  std::shared_ptr<redis_client> client_;
  caf::actor_system_config cfg_;
  caf::actor_system sys_{cfg_};
  std::shared_ptr<registry> reg_ = std::make_shared<registry>();
  caf::actor directory_;
};

TEST_F(DirectoryRestartTest, ADeadWorkspaceActorIsStartedAgainAndTheDirectoryLivesOn) {
  ASSERT_TRUE(ingest("wamid.before"));
  caf::scoped_actor self{sys_};
  self->monitor(directory_);
  auto first = actor_of("ws_restart");
  // An exit it handles (kill would be fatal to the directory too: CAF 0.17 passes it on through
  // links without calling exit handlers) and ends with, as after an exception in a handler.
  caf::anon_send_exit(first, caf::exit_reason::unhandled_exception);
  ASSERT_TRUE(wait_until([&] { return actor_of("ws_restart") != first; }, 5s))
      << "the registry still names the dead actor";
  EXPECT_TRUE(ingest("wamid.after"));
  // Dead again at once: started again after the spacing, not in a loop.
  auto second = actor_of("ws_restart");
  auto t0 = std::chrono::steady_clock::now();
  caf::anon_send_exit(second, caf::exit_reason::unhandled_exception);
  ASSERT_TRUE(wait_until([&] { return actor_of("ws_restart") != second; }, 5s));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 900ms);
  EXPECT_TRUE(ingest("wamid.later"));
  // The directory never went down.
  bool down = false;
  self->receive([&](caf::down_msg&) { down = true; }, caf::after(0ms) >> [] {});
  EXPECT_FALSE(down);
}

} // namespace
} // namespace inboxd
