#include "actors/packed_string.hpp"

#include <gtest/gtest.h>

using namespace inboxd;

TEST(packed_string, keeps_short_and_long_strings) {
  for (size_t len : {0u, 1u, 22u, 23u, 24u, 100u, 70000u}) {
    std::string s(len, 'x');
    if (len)
      s[len - 1] = 'y';
    packed_string p(s);
    EXPECT_EQ(p.view(), s);
    EXPECT_EQ(p.empty(), s.empty());
    packed_string copy(p);
    EXPECT_EQ(copy.str(), s);
    packed_string assigned;
    assigned = p;
    EXPECT_EQ(assigned.view(), s);
    auto& same = assigned;
    assigned = same; // self-assignment keeps it
    EXPECT_EQ(assigned.view(), s);
    assigned = std::string_view("short");
    EXPECT_EQ(assigned.view(), "short");
    assigned = std::string(40, 'z'); // short to long and back: no leak (ASan checks)
    EXPECT_EQ(assigned.view(), std::string(40, 'z'));
    EXPECT_TRUE(p == std::string_view(s));
  }
}

TEST(packed_string, keeps_any_bytes) {
  std::string s("a\0b\xff", 4);
  EXPECT_EQ(packed_string(s).view(), s);
  std::string l(30, '\0');
  EXPECT_EQ(packed_string(l).view(), l);
}

TEST(packed_list, keeps_its_items_and_copies) {
  packed_list l;
  EXPECT_TRUE(l.get().empty());
  l = std::vector<std::string>{"vip", std::string(40, 'b')};
  packed_list copy(l);
  EXPECT_EQ(copy.get(), (std::vector<std::string>{"vip", std::string(40, 'b')}));
  l = std::vector<std::string>{};
  EXPECT_TRUE(l.get().empty());
  EXPECT_EQ(copy.get().size(), 2u);
  auto& same = copy;
  copy = same;
  EXPECT_EQ(copy.get().size(), 2u);
}
