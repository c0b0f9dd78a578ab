// Integration tests: storage/hook_store and the commit script's fan-out of events to outgoing
// webhooks' queues, against a real redis-server.

#include "storage/hook_store.hpp"

#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <string>

#include "storage/redis_client.hpp"
#include "storage/redis_store.hpp"
#include "tests/support/io_thread.hpp"
#include "tests/support/redis_server.hpp"

namespace inboxd {
namespace {

using namespace std::chrono_literals;
using test::endpoint_of;
using test::io_thread;
using test::redis_server;
using test::wait_until;

// A change set creating message `id` in cv_1 (contact ct_1) with message.created and
// conversation.updated events.
change_set new_message(const std::string& id) {
  change_set cs;
  cs.workspace_id = "W";
  cs.new_messages = {id};
  cs.messages = {{id,
                  {{"id", id},
                   {"conversationId", "cv_1"},
                   {"direction", "inbound"},
                   {"origin", "whatsapp"},
                   {"status", "received"},
                   {"type", "text"},
                   {"text", "hi"}}}};
  conversation cv;
  cv.id = "cv_1";
  cv.contact_id = "ct_1";
  cs.conv = cv;
  contact ct;
  ct.id = "ct_1";
  ct.phone = "5511";
  cs.ct = ct;
  change_set::event created;
  created.type = "message.created";
  created.message_id = id;
  change_set::event updated;
  updated.type = "conversation.updated";
  updated.conversation_id = "cv_1";
  updated.contact_id = "ct_1";
  cs.events = {created, updated};
  return cs;
}

hook_record hook(const std::string& id, std::vector<std::string> events) {
  hook_record h;
  h.id = id;
  h.url = "http://example.com/" + id;
  h.secret = "whsec_" + id;
  h.events = std::move(events);
  h.created_at = 1;
  return h;
}

class HookStoreTest : public ::testing::Test {
protected:
  void SetUp() override {
    server_ = std::make_unique<redis_server>();
    client_ = std::make_shared<redis_client>(io_.io, endpoint_of(server_->url()));
    client_->start();
    ASSERT_TRUE(wait_until([&] { return client_->connected(); }, 5s)) << "never connected";
    store_ = std::make_unique<redis_store>(client_, redis_store_options{});
    hooks_ = std::make_unique<hook_store>(client_);
  }
  void TearDown() override {
    store_.reset();
    hooks_.reset();
    client_->stop();
    io_.drain();
  }

  template <class Result, class Start>
  Result call(Start start) {
    std::promise<Result> p;
    auto f = p.get_future();
    start([&p](Result r) { p.set_value(std::move(r)); });
    if (f.wait_for(20s) != std::future_status::ready) {
      ADD_FAILURE() << "no callback";
      return {};
    }
    return f.get();
  }

  void commit(change_set cs) {
    auto r = call<commit_result>([&](auto done) { store_->commit(std::move(cs), 0, done); });
    ASSERT_TRUE(r.ok()) << r.error;
  }
  void save(hook_record h) {
    auto w = call<hook_write>([&](auto done) { hooks_->save_hook("W", std::move(h), done); });
    ASSERT_TRUE(w.ok) << w.error;
  }
  hook_step step(const std::string& id, std::vector<settled_delivery> settled, size_t claim,
                 int64_t now, uint64_t epoch = 0) {
    return call<hook_step>([&](auto done) {
      hooks_->step("W", id, epoch, std::move(settled), claim, now, now + 10000, done);
    });
  }
  std::string cli(const std::string& args) { return server_->cli(args); }

  io_thread io_;
  std::unique_ptr<redis_server> server_;
  std::shared_ptr<redis_client> client_;
  std::unique_ptr<redis_store> store_;
  std::unique_ptr<hook_store> hooks_;
};

TEST_F(HookStoreTest, EventsJoinTheQueuesOfTheWebhooksSubscribedToThem) {
  commit(new_message("msg_before")); // no webhook yet: no delivery
  save(hook("wh_all", {"message.created", "conversation.updated"}));
  save(hook("wh_msg", {"message.created"}));
  commit(new_message("msg_a"));
  EXPECT_EQ(cli("ZCARD {ws:W}:wq:wh_all"), "2\n");
  EXPECT_EQ(cli("ZCARD {ws:W}:wq:wh_msg"), "1\n");

  auto now = INT64_MAX / 4;
  auto s = step("wh_all", {}, 10, now);
  ASSERT_TRUE(s.ok) << s.error;
  ASSERT_EQ(s.claimed.size(), 2u);
  EXPECT_EQ(s.depth, 2);
  auto& m = s.claimed[0].event;
  EXPECT_EQ(m.type, "message.created");
  EXPECT_EQ(m.message_id, "msg_a");
  EXPECT_NE(m.message.find("\"text\":\"hi\""), std::string::npos) << m.message;
  auto& c = s.claimed[1].event;
  EXPECT_EQ(c.type, "conversation.updated");
  EXPECT_EQ(c.conversation_id, "cv_1");
  EXPECT_FALSE(c.conversation.empty());
  EXPECT_FALSE(c.contact.empty());
  EXPECT_LT(m.id, c.id); // the event ids of the log, in order
  EXPECT_EQ(s.oldest_ms, std::stoll(m.id.substr(0, m.id.find('-'))));
  // Claimed: not due again before the lease ends.
  EXPECT_TRUE(step("wh_all", {}, 10, now).claimed.empty());
}

TEST_F(HookStoreTest, OutcomesMoveDeliveriesAndRedeliverQueuesThemAgain) {
  save(hook("wh_1", {"message.created"}));
  commit(new_message("msg_a"));
  commit(new_message("msg_b"));
  int64_t now = 4102444800000; // 2100: everything is due
  auto s = step("wh_1", {}, 10, now);
  ASSERT_EQ(s.claimed.size(), 2u);
  using outcome = settled_delivery::outcome;
  auto a = s.claimed[0].member, b = s.claimed[1].member;
  auto eid_a = s.claimed[0].event.id;
  std::vector<settled_delivery> out{
      {outcome::succeeded, a, 0, 1, R"({"m":")" + a + R"(","a":1})"},
      {outcome::retry, b, now + 500, 1, R"({"m":")" + b + R"(","a":1,"e":"HTTP 500"})"}};
  s = step("wh_1", std::move(out), 10, now);
  ASSERT_TRUE(s.ok) << s.error;
  EXPECT_TRUE(s.claimed.empty());
  EXPECT_EQ(s.depth, 1);
  EXPECT_EQ(s.next_due_ms, now + 500);
  EXPECT_EQ(s.oldest_ms, 1); // the retried one's event time, as settled

  auto ok = call<delivery_rows>([&](auto d) { hooks_->list("W", "wh_1", "succeeded", 10, d); });
  ASSERT_EQ(ok.rows.size(), 1u);
  EXPECT_EQ(ok.rows[0].event_id, eid_a);
  auto pending = call<delivery_rows>([&](auto d) { hooks_->list("W", "wh_1", "pending", 10, d); });
  ASSERT_EQ(pending.rows.size(), 1u);
  EXPECT_EQ(pending.rows[0].member, b);
  EXPECT_EQ(pending.rows[0].score, now + 500);
  EXPECT_NE(pending.rows[0].log.find("HTTP 500"), std::string::npos);

  // Due again after its delay; then failed for good.
  s = step("wh_1", {}, 10, now + 500);
  ASSERT_EQ(s.claimed.size(), 1u);
  EXPECT_EQ(s.claimed[0].log.find("\"a\":1") != std::string::npos, true);
  s = step("wh_1", {{outcome::failed, b, 0, 1, R"({"m":")" + b + R"(","a":2})"}}, 0, now + 600);
  ASSERT_TRUE(s.ok);
  EXPECT_EQ(s.depth, 0);
  EXPECT_EQ(s.oldest_ms, 0);
  auto failed = call<delivery_rows>([&](auto d) { hooks_->list("W", "wh_1", "failed", 10, d); });
  ASSERT_EQ(failed.rows.size(), 1u);

  // Redelivery: the failed one is pending again, due now; an unknown id is missing.
  auto eid_b = failed.rows[0].event_id;
  auto r =
      call<delivery_rows>([&](auto d) { hooks_->redeliver("W", "wh_1", 0, eid_b, now + 700, d); });
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0].member, b);
  EXPECT_EQ(cli("ZCARD {ws:W}:wf:wh_1"), "0\n");
  s = step("wh_1", {}, 10, now + 700);
  ASSERT_EQ(s.claimed.size(), 1u);
  EXPECT_EQ(s.claimed[0].member, b);
  auto missing =
      call<delivery_rows>([&](auto d) { hooks_->redeliver("W", "wh_1", 0, "1-0", now, d); });
  EXPECT_FALSE(missing.ok);
  EXPECT_EQ(missing.error, "missing");
}

TEST_F(HookStoreTest, AStaleEpochOrADeletedWebhookWritesNothing) {
  save(hook("wh_1", {"message.created"}));
  commit(new_message("msg_a"));
  cli("SET {ws:W}:epoch 7");
  auto s = step("wh_1", {}, 10, 4102444800000, 6);
  EXPECT_TRUE(s.stale);
  EXPECT_EQ(cli("ZCARD {ws:W}:wq:wh_1"), "1\n");
  auto d = call<hook_write>([&](auto done) { hooks_->delete_hook("W", "wh_1", done); });
  ASSERT_TRUE(d.ok) << d.error;
  EXPECT_EQ(cli("EXISTS {ws:W}:wq:wh_1 {ws:W}:wh {ws:W}:whsub"), "0\n");
  EXPECT_TRUE(step("wh_1", {}, 10, 4102444800000, 7).gone);
  auto again = call<hook_write>([&](auto done) { hooks_->delete_hook("W", "wh_1", done); });
  EXPECT_TRUE(again.missing);
  auto loaded = call<hooks_read>([&](auto done) { hooks_->load_hooks("W", done); });
  ASSERT_TRUE(loaded.ok);
  EXPECT_TRUE(loaded.hooks.empty());
}

TEST_F(HookStoreTest, WebhooksLoadAsSaved) {
  auto h = hook("wh_1", {"message.created", "conversation.created"});
  h.description = "CRM";
  h.has_description = true;
  save(h);
  save(hook("wh_2", {"message.updated"}));
  auto loaded = call<hooks_read>([&](auto done) { hooks_->load_hooks("W", done); });
  ASSERT_TRUE(loaded.ok) << loaded.error;
  ASSERT_EQ(loaded.hooks.size(), 2u);
  EXPECT_EQ(loaded.hooks[0].id, "wh_1");
  EXPECT_EQ(loaded.hooks[0].secret, "whsec_wh_1");
  EXPECT_EQ(loaded.hooks[0].description, "CRM");
  EXPECT_EQ(loaded.hooks[0].events, h.events);
  EXPECT_FALSE(loaded.hooks[1].has_description);
  EXPECT_EQ(cli("HGET {ws:W}:whsub wh_1"), " mc cc \n");
}

} // namespace
} // namespace inboxd
