// Unit tests: the Cloud API wire request (Meta and Kapso) and the error policy.

#include <gtest/gtest.h>

#include "whatsapp/cloud_api.hpp"

namespace inboxd {
namespace {

using json = nlohmann::json;
using k = send_outcome::kind;

outbound_response answer(int status, const std::string& body) {
  outbound_response r;
  r.status = status;
  r.body = body;
  return r;
}

std::string meta_error(int code, const std::string& message = "m") {
  return json{{"error", {{"code", code}, {"message", message}, {"type", "OAuthException"}}}}.dump();
}

TEST(cloud_api, meta_request_uses_the_graph_path_and_a_bearer_token) {
  send_settings s{"https://graph.facebook.com/", "", "tok", "v24.0"};
  auto req = cloud_api_request(s, "123", json{{"a", 1}}, 5000);
  EXPECT_EQ(req.url, "https://graph.facebook.com/v24.0/123/messages");
  EXPECT_EQ(req.body, R"({"a":1})");
  EXPECT_EQ(req.timeout_ms, 5000);
  bool bearer = false;
  for (auto& [k, v] : req.headers) {
    bearer = bearer || (k == "Authorization" && v == "Bearer tok");
    EXPECT_NE(k, "X-API-Key");
  }
  EXPECT_TRUE(bearer);
}

TEST(cloud_api, kapso_request_uses_the_proxy_path_and_an_api_key) {
  send_settings s{"https://api.kapso.ai", "key", "", ""};
  auto req = cloud_api_request(s, "123", json::object(), 5000);
  EXPECT_EQ(req.url, "https://api.kapso.ai/meta/whatsapp/v24.0/123/messages");
  bool key = false;
  for (auto& [k, v] : req.headers) {
    key = key || (k == "X-API-Key" && v == "key");
    EXPECT_NE(k, "Authorization");
  }
  EXPECT_TRUE(key);
}

TEST(cloud_api, payloads_carry_type_content_context_and_callback_data) {
  auto text = message_payload({{"type", "text"}, {"text", "hi"}}, "55", "wamid.x", "msg_1");
  EXPECT_EQ(text["to"], "55");
  EXPECT_EQ(text["text"]["body"], "hi");
  EXPECT_EQ(text["context"]["message_id"], "wamid.x");
  EXPECT_EQ(text["biz_opaque_callback_data"], "msg_1");
  auto img = message_payload(
      {{"type", "image"}, {"media", {{"link", "https://a/b.png"}, {"filename", "f"}}}}, "55", "",
      "");
  EXPECT_EQ(img["image"]["link"], "https://a/b.png");
  EXPECT_FALSE(img["image"].contains("filename")) << "images have no filename";
  EXPECT_FALSE(img.contains("context"));
  auto tpl = message_payload({{"type", "template"}, {"template", {{"name", "t"}}}}, "55", "", "");
  EXPECT_EQ(tpl["template"]["name"], "t");
  auto rr = read_receipt_payload("wamid.y");
  EXPECT_EQ(rr["status"], "read");
  EXPECT_EQ(rr["message_id"], "wamid.y");
  EXPECT_FALSE(rr.contains("typing_indicator"));
  auto typing = read_receipt_payload("wamid.y", true);
  EXPECT_EQ(typing["status"], "read");
  EXPECT_EQ(typing["typing_indicator"]["type"], "text");
}

json media_message(const std::string& type, json media) {
  return {{"type", type}, {"media", std::move(media)}, {"text", "ignored for media"}};
}

TEST(cloud_api, every_media_type_goes_by_id_or_by_link) {
  for (std::string type : {"image", "video", "audio", "document", "sticker"}) {
    auto by_id = message_payload(media_message(type, {{"id", "123.abc"}}), "55", "", "");
    EXPECT_EQ(by_id["type"], type);
    EXPECT_EQ(by_id[type], json({{"id", "123.abc"}})) << type;
    auto by_link = message_payload(media_message(type, {{"link", "https://a/b"}}), "55", "", "");
    EXPECT_EQ(by_link["type"], type);
    EXPECT_EQ(by_link[type], json({{"link", "https://a/b"}})) << type;
    EXPECT_FALSE(by_link.contains("text")) << type;
    // Never both: the stored id wins (the Cloud API refuses a media object with both).
    auto both = message_payload(media_message(type, {{"id", "123"}, {"link", "https://a/b"}}), "55",
                                "", "");
    EXPECT_EQ(both[type], json({{"id", "123"}})) << type;
  }
}

TEST(cloud_api, media_captions_and_filenames_only_where_the_cloud_api_takes_them) {
  json full = {{"id", "123"}, {"caption", "look"}, {"filename", "b.pdf"}, {"state", "x"}};
  EXPECT_EQ(message_payload(media_message("document", full), "55", "", "")["document"],
            json({{"id", "123"}, {"caption", "look"}, {"filename", "b.pdf"}}));
  for (std::string type : {"image", "video"})
    EXPECT_EQ(message_payload(media_message(type, full), "55", "", "")[type],
              json({{"id", "123"}, {"caption", "look"}}))
        << type;
  for (std::string type : {"audio", "sticker"})
    EXPECT_EQ(message_payload(media_message(type, full), "55", "", "")[type], json({{"id", "123"}}))
        << type;
}

TEST(cloud_api, success_yields_the_wamid) {
  auto o = classify_send_response(
      answer(200, R"({"messaging_product":"whatsapp","messages":[{"id":"wamid.1"}]})"), false);
  EXPECT_EQ(o.what, k::sent);
  EXPECT_EQ(o.wamid, "wamid.1");
  EXPECT_EQ(classify_send_response(answer(200, R"({"success":true})"), true).what, k::sent);
}

TEST(cloud_api, unreadable_success_fails_rather_than_risking_a_duplicate) {
  EXPECT_EQ(classify_send_response(answer(200, "nope"), false).what, k::failed);
  EXPECT_EQ(classify_send_response(answer(200, R"({"messages":[]})"), false).what, k::failed);
}

TEST(cloud_api, never_retried_codes_fail_with_code_and_title) {
  for (int code : {131047, 131049, 131050, 368, 130497, 131031, 0, 190, 100, 131008}) {
    auto o = classify_send_response(answer(400, meta_error(code, "why")), false);
    EXPECT_EQ(o.what, k::failed) << code;
    EXPECT_EQ(o.code, code);
    EXPECT_EQ(o.title, "why");
  }
  // Even behind a 5xx, a never-retry code is not retried.
  EXPECT_EQ(classify_send_response(answer(500, meta_error(131047)), false).what, k::failed);
}

TEST(cloud_api, throttling_server_errors_and_transport_errors_are_retried) {
  for (int code : {4, 80007, 130429, 131048, 131056})
    EXPECT_EQ(classify_send_response(answer(400, meta_error(code)), false).what, k::retry) << code;
  EXPECT_EQ(classify_send_response(answer(429, "{}"), false).what, k::retry);
  EXPECT_EQ(classify_send_response(answer(409, R"({"error":"busy"})"), false).what, k::retry);
  EXPECT_EQ(classify_send_response(answer(502, "<html>"), false).what, k::retry);
  outbound_response timeout;
  timeout.transport_error = "timeout";
  EXPECT_EQ(classify_send_response(timeout, false).what, k::retry);
  outbound_response cert;
  cert.transport_error = "certificate verify failed";
  cert.tls_verify_failed = true;
  EXPECT_EQ(classify_send_response(cert, false).what, k::failed);
}

} // namespace
} // namespace inboxd
