#include "actors/delivery_keys.hpp"

#include <gtest/gtest.h>

using namespace inboxd;

TEST(delivery_keys, a_key_is_known_once_added_and_forgotten_after_a_day) {
  delivery_keys keys;
  int64_t t = 1'800'000'000'000;
  EXPECT_FALSE(keys.contains("k1", t));
  keys.add("k1", t);
  EXPECT_TRUE(keys.contains("k1", t + 1));
  EXPECT_FALSE(keys.contains("k2", t + 1));
  EXPECT_TRUE(keys.contains("k1", t + delivery_keys::kMaxAgeMs - 1));
  EXPECT_FALSE(keys.contains("k1", t + delivery_keys::kMaxAgeMs));
  EXPECT_EQ(keys.size(), 0u);
}

TEST(delivery_keys, beyond_the_bound_the_oldest_keys_go_first) {
  delivery_keys keys;
  int64_t t = 1'800'000'000'000;
  for (size_t i = 0; i < delivery_keys::kMaxKeys + 2; ++i)
    keys.add("k" + std::to_string(i), t + static_cast<int64_t>(i));
  EXPECT_EQ(keys.size(), delivery_keys::kMaxKeys);
  EXPECT_FALSE(keys.contains("k0", t + 20'000));
  EXPECT_FALSE(keys.contains("k1", t + 20'000));
  EXPECT_TRUE(keys.contains("k2", t + 20'000));
  EXPECT_TRUE(keys.contains("k" + std::to_string(delivery_keys::kMaxKeys + 1), t + 20'000));
}

TEST(delivery_keys, adding_a_key_again_keeps_its_first_time) {
  delivery_keys keys;
  int64_t t = 1'800'000'000'000;
  keys.add("k", t);
  keys.add("k", t + 1000);
  EXPECT_EQ(keys.size(), 1u);
  EXPECT_FALSE(keys.contains("k", t + delivery_keys::kMaxAgeMs));
}
