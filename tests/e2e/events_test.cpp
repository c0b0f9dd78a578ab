// End-to-end: GET /api/events (Server-Sent Events) against the real binary and a real
// redis-server: event order and shape, resume with Last-Event-ID without gap or duplicate, a
// stalled subscriber that holds nothing up, many subscribers across workspaces, limits.

#include <sys/resource.h>

#include <atomic>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/e2e_test.hpp"
#include "tests/support/sse_client.hpp"

namespace inboxd::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// An inbound text from `from` with a fresh wamid, for the workspace of `pid`.
json inbound(const std::string& text, const std::string& from = "972987654321",
             const std::string& pid = kPhoneNumberId) {
  auto body = with_unique_wamids(fixture_case("meta/message.json", "text"));
  auto& value = body["entry"][0]["changes"][0]["value"];
  value["metadata"]["phone_number_id"] = pid;
  value["messages"][0]["text"]["body"] = text;
  value["messages"][0]["from"] = from;
  value["contacts"][0]["wa_id"] = from;
  value["contacts"][0].erase("user_id"); // the fixture's user id is one person's
  return body;
}


class events_test : public e2e_test {
protected:
  inboxd_process::env_map extra_env() const override {
    return {{"INBOXD_SSE_BUFFER_BYTES", "65536"}, {"INBOXD_SSE_PING_MS", "300"}};
  }

  std::unique_ptr<sse_client> subscribe(const std::string& last_id = "", bool stalled = false,
                                        const std::string& key = "") {
    std::vector<std::pair<std::string, std::string>> h{{"X-API-Key", key.empty() ? api_key_ : key}};
    if (!last_id.empty())
      h.emplace_back("Last-Event-ID", last_id);
    auto c = std::make_unique<sse_client>(inboxd_->port(), "/api/events", h, stalled);
    if (!stalled) {
      EXPECT_EQ(c->read_head(), 200) << c->head();
      EXPECT_NE(c->head().find("text/event-stream"), std::string::npos) << c->head();
    }
    return c;
  }

  void ingest(const json& body) {
    auto r = post_meta(body.dump());
    ASSERT_EQ(r.status, 200) << r.body;
  }
};

// Stream ids "ms-seq" compared as numbers.
bool id_less(const std::string& a, const std::string& b) {
  auto split = [](const std::string& s) {
    auto d = s.find('-');
    return std::make_pair(std::stoull(s.substr(0, d)), std::stoull(s.substr(d + 1)));
  };
  return split(a) < split(b);
}

TEST_F(events_test, a_subscriber_sees_webhooks_and_actions_in_order_with_the_documented_shape) {
  auto sub = subscribe();
  ingest(inbound("primeira"));
  auto created = sub->next();
  ASSERT_TRUE(created) << "no event";
  EXPECT_EQ(created->type, "message.created");
  auto data = created->json();
  EXPECT_EQ(data["type"], "message.created");
  EXPECT_EQ(data["workspaceId"], ws_id_);
  EXPECT_EQ(data["message"]["text"], "primeira");
  EXPECT_EQ(data["message"]["direction"], "inbound");
  auto conv_created = sub->next();
  ASSERT_TRUE(conv_created);
  EXPECT_EQ(conv_created->type, "conversation.created");
  auto conv = conv_created->json()["conversation"];
  EXPECT_EQ(conv["contact"]["phone"], "972987654321");
  EXPECT_EQ(conv["unreadCount"], 1);
  EXPECT_TRUE(id_less(created->id, conv_created->id));
  auto conv_id = conv["id"].get<std::string>();

  // Agent actions: each yields conversation.updated with the new state, in order.
  auto post = [&](const std::string& path, const json& body) {
    auto r = client().post_json("/api/conversations/" + conv_id + path, body, api_headers());
    ASSERT_EQ(r.status, 200) << r.body;
  };
  post("/handover", {{"mode", "ai"}});
  post("/status", {{"status", "pending"}});
  auto tags = client().request("PUT", "/api/conversations/" + conv_id + "/tags",
                               json{{"tags", {"vip"}}}.dump(),
                               {{"X-API-Key", api_key_}, {"Content-Type", "application/json"}});
  ASSERT_EQ(tags.status, 200);
  ingest(inbound("segunda"));
  std::string last = conv_created->id;
  auto expect_next = [&](const std::string& type) {
    auto e = sub->next();
    EXPECT_TRUE(e) << "missing " << type;
    if (!e)
      return json::object();
    EXPECT_EQ(e->type, type) << e->data;
    EXPECT_TRUE(id_less(last, e->id)) << last << " !< " << e->id;
    last = e->id;
    return e->json();
  };
  EXPECT_EQ(expect_next("conversation.updated")["conversation"]["mode"], "ai");
  EXPECT_EQ(expect_next("conversation.updated")["conversation"]["status"], "pending");
  EXPECT_EQ(expect_next("conversation.updated")["conversation"]["tags"], json::array({"vip"}));
  EXPECT_EQ(expect_next("message.created")["message"]["text"], "segunda");
  EXPECT_EQ(expect_next("conversation.updated")["conversation"]["unreadCount"], 2);
  EXPECT_TRUE(sub->saw_comment() || sub->next(1s) == std::nullopt); // pings are comments only
}

TEST_F(events_test, pings_keep_an_idle_stream_alive) {
  auto sub = subscribe();
  EXPECT_FALSE(sub->next(1200ms)) << "no events without changes";
  EXPECT_TRUE(sub->saw_comment()) << "a ': ping' comment every INBOXD_SSE_PING_MS";
  EXPECT_FALSE(sub->closed());
}

TEST_F(events_test, resuming_with_the_last_id_replays_exactly_the_missed_events_then_live_ones) {
  std::string last_id;
  {
    auto sub = subscribe();
    ingest(inbound("before"));
    for (int i = 0; i < 2; ++i) {
      auto e = sub->next();
      ASSERT_TRUE(e);
      last_id = e->id;
    }
  } // disconnected
  std::vector<std::string> texts;
  for (int i = 0; i < 500; ++i) {
    texts.push_back("missed " + std::to_string(i));
    ingest(inbound(texts.back()));
  }
  auto sub = subscribe(last_id);
  std::vector<std::string> seen_texts;
  std::string prev = last_id;
  for (int i = 0; i < 1000; ++i) { // message.created + conversation.updated per webhook
    auto e = sub->next();
    ASSERT_TRUE(e) << "only " << i << " events replayed";
    ASSERT_TRUE(id_less(prev, e->id)) << "not after " << prev << ": " << e->id;
    prev = e->id;
    if (e->type == "message.created")
      seen_texts.push_back(e->json()["message"]["text"]);
  }
  EXPECT_EQ(seen_texts, texts);
  ingest(inbound("live"));
  auto live = sub->next();
  ASSERT_TRUE(live);
  EXPECT_EQ(live->type, "message.created");
  EXPECT_EQ(live->json()["message"]["text"], "live");
  EXPECT_TRUE(id_less(prev, live->id));
  auto conv = sub->next();
  ASSERT_TRUE(conv);
  EXPECT_EQ(conv->type, "conversation.updated");
  EXPECT_FALSE(sub->next(500ms)) << "nothing more, nothing twice";

  // The query form, and an unknown id replays everything retained.
  auto all = std::make_unique<sse_client>(
    inboxd_->port(), "/api/events?lastEventId=garbage",
    std::vector<std::pair<std::string, std::string>>{{"X-API-Key", api_key_}});
  ASSERT_EQ(all->read_head(), 200);
  int n = 0;
  while (all->next(1s))
    ++n;
  EXPECT_EQ(n, 2 + 1000 + 2);
}

TEST_F(events_test, a_stalled_subscriber_holds_nothing_up_and_is_dropped) {
  auto stalled = subscribe("", /*stalled=*/true);
  auto reader = subscribe();
  std::this_thread::sleep_for(300ms);
  constexpr int kWebhooks = 10000;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      http_client c(inboxd_->port(), true);
      for (int i = t; i < kWebhooks; i += 4) {
        auto body = inbound("m" + std::to_string(i), "5511900" + std::to_string(100000 + i % 50)).dump();
        auto r = c.request("POST", "/api/webhook/whatsapp", body,
                           {{"Content-Type", "application/json"},
                            {"X-Hub-Signature-256", meta_signature(kMetaSecret, body)}});
        if (r.status == 200)
          ++ok;
      }
    });
  // The reader keeps up while the webhooks stream in.
  int messages = 0;
  std::string prev = "0-0";
  std::thread read([&] {
    while (messages < kWebhooks) {
      auto e = reader->next(20s);
      if (!e)
        break;
      EXPECT_TRUE(id_less(prev, e->id));
      prev = e->id;
      if (e->type == "message.created")
        ++messages;
    }
  });
  for (auto& t : threads)
    t.join();
  read.join();
  EXPECT_EQ(ok.load(), kWebhooks) << "every webhook was acknowledged";
  EXPECT_EQ(messages, kWebhooks) << "the reading subscriber got every event";
  // The stalled one was cut off once its unsent bytes passed the bound (64 KiB here).
  EXPECT_TRUE(stalled->wait_closed(20s)) << "the stalled stream is still open";
  // And inboxd is fine: new subscribers work.
  auto again = subscribe();
  ingest(inbound("after"));
  auto e = again->next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, "message.created");
}

TEST_F(events_test, a_thousand_subscribers_across_ten_workspaces_get_exactly_their_own_events) {
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_cur < 4096 && lim.rlim_max > lim.rlim_cur) {
    lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, 8192);
    setrlimit(RLIMIT_NOFILE, &lim);
  }
  ASSERT_GE(lim.rlim_cur, 1100u) << "needs more file descriptors";
  struct ws_info {
    std::string id, key, pid;
  };
  std::vector<ws_info> spaces{{ws_id_, api_key_, kPhoneNumberId}};
  for (int i = 1; i < 10; ++i) {
    auto pid = "77700000" + std::to_string(i);
    auto ws = create_workspace("W" + std::to_string(i), "w" + std::to_string(i), pid);
    ASSERT_EQ(ws.status, 201) << ws.body;
    auto id = ws.json()["id"].get<std::string>();
    spaces.push_back({id, create_api_key(id).json()["key"].get<std::string>(), pid});
  }
  std::vector<std::pair<int, std::unique_ptr<sse_client>>> subs;
  for (int i = 0; i < 1000; ++i) {
    auto& ws = spaces[i % 10];
    auto c = std::make_unique<sse_client>(
      inboxd_->port(), "/api/events",
      std::vector<std::pair<std::string, std::string>>{{"X-API-Key", ws.key}});
    subs.emplace_back(i % 10, std::move(c));
  }
  for (auto& [w, c] : subs)
    ASSERT_EQ(c->read_head(), 200) << c->head();
  for (int w = 0; w < 10; ++w)
    ingest(inbound("for workspace " + std::to_string(w), "5511988887777", spaces[w].pid));
  for (auto& [w, c] : subs) {
    auto e = c->next();
    ASSERT_TRUE(e) << "subscriber of workspace " << w << " got nothing";
    auto data = e->json();
    EXPECT_EQ(data["workspaceId"], spaces[w].id);
    EXPECT_EQ(data["message"]["text"], "for workspace " + std::to_string(w));
    auto conv = c->next();
    ASSERT_TRUE(conv);
    EXPECT_EQ(conv->json()["workspaceId"], spaces[w].id);
  }
  // Nothing of another workspace arrives afterwards.
  for (size_t i = 0; i < subs.size(); i += 97)
    EXPECT_FALSE(subs[i].second->next(100ms));
}

TEST_F(events_test, credentials_are_required_and_access_token_works) {
  sse_client none(inboxd_->port(), "/api/events");
  EXPECT_EQ(none.read_head(), 401);
  sse_client bad(inboxd_->port(), "/api/events?access_token=ibx.nope.nope.nope");
  EXPECT_EQ(bad.read_head(), 401);
  sse_client ok(inboxd_->port(), "/api/events?access_token=" + api_key_);
  ASSERT_EQ(ok.read_head(), 200) << ok.head();
  ingest(inbound("token"));
  auto e = ok.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->json()["message"]["text"], "token");
}

class events_limit_test : public events_test {
protected:
  inboxd_process::env_map extra_env() const override {
    return {{"INBOXD_SSE_MAX_PER_WORKSPACE", "2"}};
  }
};

TEST_F(events_limit_test, subscribers_beyond_the_workspace_limit_get_429) {
  auto a = subscribe();
  auto b = subscribe();
  sse_client c(inboxd_->port(), "/api/events",
               std::vector<std::pair<std::string, std::string>>{{"X-API-Key", api_key_}});
  EXPECT_EQ(c.read_head(), 429) << c.head();
  a.reset(); // a client going away frees its place
  // The hub notices closed streams when it next delivers: deliver until a new subscriber fits
  // (the loop bounds the wait; nothing assumes how long noticing takes).
  int status = 0;
  std::string head;
  for (int i = 0; i < 100 && status != 200; ++i) {
    ingest(inbound("x" + std::to_string(i)));
    sse_client d(inboxd_->port(), "/api/events",
                 std::vector<std::pair<std::string, std::string>>{{"X-API-Key", api_key_}});
    status = d.read_head();
    head = d.head();
  }
  EXPECT_EQ(status, 200) << head;
}

} // namespace
} // namespace inboxd::test
