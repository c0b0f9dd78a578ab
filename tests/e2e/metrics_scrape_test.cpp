// End-to-end: GET /metrics of the real binary after real traffic is valid for
// `promtool check metrics` and its counters moved with that traffic.

#include <map>
#include <string>

#include "tests/e2e/e2e_test.hpp"
#include "tests/support/promtool.hpp"
#include "tests/support/sse_client.hpp"

namespace inboxd::test {
namespace {

using json = nlohmann::json;

// The samples of an exposition: "name{labels}" -> value.
std::map<std::string, double> samples_of(const std::string& text) {
  std::map<std::string, double> out;
  size_t at = 0;
  while (at < text.size()) {
    auto end = text.find('\n', at);
    auto line = text.substr(at, end == std::string::npos ? std::string::npos : end - at);
    at = end == std::string::npos ? text.size() : end + 1;
    if (line.empty() || line[0] == '#')
      continue;
    auto space = line.rfind(' ');
    if (space != std::string::npos)
      out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

class metrics_scrape_test : public e2e_test {
protected:
  // A signed Meta text message with a fresh wamid.
  static json text_message() {
    return with_unique_wamids(fixture_case("meta/message.json", "text"));
  }
};

TEST_F(metrics_scrape_test, metrics_after_traffic_pass_promtool_and_count_it) {
  auto first = text_message();
  ASSERT_EQ(post_meta(first).status, 200);
  ASSERT_EQ(post_meta(first).status, 200); // redelivered: a duplicate
  ASSERT_EQ(post_meta(text_message()).status, 200);
  auto nobody = replace_strings(text_message(), kPhoneNumberId, "5550001112223");
  ASSERT_EQ(post_meta(nobody).status, 200); // dead-lettered
  expect_error(post_meta(text_message().dump(), "not-the-secret"), 401, "unauthorized");
  expect_error(client().get("/api/conversations/cv_nope", api_headers()), 404, "not_found");
  ASSERT_EQ(client().get("/api/conversations", api_headers()).status, 200);
  sse_client events(inboxd_->port(), "/api/events", {{"X-API-Key", api_key_}});
  ASSERT_EQ(events.read_head(), 200) << events.head();

  auto r = client().get("/metrics");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  auto checked = promtool_check_metrics(r.body);
  EXPECT_TRUE(checked.ok()) << "promtool check metrics: exit " << checked.exit_code << ": "
                            << checked.output << "\n"
                            << r.body;

  auto s = samples_of(r.body);
  auto value = [&](const std::string& key) {
    auto i = s.find(key);
    EXPECT_NE(i, s.end()) << key << " missing from\n" << r.body;
    return i == s.end() ? -1.0 : i->second;
  };
  EXPECT_EQ(value("inboxd_webhook_items_total{outcome=\"stored\"}"), 2);
  EXPECT_EQ(value("inboxd_webhook_items_total{outcome=\"duplicate\"}"), 1);
  EXPECT_EQ(value("inboxd_webhook_items_total{outcome=\"dead_lettered\"}"), 1);
  EXPECT_EQ(value("inboxd_webhook_items_total{outcome=\"rejected\"}"), 1);

  const std::string webhook_ok = "{route=\"wa_webhook\",status=\"2xx\"}";
  EXPECT_EQ(value("inboxd_http_request_duration_seconds_count" + webhook_ok), 4);
  EXPECT_EQ(value("inboxd_http_request_duration_seconds_bucket{route=\"wa_webhook\",status="
                  "\"2xx\",le=\"+Inf\"}"),
            4);
  EXPECT_GT(value("inboxd_http_request_duration_seconds_sum" + webhook_ok), 0);
  EXPECT_EQ(
      value("inboxd_http_request_duration_seconds_count{route=\"wa_webhook\",status=\"4xx\"}"), 1);
  EXPECT_EQ(value("inboxd_http_request_duration_seconds_count{route=\"conversation_get\","
                  "status=\"4xx\"}"),
            1);
  EXPECT_GE(value("inboxd_http_request_duration_seconds_count{route=\"conversations_list\","
                  "status=\"2xx\"}"),
            1);
  EXPECT_GE(value("inboxd_http_request_duration_seconds_count{route=\"events\",status=\"2xx\"}"),
            1);

  // The first message creates its conversation; every webhook above committed at least once.
  EXPECT_GE(value("inboxd_store_commits_total{outcome=\"applied\"}"), 2);
  EXPECT_GE(value("inboxd_store_round_trips_total"), 2);
  EXPECT_GE(value("inboxd_store_round_trip_seconds_count"), 2);
  EXPECT_GE(value("inboxd_store_change_sets_per_round_trip_sum"), 2);
  EXPECT_EQ(value("inboxd_store_commits_total{outcome=\"overloaded\"}"), 0);
  EXPECT_GE(value("inboxd_redis_failed_calls_total"), 0); // calls before the first connect fail
  EXPECT_GE(value("inboxd_redis_connection_errors_total"), 0);
  EXPECT_EQ(value("inboxd_sse_subscribers"), 1);
  EXPECT_EQ(value("inboxd_outbox_entries"), 0);
  EXPECT_EQ(value("inboxd_outbox_oldest_age_seconds"), 0);
  EXPECT_GT(value("inboxd_live_actors"), 0);
  EXPECT_GT(value("process_resident_memory_bytes"), 1e6);
  EXPECT_GT(value("process_cpu_seconds_total"), 0);

  // Labels name routes and outcomes, never a workspace, a number, an id or a path.
  for (auto& [series, v] : s)
    for (auto& raw :
         {ws_id_, std::string(kPhoneNumberId), std::string("cv_nope"), std::string("/api/")})
      EXPECT_EQ(series.find(raw), std::string::npos) << series;
}

} // namespace
} // namespace inboxd::test
