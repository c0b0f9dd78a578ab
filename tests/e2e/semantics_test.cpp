// End-to-end ingestion semantics against the real binary and a real redis-server: reactions,
// edits and revokes reach their target; statuses never move backwards and are not lost when
// they arrive first; interleaved redelivery; passivated conversations come back; Redis outages
// answer 503 and recover without a restart.

#include <chrono>
#include <thread>

#include "tests/e2e/e2e_test.hpp"

namespace inboxd::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kSender = "972987654321";

json meta_case(const std::string& file, const std::string& name) {
  return fixture_case("meta/" + file, name);
}

// A Meta body carrying one message object `m` from kSender.
json meta_message(json m) {
  auto body = meta_case("message.json", "text");
  body["entry"][0]["changes"][0]["value"]["messages"] = json::array({std::move(m)});
  return body;
}

json text(const std::string& wamid, const std::string& body, const std::string& ts = "1700000000") {
  return meta_message({{"from", kSender}, {"id", wamid}, {"timestamp", ts}, {"type", "text"},
                       {"text", {{"body", body}}}});
}

json status(const std::string& wamid, const std::string& st, const std::string& ts = "1700000100") {
  auto body = meta_case("message_status.json", "sent");
  auto& s = body["entry"][0]["changes"][0]["value"]["statuses"][0];
  s["id"] = wamid;
  s["status"] = st;
  s["timestamp"] = ts;
  return body;
}

// A business-app echo (outbound) with id `wamid` to kSender.
json echo(const std::string& wamid) {
  auto body = meta_case("outgoing_message.json", "text");
  auto& e = body["entry"][0]["changes"][0]["value"]["message_echoes"][0];
  e["id"] = wamid;
  e["to"] = kSender;
  return body;
}

class semantics_test : public e2e_test {
protected:
  void ingest(const json& body) {
    auto r = post_meta(body.dump());
    ASSERT_EQ(r.status, 200) << r.body;
  }

  json conversation() {
    auto list = all_conversations();
    EXPECT_EQ(list.value("total", 0), 1) << list.dump();
    return list["conversations"].empty() ? json::object() : list["conversations"][0];
  }

  json messages() {
    auto cv = conversation();
    if (!cv.contains("id"))
      return json::array();
    return api_get("/api/conversations/" + cv["id"].get<std::string>() + "/messages?limit=100")
      .value("messages", json::array());
  }

  // A gauge from GET /metrics (Prometheus text), or -1.
  double gauge(const std::string& name) {
    auto r = client().get("/metrics");
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("content-type").rfind("text/plain", 0), 0u) << r.header("content-type");
    auto at = r.body.find("\n" + name + " ");
    EXPECT_NE(at, std::string::npos) << r.body;
    return at == std::string::npos ? -1.0 : std::stod(r.body.substr(at + name.size() + 2));
  }

  // The live actors with no conversation actor running. A list query first: the workspace
  // answers it only once loaded, and it has spawned its outbound actor by then.
  double baseline_actors() {
    EXPECT_EQ(client().get("/api/conversations", api_headers()).status, 200);
    return gauge("inboxd_live_actors");
  }

  // Waits (a bound, not a measurement) until the live actors are down to `baseline`, i.e. every
  // conversation actor started since it was taken has passivated.
  bool wait_passivated(double baseline, std::chrono::seconds bound = 30s) {
    auto deadline = std::chrono::steady_clock::now() + bound;
    while (gauge("inboxd_live_actors") > baseline) {
      if (std::chrono::steady_clock::now() > deadline)
        return false;
      std::this_thread::sleep_for(20ms);
    }
    return true;
  }

  json message(const std::string& wamid) {
    for (auto& m : messages())
      if (m.value("waMessageId", "") == wamid)
        return m;
    ADD_FAILURE() << "no message " << wamid;
    return json::object();
  }
};

TEST_F(semantics_test, reaction_attaches_to_its_target_and_empty_emoji_removes_it) {
  auto target = unique_id("wamid.");
  ingest(text(target, "hello"));
  auto reaction = meta_message({{"from", kSender}, {"id", unique_id("wamid.")},
                                {"timestamp", "1700000001"}, {"type", "reaction"},
                                {"reaction", {{"message_id", target}, {"emoji", "👍"}}}});
  ingest(reaction);
  auto m = message(target);
  ASSERT_EQ(m["reactions"].size(), 1u) << m.dump();
  EXPECT_EQ(m["reactions"][0]["emoji"], "👍");
  EXPECT_EQ(m["reactions"][0]["from"], kSender);
  EXPECT_EQ(messages().size(), 1u) << "a reaction is not a message of its own";
  auto unreact = reaction;
  auto& r = unreact["entry"][0]["changes"][0]["value"]["messages"][0];
  r["id"] = unique_id("wamid.");
  r["reaction"]["emoji"] = "";
  ingest(unreact);
  EXPECT_TRUE(message(target)["reactions"].empty());
}

TEST_F(semantics_test, edit_and_revoke_update_their_target) {
  auto target = unique_id("wamid.");
  ingest(text(target, "original"));
  ingest(meta_message({{"from", kSender}, {"id", unique_id("wamid.")}, {"timestamp", "1700000050"},
                       {"type", "edit"},
                       {"edit", {{"original_message_id", target},
                                 {"message", {{"type", "text"}, {"text", {{"body", "edited"}}}}}}}}));
  auto m = message(target);
  EXPECT_EQ(m["text"], "edited") << m.dump();
  EXPECT_EQ(m["editedAt"], 1700000050000LL);
  ingest(meta_message({{"from", kSender}, {"id", unique_id("wamid.")}, {"timestamp", "1700000060"},
                       {"type", "revoke"}, {"revoke", {{"original_message_id", target}}}}));
  m = message(target);
  EXPECT_EQ(m["deletedAt"], 1700000060000LL) << m.dump();
  EXPECT_FALSE(m.contains("text") && m["text"] == "edited");
}

TEST_F(semantics_test, delivered_after_read_stays_read) {
  auto id = unique_id("wamid.");
  ingest(echo(id));
  EXPECT_EQ(message(id)["status"], "sent");
  ingest(status(id, "read"));
  ingest(status(id, "delivered"));
  ingest(status(id, "sent"));
  EXPECT_EQ(message(id)["status"], "read");
}

TEST_F(semantics_test, status_before_its_message_is_applied_when_the_message_arrives) {
  auto id = unique_id("wamid.");
  ingest(status(id, "delivered"));
  ingest(echo(id));
  EXPECT_EQ(message(id)["status"], "delivered");
  EXPECT_EQ(messages().size(), 1u);
}

TEST_F(semantics_test, reaction_before_its_message_is_not_lost) {
  auto target = unique_id("wamid.");
  ingest(meta_message({{"from", kSender}, {"id", unique_id("wamid.")}, {"timestamp", "1700000001"},
                       {"type", "reaction"},
                       {"reaction", {{"message_id", target}, {"emoji", "❤"}}}}));
  ingest(text(target, "late"));
  EXPECT_EQ(message(target)["reactions"][0]["emoji"], "❤");
}

TEST_F(semantics_test, interleaved_redelivery_stores_each_message_once) {
  std::vector<json> bodies;
  for (int i = 0; i < 5; ++i)
    bodies.push_back(text(unique_id("wamid."), "m" + std::to_string(i), std::to_string(1700000000 + i)));
  for (int round = 0; round < 5; ++round)
    for (int i = 0; i < 5; ++i)
      ingest(bodies[(i + round) % 5]);
  auto msgs = messages();
  ASSERT_EQ(msgs.size(), 5u) << msgs.dump();
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(msgs[i]["text"], "m" + std::to_string(i)); // ordered by WhatsApp's timestamp
  EXPECT_EQ(conversation()["unreadCount"], 5);
}

TEST_F(semantics_test, closed_conversation_reopens_and_preview_tracks_the_latest) {
  ingest(text(unique_id("wamid."), "first", "1700000000"));
  ingest(text(unique_id("wamid."), "older", "1690000000"));
  auto cv = conversation();
  EXPECT_EQ(cv["lastMessagePreview"], "first");
  EXPECT_EQ(cv["lastMessageAt"], 1700000000000LL);
  EXPECT_EQ(cv["status"], "open");
  EXPECT_EQ(cv["contact"]["phone"], kSender);
  EXPECT_EQ(cv["contact"]["name"], "Test Name");
}

class passivation_test : public semantics_test {
protected:
  void SetUp() override {
    semantics_test::SetUp();
    // Restart with a tiny idle timeout so conversation actors passivate between requests.
    inboxd_->stop();
    inboxd_->set_env("INBOXD_CONVERSATION_IDLE_MS", "20");
    inboxd_->start();
    wait_ready();
  }
};

TEST_F(passivation_test, passivated_conversation_comes_back_with_its_state) {
  auto baseline = baseline_actors();
  ASSERT_GT(baseline, 0);
  auto first = unique_id("wamid.");
  ingest(text(first, "one", "1700000000"));
  ASSERT_TRUE(wait_passivated(baseline));
  ingest(text(unique_id("wamid."), "two", "1700000001"));
  ASSERT_TRUE(wait_passivated(baseline));
  ingest(text(first, "one", "1700000000")); // redelivery after passivation: still deduped
  ingest(status(first, "read"));
  ASSERT_TRUE(wait_passivated(baseline));
  auto msgs = messages();
  ASSERT_EQ(msgs.size(), 2u) << msgs.dump();
  EXPECT_EQ(msgs[0]["text"], "one");
  EXPECT_EQ(msgs[1]["text"], "two");
  EXPECT_EQ(conversation()["unreadCount"], 2);
}

// The idle sweep asks its children a batch at a time (256): every one of more than two
// batches' worth passivates, and each conversation keeps its message.
TEST_F(passivation_test, every_idle_conversation_of_a_large_sweep_passivates) {
  auto baseline = baseline_actors();
  auto body = meta_case("message.json", "text");
  json batch = json::array();
  for (int i = 0; i < 600; ++i)
    batch.push_back({{"from", "4915100" + std::to_string(100000 + i)},
                     {"id", unique_id("wamid.")},
                     {"timestamp", "1700000000"},
                     {"type", "text"},
                     {"text", {{"body", "hi " + std::to_string(i)}}}});
  body["entry"][0]["changes"][0]["value"]["messages"] = batch;
  ingest(body);
  ASSERT_TRUE(wait_passivated(baseline));
  auto r = client().get("/api/conversations?limit=1", api_headers());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["total"], 600) << r.body;
}

class metrics_test : public semantics_test {
protected:
  void SetUp() override {
    semantics_test::SetUp();
    // Conversation actors live 1.5 s after their last message: long enough to be seen.
    inboxd_->stop();
    inboxd_->set_env("INBOXD_CONVERSATION_IDLE_MS", "1500");
    inboxd_->start();
    wait_ready();
  }
};

// GET /metrics: Prometheus text whose live-actor gauge follows a conversation actor's life.
TEST_F(metrics_test, metrics_count_live_actors_through_passivation) {
  auto idle = baseline_actors();
  EXPECT_GT(idle, 0);
  EXPECT_GT(gauge("process_resident_memory_bytes"), 1e6);
  ingest(text(unique_id("wamid."), "hello", "1700000000"));
  auto busy = gauge("inboxd_live_actors");
  EXPECT_EQ(busy, idle + 1) << "one conversation actor runs for the webhook";
  EXPECT_TRUE(wait_passivated(idle)) << "the conversation actor passivated";
  EXPECT_EQ(gauge("inboxd_live_actors"), idle);
}

TEST_F(semantics_test, redis_down_answers_503_then_recovers_without_restart) {
  ingest(text(unique_id("wamid."), "before", "1700000000"));
  redis_->stop();
  // An answer, not a hang (the test client gives up after 15 s): 503 with Retry-After.
  auto r = post_meta(text(unique_id("wamid."), "during").dump());
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_FALSE(r.header("retry-after").empty());
  auto read = client().get("/api/conversations?status=all", api_headers());
  EXPECT_EQ(read.status, 200) << "reads from memory keep working: " << read.body;
  redis_->start();
  auto after = text(unique_id("wamid."), "after", "1700000002");
  int status = 0;
  for (int i = 0; i < 300 && status != 200; ++i) {
    status = post_meta(after.dump()).status;
    if (status != 200)
      std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(status, 200) << "no recovery within 30 s";
  auto msgs = messages();
  ASSERT_EQ(msgs.size(), 2u) << msgs.dump();
  EXPECT_EQ(msgs[0]["text"], "before");
  EXPECT_EQ(msgs[1]["text"], "after");
}

} // namespace
} // namespace inboxd::test
