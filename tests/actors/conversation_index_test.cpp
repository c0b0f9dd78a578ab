#include "actors/conversation_index.hpp"

#include <gtest/gtest.h>

using namespace inboxd;

namespace {

constexpr int64_t now = 1'800'000'000'000;

void add(conversation_index& idx, const std::string& n, const std::string& name, int64_t last,
         const std::string& status = "open", const std::string& assignee = "",
         std::vector<std::string> tags = {}, const std::string& mode = "human") {
  contact c;
  c.id = "ct_" + n;
  c.phone = "55" + n;
  c.profile_name = name;
  c.updated_at = last;
  idx.put_contact(c);
  conversation cv;
  cv.id = "cv_" + n;
  cv.contact_id = c.id;
  cv.status = status;
  cv.assigned_to = assignee;
  cv.tags = std::move(tags);
  cv.mode = mode;
  cv.last_message_at = last;
  cv.last_inbound_at = last;
  cv.created_at = 1;
  cv.updated_at = last;
  idx.put_conversation(cv);
}

std::vector<std::string> ids(const nlohmann::json& page) {
  std::vector<std::string> out;
  for (auto& c : page["conversations"])
    out.push_back(c["id"]);
  return out;
}

} // namespace

TEST(conversation_index, newest_activity_first_and_paging) {
  conversation_index idx;
  add(idx, "1", "Ana", now - 3000);
  add(idx, "2", "Bob", now - 1000);
  add(idx, "3", "Cid", now - 2000);
  conversation_filter f;
  f.limit = 2;
  auto p1 = idx.list_conversations(f, now);
  EXPECT_EQ(ids(p1), (std::vector<std::string>{"cv_2", "cv_3"}));
  EXPECT_EQ(p1["total"], 3);
  f.page = 2;
  EXPECT_EQ(ids(idx.list_conversations(f, now)), (std::vector<std::string>{"cv_1"}));
  // Moving activity reorders.
  auto moved = *idx.conversation_by_id("cv_1");
  moved.last_message_at = now;
  idx.put_conversation(moved);
  f.page = 1;
  EXPECT_EQ(ids(idx.list_conversations(f, now))[0], "cv_1");
}

TEST(conversation_index, filters_and_counts) {
  conversation_index idx;
  add(idx, "1", "Ana", now - 1, "open", "u1", {"vip", "br"});
  add(idx, "2", "Bob", now - 2, "open", "", {"vip"}, "ai");
  add(idx, "3", "Cid", now - 3, "closed", "u1");
  add(idx, "4", "Dan", now - kReplyWindowMs - 10, "open", "u2");
  conversation_filter f;
  f.me = "u1";
  auto all = idx.list_conversations(f, now);
  EXPECT_EQ(all["total"], 3);
  EXPECT_EQ(all["counts"]["all"], 3);
  EXPECT_EQ(all["counts"]["mine"], 1);
  EXPECT_EQ(all["counts"]["unassigned"], 1);
  f.assigned_to = "unassigned";
  EXPECT_EQ(ids(idx.list_conversations(f, now)), (std::vector<std::string>{"cv_2"}));
  f.assigned_to = "u1";
  auto mine = idx.list_conversations(f, now);
  EXPECT_EQ(ids(mine), (std::vector<std::string>{"cv_1"}));
  EXPECT_EQ(mine["counts"]["all"], 3); // counts ignore assignedTo
  f.assigned_to.clear();
  f.tags = {"vip", "br"};
  EXPECT_EQ(ids(idx.list_conversations(f, now)), (std::vector<std::string>{"cv_1"}));
  f.tags.clear();
  f.mode = "ai";
  EXPECT_EQ(ids(idx.list_conversations(f, now)), (std::vector<std::string>{"cv_2"}));
  f.mode.clear();
  f.active_only = true;
  EXPECT_EQ(ids(idx.list_conversations(f, now)), (std::vector<std::string>{"cv_1", "cv_2"}));
  f.active_only = false;
  f.status = "all";
  f.q = "DAN";
  EXPECT_EQ(ids(idx.list_conversations(f, now)), (std::vector<std::string>{"cv_4"}));
  f.q = "553";
  EXPECT_EQ(ids(idx.list_conversations(f, now)), (std::vector<std::string>{"cv_3"}));
}

TEST(conversation_index, phone_change_moves_index) {
  conversation_index idx;
  add(idx, "1", "Ana", now);
  auto c = *idx.contact_by_id("ct_1");
  c.phone = "999";
  idx.put_contact(c);
  EXPECT_EQ(idx.contact_by_phone("551"), nullptr);
  ASSERT_NE(idx.contact_by_phone("999"), nullptr);
  EXPECT_EQ(idx.contact_by_phone("999")->id, "ct_1");
}

TEST(conversation_index, unstored_conversations_are_hidden) {
  conversation_index idx;
  add(idx, "1", "Ana", now);
  conversation pending;
  pending.id = "cv_new";
  pending.contact_id = "ct_1";
  idx.put_conversation(pending); // updated_at == 0: its write has not committed
  EXPECT_EQ(idx.list_conversations({}, now)["total"], 1);
}
