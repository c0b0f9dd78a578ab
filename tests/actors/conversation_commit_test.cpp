// The conversation actor's memory changes only after its commit is acknowledged (DESIGN.md
// rules 2 and 7): a real conversation actor on a real redis_store, wrapped by faulty_store to
// fail, drop the reply of, or hang chosen commits. After each step, what the actor made visible
// (conversation_changed, as the workspace actor receives it) and what Redis holds must agree.

#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <sstream>

#include <caf/all.hpp>

#include "actors/conversation_actor.hpp"
#include "messages/actor_messages.hpp"
#include "messages/ids.hpp"
#include "storage/redis_client.hpp"
#include "storage/redis_store.hpp"
#include "tests/support/faulty_store.hpp"
#include "tests/support/io_thread.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/text_event.hpp"

namespace inboxd {
namespace {

using namespace std::chrono_literals;
using test::faulty_store;
using test::wait_until;

// What the conversation actor made visible, as the workspace actor saw it.
struct visible {
  size_t count = 0;
  int64_t unread_count = 0;
  uint64_t seq = 0;
  std::string status;
};

// Captures the HTTP answer of an agent action.
class captured_reply : public reply_sink {
public:
  void deliver(http_response res) override { p_.set_value(res.status); }
  std::future<int> status() { return p_.get_future(); }

private:
  std::promise<int> p_;
};

wa_event text(const std::string& wamid) {
  return test::text_event("5511", wamid);
}

class ConversationCommitTest : public ::testing::Test {
protected:
  void SetUp() override {
    client_ = std::make_shared<redis_client>(io_.io, test::endpoint_of(server_.url()));
    client_->start();
    ASSERT_TRUE(wait_until([&] { return client_->connected(); }, 5s));
    faulty_ = std::make_shared<faulty_store>(
        std::make_shared<redis_store>(client_, redis_store_options{}));
    // Stands in for the workspace actor. Asked through its mailbox, it answers after every
    // conversation_changed sent before the ack that the test waited for, as reads do.
    workspace_ = sys_.spawn([](caf::event_based_actor*) -> caf::behavior {
      auto seen = std::make_shared<visible>();
      return {
          [seen](conversation_changed& c) {
            ++seen->count;
            seen->unread_count = c.conv.unread_count;
            seen->seq = c.conv.seq;
            seen->status = c.conv.status;
          },
          [seen](caf::get_atom) {
            return std::to_string(seen->count) + " " + std::to_string(seen->unread_count) + " " +
                   std::to_string(seen->seq) + " " + seen->status;
          },
          [](conversation_idle&) {},
          [](events_atom) {},
      };
    });
    conversation_seed seed;
    seed.workspace_id = "W";
    seed.conv.id = "cv_1";
    seed.conv.contact_id = "ct_1";
    seed.ct.id = "ct_1";
    seed.ct.phone = "5511";
    seed.db = faulty_;
    caf::scoped_actor parent{sys_};
    conv_ = spawn_conversation_actor(parent.ptr(), workspace_, seed);
  }

  void TearDown() override {
    caf::anon_send(conv_, stop_atom::value);
    caf::anon_send_exit(workspace_, caf::exit_reason::user_shutdown);
    sys_.await_all_actors_done();
    faulty_.reset();
    client_->stop();
    io_.drain();
  }

  // Sends one webhook event; the future completes with its ack.
  std::future<bool> ingest(wa_event e) {
    auto p = std::make_shared<std::promise<bool>>();
    auto f = p->get_future();
    auto ack = std::make_shared<ingest_ack>(1, [p](bool ok) { p->set_value(ok); });
    caf::anon_send(conv_, ingest_batch{{std::move(e)}, ack, {}, {}, {}});
    return f;
  }

  static bool acked(std::future<bool>& f) {
    EXPECT_EQ(f.wait_for(20s), std::future_status::ready);
    return f.get();
  }

  // The stored conversation record (unread count and arrival counter), or {-1, 0} if absent.
  std::pair<int64_t, uint64_t> stored() {
    auto text = server_.cli("HGET {ws:W}:convs cv_1");
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_object())
      return {-1, 0};
    auto cv = j.get<conversation>();
    return {cv.unread_count, cv.seq};
  }

  // Sets the conversation's status as an agent would; returns the HTTP status of the answer.
  int set_status(const std::string& status) {
    auto sink = std::make_shared<captured_reply>();
    auto answer = sink->status();
    inbox_call call;
    call.what = inbox_call::op::set_status;
    call.id = "cv_1";
    call.value = status;
    call.reply = reply_handle(sink);
    caf::anon_send(conv_, std::move(call));
    EXPECT_EQ(answer.wait_for(20s), std::future_status::ready);
    return answer.get();
  }

  std::string stored_status() {
    auto j = nlohmann::json::parse(server_.cli("HGET {ws:W}:convs cv_1"), nullptr, false);
    return j.is_object() ? j.get<conversation>().status : std::string();
  }

  bool stored_message(const std::string& wamid) {
    return server_.cli("EXISTS {ws:W}:m:" + message_id_for_wamid(wamid)) == "1\n";
  }

  visible seen() {
    caf::scoped_actor self{sys_};
    visible v;
    self->request(workspace_, caf::infinite, caf::get_atom::value)
        .receive(
            [&](const std::string& s) {
              std::istringstream in(s);
              in >> v.count >> v.unread_count >> v.seq >> v.status;
            },
            [&](caf::error& e) { ADD_FAILURE() << sys_.render(e); });
    return v;
  }

  void expect_memory_matches_redis() {
    auto [unread, seq] = stored();
    auto v = seen();
    EXPECT_EQ(v.unread_count, unread);
    EXPECT_EQ(v.seq, seq);
    EXPECT_EQ(server_.cli("ZCARD {ws:W}:tl:cv_1"), std::to_string(seq) + "\n");
  }

  test::redis_server server_;
  test::io_thread io_;
  std::shared_ptr<redis_client> client_;
  std::shared_ptr<faulty_store> faulty_;
  caf::actor_system_config cfg_;
  caf::actor_system sys_{cfg_};
  caf::actor workspace_, conv_;
};

TEST_F(ConversationCommitTest, AFailedCommitChangesNeitherMemoryNorRedis) {
  faulty_->inject(1, faulty_store::fault::fail);
  auto first = ingest(text("wamid.A"));
  EXPECT_FALSE(acked(first));
  EXPECT_EQ(seen().count, 0u);
  EXPECT_FALSE(stored_message("wamid.A"));
  EXPECT_EQ(stored().first, -1);

  auto again = ingest(text("wamid.A")); // the sender retries
  EXPECT_TRUE(acked(again));
  EXPECT_EQ(seen().unread_count, 1);
  expect_memory_matches_redis();
}

TEST_F(ConversationCommitTest, AfterADroppedReplyTheActorReloadsAndTheRetryIsADuplicate) {
  auto a = ingest(text("wamid.A"));
  ASSERT_TRUE(acked(a));
  faulty_->inject(1, faulty_store::fault::drop_reply);
  auto b = ingest(text("wamid.B"));
  EXPECT_FALSE(acked(b));                 // the sender was told to retry...
  EXPECT_TRUE(stored_message("wamid.B")); // ...though Redis has it
  EXPECT_EQ(seen().unread_count, 1);      // memory unchanged by an unknown outcome
  EXPECT_EQ(stored().first, 2);

  auto retry = ingest(text("wamid.B"));
  EXPECT_TRUE(acked(retry));
  EXPECT_EQ(seen().unread_count, 2); // reloaded, and the retry stored nothing twice
  expect_memory_matches_redis();

  auto c = ingest(text("wamid.C"));
  EXPECT_TRUE(acked(c));
  EXPECT_EQ(seen().unread_count, 3);
  expect_memory_matches_redis();
}

TEST_F(ConversationCommitTest, ASuspectActorReloadsWhenTheIdleSweepAsksInsteadOfPassivating) {
  auto a = ingest(text("wamid.A"));
  ASSERT_TRUE(acked(a));
  faulty_->inject(1, faulty_store::fault::drop_reply);
  auto b = ingest(text("wamid.B"));
  EXPECT_FALSE(acked(b));
  auto before = seen().count;
  // Asked by the sweep, it does not report idle (its summary may be stale): it reloads.
  caf::anon_send(conv_, idle_check_atom::value);
  ASSERT_TRUE(wait_until([&] { return seen().count > before; }, 20s));
  EXPECT_EQ(seen().unread_count, 2);
  expect_memory_matches_redis();
}

TEST_F(ConversationCommitTest, AFailedActionIsA503AndChangesNeitherMemoryNorRedis) {
  auto a = ingest(text("wamid.A"));
  ASSERT_TRUE(acked(a));
  auto before = seen().count;
  faulty_->inject(1, faulty_store::fault::fail);
  EXPECT_EQ(set_status("closed"), 503);
  EXPECT_EQ(seen().count, before);
  EXPECT_EQ(seen().status, "open");
  EXPECT_EQ(stored_status(), "open");
  // An unknown outcome: 503 too, and the actor reloads what Redis has before the next change.
  faulty_->inject(1, faulty_store::fault::drop_reply);
  EXPECT_EQ(set_status("pending"), 503);
  EXPECT_EQ(stored_status(), "pending");
  auto b = ingest(text("wamid.B"));
  ASSERT_TRUE(acked(b));
  EXPECT_EQ(seen().status, "pending");
  EXPECT_EQ(stored_status(), "pending");
  EXPECT_EQ(set_status("closed"), 200);
  EXPECT_EQ(seen().status, "closed");
  expect_memory_matches_redis();
}

TEST_F(ConversationCommitTest, AHungCommitHoldsMemoryAndLaterWorkUntilItsReply) {
  auto a = ingest(text("wamid.A"));
  ASSERT_TRUE(acked(a));
  faulty_->inject(1, faulty_store::fault::hang);
  auto b = ingest(text("wamid.B"));
  ASSERT_TRUE(wait_until([&] { return faulty_->holding(); }, 20s));
  auto c = ingest(text("wamid.C")); // queues behind B: one writer, one change at a time
  EXPECT_EQ(b.wait_for(0s), std::future_status::timeout);
  EXPECT_EQ(seen().unread_count, 1);
  EXPECT_EQ(faulty_->commits(), 2);
  ASSERT_TRUE(faulty_->release());
  EXPECT_TRUE(acked(b));
  EXPECT_TRUE(acked(c));
  EXPECT_EQ(seen().unread_count, 3);
  expect_memory_matches_redis();
}

} // namespace
} // namespace inboxd
