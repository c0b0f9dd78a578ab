// whatsapp/phone_number_ids.cpp's body_for_numbers: the part of a webhook body one node owns.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "whatsapp/webhook_decoder.hpp"

using namespace inboxd;
using nlohmann::json;

namespace {

json meta_change(const std::string& pid, const std::string& wamid) {
  return {{"field", "messages"},
          {"value",
           {{"messaging_product", "whatsapp"},
            {"metadata", {{"display_phone_number", "15550001"}, {"phone_number_id", pid}}},
            {"contacts", {{{"wa_id", "972500000001"}, {"profile", {{"name", "A"}}}}}},
            {"messages",
             {{{"from", "972500000001"},
               {"id", wamid},
               {"timestamp", "1763647391"},
               {"type", "text"},
               {"text", {{"body", "hi"}}}}}}}}};
}

TEST(body_for_numbers, a_meta_body_keeps_only_the_changes_of_the_numbers_kept) {
  json body = {
      {"object", "whatsapp_business_account"},
      {"entry",
       {{{"id", "w1"}, {"changes", {meta_change("111", "wamid.a"), meta_change("222", "wamid.b")}}},
        {{"id", "w2"}, {"changes", {meta_change("222", "wamid.c")}}}}}};
  auto part = body_for_numbers(body, {"111"});
  EXPECT_EQ(phone_number_ids_of(part), std::vector<std::string>{"111"});
  auto decoded = decode_meta(part);
  ASSERT_TRUE(decoded.ok) << decoded.error;
  ASSERT_EQ(decoded.value.events.size(), 1u);
  EXPECT_EQ(decoded.value.events[0].wamid, "wamid.a");
  ASSERT_EQ(part["entry"].size(), 1u); // the entry left empty is dropped
  auto other = decode_meta(body_for_numbers(body, {"222"}));
  ASSERT_TRUE(other.ok) << other.error;
  EXPECT_EQ(other.value.events.size(), 2u);
  EXPECT_EQ(body_for_numbers(body, {"111", "222"}), body);
}

TEST(body_for_numbers, a_batched_kapso_body_keeps_only_those_events_and_a_single_one_stays_whole) {
  json batch = {{"type", "whatsapp.message.received"},
                {"batch", true},
                {"data",
                 {{{"phone_number_id", "111"}, {"n", 1}},
                  {{"conversation", {{"phone_number_id", "222"}}}, {"n", 2}},
                  {{"phone_number_id", "111"}, {"n", 3}}}}};
  auto part = body_for_numbers(batch, {"111"});
  ASSERT_EQ(part["data"].size(), 2u);
  EXPECT_EQ(part["data"][1]["n"], 3);
  EXPECT_EQ(part["type"], batch["type"]);
  EXPECT_EQ(body_for_numbers(batch, {"222"})["data"].size(), 1u);
  json single = {{"phone_number_id", "111"}, {"message", {{"id", "x"}}}};
  EXPECT_EQ(body_for_numbers(single, {"111"}), single);
  EXPECT_EQ(body_for_numbers(json("not an object"), {"111"}), json("not an object"));
}

} // namespace
