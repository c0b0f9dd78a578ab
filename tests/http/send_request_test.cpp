// Unit tests: validation of POST /api/messages/send bodies.

#include <gtest/gtest.h>

#include "http/send_request.hpp"

namespace inboxd {
namespace {

using json = nlohmann::json;

std::string error_of(const json& body) {
  send_request out;
  api_error code{};
  std::string message;
  if (parse_send_request(body, out, code, message))
    return "ok";
  EXPECT_FALSE(message.empty());
  return std::string(to_string(code));
}

TEST(send_request, text_with_options) {
  send_request out;
  api_error code{};
  std::string message;
  ASSERT_TRUE(parse_send_request(
    {{"conversationId", "cv_1"}, {"text", "hi"}, {"clientMessageId", "c"}, {"replyTo", "msg_1"}}, out,
    code, message));
  EXPECT_EQ(out.conversation_id, "cv_1");
  EXPECT_EQ(out.draft["type"], "text");
  EXPECT_EQ(out.draft["text"], "hi");
  EXPECT_EQ(out.client_message_id, "c");
  EXPECT_EQ(out.reply_to, "msg_1");
}

TEST(send_request, wrong_types_and_missing_fields_are_400) {
  EXPECT_EQ(error_of(json::array()), "bad_request");
  EXPECT_EQ(error_of({{"text", "hi"}}), "bad_request");
  EXPECT_EQ(error_of({{"conversationId", 1}, {"text", "hi"}}), "bad_request");
  EXPECT_EQ(error_of({{"conversationId", "cv"}}), "bad_request");
  EXPECT_EQ(error_of({{"conversationId", "cv"}, {"text", json::array()}}), "bad_request");
  EXPECT_EQ(error_of({{"conversationId", "cv"}, {"text", "x"}, {"clientMessageId", 3}}), "bad_request");
  EXPECT_EQ(error_of({{"conversationId", "cv"}, {"type", "template"}}), "bad_request");
  EXPECT_EQ(error_of({{"conversationId", "cv"}, {"type", "template"}, {"template", {{"name", "t"}}}}),
            "bad_request");
  EXPECT_EQ(error_of({{"conversationId", "cv"}, {"type", "image"}, {"image", {{"caption", "c"}}}}),
            "bad_request");
}

TEST(send_request, invalid_values_are_422) {
  EXPECT_EQ(error_of({{"conversationId", "cv"}, {"type", "sticker"}}), "unprocessable");
  EXPECT_EQ(error_of({{"conversationId", "cv"}, {"text", ""}}), "unprocessable");
  EXPECT_EQ(error_of({{"conversationId", "cv"}, {"text", std::string(4097, 'a')}}), "unprocessable");
  EXPECT_EQ(error_of({{"conversationId", "cv"}, {"text", std::string(4096, 'a')}}), "ok");
  EXPECT_EQ(error_of({{"conversationId", "cv"}, {"type", "image"}, {"image", {{"link", "ftp://x"}}}}),
            "unprocessable");
  EXPECT_EQ(error_of({{"conversationId", "cv"}, {"text", "x"}, {"clientMessageId", std::string(129, 'c')}}),
            "unprocessable");
}

TEST(send_request, template_and_media_are_normalized) {
  send_request out;
  api_error code{};
  std::string message;
  ASSERT_TRUE(parse_send_request({{"conversationId", "cv"},
                                  {"type", "template"},
                                  {"template", {{"name", "t"}, {"language", {{"code", "en_US"}}}}}},
                                 out, code, message));
  EXPECT_EQ(out.draft["template"]["language"]["code"], "en_US");
  ASSERT_TRUE(parse_send_request({{"conversationId", "cv"},
                                  {"type", "document"},
                                  {"document", {{"link", "https://a/b.pdf"}, {"caption", "c"},
                                                {"filename", "b.pdf"}}}},
                                 out, code, message));
  EXPECT_EQ(out.draft["media"]["filename"], "b.pdf");
  EXPECT_EQ(out.draft["text"], "c");
}

} // namespace
} // namespace inboxd
