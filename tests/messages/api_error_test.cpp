// Unit tests: the API's error codes, their HTTP statuses (API.md "Errors") and the error body.

#include "messages/api_error.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "messages/http_exchange.hpp"

namespace inboxd {
namespace {

TEST(api_error, every_code_has_the_status_api_md_gives_it) {
  struct row {
    api_error code;
    const char* name;
    int status;
  };
  const row table[] = {
      {api_error::bad_request, "bad_request", 400},
      {api_error::unauthorized, "unauthorized", 401},
      {api_error::forbidden, "forbidden", 403},
      {api_error::not_found, "not_found", 404},
      {api_error::method_not_allowed, "method_not_allowed", 405},
      {api_error::conflict, "conflict", 409},
      {api_error::payload_too_large, "payload_too_large", 413},
      {api_error::unsupported_media_type, "unsupported_media_type", 415},
      {api_error::unprocessable, "unprocessable", 422},
      {api_error::window_closed, "window_closed", 422},
      {api_error::opted_out, "opted_out", 422},
      {api_error::rate_limited, "rate_limited", 429},
      {api_error::unavailable, "unavailable", 503},
      {api_error::internal, "internal", 500},
  };
  for (auto& r : table) {
    EXPECT_EQ(http_status(r.code), r.status) << r.name;
    EXPECT_EQ(to_string(r.code), r.name);
  }
}

TEST(api_error, the_body_names_the_code_and_retryable_ones_say_when) {
  auto res = make_error(api_error::unavailable, "storage unavailable");
  EXPECT_EQ(res.status, 503);
  auto body = nlohmann::json::parse(res.body);
  EXPECT_EQ(body["error"]["code"], "unavailable");
  EXPECT_EQ(body["error"]["message"], "storage unavailable");
  ASSERT_EQ(res.headers.size(), 1u);
  EXPECT_EQ(res.headers[0].first, "Retry-After");
  EXPECT_TRUE(make_error(api_error::not_found, "x").headers.empty());
  EXPECT_EQ(make_error(api_error::rate_limited, "x").headers.size(), 1u);
}

} // namespace
} // namespace inboxd
