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
      {{"conversationId", "cv_1"}, {"text", "hi"}, {"clientMessageId", "c"}, {"replyTo", "msg_1"}},
      out, code, message));
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
  EXPECT_EQ(error_of({{"conversationId", "cv"}, {"text", "x"}, {"clientMessageId", 3}}),
            "bad_request");
  EXPECT_EQ(error_of({{"conversationId", "cv"}, {"type", "template"}}), "bad_request");
  EXPECT_EQ(
      error_of({{"conversationId", "cv"}, {"type", "template"}, {"template", {{"name", "t"}}}}),
      "bad_request");
  EXPECT_EQ(error_of({{"conversationId", "cv"}, {"type", "image"}, {"image", {{"caption", "c"}}}}),
            "bad_request");
}

TEST(send_request, invalid_values_are_422) {
  EXPECT_EQ(error_of({{"conversationId", "cv"}, {"type", "location"}}), "unprocessable");
  EXPECT_EQ(error_of({{"conversationId", "cv"}, {"text", ""}}), "unprocessable");
  EXPECT_EQ(error_of({{"conversationId", "cv"}, {"text", std::string(4097, 'a')}}),
            "unprocessable");
  EXPECT_EQ(error_of({{"conversationId", "cv"}, {"text", std::string(4096, 'a')}}), "ok");
  EXPECT_EQ(
      error_of({{"conversationId", "cv"}, {"type", "image"}, {"image", {{"link", "ftp://x"}}}}),
      "unprocessable");
  EXPECT_EQ(
      error_of(
          {{"conversationId", "cv"}, {"text", "x"}, {"clientMessageId", std::string(129, 'c')}}),
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
  ASSERT_TRUE(parse_send_request(
      {{"conversationId", "cv"},
       {"type", "document"},
       {"document", {{"link", "https://a/b.pdf"}, {"caption", "c"}, {"filename", "b.pdf"}}}},
      out, code, message));
  EXPECT_EQ(out.draft["media"]["filename"], "b.pdf");
  EXPECT_EQ(out.draft["text"], "c");
}

const char* const kMediaTypes[] = {"image", "video", "audio", "document", "sticker"};

json media_send(const std::string& type, json media) {
  return {{"conversationId", "cv"}, {"type", type}, {type, std::move(media)}};
}

// What parse_send_request stores, or the failure's code and message.
struct parsed {
  bool ok = false;
  json draft;
  std::string code, message;
};

parsed parse(const json& body) {
  send_request out;
  api_error code{};
  parsed p;
  p.ok = parse_send_request(body, out, code, p.message);
  if (p.ok)
    p.draft = out.draft;
  else
    p.code = to_string(code);
  return p;
}

TEST(send_request, every_media_type_is_sent_by_link_or_by_id) {
  for (std::string type : kMediaTypes) {
    auto by_link = parse(media_send(type, {{"link", "https://a/b"}}));
    ASSERT_TRUE(by_link.ok) << type << ": " << by_link.message;
    EXPECT_EQ(by_link.draft["type"], type);
    EXPECT_EQ(by_link.draft["media"], json({{"link", "https://a/b"}})) << type;
    auto by_id = parse(media_send(type, {{"id", "1234567890.ab-C_d"}}));
    ASSERT_TRUE(by_id.ok) << type << ": " << by_id.message;
    EXPECT_EQ(by_id.draft["type"], type);
    EXPECT_EQ(by_id.draft["media"], json({{"id", "1234567890.ab-C_d"}})) << type;
    EXPECT_FALSE(by_id.draft.contains("text")) << type << ": no caption, no text";
  }
}

TEST(send_request, media_takes_exactly_one_of_link_and_id) {
  for (std::string type : kMediaTypes) {
    auto both = parse(media_send(type, {{"link", "https://a/b"}, {"id", "123"}}));
    EXPECT_FALSE(both.ok) << type;
    EXPECT_EQ(both.code, "bad_request") << type;
    EXPECT_NE(both.message.find("exactly one of link and id"), std::string::npos) << both.message;
    auto neither = parse(media_send(type, json::object()));
    EXPECT_FALSE(neither.ok) << type;
    EXPECT_EQ(neither.code, "bad_request") << type;
    EXPECT_NE(neither.message.find(type + ".link or " + type + ".id is required"),
              std::string::npos)
        << neither.message;
    // null is absent: one given and the other null is fine; both null is neither.
    EXPECT_TRUE(parse(media_send(type, {{"link", nullptr}, {"id", "123"}})).ok) << type;
    EXPECT_EQ(parse(media_send(type, {{"link", nullptr}, {"id", nullptr}})).code, "bad_request");
    EXPECT_EQ(parse({{"conversationId", "cv"}, {"type", type}}).code, "bad_request") << type;
    EXPECT_EQ(parse(media_send(type, "https://a/b")).code, "bad_request") << type;
  }
}

TEST(send_request, media_ids_and_links_are_checked) {
  for (std::string type : kMediaTypes) {
    for (std::string bad :
         {std::string(), std::string("a b"), std::string("a/b"), std::string("../x"),
          std::string("id?x=1"), std::string("é"), std::string(129, '1')}) {
      auto p = parse(media_send(type, {{"id", bad}}));
      EXPECT_EQ(p.code, "unprocessable") << type << " id '" << bad << "'";
    }
    EXPECT_TRUE(parse(media_send(type, {{"id", std::string(128, '1')}})).ok) << type;
    EXPECT_EQ(parse(media_send(type, {{"id", 123}})).code, "bad_request") << type;
    EXPECT_EQ(parse(media_send(type, {{"link", "ftp://a/b"}})).code, "unprocessable") << type;
    EXPECT_EQ(parse(media_send(type, {{"link", ""}})).code, "unprocessable") << type;
    EXPECT_EQ(parse(media_send(type, {{"link", "https://"}})).code, "unprocessable") << type;
    EXPECT_EQ(parse(media_send(type, {{"link", json::array()}})).code, "bad_request") << type;
    auto longest = "https://a/" + std::string(2048 - 10, 'x');
    EXPECT_TRUE(parse(media_send(type, {{"link", longest}})).ok) << type;
    EXPECT_EQ(parse(media_send(type, {{"link", longest + "x"}})).code, "unprocessable") << type;
  }
}

TEST(send_request, captions_only_on_image_video_and_document) {
  for (std::string type : {"image", "video", "document"}) {
    auto p = parse(media_send(type, {{"id", "123"}, {"caption", "look"}}));
    ASSERT_TRUE(p.ok) << type << ": " << p.message;
    EXPECT_EQ(p.draft["media"], json({{"id", "123"}, {"caption", "look"}})) << type;
    EXPECT_EQ(p.draft["text"], "look") << type;
    EXPECT_TRUE(parse(media_send(type, {{"id", "1"}, {"caption", std::string(1024, 'c')}})).ok);
    EXPECT_EQ(parse(media_send(type, {{"id", "1"}, {"caption", std::string(1025, 'c')}})).code,
              "unprocessable")
        << type;
    EXPECT_EQ(parse(media_send(type, {{"id", "1"}, {"caption", 5}})).code, "bad_request") << type;
  }
  for (std::string type : {"audio", "sticker"}) {
    auto p = parse(media_send(type, {{"id", "123"}, {"caption", "look"}}));
    EXPECT_EQ(p.code, "unprocessable") << type;
    EXPECT_NE(p.message.find("caption"), std::string::npos) << p.message;
    EXPECT_EQ(parse(media_send(type, {{"link", "https://a/b"}, {"caption", ""}})).code,
              "unprocessable")
        << type;
    EXPECT_TRUE(parse(media_send(type, {{"id", "123"}, {"caption", nullptr}})).ok) << type;
  }
}

TEST(send_request, filenames_only_on_documents) {
  auto doc = parse(media_send("document", {{"id", "123"}, {"filename", "b.pdf"}}));
  ASSERT_TRUE(doc.ok) << doc.message;
  EXPECT_EQ(doc.draft["media"], json({{"id", "123"}, {"filename", "b.pdf"}}));
  EXPECT_FALSE(doc.draft.contains("text"));
  EXPECT_TRUE(parse(media_send("document", {{"id", "1"}, {"filename", std::string(240, 'f')}})).ok);
  EXPECT_EQ(parse(media_send("document", {{"id", "1"}, {"filename", std::string(241, 'f')}})).code,
            "unprocessable");
  for (std::string type : {"image", "video", "audio", "sticker"}) {
    auto p = parse(media_send(type, {{"link", "https://a/b"}, {"filename", "b.pdf"}}));
    EXPECT_EQ(p.code, "unprocessable") << type;
    EXPECT_NE(p.message.find("filename"), std::string::npos) << p.message;
  }
}

TEST(send_request, unknown_types_name_every_type) {
  auto p = parse({{"conversationId", "cv"}, {"type", "location"}});
  EXPECT_EQ(p.code, "unprocessable");
  EXPECT_EQ(p.message, "type must be text, template, image, video, audio, document or sticker");
}

} // namespace
} // namespace inboxd
