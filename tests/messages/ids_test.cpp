#include "messages/ids.hpp"

#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

using namespace inboxd;

TEST(ids, new_ids_are_prefixed_random_and_distinct_across_threads) {
  // More ids than one thread's pool of random bytes holds, on several threads at once.
  constexpr int threads = 4, per_thread = 1000;
  std::vector<std::vector<std::string>> made(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i)
        made[t].push_back(new_id("cv_"));
    });
  for (auto& th : pool)
    th.join();
  std::set<std::string> all;
  for (auto& ids : made)
    for (auto& id : ids) {
      ASSERT_EQ(id.size(), 23u) << id;
      ASSERT_EQ(id.rfind("cv_", 0), 0u) << id;
      for (char c : id.substr(3))
        ASSERT_TRUE((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7')) << id;
      all.insert(id);
    }
  EXPECT_EQ(all.size(), static_cast<size_t>(threads * per_thread));
}
