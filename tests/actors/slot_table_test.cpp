#include "actors/slot_table.hpp"

#include <map>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

using namespace inboxd;

// Random inserts, key changes and erases against std::map: every key finds exactly its slot,
// through growth and backward-shift deletions in long probe runs.
TEST(slot_table, agrees_with_a_map_through_random_changes) {
  std::vector<std::string> keys; // the storage: slot -> key
  auto key_of = [&](uint32_t s) { return std::string_view(keys[s]); };
  slot_table table;
  std::map<std::string, uint32_t> model;
  std::mt19937 rng(7);
  auto random_key = [&] { return "k" + std::to_string(rng() % 3000); };
  for (int step = 0; step < 60000; ++step) {
    auto op = rng() % 4;
    if (op < 2 || keys.empty()) { // a new slot claims a key (replacing its holder)
      keys.push_back(random_key());
      auto s = static_cast<uint32_t>(keys.size() - 1);
      table.insert(s, key_of);
      model[keys[s]] = s;
    } else if (op == 2) { // a slot's key changes: erase (if it holds it), change, insert
      auto s = static_cast<uint32_t>(rng() % keys.size());
      bool held = model.count(keys[s]) && model[keys[s]] == s;
      EXPECT_EQ(table.erase(keys[s], key_of, s), held);
      if (held)
        model.erase(keys[s]);
      keys[s] = random_key();
      table.insert(s, key_of);
      model[keys[s]] = s;
    } else { // a key goes away, whoever holds it
      auto k = random_key();
      bool present = model.count(k) > 0;
      EXPECT_EQ(table.erase(k, key_of), present);
      model.erase(k);
    }
    ASSERT_EQ(table.size(), model.size());
  }
  for (int i = 0; i < 3000; ++i) {
    auto k = "k" + std::to_string(i);
    auto m = model.find(k);
    EXPECT_EQ(table.find(k, key_of), m == model.end() ? slot_table::kNone : m->second) << k;
  }
}
