// Integration tests: storage/redis_store (the commit script, group commit, reads) against a real
// redis-server.

#include "storage/redis_store.hpp"

#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <string>

#include <boost/asio/post.hpp>

#include "storage/redis_client.hpp"
#include "tests/support/io_thread.hpp"
#include "tests/support/redis_server.hpp"

namespace inboxd {
namespace {

using namespace std::chrono_literals;
using test::endpoint_of;
using test::io_thread;
using test::redis_server;
using test::wait_until;

// An inbound text message record in the API shape.
nlohmann::json inbound_text(const std::string& id) {
  return {{"id", id},         {"conversationId", "cv_1"}, {"direction", "inbound"},
          {"origin", "whatsapp"}, {"status", "received"},  {"type", "text"},
          {"text", "hi"}};
}

// What a read gives for it: the id and the inbound defaults first, then what was stored.
std::string inbound_text_read(const std::string& id) {
  return R"({"id":")" + id +
         R"(","direction":"inbound","origin":"whatsapp","status":"received","type":"text",)"
         R"("conversationId":"cv_1","text":"hi"})";
}

// A change set that creates message `id` in conversation cv_1 of workspace W with its event.
change_set new_message(const std::string& id, int64_t score = 1000) {
  change_set cs;
  cs.workspace_id = "W";
  cs.new_messages = {id};
  cs.unlinked = {id};
  cs.messages = {{id, inbound_text(id)}};
  cs.timeline_of = "cv_1";
  cs.timeline = {{id, score}};
  conversation cv;
  cv.id = "cv_1";
  cv.contact_id = "ct_1";
  cv.unread_count = 1;
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

class RedisStoreTest : public ::testing::Test {
protected:
  void SetUp() override {
    server_ = std::make_unique<redis_server>();
    client_ = std::make_shared<redis_client>(io_.io, endpoint_of(server_->url()));
    client_->start();
    ASSERT_TRUE(wait_until([&] { return client_->connected(); }, 5s)) << "never connected";
    make_store(4096);
  }
  void TearDown() override {
    store_.reset();
    client_->stop();
    io_.drain();
  }
  void make_store(size_t max_queued) {
    redis_store_options o;
    o.events_retain = 100;
    o.max_queued = max_queued;
    store_ = std::make_unique<redis_store>(client_, o);
  }

  commit_result commit(change_set cs, uint64_t epoch = 0) {
    std::promise<commit_result> p;
    auto f = p.get_future();
    store_->commit(std::move(cs), epoch, [&p](commit_result r) { p.set_value(std::move(r)); });
    if (f.wait_for(20s) != std::future_status::ready) {
      ADD_FAILURE() << "no commit callback";
      return {};
    }
    return f.get();
  }

  // Holds the io thread (where the client sends) until the returned promise is set.
  std::shared_ptr<std::promise<void>> block_io() {
    auto gate = std::make_shared<std::promise<void>>();
    auto entered = std::make_shared<std::promise<void>>();
    boost::asio::post(io_.io, [gate, entered] {
      entered->set_value();
      gate->get_future().wait();
    });
    entered->get_future().wait();
    return gate;
  }

  std::string cli(const std::string& args) { return server_->cli(args); }

  // Runs a store read `start(callback)` and returns what it answered.
  template <class Result, class Start>
  Result read(Start start) {
    std::promise<Result> p;
    auto f = p.get_future();
    start([&p](Result r) { p.set_value(std::move(r)); });
    if (f.wait_for(20s) != std::future_status::ready) {
      ADD_FAILURE() << "no read callback";
      return {};
    }
    return f.get();
  }

  io_thread io_;
  std::unique_ptr<redis_server> server_;
  std::shared_ptr<redis_client> client_;
  std::unique_ptr<redis_store> store_;
};

TEST_F(RedisStoreTest, CommitWritesEveryPartOfTheChangeSet) {
  auto r = commit(new_message("msg_a", 1763647391000001));
  ASSERT_EQ(r.status, commit_status::applied) << r.error;
  // Stored without its id and the inbound defaults, under one-letter names; a read puts them
  // back.
  EXPECT_EQ(cli("GET {ws:W}:m:msg_a"), "{\"c\":\"cv_1\",\"x\":\"hi\"}\n");
  auto back = read<message_lookup>(
      [&](auto cb) { store_->load_messages("W", {"msg_a"}, "", std::move(cb)); });
  ASSERT_TRUE(back.ok) << back.error;
  EXPECT_EQ(back.records["msg_a"], inbound_text_read("msg_a"));
  EXPECT_EQ(nlohmann::json::parse(back.records["msg_a"]), inbound_text("msg_a"));
  EXPECT_EQ(cli("ZSCORE {ws:W}:tl:cv_1 msg_a"), "1763647391000001\n");
  EXPECT_NE(cli("HGET {ws:W}:convs cv_1").find("\"n\":1"), std::string::npos);
  EXPECT_NE(cli("HGET {ws:W}:contacts ct_1").find("\"p\":\"5511\""), std::string::npos);
  EXPECT_EQ(cli("XLEN {ws:W}:events"), "2\n");
  EXPECT_NE(cli("XRANGE {ws:W}:events - +").find("\nmc\n"), std::string::npos); // message.created
}

TEST_F(RedisStoreTest, ADuplicateMessageRefusesTheWholeChangeSet) {
  ASSERT_EQ(commit(new_message("msg_a")).status, commit_status::applied);
  auto again = new_message("msg_a");
  again.conv->unread_count = 2;
  auto r = commit(again);
  EXPECT_EQ(r.status, commit_status::conflict);
  EXPECT_EQ(r.duplicates, std::vector<std::string>{"msg_a"});
  EXPECT_TRUE(r.linked.empty());
  EXPECT_NE(cli("HGET {ws:W}:convs cv_1").find("\"n\":1"), std::string::npos);
  EXPECT_EQ(cli("XLEN {ws:W}:events"), "2\n");
  // Also when the change set was built after reading (no assumption, the dedupe mark only).
  again.unlinked.clear();
  auto read = commit(again);
  EXPECT_EQ(read.status, commit_status::conflict);
  EXPECT_EQ(read.duplicates, std::vector<std::string>{"msg_a"});
  EXPECT_EQ(cli("XLEN {ws:W}:events"), "2\n");
}

TEST_F(RedisStoreTest, AnAliasOrParkedEventsRefuseAnAssumedNewMessage) {
  cli("SET {ws:W}:alias:msg_a msg_own");
  cli("RPUSH {ws:W}:park:msg_b x");
  auto r = commit(new_message("msg_a"));
  EXPECT_EQ(r.status, commit_status::conflict);
  EXPECT_EQ(r.linked, std::vector<std::string>{"msg_a"});
  EXPECT_EQ(commit(new_message("msg_b")).status, commit_status::conflict);
  EXPECT_EQ(cli("EXISTS {ws:W}:m:msg_a"), "0\n");
  EXPECT_EQ(cli("EXISTS {ws:W}:m:msg_b"), "0\n");
  // Read first (no assumption): the precondition is gone and the parked events are dropped.
  auto read = new_message("msg_b");
  read.unlinked.clear();
  read.unpark = {"msg_b"};
  EXPECT_EQ(commit(read).status, commit_status::applied);
  EXPECT_EQ(cli("EXISTS {ws:W}:park:msg_b"), "0\n");
}

TEST_F(RedisStoreTest, ParkedEventsAreAppendedWithAnExpiry) {
  change_set cs;
  cs.workspace_id = "W";
  cs.park = {{"msg_x", {"one", "two"}}};
  ASSERT_EQ(commit(cs).status, commit_status::applied);
  EXPECT_EQ(cli("LRANGE {ws:W}:park:msg_x 0 -1"), "one\ntwo\n");
  EXPECT_GT(std::stol(cli("TTL {ws:W}:park:msg_x")), 7 * 24 * 3600);
}

TEST_F(RedisStoreTest, AStaleEpochWritesNothing) {
  cli("SET {ws:W}:epoch 5");
  auto r = commit(new_message("msg_a"), 4);
  EXPECT_EQ(r.status, commit_status::stale_epoch);
  EXPECT_EQ(cli("EXISTS {ws:W}:m:msg_a"), "0\n");
  EXPECT_EQ(commit(new_message("msg_a"), 0).status, commit_status::stale_epoch);
  EXPECT_EQ(commit(new_message("msg_a"), 5).status, commit_status::applied);
  EXPECT_EQ(cli("EXISTS {ws:W}:m:msg_a"), "1\n");
}

TEST_F(RedisStoreTest, TheScriptIsLoadedAgainAfterRedisForgetsIt) {
  ASSERT_EQ(commit(new_message("msg_a")).status, commit_status::applied);
  cli("SCRIPT FLUSH");
  EXPECT_EQ(commit(new_message("msg_b")).status, commit_status::applied);
  EXPECT_EQ(cli("EXISTS {ws:W}:m:msg_b"), "1\n");
  EXPECT_EQ(commit(new_message("msg_c")).status, commit_status::applied);
}

TEST_F(RedisStoreTest, CommitsQueuedBehindOneInFlightGoInOneCall) {
  ASSERT_EQ(commit(new_message("msg_warm")).status, commit_status::applied); // script loaded
  auto before = store_totals();
  auto gate = block_io(); // the first call cannot be sent until the gate opens
  constexpr int n = 200;
  std::atomic<int> applied{0}, done{0};
  for (int i = 0; i < n; ++i)
    store_->commit(new_message("msg_" + std::to_string(i)), 0, [&](commit_result r) {
      applied += r.ok();
      ++done;
    });
  gate->set_value();
  ASSERT_TRUE(wait_until([&] { return done == n; }, 20s));
  EXPECT_EQ(applied, n);
  auto c = store_totals();
  EXPECT_EQ(c.change_sets - before.change_sets, uint64_t(n));
  EXPECT_EQ(c.calls - before.calls, 2u); // the first alone, then the 199 that queued behind it
  EXPECT_EQ(cli("ZCARD {ws:W}:tl:cv_1"), "201\n");
}

TEST_F(RedisStoreTest, BeyondTheQueueBoundCallsAreRefusedAtOnce) {
  make_store(3);
  auto before = store_totals().overloaded;
  auto gate = block_io();
  std::atomic<int> done{0};
  std::vector<commit_status> got(5);
  for (int i = 0; i < 5; ++i)
    store_->commit(new_message("msg_" + std::to_string(i)), 0, [&, i](commit_result r) {
      got[i] = r.status;
      ++done;
    });
  // One in flight, three queued; the fifth was refused before the gate opened.
  EXPECT_EQ(done, 1);
  EXPECT_EQ(got[4], commit_status::overloaded);
  gate->set_value();
  ASSERT_TRUE(wait_until([&] { return done == 5; }, 20s));
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(got[i], commit_status::applied) << i;
  EXPECT_EQ(store_totals().overloaded - before, 1u);
}

TEST_F(RedisStoreTest, LoadTargetsFollowsAliasesAndReturnsParkedEvents) {
  cli("SET {ws:W}:m:msg_own ownrecord");
  cli("SET {ws:W}:alias:msg_derived msg_own");
  cli("SET {ws:W}:m:msg_plain plainrecord");
  cli("RPUSH {ws:W}:park:msg_new p1 p2");
  std::promise<message_targets> p;
  store_->load_targets("W", {"msg_derived", "msg_plain", "msg_new"},
                       [&](message_targets t) { p.set_value(std::move(t)); });
  auto f = p.get_future();
  ASSERT_EQ(f.wait_for(20s), std::future_status::ready);
  auto t = f.get();
  ASSERT_TRUE(t.ok) << t.error;
  EXPECT_EQ(t.records["msg_own"], "ownrecord");
  EXPECT_EQ(t.records["msg_plain"], "plainrecord");
  EXPECT_EQ(t.records.count("msg_new"), 0u);
  EXPECT_EQ(t.aliases["msg_derived"], "msg_own");
  EXPECT_EQ(t.parked["msg_new"], (std::vector<std::string>{"p1", "p2"}));
}

TEST_F(RedisStoreTest, LoadConversationReadsBothRecords) {
  ASSERT_EQ(commit(new_message("msg_a")).status, commit_status::applied);
  std::promise<conversation_records> p;
  store_->load_conversation("W", "cv_1", "ct_1",
                            [&](conversation_records r) { p.set_value(std::move(r)); });
  auto r = p.get_future().get();
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_TRUE(r.conv && r.ct);
  EXPECT_EQ(r.conv->unread_count, 1);
  EXPECT_EQ(r.ct->phone, "5511");
  std::promise<conversation_records> none;
  store_->load_conversation("W", "cv_2", "ct_2",
                            [&](conversation_records r) { none.set_value(std::move(r)); });
  auto missing = none.get_future().get();
  EXPECT_TRUE(missing.ok);
  EXPECT_FALSE(missing.conv || missing.ct);
}

TEST_F(RedisStoreTest, AClientMessageIdIsTakenOnceAndTheConflictNamesItsMessage) {
  auto send = [](const std::string& id) {
    change_set cs;
    cs.workspace_id = "W";
    cs.client_message = change_set::client_message_mark{"c-1", id};
    cs.messages = {{id, inbound_text(id)}};
    return cs;
  };
  ASSERT_EQ(commit(send("msg_first")).status, commit_status::applied);
  auto ttl = std::stoll(cli("TTL {ws:W}:cmid:c-1"));
  EXPECT_GT(ttl, 47 * 3600);
  EXPECT_LE(ttl, 48 * 3600);
  auto r = commit(send("msg_second"));
  EXPECT_EQ(r.status, commit_status::conflict);
  EXPECT_EQ(r.client_message_taken, "msg_first");
  EXPECT_EQ(cli("EXISTS {ws:W}:m:msg_second"), "0\n");
  auto found = read<message_lookup>(
      [&](auto cb) { store_->load_messages("W", {"msg_none"}, "c-1", std::move(cb)); });
  ASSERT_TRUE(found.ok) << found.error;
  EXPECT_EQ(found.client_message, "msg_first");
  EXPECT_EQ(found.records["msg_first"], inbound_text_read("msg_first"));
  EXPECT_EQ(found.records.count("msg_none"), 0u);
}

TEST_F(RedisStoreTest, ASendResultDropsTheEchoAliasesTheWamidAndLeavesTheOutbox) {
  outbox_entry e;
  e.id = "msg_out";
  e.conversation_id = "cv_1";
  e.due_ms = 5;
  change_set add;
  add.workspace_id = "W";
  add.outbox.add = {e};
  ASSERT_EQ(commit(add).status, commit_status::applied);
  EXPECT_EQ(cli("ZSCORE {ws:W}:outbox msg_out"), "5\n");
  auto outbox =
      read<queue_read>([&](auto cb) { store_->load_queue("W", job_queue::outbox, std::move(cb)); });
  ASSERT_TRUE(outbox.ok) << outbox.error;
  ASSERT_EQ(outbox.entries.size(), 1u);
  EXPECT_NE(outbox.entries[0].find("\"msg_out\""), std::string::npos);

  cli("SET {ws:W}:m:msg_echo echo");
  cli("ZADD {ws:W}:tl:cv_1 1 msg_echo");
  cli("RPUSH {ws:W}:park:msg_echo p1");
  change_set done;
  done.workspace_id = "W";
  done.timeline_of = "cv_1";
  done.drop_messages = {"msg_echo"};
  done.unpark = {"msg_echo"};
  done.aliases = {{"msg_echo", "msg_out"}};
  done.outbox.remove = {"msg_out"};
  ASSERT_EQ(commit(done).status, commit_status::applied);
  EXPECT_EQ(cli("EXISTS {ws:W}:m:msg_echo {ws:W}:park:msg_echo {ws:W}:ob:msg_out"), "0\n");
  EXPECT_EQ(cli("ZCARD {ws:W}:tl:cv_1"), "0\n");
  EXPECT_EQ(cli("ZCARD {ws:W}:outbox"), "0\n");
  EXPECT_EQ(cli("GET {ws:W}:alias:msg_echo"), "msg_out\n");

  // A reschedule of an entry that left the outbox meanwhile writes nothing.
  change_set late;
  late.workspace_id = "W";
  late.outbox.reschedule = {e};
  ASSERT_EQ(commit(late).status, commit_status::applied);
  EXPECT_EQ(cli("EXISTS {ws:W}:ob:msg_out"), "0\n");
  EXPECT_EQ(cli("ZCARD {ws:W}:outbox"), "0\n");
}

TEST_F(RedisStoreTest, TheMediaQueueIsItsOwnQueue) {
  outbox_entry job;
  job.id = "msg_img";
  job.kind = "media";
  job.conversation_id = "cv_1";
  job.payload = {{"mediaId", "77"}, {"expiresAt", 99}};
  job.due_ms = 7;
  change_set add;
  add.workspace_id = "W";
  add.media.add = {job};
  ASSERT_EQ(commit(add).status, commit_status::applied);
  EXPECT_EQ(cli("ZSCORE {ws:W}:media msg_img"), "7\n");
  EXPECT_EQ(cli("ZCARD {ws:W}:outbox"), "0\n");
  auto media =
      read<queue_read>([&](auto cb) { store_->load_queue("W", job_queue::media, std::move(cb)); });
  ASSERT_TRUE(media.ok) << media.error;
  ASSERT_EQ(media.entries.size(), 1u);
  auto back = nlohmann::json::parse(media.entries[0]).get<outbox_entry>();
  EXPECT_EQ(back.payload["mediaId"], "77");
  EXPECT_EQ(back.kind, "media");
  EXPECT_TRUE(read<queue_read>([&](auto cb) {
                store_->load_queue("W", job_queue::outbox, std::move(cb));
              }).entries.empty());

  job.due_ms = 50; // a claim
  change_set claim;
  claim.workspace_id = "W";
  claim.media.reschedule = {job};
  ASSERT_EQ(commit(claim).status, commit_status::applied);
  EXPECT_EQ(cli("ZSCORE {ws:W}:media msg_img"), "50\n");

  change_set done;
  done.workspace_id = "W";
  done.media.remove = {"msg_img"};
  ASSERT_EQ(commit(done).status, commit_status::applied);
  EXPECT_EQ(cli("EXISTS {ws:W}:md:msg_img {ws:W}:media"), "0\n");
  // A late reschedule of a job done with writes nothing.
  ASSERT_EQ(commit(claim).status, commit_status::applied);
  EXPECT_EQ(cli("EXISTS {ws:W}:md:msg_img {ws:W}:media"), "0\n");
}

TEST_F(RedisStoreTest, TimelinePagesAreNewestFirstBelowTheCursor) {
  for (int i = 1; i <= 5; ++i)
    ASSERT_EQ(commit(new_message("msg_" + std::to_string(i), 1000 * i)).status,
              commit_status::applied);
  cli("DEL {ws:W}:m:msg_4"); // a record gone: its entry comes back without one
  auto page = read<timeline_page>(
      [&](auto cb) { store_->load_timeline("W", "cv_1", 5000, 3, std::move(cb)); });
  ASSERT_TRUE(page.ok) << page.error;
  ASSERT_EQ(page.entries.size(), 3u);
  EXPECT_EQ(page.entries[0].id, "msg_4");
  EXPECT_FALSE(page.entries[0].record);
  EXPECT_EQ(page.entries[2].id, "msg_2");
  EXPECT_EQ(page.entries[2].score, 2000);
  EXPECT_EQ(*page.entries[2].record, inbound_text_read("msg_2"));
  auto all = read<timeline_page>(
      [&](auto cb) { store_->load_timeline("W", "cv_1", 0, 10, std::move(cb)); });
  EXPECT_EQ(all.entries.size(), 5u);
}

TEST_F(RedisStoreTest, TheEventLogIsReadAfterACursorUpToABound) {
  for (int i = 1; i <= 3; ++i)
    ASSERT_EQ(commit(new_message("msg_" + std::to_string(i))).status, commit_status::applied);
  auto last = read<event_read>([&](auto cb) { store_->read_events("W", {}, {}, 0, std::move(cb)); });
  ASSERT_TRUE(last.ok) << last.error;
  ASSERT_EQ(last.entries.size(), 1u);
  EXPECT_EQ(last.entries[0].type, "conversation.updated");
  auto all = read<event_read>([&](auto cb) { store_->read_events("W", {}, {}, 10, std::move(cb)); });
  ASSERT_EQ(all.entries.size(), 6u);
  EXPECT_EQ(all.entries[5].id, last.entries[0].id);
  auto middle = read<event_read>([&](auto cb) {
    store_->read_events("W", all.entries[0].id, all.entries[2].id, 10, std::move(cb));
  });
  ASSERT_EQ(middle.entries.size(), 2u);
  EXPECT_EQ(middle.entries[1].id, all.entries[2].id);
  auto none = read<event_read>([&](auto cb) { store_->read_events("X", {}, {}, 0, std::move(cb)); });
  EXPECT_TRUE(none.ok);
  EXPECT_TRUE(none.entries.empty());
}

TEST_F(RedisStoreTest, EventsNameRecordsAndAReadReturnsThemAsStoredNow) {
  ASSERT_EQ(commit(new_message("msg_1")).status, commit_status::applied);
  // The log holds names only, not documents.
  auto raw = cli("XRANGE {ws:W}:events - +");
  EXPECT_EQ(raw.find("\"id\""), std::string::npos) << raw;
  auto all = read<event_read>([&](auto cb) { store_->read_events("W", {}, {}, 10, std::move(cb)); });
  ASSERT_TRUE(all.ok) << all.error;
  ASSERT_EQ(all.entries.size(), 2u);
  EXPECT_TRUE(all.entries[0].names_records);
  EXPECT_EQ(all.entries[0].type, "message.created");
  EXPECT_EQ(all.entries[0].message, inbound_text_read("msg_1"));
  EXPECT_EQ(all.entries[1].type, "conversation.updated");
  EXPECT_NE(all.entries[1].conversation.find("\"n\":1"), std::string::npos)
    << all.entries[1].conversation;
  EXPECT_NE(all.entries[1].contact.find("\"p\":\"5511\""), std::string::npos);
  // A record deleted since reads as "", and an entry written before events named records
  // still carries its data.
  cli("DEL {ws:W}:m:msg_1");
  cli(R"(XADD {ws:W}:events '*' type message.created data '{"old":1}')");
  all = read<event_read>([&](auto cb) { store_->read_events("W", {}, {}, 10, std::move(cb)); });
  ASSERT_TRUE(all.ok) << all.error;
  ASSERT_EQ(all.entries.size(), 3u);
  EXPECT_TRUE(all.entries[0].message.empty());
  EXPECT_FALSE(all.entries[2].names_records);
  EXPECT_EQ(all.entries[2].data, R"({"old":1})");
}

TEST_F(RedisStoreTest, ReadsReportRedisDown) {
  server_->stop();
  ASSERT_TRUE(wait_until([&] { return !client_->connected(); }, 5s));
  EXPECT_FALSE(read<timeline_page>([&](auto cb) {
                 store_->load_timeline("W", "cv_1", 0, 10, std::move(cb));
               }).ok);
  EXPECT_FALSE(read<event_read>([&](auto cb) {
                 store_->read_events("W", {}, {}, 10, std::move(cb));
               }).ok);
  EXPECT_FALSE(read<message_lookup>([&](auto cb) {
                 store_->load_messages("W", {"m"}, "c", std::move(cb));
               }).ok);
  EXPECT_FALSE(read<queue_read>([&](auto cb) {
                 store_->load_queue("W", job_queue::outbox, std::move(cb));
               }).ok);
}

TEST_F(RedisStoreTest, WithRedisDownACommitFailsWithoutWriting) {
  server_->stop();
  ASSERT_TRUE(wait_until([&] { return !client_->connected(); }, 5s));
  auto r = commit(new_message("msg_a"));
  EXPECT_EQ(r.status, commit_status::failed) << r.error;
  server_->start();
  ASSERT_TRUE(wait_until([&] { return client_->connected(); }, 10s));
  EXPECT_EQ(commit(new_message("msg_a")).status, commit_status::applied);
}

} // namespace
} // namespace inboxd
