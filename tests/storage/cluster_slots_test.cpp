// Unit tests: Redis Cluster addressing (storage/cluster_slots.hpp) and the cluster URL.

#include "storage/cluster_slots.hpp"

#include <gtest/gtest.h>

#include "storage/redis_cluster.hpp"

namespace inboxd {
namespace {

TEST(cluster_slots, crc16_matches_the_cluster_specification) {
  EXPECT_EQ(crc16("123456789"), 0x31C3); // the spec's test vector
  EXPECT_EQ(crc16(""), 0);
}

TEST(cluster_slots, key_slot_hashes_the_hash_tag_when_there_is_one) {
  EXPECT_EQ(key_slot("foo"), 12182); // CLUSTER KEYSLOT foo
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("user1000"));
  EXPECT_EQ(key_slot("{user1000}.followers"), key_slot("{user1000}.following"));
  EXPECT_EQ(key_slot("foo{}{bar}"), crc16("foo{}{bar}") & 16383); // empty tag: whole key
  EXPECT_EQ(key_slot("foo{{bar}}zap"), key_slot("{bar"));
  EXPECT_EQ(key_slot("foo{bar}{zap}"), key_slot("bar"));
  EXPECT_EQ(key_slot("{ws:W}:convs"), key_slot("{ws:W}:m:msg_1"));
}

TEST(cluster_slots, command_keys_follow_each_commands_key_positions) {
  using v = std::vector<std::string>;
  EXPECT_EQ(command_keys({"GET", "a"}), (std::vector<std::string_view>{"a"}));
  EXPECT_EQ(command_keys({"EVALSHA", "sha", "2", "k1", "k2", "arg"}),
            (std::vector<std::string_view>{"k1", "k2"}));
  EXPECT_EQ(command_keys({"EVAL", "src", "0", "arg"}), (std::vector<std::string_view>{}));
  EXPECT_EQ(command_keys({"MGET", "a", "b"}), (std::vector<std::string_view>{"a", "b"}));
  EXPECT_EQ(command_keys({"MSET", "a", "1", "b", "2"}), (std::vector<std::string_view>{"a", "b"}));
  EXPECT_EQ(command_keys({"XREAD", "COUNT", "5", "STREAMS", "s1", "s2", "0", "0"}),
            (std::vector<std::string_view>{"s1", "s2"}));
  EXPECT_TRUE(command_keys(v{"PING"}).empty());
  EXPECT_TRUE(command_keys(v{"SCRIPT", "LOAD", "return 1"}).empty());
  EXPECT_EQ(command_slot({"PING"}), std::nullopt);
  EXPECT_EQ(command_slot({"MGET", "{ws:W}:a", "{ws:W}:b"}), key_slot("ws:W"));
  EXPECT_EQ(command_slot({"MGET", "a", "b"}), -1); // a and b hash to different slots
}

redis_value integer(int64_t i) {
  redis_value v;
  v.kind = redis_value::type::integer;
  v.integer = i;
  return v;
}
redis_value str(std::string s) {
  redis_value v;
  v.kind = redis_value::type::string;
  v.str = std::move(s);
  return v;
}
redis_value array(std::vector<redis_value> e) {
  redis_value v;
  v.kind = redis_value::type::array;
  v.elements = std::move(e);
  return v;
}

TEST(cluster_slots, parses_cluster_slots_and_fills_in_unknown_hosts) {
  auto reply = array(
      {array({integer(0), integer(5460), array({str("127.0.0.1"), integer(7000), str("id0")})}),
       array({integer(5461), integer(16383), array({str(""), integer(7001), str("id1")}),
              array({str("127.0.0.1"), integer(7004), str("replica")})})});
  std::string error;
  auto ranges = parse_cluster_slots(reply, "10.0.0.9", error);
  ASSERT_TRUE(ranges) << error;
  ASSERT_EQ(ranges->size(), 2u);
  EXPECT_EQ((*ranges)[0].last, 5460);
  EXPECT_EQ((*ranges)[0].master.name(), "127.0.0.1:7000");
  EXPECT_EQ((*ranges)[1].master.name(), "10.0.0.9:7001");
}

TEST(cluster_slots, refuses_cluster_slots_replies_of_another_shape) {
  std::string error;
  EXPECT_FALSE(parse_cluster_slots(str("nope"), "h", error));
  EXPECT_FALSE(parse_cluster_slots(array({array({integer(0)})}), "h", error));
  EXPECT_FALSE(parse_cluster_slots(
      array({array({integer(10), integer(20000), array({str("h"), integer(1)})})}), "h", error));
  EXPECT_FALSE(parse_cluster_slots(
      array({array({integer(0), integer(1), array({str("h"), integer(70000)})})}), "h", error));
}

TEST(cluster_slots, parses_moved_and_ask_redirections) {
  auto moved = parse_redirection("MOVED 3999 127.0.0.1:6381");
  ASSERT_TRUE(moved);
  EXPECT_FALSE(moved->ask);
  EXPECT_EQ(moved->slot, 3999);
  EXPECT_EQ(moved->to.name(), "127.0.0.1:6381");
  auto ask = parse_redirection("ASK 12 ::1:7002");
  ASSERT_TRUE(ask);
  EXPECT_TRUE(ask->ask);
  EXPECT_EQ(ask->to.host, "::1");
  auto no_host = parse_redirection("MOVED 1 :7003");
  ASSERT_TRUE(no_host);
  EXPECT_EQ(no_host->to.host, "");
  EXPECT_FALSE(parse_redirection("ERR wrong"));
  EXPECT_FALSE(parse_redirection("MOVED 16384 h:1"));
  EXPECT_FALSE(parse_redirection("MOVED 1 h:0"));
  EXPECT_FALSE(parse_redirection("MOVED x h:1"));
  EXPECT_FALSE(parse_redirection("MOVED 1"));
  EXPECT_TRUE(retryable_cluster_error("TRYAGAIN Multiple keys request during rehashing of slot"));
  EXPECT_TRUE(retryable_cluster_error("CLUSTERDOWN The cluster is down"));
  EXPECT_FALSE(retryable_cluster_error("ERR CLUSTERDOWN"));
}

TEST(redis_cluster_url, parses_seeds_and_password) {
  auto ok = parse_redis_cluster_url("redis-cluster://:s%40cret@127.0.0.1:7000,localhost:7001");
  ASSERT_TRUE(std::holds_alternative<redis_cluster_endpoint>(ok));
  auto& ep = std::get<redis_cluster_endpoint>(ok);
  ASSERT_EQ(ep.seeds.size(), 2u);
  EXPECT_EQ(ep.seeds[0].name(), "127.0.0.1:7000");
  EXPECT_EQ(ep.seeds[1].name(), "localhost:7001");
  EXPECT_EQ(ep.password, "s@cret");
  for (const char* bad : {"redis://127.0.0.1:7000", "redis-cluster://", "redis-cluster://a:1,",
                          "redis-cluster://a:1/0", "redis-cluster://a:99999"})
    EXPECT_TRUE(std::holds_alternative<std::string>(parse_redis_cluster_url(bad))) << bad;
}

} // namespace
} // namespace inboxd
