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

nlohmann::json listed(const conversation_index& idx, const conversation_filter& f, int64_t t) {
  return nlohmann::json::parse(idx.list_conversations(f, t));
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
  auto p1 = listed(idx, f, now);
  EXPECT_EQ(ids(p1), (std::vector<std::string>{"cv_2", "cv_3"}));
  EXPECT_EQ(p1["total"], 3);
  f.page = 2;
  EXPECT_EQ(ids(listed(idx, f, now)), (std::vector<std::string>{"cv_1"}));
  // Moving activity reorders.
  auto moved = *idx.conversation_by_id("cv_1");
  moved.last_message_at = now;
  idx.put_conversation(moved);
  f.page = 1;
  EXPECT_EQ(ids(listed(idx, f, now))[0], "cv_1");
}

TEST(conversation_index, filters_and_counts) {
  conversation_index idx;
  add(idx, "1", "Ana", now - 1, "open", "u1", {"vip", "br"});
  add(idx, "2", "Bob", now - 2, "open", "", {"vip"}, "ai");
  add(idx, "3", "Cid", now - 3, "closed", "u1");
  add(idx, "4", "Dan", now - kReplyWindowMs - 10, "open", "u2");
  conversation_filter f;
  f.me = "u1";
  auto all = listed(idx, f, now);
  EXPECT_EQ(all["total"], 3);
  EXPECT_EQ(all["counts"]["all"], 3);
  EXPECT_EQ(all["counts"]["mine"], 1);
  EXPECT_EQ(all["counts"]["unassigned"], 1);
  f.assigned_to = "unassigned";
  EXPECT_EQ(ids(listed(idx, f, now)), (std::vector<std::string>{"cv_2"}));
  f.assigned_to = "u1";
  auto mine = listed(idx, f, now);
  EXPECT_EQ(ids(mine), (std::vector<std::string>{"cv_1"}));
  EXPECT_EQ(mine["counts"]["all"], 3); // counts ignore assignedTo
  f.assigned_to.clear();
  f.tags = {"vip", "br"};
  EXPECT_EQ(ids(listed(idx, f, now)), (std::vector<std::string>{"cv_1"}));
  f.tags.clear();
  f.mode = "ai";
  EXPECT_EQ(ids(listed(idx, f, now)), (std::vector<std::string>{"cv_2"}));
  f.mode.clear();
  f.active_only = true;
  EXPECT_EQ(ids(listed(idx, f, now)), (std::vector<std::string>{"cv_1", "cv_2"}));
  f.active_only = false;
  f.status = "all";
  f.q = "DAN";
  EXPECT_EQ(ids(listed(idx, f, now)), (std::vector<std::string>{"cv_4"}));
  f.q = "553";
  EXPECT_EQ(ids(listed(idx, f, now)), (std::vector<std::string>{"cv_3"}));
}

TEST(conversation_index, phone_change_moves_index) {
  conversation_index idx;
  add(idx, "1", "Ana", now);
  auto c = *idx.contact_by_id("ct_1");
  c.phone = "999";
  idx.put_contact(c);
  EXPECT_FALSE(idx.contact_by_phone("551"));
  ASSERT_TRUE(idx.contact_by_phone("999"));
  EXPECT_EQ(idx.contact_by_phone("999")->id, "ct_1");
  EXPECT_FALSE(idx.ids_by_phone("551"));
  auto ids = idx.ids_by_phone("999");
  ASSERT_TRUE(ids);
  EXPECT_EQ(ids->contact_id, "ct_1");
  EXPECT_EQ(ids->conversation_id, idx.conversation_of_contact("ct_1")->id);
}

TEST(conversation_index, link_finds_by_user_id_then_phone_then_username_and_adds_the_rest) {
  conversation_index idx;
  contact c;
  c.id = "ct_u";
  c.wa_user_id = "BR.1";
  c.username = "maria.gourmet";
  idx.put_contact(c); // a contact who wrote by username: no phone
  conversation_index::identity none{"5599", "BR.9", "someone"};
  EXPECT_FALSE(idx.link(none));
  EXPECT_EQ(none.phone, "5599"); // unchanged when nothing matched

  // The payload that carries both: the phone joins the contact of the user id.
  conversation_index::identity both{"5511", "BR.1", ""};
  auto ids = idx.link(both);
  ASSERT_TRUE(ids);
  EXPECT_EQ(ids->contact_id, "ct_u");
  EXPECT_EQ(both.phone, "5511");
  ASSERT_TRUE(idx.contact_by_phone("5511"));
  EXPECT_EQ(idx.contact_by_phone("5511")->id, "ct_u");
  EXPECT_EQ(idx.contact_by_phone("5511")->username, "maria.gourmet"); // kept

  // By phone alone, and by username alone.
  conversation_index::identity by_phone{"5511", "", ""};
  EXPECT_EQ(idx.link(by_phone)->contact_id, "ct_u");
  conversation_index::identity by_name{"", "", "maria.gourmet"};
  EXPECT_EQ(idx.link(by_name)->contact_id, "ct_u");

  // A new username replaces the old one.
  conversation_index::identity renamed{"", "BR.1", "maria.bolos"};
  idx.link(renamed);
  EXPECT_EQ(idx.contact_by_user_id("BR.1")->username, "maria.bolos");
  conversation_index::identity old_name{"", "", "maria.gourmet"};
  EXPECT_FALSE(idx.link(old_name));
}

// Usernames move between users: a username whose contact has another user id (or phone) than the
// payload names is not that contact's customer, who gets a contact of its own with the username.
TEST(conversation_index, a_username_held_by_a_contact_with_other_names_names_another_customer) {
  conversation_index idx;
  contact c;
  c.id = "ct_u";
  c.wa_user_id = "BR.1";
  c.username = "maria.gourmet";
  idx.put_contact(c);
  conversation_index::identity other_id{"", "BR.2", "maria.gourmet"};
  EXPECT_FALSE(idx.link(other_id));
  conversation_index::identity other_phone{"5522", "", "maria.gourmet"};
  EXPECT_EQ(idx.link(other_phone)->contact_id, "ct_u") << "ct_u has no phone: may be its own";
  contact p;
  p.id = "ct_p";
  p.phone = "5533";
  p.username = "joao";
  idx.put_contact(p);
  conversation_index::identity by_phone{"5544", "", "joao"};
  EXPECT_FALSE(idx.link(by_phone));
  conversation_index::identity by_id{"", "BR.3", "joao"};
  EXPECT_EQ(idx.link(by_id)->contact_id, "ct_p") << "ct_p has no user id: may be its own";
}

TEST(conversation_index, link_never_takes_a_phone_or_user_id_another_contact_holds) {
  conversation_index idx;
  add(idx, "1", "Ana", now); // phone 551
  contact b;
  b.id = "ct_b";
  b.wa_user_id = "BR.2";
  idx.put_contact(b);
  // User id of b, phone of ct_1: routed to b (user id first), the phone stays with ct_1.
  conversation_index::identity who{"551", "BR.2", ""};
  auto ids = idx.link(who);
  ASSERT_TRUE(ids);
  EXPECT_EQ(ids->contact_id, "ct_b");
  EXPECT_EQ(who.phone, "") << "cleared: the event must not set it on ct_b";
  EXPECT_EQ(who.user_id, "BR.2");
  EXPECT_EQ(idx.contact_by_phone("551")->id, "ct_1");
  EXPECT_EQ(idx.contact_by_user_id("BR.2")->phone, "");
}

TEST(conversation_index, rename_and_stale_reports_keep_the_newest_names) {
  conversation_index idx;
  add(idx, "1", "Ana", now);
  conversation_index::identity who{"551", "BR.1", ""};
  idx.link(who);
  auto stale = *idx.contact_by_id("ct_1"); // as a conversation actor knew it before
  stale.wa_user_id.clear();
  stale.phone = "551";
  idx.rename("ct_1", "", "BR.7"); // user_changed_user_id
  EXPECT_FALSE(idx.contact_by_user_id("BR.1"));
  EXPECT_EQ(idx.contact_by_user_id("BR.7")->id, "ct_1");
  // A conversation actor's report of an older change does not undo it.
  stale.profile_name = "Ana Maria";
  idx.put_contact(stale, true);
  EXPECT_EQ(idx.contact_by_user_id("BR.7")->profile_name, "Ana Maria");
  idx.rename("ct_1", "5522", ""); // user_changed_number
  EXPECT_FALSE(idx.contact_by_phone("551"));
  EXPECT_EQ(idx.contact_by_phone("5522")->wa_user_id, "BR.7");
}

TEST(conversation_index, q_matches_the_username) {
  conversation_index idx;
  add(idx, "1", "Ana", now);
  add(idx, "2", "Bia", now - 1);
  conversation_index::identity who{"552", "BR.2", "bia.bakery"};
  idx.link(who);
  conversation_filter f;
  f.q = "BAKERY";
  EXPECT_EQ(ids(listed(idx, f, now)), (std::vector<std::string>{"cv_2"}));
  EXPECT_EQ(idx.list_contacts("bakery", 1, 25)["total"], 1);
}

TEST(conversation_index, ids_by_phone_of_a_contact_without_conversation) {
  conversation_index idx;
  contact c;
  c.id = "ct_9";
  c.phone = "5511";
  idx.put_contact(c);
  auto ids = idx.ids_by_phone("5511");
  ASSERT_TRUE(ids);
  EXPECT_EQ(ids->contact_id, "ct_9");
  EXPECT_EQ(ids->conversation_id, "");
}

// The index keeps its strings packed (inline up to 23 bytes, on the heap beyond): what goes in
// comes back, at and around that boundary.
TEST(conversation_index, records_round_trip_through_packed_strings) {
  conversation_index idx;
  for (size_t len : {0u, 1u, 15u, 16u, 22u, 23u, 24u, 200u}) {
    auto text = [&](char c) { return std::string(len, c); };
    contact ct;
    ct.id = "ct_" + std::to_string(len) + text('i');
    ct.phone = "55" + std::to_string(len) + std::string(len, '9');
    ct.custom_name = text('c');
    ct.profile_name = "Fábio " + text('p');
    ct.tags = {"vip", text('t')};
    ct.created_at = 1;
    ct.updated_at = 2;
    conversation cv;
    cv.id = "cv_" + std::to_string(len) + text('v');
    cv.contact_id = ct.id;
    cv.last_message_preview = "Olá " + text('m');
    cv.tags = {text('g')};
    cv.unread_count = 3;
    cv.created_at = 4;
    cv.updated_at = 5;
    cv.seq = 6;
    idx.put_contact(ct);
    idx.put_conversation(cv);
    auto back = idx.contact_by_phone(ct.phone);
    ASSERT_TRUE(back) << len;
    EXPECT_EQ(nlohmann::json(*back), nlohmann::json(ct)) << len;
    auto conv = idx.conversation_by_id(cv.id);
    ASSERT_TRUE(conv) << len;
    EXPECT_EQ(nlohmann::json(*conv), nlohmann::json(cv)) << len;
    EXPECT_EQ(idx.conversation_of_contact(ct.id)->id, cv.id);
  }
}

TEST(conversation_index, unstored_conversations_are_hidden) {
  conversation_index idx;
  add(idx, "1", "Ana", now);
  conversation pending;
  pending.id = "cv_new";
  pending.contact_id = "ct_1";
  idx.put_conversation(pending); // updated_at == 0: its write has not committed
  EXPECT_EQ(listed(idx, {}, now)["total"], 1);
}

TEST(conversation_index, ties_and_deep_pages_follow_one_order) {
  conversation_index idx;
  for (int i = 0; i < 120; ++i) // 40 distinct activities, three conversations on each
    add(idx, std::to_string(100 + i), "C", now - (i / 3));
  conversation_filter f;
  f.limit = 7;
  std::vector<std::string> seen;
  for (f.page = 1; f.page <= 18; ++f.page)
    for (auto& id : ids(listed(idx, f, now)))
      seen.push_back(id);
  ASSERT_EQ(seen.size(), 120u);
  for (size_t i = 1; i < seen.size(); ++i) {
    auto a = idx.conversation_by_id(seen[i - 1]), b = idx.conversation_by_id(seen[i]);
    ASSERT_TRUE(a->last_message_at > b->last_message_at ||
                (a->last_message_at == b->last_message_at && a->id > b->id))
        << seen[i - 1] << " before " << seen[i];
  }
  f.page = 19;
  auto past = listed(idx, f, now);
  EXPECT_TRUE(past["conversations"].empty());
  EXPECT_EQ(past["total"], 120);
}

TEST(conversation_index, many_tags_unknown_tags_and_assignees) {
  conversation_index idx;
  std::vector<std::string> lots;
  for (int i = 0; i < 70; ++i)
    lots.push_back("t" + std::to_string(i));
  add(idx, "1", "Ana", now - 1, "open", "", lots);
  add(idx, "2", "Bob", now - 2, "open", "", {"t69", "t1"});
  conversation_filter f;
  f.tags = {"t69"}; // interned past the 64 bits of a row
  EXPECT_EQ(ids(listed(idx, f, now)), (std::vector<std::string>{"cv_1", "cv_2"}));
  f.tags = {"t68", "t1"};
  EXPECT_EQ(ids(listed(idx, f, now)), (std::vector<std::string>{"cv_1"}));
  f.tags = {"nobody-has-this"};
  auto none = listed(idx, f, now);
  EXPECT_EQ(none["total"], 0);
  EXPECT_EQ(none["counts"]["all"], 0);
  f.tags.clear();
  f.assigned_to = "u-unknown";
  f.me = "u-unknown";
  auto nobody = listed(idx, f, now);
  EXPECT_EQ(nobody["total"], 0);
  EXPECT_EQ(nobody["counts"]["all"], 2);
  EXPECT_EQ(nobody["counts"]["mine"], 0);
  // Tags removed from a conversation stop matching.
  auto c = *idx.conversation_by_id("cv_2");
  c.tags = {"t1"};
  idx.put_conversation(c);
  f = {};
  f.tags = {"t69"};
  EXPECT_EQ(ids(listed(idx, f, now)), (std::vector<std::string>{"cv_1"}));
}

TEST(conversation_index, contact_known_after_its_conversation) {
  conversation_index idx;
  conversation cv;
  cv.id = "cv_late";
  cv.contact_id = "ct_late";
  cv.created_at = 1;
  cv.updated_at = now;
  cv.last_message_at = now;
  idx.put_conversation(cv);
  conversation_filter f;
  f.q = "zed";
  EXPECT_EQ(listed(idx, f, now)["total"], 0);
  contact c;
  c.id = "ct_late";
  c.phone = "5599";
  c.profile_name = "Zed";
  c.updated_at = now;
  idx.put_contact(c);
  auto page = listed(idx, f, now);
  EXPECT_EQ(ids(page), (std::vector<std::string>{"cv_late"}));
  EXPECT_EQ(page["conversations"][0]["contact"]["name"], "Zed");
}

TEST(conversation_index, stored_conversations_walks_every_stored_one_in_steps) {
  conversation_index idx;
  for (int i = 0; i < 5; ++i)
    add(idx, std::to_string(i), "n" + std::to_string(i), now - i);
  conversation unstored;
  unstored.id = "cv_new";
  unstored.contact_id = "ct_new";
  idx.put_conversation(unstored); // not committed yet: updated_at 0
  idx.erase("cv_2", "ct_2");
  uint32_t at = 0;
  EXPECT_EQ(idx.stored_conversations(at, 2), (std::vector<std::string>{"cv_0", "cv_1"}));
  EXPECT_EQ(idx.stored_conversations(at, 2), (std::vector<std::string>{"cv_3", "cv_4"}));
  EXPECT_EQ(idx.stored_conversations(at, 2), std::vector<std::string>{});
  EXPECT_EQ(at, 0u) << "back to the start after the end";
  EXPECT_EQ(idx.stored_conversations(at, 10).size(), 4u);
  EXPECT_FALSE(idx.conversation_by_id("cv_2"));
  EXPECT_FALSE(idx.contact_by_id("ct_2"));
}
