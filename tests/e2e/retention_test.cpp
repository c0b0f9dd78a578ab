// End-to-end: the workspace setting retentionDays against the real binary, a real redis-server
// and a media store (tests/e2e/media_fixture.hpp). Messages older than the retention go, with
// their stored media files, while newer ones stay; the conversations' unread counts and previews
// follow; a sweep cut short by kill -9 finishes after the restart.

#include <csignal>

#include <filesystem>

#include "tests/e2e/media_fixture.hpp"

namespace inboxd::test {
namespace {

constexpr int64_t kDay = 24 * 3600;

class retention_test : public media_test {
protected:
  inboxd_process::env_map extra_env() const override {
    auto env = media_test::extra_env();
    env["INBOXD_RETENTION_SWEEP_MS"] = "250";
    return env;
  }

  // A Meta webhook from `phone` with `count` texts sent `age_s` seconds ago ("<tag> <i>").
  json texts(const std::string& phone, const std::string& tag, int count, int64_t age_s) {
    auto body = fixture_case("meta/message.json", "text");
    auto& value = body["entry"][0]["changes"][0]["value"];
    value["contacts"][0]["wa_id"] = phone;
    value["contacts"][0].erase("user_id");
    auto one = value["messages"][0];
    value["messages"] = json::array();
    for (int i = 0; i < count; ++i) {
      auto m = one;
      m["from"] = phone;
      m["id"] = "wamid." + unique_id("ret");
      m["text"]["body"] = tag + " " + std::to_string(i);
      m["timestamp"] = std::to_string(now_s() - age_s);
      value["messages"].push_back(m);
    }
    return body;
  }

  json conversation_of(const std::string& phone) {
    auto list = all_conversations();
    for (auto& c : list["conversations"])
      if (c["contact"]["phone"] == phone)
        return c;
    return json();
  }

  // The texts of the conversation's messages, oldest first.
  std::vector<std::string> texts_of(const std::string& conv) {
    std::vector<std::string> out;
    std::string before;
    for (int pages = 0; pages < 100; ++pages) {
      auto page = api_get("/api/conversations/" + conv + "/messages?limit=100" +
                          (before.empty() ? "" : "&before=" + before));
      std::vector<std::string> these;
      for (auto& m : page.value("messages", json::array()))
        these.push_back(m.contains("text") && m["text"].is_string() ? m["text"].get<std::string>()
                                                                    : m.value("type", ""));
      out.insert(out.begin(), these.begin(), these.end());
      if (!page["nextBefore"].is_string())
        break;
      before = page["nextBefore"].get<std::string>();
    }
    return out;
  }

  http_response set_retention(const json& days) {
    return client().request("PATCH", "/api/admin/workspaces/" + ws_id_,
                            json{{"retentionDays", days}}.dump(),
                            {{"Authorization", std::string("Bearer ") + kAdminToken},
                             {"Content-Type", "application/json"}});
  }

  // Polls (up to 30 s) until the conversation holds `n` messages.
  bool wait_count(const std::string& conv, size_t n) {
    for (int i = 0; i < 600; ++i) {
      if (texts_of(conv).size() == n)
        return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }
};

TEST_F(retention_test, older_messages_and_their_media_go_and_summaries_stay_true) {
  auto stamp = std::to_string(now_s());
  auto old_bytes = random_bytes(40000, 11);
  auto new_bytes = random_bytes(30000, 12);
  put_media("91" + stamp, {old_bytes, "image/png"});
  put_media("92" + stamp, {new_bytes, "image/png"});

  // Contact A: three texts and an image from 3 days ago, an image and two texts from now.
  ASSERT_EQ(post_meta(texts("5511000000001", "old", 3, 3 * kDay)).status, 200);
  auto old_image = post_media("image", "91" + stamp, 3 * kDay - 60);
  auto new_image = post_media("image", "92" + stamp, 30);
  ASSERT_EQ(post_meta(texts("5511000000001", "new", 2, 10)).status, 200);
  // Contact B: only old messages.
  ASSERT_EQ(post_meta(texts("5511000000002", "stale", 2, 2 * kDay)).status, 200);
  ASSERT_EQ(wait_media(old_image).status, 200);
  ASSERT_EQ(wait_media(new_image).status, 200);
  // post_media sends as the fixtures' sender: that is a third contact, C, with both images.
  auto a = conversation_of("5511000000001");
  auto b = conversation_of("5511000000002");
  auto c = conversation_of("972987654321");
  ASSERT_TRUE(a.is_object() && b.is_object() && c.is_object());
  EXPECT_EQ(a["unreadCount"], 5);
  EXPECT_EQ(b["unreadCount"], 2);
  EXPECT_EQ(c["unreadCount"], 2);
  auto old_file = media_dir_ + "/" + ws_id_ + "/" + sha256_hex(old_bytes).substr(0, 2) + "/" +
                  sha256_hex(old_bytes);
  auto new_file = media_dir_ + "/" + ws_id_ + "/" + sha256_hex(new_bytes).substr(0, 2) + "/" +
                  sha256_hex(new_bytes);
  ASSERT_TRUE(std::filesystem::exists(old_file));
  ASSERT_TRUE(std::filesystem::exists(new_file));

  // Checked like every admin field; nothing happens while it is unset.
  EXPECT_EQ(set_retention("7").status, 400);
  EXPECT_EQ(set_retention(0).status, 422);
  EXPECT_EQ(set_retention(36501).status, 422);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(texts_of(a["id"]).size(), 5u);
  auto r = set_retention(1);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["retentionDays"], 1);

  ASSERT_TRUE(wait_count(a["id"], 2)) << "A still has " << texts_of(a["id"]).size();
  EXPECT_EQ(texts_of(a["id"]), (std::vector<std::string>{"new 0", "new 1"}));
  ASSERT_TRUE(wait_count(b["id"], 0));
  ASSERT_TRUE(wait_count(c["id"], 1));
  EXPECT_EQ(get_media(new_image).status, 200);
  expect_error(get_media(old_image), 404, "not_found");
  for (int i = 0; i < 100 && std::filesystem::exists(old_file); ++i)
    std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(std::filesystem::exists(old_file)) << "the old message's media file stayed";
  EXPECT_TRUE(std::filesystem::exists(new_file));

  // Summaries: unread counts what is left; a preview goes with the last message.
  a = conversation_of("5511000000001");
  b = conversation_of("5511000000002");
  c = conversation_of("972987654321");
  EXPECT_EQ(a["unreadCount"], 2) << a.dump();
  EXPECT_EQ(a["lastMessagePreview"], "new 1") << a.dump();
  EXPECT_EQ(b["unreadCount"], 0) << b.dump();
  EXPECT_TRUE(b["lastMessagePreview"].is_null() || b["lastMessagePreview"] == "") << b.dump();
  EXPECT_EQ(c["unreadCount"], 1) << c.dump();
  EXPECT_EQ(all_conversations()["total"], 3) << "conversations stay";

  // Turned off: nothing more goes.
  ASSERT_EQ(set_retention(nullptr).status, 200);
  ASSERT_EQ(post_meta(texts("5511000000002", "stale again", 1, 2 * kDay)).status, 200);
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(texts_of(b["id"]).size(), 1u);
}

// An old message that arrives late sits deep in the timeline: a read marks only the newest
// messages read, so it stays `received` though it is not counted unread any more; deleting it
// must not lower the unread count of the messages that came after the read.
TEST_F(retention_test, a_late_old_message_deleted_after_a_read_leaves_the_unread_count_alone) {
  auto read = [&](const std::string& conv) {
    auto r = client().request("POST", "/api/conversations/" + conv + "/read", "", api_headers());
    ASSERT_EQ(r.status, 200) << r.body;
  };
  ASSERT_EQ(post_meta(texts("5511000000004", "early", 30, 60)).status, 200);
  auto conv = conversation_of("5511000000004")["id"].get<std::string>();
  read(conv);
  // Counted unread, and below the 30 read ones in the timeline.
  ASSERT_EQ(post_meta(texts("5511000000004", "late", 1, 3 * kDay)).status, 200);
  ASSERT_EQ(post_meta(texts("5511000000004", "more", 25, 30)).status, 200);
  // Marks the newest 26 + 20 read: not the late one, the 56th.
  read(conv);
  ASSERT_EQ(post_meta(texts("5511000000004", "after", 1, 5)).status, 200);
  EXPECT_EQ(conversation_of("5511000000004")["unreadCount"], 1);
  ASSERT_EQ(set_retention(1).status, 200);
  ASSERT_TRUE(wait_count(conv, 56));
  auto cv = conversation_of("5511000000004");
  EXPECT_EQ(cv["unreadCount"], 1) << cv.dump();
  EXPECT_EQ(cv["lastMessagePreview"], "after 0") << cv.dump();
}

TEST_F(retention_test, a_sweep_cut_short_by_kill_9_finishes_after_the_restart) {
  // 1,500 old messages: three steps of 500, with the crash after the first.
  for (int batch = 0; batch < 15; ++batch)
    ASSERT_EQ(
        post_meta(texts("5511000000003", "old" + std::to_string(batch), 100, 3 * kDay)).status,
        200);
  ASSERT_EQ(post_meta(texts("5511000000003", "fresh", 3, 5)).status, 200);
  auto conv = conversation_of("5511000000003")["id"].get<std::string>();
  ASSERT_EQ(texts_of(conv).size(), 1503u);
  ASSERT_EQ(set_retention(1).status, 200);
  // Killed as soon as the first step is stored (the next one is 250 ms away).
  auto timeline = "{ws:" + ws_id_ + "}:tl:" + conv;
  int64_t left = 1503;
  for (int i = 0; i < 3000 && left == 1503; ++i) {
    std::this_thread::sleep_for(5ms);
    left = std::stoll(redis_->cli("ZCARD " + timeline));
  }
  inboxd_->kill(SIGKILL);
  inboxd_->wait();
  ASSERT_EQ(left, 1003) << "not killed between the first and the second step";
  EXPECT_EQ(std::stoll(redis_->cli("ZCARD " + timeline)), 1003);
  inboxd_->start();
  wait_ready();
  ASSERT_TRUE(wait_count(conv, 3)) << texts_of(conv).size() << " left";
  EXPECT_EQ(texts_of(conv), (std::vector<std::string>{"fresh 0", "fresh 1", "fresh 2"}));
  auto cv = conversation_of("5511000000003");
  EXPECT_EQ(cv["unreadCount"], 3) << cv.dump();
  EXPECT_EQ(cv["lastMessagePreview"], "fresh 2") << cv.dump();
}

} // namespace
} // namespace inboxd::test
