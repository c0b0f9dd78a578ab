#include "messages/records.hpp"

#include <gtest/gtest.h>

using namespace inboxd;

namespace {

constexpr int64_t now = 1'800'000'000'000;

std::string dumped(const conversation& cv, const contact& ct) {
  return conversation_api(cv, ct, now).dump(-1, ' ', false,
                                            nlohmann::json::error_handler_t::replace);
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
