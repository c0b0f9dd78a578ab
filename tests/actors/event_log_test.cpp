// Unit tests: event log helpers (event text, stream ids, SSE frames).

#include <gtest/gtest.h>

#include "actors/event_log.hpp"

namespace inboxd {
namespace {

TEST(event_log, events_carry_type_and_workspace) {
  auto e = make_event("ws_1", "message.created", {{"message", {{"id", "m"}}}});
  EXPECT_EQ(e.type, "message.created");
  auto data = nlohmann::json::parse(e.data);
  EXPECT_EQ(data["type"], "message.created");
  EXPECT_EQ(data["workspaceId"], "ws_1");
  EXPECT_EQ(data["message"]["id"], "m");
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
  EXPECT_EQ(sse_frame({"1-0", "message.created", R"({"a":"x\ny"})"}),
            "id: 1-0\nevent: message.created\ndata: {\"a\":\"x\\ny\"}\n\n");
}

} // namespace
} // namespace inboxd
