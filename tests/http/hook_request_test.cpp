// Unit tests: http/hook_request (POST /api/webhooks validation) and public_host.

#include "http/hook_request.hpp"

#include <gtest/gtest.h>

#include "http/https_client.hpp"

namespace inboxd {
namespace {

using json = nlohmann::json;

struct outcome {
  bool ok = false;
  api_error code{};
  std::string message;
  json out;
};

outcome parse(const json& body, bool allow_private = false) {
  outcome o;
  o.ok = parse_hook_request(body, allow_private, o.out, o.code, o.message);
  return o;
}

TEST(HookRequest, AValidBodyIsKeptWithDistinctEvents) {
  auto o = parse({{"url", "https://crm.example.com/in?x=1"},
                  {"events", {"message.created", "conversation.updated", "message.created"}},
                  {"description", "CRM"}});
  ASSERT_TRUE(o.ok) << o.message;
  EXPECT_EQ(o.out["url"], "https://crm.example.com/in?x=1");
  EXPECT_EQ(o.out["events"], json({"message.created", "conversation.updated"}));
  EXPECT_EQ(o.out["description"], "CRM");
  EXPECT_FALSE(parse({{"url", "http://crm.example.com"}, {"events", {"message.updated"}}})
                   .out.contains("description"));
}

TEST(HookRequest, WrongTypesAre400AndInvalidValues422) {
  auto code = [](const json& body) {
    auto o = parse(body);
    EXPECT_FALSE(o.ok);
    EXPECT_FALSE(o.message.empty());
    return o.code;
  };
  json ev = {"message.created"};
  EXPECT_EQ(code({{"events", ev}}), api_error::bad_request);
  EXPECT_EQ(code({{"url", 5}, {"events", ev}}), api_error::bad_request);
  EXPECT_EQ(code({{"url", "https://a.example"}}), api_error::bad_request);
  EXPECT_EQ(code({{"url", "https://a.example"}, {"events", "message.created"}}),
            api_error::bad_request);
  EXPECT_EQ(code({{"url", "https://a.example"}, {"events", {1}}}), api_error::bad_request);
  EXPECT_EQ(code({{"url", "https://a.example"}, {"events", ev}, {"description", 1}}),
            api_error::bad_request);
  EXPECT_EQ(code({{"url", "ftp://a.example"}, {"events", ev}}), api_error::unprocessable);
  EXPECT_EQ(code({{"url", "/relative"}, {"events", ev}}), api_error::unprocessable);
  EXPECT_EQ(code({{"url", "https://a.example/" + std::string(2100, 'x')}, {"events", ev}}),
            api_error::unprocessable);
  EXPECT_EQ(code({{"url", "https://a.example"}, {"events", json::array()}}),
            api_error::unprocessable);
  EXPECT_EQ(code({{"url", "https://a.example"}, {"events", {"message.deleted"}}}),
            api_error::unprocessable);
  EXPECT_EQ(
      code({{"url", "https://a.example"}, {"events", ev}, {"description", std::string(300, 'd')}}),
      api_error::unprocessable);
}

TEST(HookRequest, PrivateTargetsNeedTheSetting) {
  json ev = {"message.created"};
  for (auto url : {"http://127.0.0.1:8080/h", "http://localhost/h", "http://10.1.2.3/h",
                   "http://192.168.1.1/h", "http://172.16.0.1/h", "http://169.254.169.254/latest",
                   "http://[::1]/h", "http://[fd00::1]/h", "http://[::ffff:127.0.0.1]/h",
                   "http://0.0.0.0/h", "http://api.localhost/h"}) {
    auto o = parse({{"url", url}, {"events", ev}});
    EXPECT_FALSE(o.ok) << url;
    EXPECT_EQ(o.code, api_error::unprocessable) << url;
    EXPECT_TRUE(parse({{"url", url}, {"events", ev}}, true).ok) << url;
  }
  EXPECT_TRUE(public_host("8.8.8.8"));
  EXPECT_TRUE(public_host("2606:4700::1111"));
  EXPECT_TRUE(public_host("crm.example.com"));
  EXPECT_FALSE(public_host("LOCALHOST."));
  EXPECT_FALSE(public_host("100.64.0.1"));
}

} // namespace
} // namespace inboxd
