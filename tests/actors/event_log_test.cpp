// Unit tests: event log helpers (event text, stream ids, SSE frames).

#include <gtest/gtest.h>

#include "actors/event_log.hpp"

namespace inboxd {
namespace {

TEST(event_log, event_text_is_what_the_document_dumps) {
  nlohmann::json m = {{"id", "msg_1"}, {"text", "ol\u00e1 \"quoted\"\n"}, {"n", 5}};
  for (auto ws : {std::string("ws_1"), std::string("w\"s\\")}) {
    nlohmann::json doc = {{"message", m}, {"type", "message.created"}, {"workspaceId", ws}};
    EXPECT_EQ(event_text(ws, "message.created", "message", m.dump()), doc.dump());
  }
}

TEST(event_log, a_message_event_is_composed_from_the_message_record) {
  stream_entry e;
  e.id = "1-0";
  e.type = "message.updated";
  e.names_records = true;
  e.message_id = "msg_1";
  e.message = R"({"id":"msg_1","status":"read"})";
  ASSERT_TRUE(compose_event("ws_1", e, 5));
  auto data = nlohmann::json::parse(e.data);
  EXPECT_EQ(data["type"], "message.updated");
  EXPECT_EQ(data["workspaceId"], "ws_1");
  EXPECT_EQ(data["message"]["status"], "read");
}

TEST(event_log, a_conversation_event_is_the_api_document_of_its_records) {
  conversation cv;
  cv.id = "cv_1";
  cv.contact_id = "ct_1";
  cv.unread_count = 2;
  cv.last_inbound_at = 1000;
  contact ct;
  ct.id = "ct_1";
  ct.phone = "5511";
  ct.profile_name = "Ana";
  stream_entry e;
  e.type = "conversation.created";
  e.names_records = true;
  e.conversation_id = cv.id; // records are stored without their ids: the entry names them
  e.contact_id = ct.id;
  e.conversation = nlohmann::json(cv).dump();
  e.contact = nlohmann::json(ct).dump();
  ASSERT_TRUE(compose_event("ws_1", e, 2000));
  nlohmann::json expected = {{"conversation", conversation_api(cv, ct, 2000)},
                             {"type", "conversation.created"},
                             {"workspaceId", "ws_1"}};
  EXPECT_EQ(nlohmann::json::parse(e.data), expected);
}

TEST(event_log, an_event_whose_records_are_gone_is_not_composed) {
  stream_entry e;
  e.type = "conversation.updated";
  e.names_records = true;
  EXPECT_FALSE(compose_event("ws_1", e, 1));
  e.conversation = "{}";
  e.contact = "not json";
  EXPECT_FALSE(compose_event("ws_1", e, 1));
  stream_entry old;
  old.type = "message.created";
  old.data = R"({"kept":true})";
  ASSERT_TRUE(compose_event("ws_1", old, 1));
  EXPECT_EQ(old.data, R"({"kept":true})");
}

TEST(event_log, stream_ids_parse_and_order) {
  stream_id a, b;
  ASSERT_TRUE(parse_stream_id("1700000000000-5", a));
  EXPECT_EQ(a, (stream_id{1700000000000ULL, 5}));
  ASSERT_TRUE(parse_stream_id("1700000000001", b));
  EXPECT_EQ(b.second, 0u);
  EXPECT_LT(a, b);
  EXPECT_EQ(to_string(a), "1700000000000-5");
  for (auto bad : {"", "-", "x-1", "1-", "1-x", "1--2", "99999999999999999999999-0", " 1-2"}) {
    stream_id c;
    EXPECT_FALSE(parse_stream_id(bad, c)) << bad;
  }
}

TEST(event_log, frames_are_one_event_each) {
  stream_entry e;
  e.id = "1-0";
  e.type = "message.created";
  e.data = R"({"a":"x\ny"})";
  EXPECT_EQ(sse_frame(e),
            "id: 1-0\nevent: message.created\ndata: {\"a\":\"x\\ny\"}\n\n");
}

} // namespace
} // namespace inboxd
