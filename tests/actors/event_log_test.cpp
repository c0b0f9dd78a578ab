// Unit tests: event log helpers (XADD command, stream ids, SSE frames, XRANGE replies).

#include <gtest/gtest.h>

#include "actors/event_log.hpp"

namespace inboxd {
namespace {

TEST(event_log, append_is_a_trimmed_xadd_with_type_and_workspace) {
  auto cmd = event_append("ws_1", 10000, "message.created", {{"message", {{"id", "m"}}}});
  ASSERT_EQ(cmd.size(), 10u);
  EXPECT_EQ(cmd[0], "XADD");
  EXPECT_EQ(cmd[1], "{ws:ws_1}:events");
  EXPECT_EQ(cmd[2], "MAXLEN");
  EXPECT_EQ(cmd[3], "~");
  EXPECT_EQ(cmd[4], "10000");
  EXPECT_EQ(cmd[7], "message.created");
  auto data = nlohmann::json::parse(cmd[9]);
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

TEST(event_log, xrange_replies_parse_and_other_shapes_do_not) {
  redis_value fields{redis_value::type::array, 0, "", {}};
  for (auto s : {"type", "t", "data", "{}"})
    fields.elements.push_back({redis_value::type::string, 0, s, {}});
  redis_value entry{redis_value::type::array, 0, "", {{redis_value::type::string, 0, "5-1", {}}, fields}};
  redis_value reply{redis_value::type::array, 0, "", {entry}};
  std::vector<stream_entry> out;
  ASSERT_TRUE(parse_stream_entries(reply, out));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].id, "5-1");
  EXPECT_EQ(out[0].type, "t");
  EXPECT_EQ(out[0].data, "{}");
  std::vector<stream_entry> none;
  EXPECT_FALSE(parse_stream_entries(redis_value{redis_value::type::error, 0, "ERR", {}}, none));
  redis_value odd{redis_value::type::array, 0, "", {redis_value{redis_value::type::string, 0, "x", {}}}};
  EXPECT_FALSE(parse_stream_entries(odd, none));
}

} // namespace
} // namespace inboxd
