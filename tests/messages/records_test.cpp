#include "messages/records.hpp"

#include <gtest/gtest.h>

using namespace inboxd;

namespace {

constexpr int64_t now = 1'800'000'000'000;

std::string dumped(const conversation& cv, const contact& ct) {
  return conversation_api(cv, ct, now)
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string appended(const conversation& cv, const contact& ct) {
  std::string out;
  append_conversation_api(out, cv, ct, now);
  return out;
}

} // namespace

// The list page is written as text; it must be exactly what the document form dumps.
TEST(records, appended_conversation_is_the_dumped_document) {
  contact ct;
  conversation cv;
  EXPECT_EQ(appended(cv, ct), dumped(cv, ct)); // empty strings, zeros: nulls

  ct.id = "ct_1";
  ct.phone = "5511999999999";
  ct.profile_name = "Ana";
  cv.id = "cv_1";
  cv.contact_id = ct.id;
  cv.assigned_to = "user-7";
  cv.tags = {"vip", "billing"};
  cv.unread_count = 3;
  cv.last_message_at = now - 5;
  cv.last_inbound_at = now - 5;
  cv.last_message_preview = "hello";
  cv.created_at = 1;
  cv.updated_at = now;
  EXPECT_EQ(appended(cv, ct), dumped(cv, ct));

  ct.custom_name = "Quote \" back \\ slash / tab \t nl \n bell \x07 del \x7f";
  cv.last_message_preview = "Olá, 你好 👋 — \"quoted\"";
  cv.tags = {"é", "a\"b", ""};
  cv.last_inbound_at = now - kReplyWindowMs - 1; // window closed: canReply false
  EXPECT_EQ(appended(cv, ct), dumped(cv, ct));

  cv.last_message_preview = std::string("bad \xff\xfe utf8 \xc3", 14); // replaced, as dump does
  EXPECT_EQ(appended(cv, ct), dumped(cv, ct));
  EXPECT_TRUE(nlohmann::json::accept(appended(cv, ct)));
}

namespace {

std::string nlohmann_string(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string appended_string(const std::string& s) {
  std::string out = "x"; // appends: what was there stays
  append_json_string(out, s);
  return out.substr(1);
}

} // namespace

// Every string is written as nlohmann writes it: UTF-8 kept, control characters escaped,
// invalid UTF-8 replaced (overlongs, surrogates, truncated and stray bytes among them).
TEST(records, appended_string_is_what_nlohmann_dumps) {
  std::vector<std::string> cases = {"",
                                    "plain",
                                    "quote \" backslash \\ slash /",
                                    "\b\f\n\r\t\x01\x1f\x7f",
                                    "Olá, Fábio! 日本 🎉",
                                    "\xc3",
                                    "\xc0\xaf",
                                    "\xe0\x80\xaf",
                                    "\xed\xa0\x80",
                                    "\xf4\x90\x80\x80",
                                    "\xf0\x9f\x8e",
                                    "a\xffz",
                                    "\x80",
                                    "ok \xe2\x82\xac end"};
  for (auto& s : cases)
    EXPECT_EQ(appended_string(s), nlohmann_string(s)) << testing::PrintToString(s);
  uint32_t x = 12345; // xorshift: random bytes, biased toward UTF-8 lead and continuation bytes
  for (int round = 0; round < 20000; ++round) {
    std::string s;
    auto n = round % 9;
    for (int i = 0; i < n; ++i) {
      x ^= x << 13, x ^= x >> 17, x ^= x << 5;
      static const unsigned char pool[] = {'a',  '"',  '\\', 0x01, 0x7f, 0x80, 0x9f, 0xa0, 0xbf,
                                           0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff};
      s += static_cast<char>(x % 3 ? pool[x % sizeof(pool)] : (x >> 8) & 0xff);
    }
    ASSERT_EQ(appended_string(s), nlohmann_string(s)) << testing::PrintToString(s);
  }
}

// The storage forms are written as text; reading them back gives the record, and the text is
// what dumping the document gives.
TEST(records, appended_records_are_the_dumped_documents) {
  conversation cv;
  contact ct;
  for (int round = 0; round < 3; ++round) {
    std::string a, b;
    append_conversation_record(a, cv);
    append_contact_record(b, ct);
    EXPECT_EQ(a, nlohmann::json(cv).dump());
    EXPECT_EQ(b, nlohmann::json(ct).dump());
    auto back = conversation_record(nlohmann::json::parse(a), cv.id);
    EXPECT_EQ(back.id, cv.id);
    EXPECT_EQ(back.contact_id, cv.contact_id);
    EXPECT_EQ(back.status, cv.status);
    EXPECT_EQ(back.mode, cv.mode);
    EXPECT_EQ(back.assigned_to, cv.assigned_to);
    EXPECT_EQ(back.unread_count, cv.unread_count);
    EXPECT_EQ(back.last_message_preview, cv.last_message_preview);
    EXPECT_EQ(back.tags, cv.tags);
    EXPECT_EQ(back.last_message_at, cv.last_message_at);
    EXPECT_EQ(back.last_inbound_at, cv.last_inbound_at);
    EXPECT_EQ(back.created_at, cv.created_at);
    EXPECT_EQ(back.updated_at, cv.updated_at);
    EXPECT_EQ(back.seq, cv.seq);
    auto back_ct = contact_record(nlohmann::json::parse(b), ct.id);
    EXPECT_EQ(back_ct.id, ct.id);
    EXPECT_EQ(back_ct.phone, ct.phone);
    EXPECT_EQ(back_ct.custom_name, ct.custom_name);
    EXPECT_EQ(back_ct.profile_name, ct.profile_name);
    EXPECT_EQ(back_ct.tags, ct.tags);
    EXPECT_EQ(back_ct.created_at, ct.created_at);
    EXPECT_EQ(back_ct.updated_at, ct.updated_at);
    EXPECT_EQ(back_ct.marketing_opt_out_at, ct.marketing_opt_out_at);
    EXPECT_EQ(back_ct.marketing_changed_at, ct.marketing_changed_at);
    EXPECT_EQ(back_ct.wa_user_id, ct.wa_user_id);
    EXPECT_EQ(back_ct.username, ct.username);
    auto ja = nlohmann::json::parse(a), jb = nlohmann::json::parse(b);
    if (round == 0) { // fields at their defaults are not stored
      // status, mode, assignedTo, unreadCount, tags, seq
      for (auto* key : {"s", "m", "g", "n", "t", "q"})
        EXPECT_FALSE(ja.contains(key)) << key << " in " << a;
      // customName, profileName, tags, phone, the marketing preference, user id, username
      for (auto* key : {"c", "n", "t", "p", "g", "o", "w", "h"})
        EXPECT_FALSE(jb.contains(key)) << key << " in " << b;
    }
    // The key names a record: the id is not stored.
    EXPECT_FALSE(ja.contains("id")) << a;
    EXPECT_FALSE(jb.contains("id")) << b;
    if (round == 2) { // updatedAt equal to createdAt, lastMessageAt equal to lastInboundAt
      for (auto* key : {"u", "l"})
        EXPECT_FALSE(ja.contains(key)) << key << " in " << a;
      EXPECT_FALSE(jb.contains("u")) << b;
      break;
    }
    if (round == 1) {
      // Every field under its one-letter name.
      for (auto* key : {"a", "c", "g", "i", "l", "m", "n", "p", "q", "s", "t", "u"})
        EXPECT_TRUE(ja.contains(key)) << key << " in " << a;
      for (auto* key : {"a", "c", "g", "h", "n", "o", "p", "t", "u", "w"})
        EXPECT_TRUE(jb.contains(key)) << key << " in " << b;
      cv.updated_at = cv.created_at;
      cv.last_message_at = cv.last_inbound_at;
      ct.updated_at = ct.created_at;
      continue;
    }
    cv.id = "cv_1";
    cv.contact_id = "ct_1";
    cv.status = "pending";
    cv.mode = "ai";
    cv.assigned_to = "user \"7\"";
    cv.unread_count = 4;
    cv.tags = {"vip", "naïve"};
    cv.last_message_at = now;
    cv.last_message_preview = "Olá\nmundo";
    cv.last_inbound_at = now - 1;
    cv.created_at = now - 9;
    cv.updated_at = now;
    cv.seq = 77;
    ct.id = "ct_1";
    ct.phone = "5511999999999";
    ct.custom_name = "Ana \\ Maria";
    ct.profile_name = "Fábio";
    ct.tags = {"a"};
    ct.created_at = now - 9;
    ct.updated_at = now;
    ct.marketing_opt_out_at = now - 3;
    ct.marketing_changed_at = now - 2;
    ct.wa_user_id = "BR.1502984716392054";
    ct.username = "fábio.\"doces\"";
  }
}

// Records written before 2026-12-02 name their fields as the API does (and carry their id).
TEST(records, records_under_api_names_still_read) {
  auto cv = conversation_record(
      nlohmann::json::parse(R"({"id":"cv_9","contactId":"ct_9","status":"closed","mode":"ai",)"
                            R"("assignedTo":"u1","unreadCount":2,"tags":["x"],)"
                            R"("lastMessagePreview":"p","lastInboundAt":5,"lastMessageAt":6,)"
                            R"("createdAt":1,"updatedAt":7,"seq":3})"),
      "ignored");
  EXPECT_EQ(cv.id, "cv_9");
  EXPECT_EQ(cv.contact_id, "ct_9");
  EXPECT_EQ(cv.status, "closed");
  EXPECT_EQ(cv.mode, "ai");
  EXPECT_EQ(cv.assigned_to, "u1");
  EXPECT_EQ(cv.unread_count, 2);
  EXPECT_EQ(cv.tags, std::vector<std::string>{"x"});
  EXPECT_EQ(cv.last_message_preview, "p");
  EXPECT_EQ(cv.last_inbound_at, 5);
  EXPECT_EQ(cv.last_message_at, 6);
  EXPECT_EQ(cv.created_at, 1);
  EXPECT_EQ(cv.updated_at, 7);
  EXPECT_EQ(cv.seq, 3u);
  auto ct = contact_record(
      nlohmann::json::parse(R"({"phone":"55","customName":"C","profileName":"P","tags":["t"],)"
                            R"("createdAt":1})"),
      "ct_9");
  EXPECT_EQ(ct.id, "ct_9");
  EXPECT_EQ(ct.phone, "55");
  EXPECT_EQ(ct.custom_name, "C");
  EXPECT_EQ(ct.profile_name, "P");
  EXPECT_EQ(ct.tags, std::vector<std::string>{"t"});
  EXPECT_EQ(ct.created_at, 1);
  EXPECT_EQ(ct.updated_at, 1);
}
