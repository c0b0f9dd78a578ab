#include "config/settings.hpp"

#include <cstdlib>

#include <gtest/gtest.h>

using namespace inboxd;

namespace {

std::variant<settings, std::string> load(std::vector<std::string> args) {
  std::vector<char*> argv{const_cast<char*>("inboxd")};
  for (auto& a : args)
    argv.push_back(a.data());
  return load_settings(static_cast<int>(argv.size()), argv.data());
}

} // namespace

TEST(settings, defaults_env_and_flags) {
  ::unsetenv("INBOXD_HTTP_PORT");
  auto d = load({});
  ASSERT_TRUE(std::holds_alternative<settings>(d));
  EXPECT_EQ(std::get<settings>(d).http_port, 8080);
  ::setenv("INBOXD_HTTP_PORT", "9000", 1);
  EXPECT_EQ(std::get<settings>(load({})).http_port, 9000);
  EXPECT_EQ(std::get<settings>(load({"--http-port=9100"})).http_port, 9100);
  EXPECT_EQ(std::get<settings>(load({"--http-port", "9200"})).http_port, 9200);
  ::unsetenv("INBOXD_HTTP_PORT");
}

TEST(settings, rejects_bad_values_with_a_reason) {
  auto bad_port = load({"--http-port=99999"});
  ASSERT_TRUE(std::holds_alternative<std::string>(bad_port));
  EXPECT_NE(std::get<std::string>(bad_port).find("http-port"), std::string::npos);
  EXPECT_TRUE(std::holds_alternative<std::string>(load({"--nope=1"})));
  EXPECT_TRUE(std::holds_alternative<std::string>(load({"--redis-url=http://x"})));
  EXPECT_TRUE(std::holds_alternative<std::string>(load({"--log-level=loud"})));
  ::setenv("INBOXD_REQUEST_TIMEOUT_MS", "abc", 1);
  auto env_bad = load({});
  ::unsetenv("INBOXD_REQUEST_TIMEOUT_MS");
  ASSERT_TRUE(std::holds_alternative<std::string>(env_bad));
  EXPECT_NE(std::get<std::string>(env_bad).find("INBOXD_REQUEST_TIMEOUT_MS"), std::string::npos);
}

TEST(settings, scale_out_needs_an_advertised_url_and_a_secret) {
  auto single = load({});
  ASSERT_TRUE(std::holds_alternative<settings>(single));
  EXPECT_FALSE(std::get<settings>(single).scale_out());
  auto ok = load({"--node-id=n-1", "--advertise-url=http://127.0.0.1:8081",
                  "--cluster-secret=0123456789abcdef", "--lease-ms=3000"});
  ASSERT_TRUE(std::holds_alternative<settings>(ok)) << std::get<std::string>(ok);
  EXPECT_TRUE(std::get<settings>(ok).scale_out());
  EXPECT_EQ(std::get<settings>(ok).lease_ms, 3000);
  auto no_url = load({"--node-id=n-1", "--cluster-secret=0123456789abcdef"});
  ASSERT_TRUE(std::holds_alternative<std::string>(no_url));
  EXPECT_NE(std::get<std::string>(no_url).find("INBOXD_ADVERTISE_URL"), std::string::npos);
  auto with_path =
      load({"--node-id=n-1", "--advertise-url=http://h:1/x", "--cluster-secret=0123456789abcdef"});
  EXPECT_TRUE(std::holds_alternative<std::string>(with_path));
  auto short_secret =
      load({"--node-id=n-1", "--advertise-url=http://h:1", "--cluster-secret=short"});
  ASSERT_TRUE(std::holds_alternative<std::string>(short_secret));
  EXPECT_NE(std::get<std::string>(short_secret).find("INBOXD_CLUSTER_SECRET"), std::string::npos);
  EXPECT_TRUE(std::holds_alternative<std::string>(load({"--node-id=a|b"})));
}

TEST(settings, a_replica_wait_must_fit_twice_in_the_redis_command_timeout) {
  auto d = load({});
  ASSERT_TRUE(std::holds_alternative<settings>(d));
  EXPECT_EQ(std::get<settings>(d).redis_replica_wait_ms, 500);
  EXPECT_EQ(std::get<settings>(d).redis_command_timeout_ms, 2000);
  auto ok = load({"--redis-replica-wait-ms=0", "--redis-command-timeout-ms=100"});
  ASSERT_TRUE(std::holds_alternative<settings>(ok)) << std::get<std::string>(ok);
  auto too_long = load({"--redis-replica-wait-ms=800", "--redis-command-timeout-ms=1000"});
  ASSERT_TRUE(std::holds_alternative<std::string>(too_long));
  EXPECT_NE(std::get<std::string>(too_long).find("INBOXD_REDIS_COMMAND_TIMEOUT_MS"),
            std::string::npos);
  EXPECT_TRUE(std::holds_alternative<std::string>(load({"--redis-replica-wait-ms=1001"})));
}

TEST(settings, log_format_access_log_and_api_rate) {
  auto d = load({});
  ASSERT_TRUE(std::holds_alternative<settings>(d));
  EXPECT_EQ(std::get<settings>(d).log_output, log_format::text);
  EXPECT_EQ(std::get<settings>(d).access_log, access_log_mode::errors);
  EXPECT_EQ(std::get<settings>(d).api_rate, 0);
  auto ok = load({"--log-format=json", "--access-log=all", "--api-rate=25"});
  ASSERT_TRUE(std::holds_alternative<settings>(ok)) << std::get<std::string>(ok);
  EXPECT_EQ(std::get<settings>(ok).log_output, log_format::json);
  EXPECT_EQ(std::get<settings>(ok).access_log, access_log_mode::all);
  EXPECT_EQ(std::get<settings>(ok).api_rate, 25);
  EXPECT_EQ(std::get<settings>(load({"--access-log=off"})).access_log, access_log_mode::off);
  ::setenv("INBOXD_LOG_FORMAT", "xml", 1);
  auto bad = load({});
  ::unsetenv("INBOXD_LOG_FORMAT");
  ASSERT_TRUE(std::holds_alternative<std::string>(bad));
  EXPECT_NE(std::get<std::string>(bad).find("INBOXD_LOG_FORMAT"), std::string::npos);
  EXPECT_TRUE(std::holds_alternative<std::string>(load({"--access-log=some"})));
  EXPECT_TRUE(std::holds_alternative<std::string>(load({"--api-rate=-1"})));
  EXPECT_TRUE(std::holds_alternative<std::string>(load({"--api-rate=ten"})));
}
