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
