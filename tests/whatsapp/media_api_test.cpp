// Unit tests: the Cloud API media download's requests (lookup and download, with credentials only
// where they belong) and what each answer means for the download queue.

#include <gtest/gtest.h>

#include "whatsapp/media_api.hpp"

namespace inboxd {
namespace {

using json = nlohmann::json;
using k = media_step::kind;

outbound_response answer(int status, const std::string& body) {
  outbound_response r;
  r.status = status;
  r.body = body;
  return r;
}

std::string header(const outbound_request& r, const std::string& name) {
  for (auto& [k, v] : r.headers)
    if (k == name)
      return v;
  return "";
}

const send_settings meta{"https://graph.facebook.com/", "", "tok", "v24.0"};
const send_settings kapso{"https://api.kapso.ai", "key", "", "v24.0"};

TEST(media_api, media_ids_and_urls_are_checked_before_they_reach_a_request) {
  EXPECT_TRUE(valid_media_id("1234567890987654321"));
  EXPECT_TRUE(valid_media_id("abc_DEF-1.2"));
  EXPECT_FALSE(valid_media_id(""));
  EXPECT_FALSE(valid_media_id("../messages"));
  EXPECT_FALSE(valid_media_id("12 34"));
  EXPECT_FALSE(valid_media_id(std::string(129, '1')));
  EXPECT_TRUE(valid_media_url("https://lookaside.fbsbx.com/x?mid=1"));
  EXPECT_TRUE(valid_media_url("http://127.0.0.1:9/files/1"));
  EXPECT_FALSE(valid_media_url("ftp://host/file"));
  EXPECT_FALSE(valid_media_url("https://host/a b"));
  EXPECT_FALSE(valid_media_url("https://host/\n"));
  EXPECT_FALSE(valid_media_url("https://host/" + std::string(4096, 'a')));
}

TEST(media_api, lookup_goes_to_the_graph_path_with_the_workspace_credentials) {
  auto m = media_lookup_request(meta, "42", 3000);
  EXPECT_EQ(m.method, "GET");
  EXPECT_EQ(m.url, "https://graph.facebook.com/v24.0/42");
  EXPECT_EQ(header(m, "Authorization"), "Bearer tok");
  EXPECT_EQ(m.timeout_ms, 3000);
  EXPECT_TRUE(m.body.empty());
  auto k2 = media_lookup_request(kapso, "42", 3000);
  EXPECT_EQ(k2.url, "https://api.kapso.ai/meta/whatsapp/v24.0/42");
  EXPECT_EQ(header(k2, "X-API-Key"), "key");
  EXPECT_EQ(header(k2, "Authorization"), "");
}

TEST(media_api, download_sends_credentials_only_to_meta_or_the_configured_api) {
  auto r = media_download_request(meta, "https://lookaside.fbsbx.com/whatsapp_business/x", "/tmp/f",
                                  100, 9000);
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.body_file, "/tmp/f");
  EXPECT_EQ(r.max_body, 100u);
  EXPECT_EQ(header(r, "Authorization"), "Bearer tok");
  EXPECT_EQ(header(media_download_request(meta, "https://graph.facebook.com/v1/x", "f", 1, 1),
                   "Authorization"),
            "Bearer tok");
  // Someone else's host, or one that only looks like Meta's: no token.
  for (auto url : {"https://media.example.com/x.jpg", "https://evilfbsbx.com/x",
                   "https://lookaside.fbsbx.com.evil.net/x", "http://lookaside.fbsbx.com/x"})
    EXPECT_EQ(header(media_download_request(meta, url, "f", 1, 1), "Authorization"), "") << url;
  // Kapso: its key only to its own API; its stored media links without credentials.
  EXPECT_EQ(
      header(media_download_request(kapso, "https://api.kapso.ai/media/1", "f", 1, 1), "X-API-Key"),
      "key");
  auto link = media_download_request(kapso, "https://media.kapso.ai/1.jpg", "f", 1, 1);
  EXPECT_EQ(header(link, "X-API-Key"), "");
  EXPECT_EQ(header(link, "Authorization"), "");
  EXPECT_EQ(
      header(media_download_request(kapso, "https://api.kapso.ai.evil/1", "f", 1, 1), "X-API-Key"),
      "");
}

TEST(media_api, a_lookup_with_a_url_is_ok_and_one_over_the_cap_fails) {
  auto ok = classify_media_lookup(
      answer(200, R"({"url":"https://lookaside.fbsbx.com/x","mime_type":"image/jpeg",)"
                  R"("file_size":"303833","id":"1"})"),
      1000000);
  ASSERT_EQ(ok.what, k::ok) << ok.why;
  EXPECT_EQ(ok.url, "https://lookaside.fbsbx.com/x");
  EXPECT_EQ(ok.mime_type, "image/jpeg");
  EXPECT_EQ(ok.size, 303833u);
  auto numeric = classify_media_lookup(
      answer(200, R"({"url":"https://lookaside.fbsbx.com/x","file_size":5})"), 1000000);
  EXPECT_EQ(numeric.size, 5u);
  auto big = classify_media_lookup(
      answer(200, R"({"url":"https://lookaside.fbsbx.com/x","file_size":"1000001"})"), 1000000);
  EXPECT_EQ(big.what, k::failed);
  EXPECT_NE(big.why.find("too large"), std::string::npos);
}

TEST(media_api, every_other_lookup_answer_is_retried) {
  outbound_response timeout;
  timeout.transport_error = "timeout";
  for (auto& r : {answer(500, R"({"error":{"code":2,"message":"down"}})"),
                  answer(404, R"({"error":{"code":100,"message":"Unsupported get request"}})"),
                  answer(401, R"({"error":{"code":190,"message":"token expired"}})"),
                  answer(429, ""), answer(200, "not json"), answer(200, R"({"id":"1"})"),
                  answer(200, R"x({"url":"javascript:alert(1)"})x"), timeout}) {
    auto s = classify_media_lookup(r, 1000);
    EXPECT_EQ(s.what, k::retry) << r.status << " " << r.body;
    EXPECT_FALSE(s.why.empty());
  }
  auto s = classify_media_lookup(answer(401, R"({"error":{"code":190,"message":"token"}})"), 1);
  EXPECT_NE(s.why.find("190"), std::string::npos) << s.why;
}

TEST(media_api, a_download_is_stored_retried_or_failed_for_size) {
  auto done = answer(200, "");
  done.body_size = 12;
  done.body_sha256 = std::string(64, 'a');
  done.content_type = "image/png";
  auto ok = classify_media_download(done);
  ASSERT_EQ(ok.what, k::ok);
  EXPECT_EQ(ok.size, 12u);
  EXPECT_EQ(ok.sha256, std::string(64, 'a'));
  EXPECT_EQ(ok.mime_type, "image/png");
  EXPECT_EQ(classify_media_download(answer(404, "URL signature expired")).what, k::retry);
  EXPECT_EQ(classify_media_download(answer(503, "")).what, k::retry);
  outbound_response reset;
  reset.transport_error = "read failed: connection reset";
  EXPECT_EQ(classify_media_download(reset).what, k::retry);
  outbound_response big;
  big.transport_error = "response body larger than 100 bytes";
  EXPECT_EQ(classify_media_download(big).what, k::failed);
}

TEST(media_api, media_type_of_reads_type_and_subtype_only) {
  EXPECT_EQ(media_type_of("image/jpeg"), "image/jpeg");
  EXPECT_EQ(media_type_of(" Image/PNG ; charset=binary"), "image/png");
  EXPECT_EQ(
      media_type_of("application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
      "application/vnd.openxmlformats-officedocument.wordprocessingml.document");
  EXPECT_EQ(media_type_of(""), "");
  EXPECT_EQ(media_type_of("image"), "");
  EXPECT_EQ(media_type_of("/jpeg"), "");
  EXPECT_EQ(media_type_of("image/"), "");
  EXPECT_EQ(media_type_of("image/jp eg"), "");
  EXPECT_EQ(media_type_of("image/jpeg\r\nX-Evil: 1"), "");
  EXPECT_EQ(media_type_of("image/" + std::string(200, 'a')), "");
}

TEST(media_api, upload_is_multipart_around_the_file_with_the_workspace_credentials) {
  auto r = media_upload_request(meta, "1065", "/tmp/spooled", "image/png", 9000);
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.url, "https://graph.facebook.com/v24.0/1065/media");
  EXPECT_EQ(header(r, "Authorization"), "Bearer tok");
  EXPECT_EQ(r.timeout_ms, 9000);
  EXPECT_EQ(r.upload_file, "/tmp/spooled");
  auto ct = header(r, "Content-Type");
  ASSERT_EQ(ct.rfind("multipart/form-data; boundary=inboxd-", 0), 0u) << ct;
  auto boundary = ct.substr(ct.find('=') + 1);
  EXPECT_EQ(boundary.size(), 7u + 32u);
  EXPECT_EQ(r.body, "--" + boundary +
                        "\r\nContent-Disposition: form-data; name=\"messaging_product\"\r\n\r\n"
                        "whatsapp\r\n--" +
                        boundary +
                        "\r\nContent-Disposition: form-data; name=\"type\"\r\n\r\nimage/png\r\n--" +
                        boundary +
                        "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"upload\"\r\n"
                        "Content-Type: image/png\r\n\r\n");
  EXPECT_EQ(r.body_tail, "\r\n--" + boundary + "--\r\n");
  auto again = media_upload_request(meta, "1065", "/tmp/spooled", "image/png", 9000);
  EXPECT_NE(header(again, "Content-Type"), ct); // a fresh boundary each time
  auto k2 = media_upload_request(kapso, "1065", "/tmp/f", "audio/ogg", 9000);
  EXPECT_EQ(k2.url, "https://api.kapso.ai/meta/whatsapp/v24.0/1065/media");
  EXPECT_EQ(header(k2, "X-API-Key"), "key");
}

TEST(media_api, an_upload_answer_is_a_media_id_a_refusal_or_worth_a_retry) {
  using u = upload_outcome::kind;
  auto ok = classify_media_upload(answer(200, R"({"id":"1166846181421424"})"));
  EXPECT_EQ(ok.what, u::ok);
  EXPECT_EQ(ok.media_id, "1166846181421424");
  EXPECT_EQ(classify_media_upload(answer(200, R"({"id":"../x"})")).what, u::refused);
  EXPECT_EQ(classify_media_upload(answer(200, "not json")).what, u::refused);
  auto bad = classify_media_upload(
      answer(400, R"({"error":{"code":131053,"message":"Media upload error"}})"));
  EXPECT_EQ(bad.what, u::refused);
  EXPECT_NE(bad.why.find("131053"), std::string::npos) << bad.why;
  EXPECT_EQ(classify_media_upload(answer(401, R"({"error":{"code":190}})")).what, u::refused);
  EXPECT_EQ(classify_media_upload(answer(503, "")).what, u::retry);
  EXPECT_EQ(classify_media_upload(answer(429, "")).what, u::retry);
  EXPECT_EQ(classify_media_upload(answer(400, R"({"error":{"code":80007}})")).what, u::retry);
  outbound_response reset;
  reset.transport_error = "read failed: connection reset";
  EXPECT_EQ(classify_media_upload(reset).what, u::retry);
  outbound_response tls;
  tls.transport_error = "certificate verify failed";
  tls.tls_verify_failed = true;
  EXPECT_EQ(classify_media_upload(tls).what, u::refused);
}

} // namespace
} // namespace inboxd
