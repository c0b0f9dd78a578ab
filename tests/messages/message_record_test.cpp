#include "messages/message_record.hpp"

#include <gtest/gtest.h>

namespace inboxd {
namespace {

std::string stored(const nlohmann::json& m) {
  std::string out;
  append_message_record(out, m);
  return out;
}

// Every kind of record comes back from its storage form as it went in.
TEST(message_record, round_trips_records_of_every_shape) {
  const nlohmann::json records[] = {
      // inbound text: the common case, stored without id and defaults
      {{"id", "msg_1"}, {"conversationId", "cv_1"}, {"direction", "inbound"},
       {"origin", "whatsapp"}, {"status", "received"}, {"type", "text"}, {"text", "Olá \"id\":1"},
       {"timestamp", 1}, {"createdAt", 2}, {"waMessageId", "wamid.A"}},
      // inbound, read, with media and a reply context whose objects have ids of their own
      {{"id", "msg_2"}, {"direction", "inbound"}, {"origin", "whatsapp"}, {"status", "read"},
       {"type", "image"}, {"media", {{"id", "m1"}, {"mimeType", "image/jpeg"}}},
       {"context", {{"id", "wamid.X"}, {"from", "1"}}},
       {"reactions", {{{"emoji", "👍"}, {"from", "1"}}}}},
      // outbound: only the id is left out
      {{"id", "msg_3"}, {"direction", "outbound"}, {"origin", "api"}, {"status", "queued"},
       {"type", "text"}, {"text", "hi"}},
      // an echo from the business app, text type
      {{"id", "msg_4"}, {"direction", "outbound"}, {"origin", "business_app"},
       {"status", "received"}, {"type", "text"}},
      // inbound with an unusual origin
      {{"id", "msg_5"}, {"direction", "inbound"}, {"origin", "kapso"}, {"status", "received"},
       {"type", "text"}},
  };
  for (auto& m : records) {
    auto id = m["id"].get<std::string>();
    auto s = stored(m);
    EXPECT_EQ(nlohmann::json::parse(s).count("id"), 0u) << s;
    auto back = message_api(id, s);
    EXPECT_EQ(nlohmann::json::parse(back), m) << s << " -> " << back;
  }
}

TEST(message_record, an_inbound_text_message_stores_no_defaults) {
  nlohmann::json m = {{"id", "msg_1"}, {"direction", "inbound"}, {"origin", "whatsapp"},
                      {"status", "received"}, {"type", "text"}, {"text", "hi"}};
  EXPECT_EQ(stored(m), R"({"x":"hi"})");
  EXPECT_EQ(message_api("msg_1", "{}"),
            R"({"id":"msg_1","direction":"inbound","origin":"whatsapp","status":"received",)"
            R"("type":"text"})");
}

// Records written before the storage form carry everything and are returned as stored; so is
// text that is not an object.
TEST(message_record, old_records_and_non_objects_come_back_as_stored) {
  std::string old = R"({"direction":"inbound","id":"msg_1","text":"x"})";
  EXPECT_EQ(message_api("msg_1", old), old);
  for (std::string bad : {"", "x", "[1]", "{\"a\":", "{\"a\" 1}", "{\"a\":\"unterminated}"})
    EXPECT_EQ(message_api("msg_1", bad), bad);
  // Whitespace between tokens is read past.
  auto spaced = message_api("msg_1", " { \"x\" : \"a\" , \"list\" : [ 1 , { \"id\" : 2 } ] } ");
  auto j = nlohmann::json::parse(spaced);
  EXPECT_EQ(j["id"], "msg_1");
  EXPECT_EQ(j["direction"], "inbound");
  EXPECT_EQ(j["text"], "a");
  EXPECT_EQ(j["list"][1]["id"], 2);
  // Records written between 2026-12-01 and 2026-12-03: API names, without their id.
  auto between = nlohmann::json::parse(
      message_api("msg_1", R"({"conversationId":"cv_1","text":"b","timestamp":5})"));
  EXPECT_EQ(between, (nlohmann::json{{"id", "msg_1"}, {"conversationId", "cv_1"}, {"text", "b"},
                                     {"timestamp", 5}, {"direction", "inbound"},
                                     {"origin", "whatsapp"}, {"status", "received"},
                                     {"type", "text"}}));
}

// The common top-level fields are stored under one-letter names, nested ones under their own.
TEST(message_record, common_fields_are_stored_under_one_letter) {
  nlohmann::json m = {{"id", "msg_1"}, {"conversationId", "cv_1"}, {"direction", "inbound"},
                      {"origin", "whatsapp"}, {"status", "received"}, {"type", "text"},
                      {"text", "hi"}, {"timestamp", 1}, {"createdAt", 2},
                      {"waMessageId", "wamid.A"}};
  EXPECT_EQ(stored(m), R"({"c":"cv_1","a":2,"x":"hi","t":1,"w":"wamid.A"})");
  nlohmann::json out = {{"id", "msg_2"}, {"direction", "outbound"}, {"origin", "api"},
                        {"status", "sent"}, {"type", "image"}, {"sentBy", "u1"},
                        {"media", {{"id", "m1"}, {"caption", "c"}}}, {"replyTo", "msg_1"},
                        {"editedAt", 3}, {"deletedAt", 4}, {"reactions", nlohmann::json::array()}};
  auto s = stored(out);
  auto j = nlohmann::json::parse(s);
  for (auto* key : {"d", "o", "s", "y", "b", "r", "e", "z", "n", "media"})
    EXPECT_TRUE(j.contains(key)) << key << " in " << s;
  EXPECT_EQ(j["media"], out["media"]);
  EXPECT_EQ(nlohmann::json::parse(message_api("msg_2", s)), out);
}

} // namespace
} // namespace inboxd
