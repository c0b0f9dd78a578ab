#include "actors/message_mutations.hpp"

#include <gtest/gtest.h>

#include "messages/ids.hpp"

using namespace inboxd;

namespace {

wa_event status_event(const std::string& status) {
  wa_event e;
  e.kind = wa_event_kind::status;
  e.target_wamid = "wamid.A";
  e.status = status;
  return e;
}

nlohmann::json outbound() {
  wa_event e;
  e.kind = wa_event_kind::echo;
  e.wamid = "wamid.A";
  e.timestamp_ms = 1000;
  e.content = {{"type", "text"}, {"text", "hi"}};
  return make_message_record(e, "cv_1", 5);
}

} // namespace

TEST(message_mutations, record_of_inbound_message) {
  wa_event e;
  e.kind = wa_event_kind::message;
  e.wamid = "wamid.X";
  e.timestamp_ms = 1697044456000;
  e.content = {{"type", "text"}, {"text", "hello"}};
  auto m = make_message_record(e, "cv_1", 42);
  EXPECT_EQ(m["id"], message_id_for_wamid("wamid.X"));
  EXPECT_EQ(m["direction"], "inbound");
  EXPECT_EQ(m["origin"], "whatsapp");
  EXPECT_EQ(m["status"], "received");
  EXPECT_EQ(m["text"], "hello");
  EXPECT_EQ(m["timestamp"], 1697044456000);
  EXPECT_EQ(m["createdAt"], 42);
}

TEST(message_mutations, statuses_only_move_forward) {
  auto m = outbound();
  EXPECT_EQ(m["status"], "sent");
  EXPECT_TRUE(apply_mutation(m, status_event("read"), 0));
  EXPECT_EQ(m["status"], "read");
  EXPECT_FALSE(apply_mutation(m, status_event("delivered"), 0));
  EXPECT_EQ(m["status"], "read");
  EXPECT_TRUE(apply_mutation(m, status_event("played"), 0));
  EXPECT_EQ(m["status"], "played");
  EXPECT_FALSE(apply_mutation(m, status_event("sent"), 0));
  EXPECT_EQ(m["status"], "played");
}

TEST(message_mutations, failed_records_error_and_wins_over_sent) {
  auto m = outbound();
  auto f = status_event("failed");
  f.content = {{"error", {{"code", 131047}, {"title", "Re-engagement message"}}}};
  apply_mutation(m, f, 0);
  EXPECT_EQ(m["status"], "failed");
  EXPECT_EQ(m["error"]["code"], 131047);
  EXPECT_FALSE(apply_mutation(m, status_event("delivered"), 0));
  EXPECT_EQ(m["status"], "failed");
}

TEST(message_mutations, reactions_replace_and_remove) {
  auto m = outbound();
  wa_event r;
  r.kind = wa_event_kind::reaction;
  r.contact_phone = "5511";
  r.content = {{"emoji", "👍"}};
  apply_mutation(m, r, 0);
  ASSERT_EQ(m["reactions"].size(), 1u);
  r.content = {{"emoji", "😮"}};
  apply_mutation(m, r, 0);
  ASSERT_EQ(m["reactions"].size(), 1u);
  EXPECT_EQ(m["reactions"][0]["emoji"], "😮");
  r.content = {{"emoji", ""}};
  apply_mutation(m, r, 0);
  EXPECT_TRUE(m["reactions"].empty());
}

TEST(message_mutations, edit_and_revoke) {
  auto m = outbound();
  wa_event e;
  e.kind = wa_event_kind::edit;
  e.timestamp_ms = 77;
  e.content = {{"type", "text"}, {"text", "edited"}};
  apply_mutation(m, e, 0);
  EXPECT_EQ(m["text"], "edited");
  EXPECT_EQ(m["editedAt"], 77);
  e.kind = wa_event_kind::revoke;
  e.timestamp_ms = 88;
  apply_mutation(m, e, 0);
  EXPECT_FALSE(m.contains("text"));
  EXPECT_EQ(m["deletedAt"], 88);
}

TEST(message_mutations, park_roundtrip) {
  auto e = status_event("delivered");
  e.contact_phone = "123";
  e.timestamp_ms = 9;
  wa_event back;
  ASSERT_TRUE(park_decode(park_encode(e), back));
  EXPECT_EQ(back.kind, wa_event_kind::status);
  EXPECT_EQ(back.status, "delivered");
  EXPECT_EQ(back.target_wamid, "wamid.A");
  EXPECT_EQ(back.timestamp_ms, 9);
  EXPECT_FALSE(park_decode(nlohmann::json::array(), back));
  EXPECT_FALSE(park_decode({{"kind", "message"}}, back));
}
