#include <string>

#include <gtest/gtest.h>

#include "whatsapp/webhook_decoder.hpp"

using namespace inboxd;
using nlohmann::json;

namespace {

bool parses(const std::string& body, std::string* error = nullptr) {
  json out;
  std::string err;
  bool ok = false;
  EXPECT_NO_THROW(ok = parse_json_bounded(body, out, err));
  if (!ok) {
    EXPECT_FALSE(err.empty());
  }
  if (error)
    *error = err;
  return ok;
}

std::string nested(int depth, char open = '[', char close = ']') {
  return std::string(depth, open) + std::string(depth, close);
}

} // namespace

TEST(ParseJsonBounded, AcceptsOrdinaryJson) {
  json out;
  std::string err;
  ASSERT_TRUE(parse_json_bounded(R"({"a":[1,{"b":"[[[{{{"}],"c":"\"]"})", out, err)) << err;
  EXPECT_EQ(out["a"][1]["b"], "[[[{{{");
  EXPECT_TRUE(parses("[]"));
  EXPECT_TRUE(parses("\"string\""));
  EXPECT_TRUE(parses("{\"t\":\"\xC3\xA1\xF0\x9F\x98\xAE\"}")); // valid multi-byte UTF-8
}

TEST(ParseJsonBounded, DepthLimit) {
  EXPECT_TRUE(parses(nested(kMaxJsonDepth)));
  std::string err;
  EXPECT_FALSE(parses(nested(kMaxJsonDepth + 1), &err));
  EXPECT_NE(err.find("deeper"), std::string::npos) << err;
  EXPECT_FALSE(parses(nested(10000)));
  EXPECT_FALSE(parses(nested(10000, '{', '}')));
  EXPECT_FALSE(parses(std::string(100000, '['))); // unterminated, no stack blow-up
  EXPECT_FALSE(parses(std::string(1000000, '{')));
  std::string mixed;
  for (int i = 0; i < 5000; ++i)
    mixed += "{\"a\":[";
  EXPECT_FALSE(parses(mixed));
  // Brackets inside strings do not count, escaped quotes do not end the string.
  EXPECT_TRUE(parses("[\"" + std::string(10000, '[') + "\\\"" + std::string(10000, '{') + "\"]"));
}

TEST(ParseJsonBounded, RejectsInvalidUtf8AndSyntax) {
  EXPECT_FALSE(parses("{\"a\":\"\xFF\"}"));
  EXPECT_FALSE(parses("{\"a\":\"\xC3\"}"));         // truncated sequence
  EXPECT_FALSE(parses("{\"a\":\"\xC0\xAF\"}"));     // overlong
  EXPECT_FALSE(parses("{\"a\":\"\xED\xA0\x80\"}")); // UTF-16 surrogate
  EXPECT_FALSE(parses("{\"\xFE\":1}"));
  EXPECT_FALSE(parses("\xEF\xBB"));
  EXPECT_FALSE(parses(""));
  EXPECT_FALSE(parses("{"));
  EXPECT_FALSE(parses("{} x"));
  EXPECT_FALSE(parses("{\"a\":1,}"));
  EXPECT_FALSE(parses("/* c */ {}"));
  EXPECT_FALSE(parses(std::string("{\"a\":\"\0\"}", 9)));
}

TEST(ParseJsonBounded, NonObjectsParseButDoNotDecode) {
  for (const char* body :
       {"[]", "\"s\"", "5", "null", "[{\"object\":\"whatsapp_business_account\"}]"}) {
    SCOPED_TRACE(body);
    json out;
    std::string err;
    ASSERT_TRUE(parse_json_bounded(body, out, err)) << err;
    EXPECT_FALSE(decode_meta(out).ok);
    EXPECT_FALSE(decode_kapso(out, "whatsapp.message.received").ok);
    EXPECT_TRUE(phone_number_ids_of(out).empty());
  }
}
