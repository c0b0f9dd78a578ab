#include "http/jwt.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "messages/crypto.hpp"

using namespace inboxd;

namespace {

constexpr int64_t now = 1'800'000'000;

std::string sign(const nlohmann::json& header, const nlohmann::json& payload,
                 const std::string& secret = "s3cret") {
  auto head = base64url_encode(header.dump()) + "." + base64url_encode(payload.dump());
  return head + "." + base64url_encode(hmac_sha256_raw(secret, head));
}

nlohmann::json hs256() {
  return {{"alg", "HS256"}, {"typ", "JWT"}};
}

} // namespace

TEST(jwt, valid_token) {
  auto r = verify_jwt_hs256(sign(hs256(), {{"sub", "user-1"}, {"exp", now + 60}}), "s3cret", now);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.claims.sub, "user-1");
}

TEST(jwt, rejections) {
  auto check = [](const std::string& token, const char* why) {
    auto r = verify_jwt_hs256(token, "s3cret", now);
    EXPECT_FALSE(r.ok) << why;
  };
  check(sign(hs256(), {{"sub", "u"}, {"exp", now - 1}}), "expired");
  check(sign(hs256(), {{"sub", "u"}, {"exp", now + 60}, {"nbf", now + 30}}), "not yet valid");
  check(sign(hs256(), {{"sub", "u"}, {"exp", now + 60}}, "other"), "wrong secret");
  check(sign({{"alg", "HS512"}}, {{"sub", "u"}, {"exp", now + 60}}), "HS512");
  check(sign({{"alg", "none"}}, {{"sub", "u"}, {"exp", now + 60}}), "none");
  auto unsigned_token = base64url_encode(R"({"alg":"none"})") + "." +
                        base64url_encode(R"({"sub":"u","exp":9999999999})") + ".";
  check(unsigned_token, "none, empty signature");
  check(sign(hs256(), {{"exp", now + 60}}), "missing sub");
  check(sign(hs256(), {{"sub", "u"}}), "missing exp");
  check(sign(hs256(), {{"sub", "u"}, {"exp", "soon"}}), "exp not a number");
  check("abc.def", "two segments");
  check("a.b.c.d", "four segments");
  check("!!!.???.***", "bad base64");
  check(base64url_encode("not json") + "." + base64url_encode("{}") + ".AAAA", "non-JSON header");
  check(std::string(9000, 'a'), "too long");
  check("", "empty");
  EXPECT_FALSE(verify_jwt_hs256(sign(hs256(), {{"sub", "u"}, {"exp", now + 60}}), "", now).ok);
}

TEST(jwt, nbf_in_the_past_is_fine) {
  EXPECT_TRUE(
    verify_jwt_hs256(sign(hs256(), {{"sub", "u"}, {"exp", now + 60}, {"nbf", now - 5}}), "s3cret", now)
      .ok);
}

TEST(base64url, roundtrip) {
  for (std::string s : std::vector<std::string>{"", "f", "fo", "foo", "foob", "fooba", "foobar", std::string("\0\xff", 2)}) {
    std::string back;
    ASSERT_TRUE(base64url_decode(base64url_encode(s), back));
    EXPECT_EQ(back, s);
  }
  std::string out;
  EXPECT_FALSE(base64url_decode("a", out));
  EXPECT_FALSE(base64url_decode("ab+/", out));
}
