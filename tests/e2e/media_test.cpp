// End-to-end: inbound media downloaded by the real binary from a local HTTPS fake of the Graph
// API (tests/e2e/media_fixture.hpp) into the media store, and served by
// GET /api/messages/{id}/media with Range and ETag; inboxd is killed mid-queue. The bytes inboxd
// serves must equal the bytes the fake served (SHA-256).

#include <set>

#include "tests/e2e/media_fixture.hpp"
#include "tests/support/sse_client.hpp"

namespace inboxd::test {
namespace {

TEST_F(media_test, every_media_type_is_downloaded_and_served_byte_for_byte) {
  sse_client events(inboxd_->port(), "/api/events", api_headers());
  ASSERT_EQ(events.read_head(), 200);
  struct sample {
    std::string kind, mime;
    size_t size;
  };
  std::vector<sample> samples = {
      {"image", "image/jpeg", 300 * 1024},       {"video", "video/mp4", 1536 * 1024},
      {"document", "application/pdf", 1},        {"audio", "audio/ogg; codecs=opus", 77777},
      {"voice", "audio/ogg; codecs=opus", 4096}, {"static_sticker", "image/webp", 20000}};
  std::map<std::string, std::string> bytes_of; // message id -> bytes
  for (size_t i = 0; i < samples.size(); ++i) {
    auto id = "7700" + std::to_string(i) + std::to_string(now_s());
    auto bytes = random_bytes(samples[i].size, static_cast<uint32_t>(i + 1));
    put_media(id, {bytes, samples[i].mime});
    auto msg = post_media(samples[i].kind, id);
    bytes_of[msg] = bytes;
    // Stored and acknowledged without waiting for the download.
    auto m = message(msg);
    ASSERT_TRUE(m.is_object());
    EXPECT_TRUE(m["media"]["state"] == "pending" || m["media"]["state"] == "stored") << m.dump();
  }
  for (auto& [msg, bytes] : bytes_of) {
    auto r = wait_media(msg);
    ASSERT_EQ(r.status, 200) << msg << ": " << r.body;
    EXPECT_EQ(sha256_hex(r.body), sha256_hex(bytes)) << msg;
    EXPECT_EQ(r.body.size(), bytes.size());
    EXPECT_EQ(r.header("etag"), "\"" + sha256_hex(bytes) + "\"");
    EXPECT_EQ(r.header("accept-ranges"), "bytes");
    auto m = message(msg);
    EXPECT_EQ(m["media"]["state"], "stored") << m.dump();
    EXPECT_EQ(m["media"]["sha256"], sha256_hex(bytes)) << m.dump();
    EXPECT_EQ(m["media"]["size"], bytes.size()) << m.dump();
    EXPECT_EQ(r.header("content-type"), m["media"]["mimeType"].get<std::string>());
  }
  // Every download became a message.updated event, after its message.created.
  std::set<std::string> updated;
  while (updated.size() < bytes_of.size()) {
    auto e = events.next(5s);
    ASSERT_TRUE(e) << "missing message.updated events, got " << updated.size();
    if (e->type == "message.updated") {
      auto j = e->json();
      if (j["message"]["media"].value("state", "") == "stored")
        updated.insert(j["message"]["id"].get<std::string>());
    }
  }
}

TEST_F(media_test, range_and_etag_requests) {
  auto id = "7800" + std::to_string(now_s());
  auto bytes = random_bytes(1024 * 1024 + 17, 42);
  put_media(id, {bytes, "video/mp4"});
  auto msg = post_media("video", id);
  auto whole = wait_media(msg);
  ASSERT_EQ(whole.status, 200) << whole.body;
  auto etag = whole.header("etag");
  auto part = get_media(msg, {{"Range", "bytes=1000-199999"}});
  ASSERT_EQ(part.status, 206) << part.body;
  EXPECT_EQ(part.body, bytes.substr(1000, 199000));
  EXPECT_EQ(part.header("content-range"), "bytes 1000-199999/" + std::to_string(bytes.size()));
  auto tail = get_media(msg, {{"Range", "bytes=-17"}});
  ASSERT_EQ(tail.status, 206);
  EXPECT_EQ(tail.body, bytes.substr(bytes.size() - 17));
  EXPECT_EQ(get_media(msg, {{"If-None-Match", etag}}).status, 304);
  EXPECT_EQ(get_media(msg, {{"Range", "bytes=99999999-"}}).status, 416);
}

TEST_F(media_test, a_failing_lookup_is_retried_and_never_blocks_ingestion) {
  auto id = "7900" + std::to_string(now_s());
  auto bytes = random_bytes(100000, 7);
  fake_media m{bytes, "image/jpeg"};
  m.lookup_failures = 3; // 500s
  m.lookup_stalls = 1;   // then a lookup that never answers (times out)
  m.expired_urls = 1;    // then a URL that expired before the download
  put_media(id, m);
  auto msg = post_media("image", id);
  // Meanwhile webhooks are stored as usual.
  auto text = with_unique_wamids(fixture_case("meta/message.json", "text"));
  text["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = std::to_string(now_s());
  EXPECT_EQ(post_meta(text).status, 200);
  auto r = wait_media(msg, 30s);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(sha256_hex(r.body), sha256_hex(bytes));
  auto seen = media(id);
  EXPECT_GE(seen.lookups, 6) << "3 failures, 1 stall, 1 expired URL, 1 success";
  EXPECT_EQ(seen.downloads, 2);
  EXPECT_TRUE(message(message_id_for_wamid(first_wamid(text))).is_object());
}

TEST_F(media_test, downloads_survive_a_crash_mid_queue) {
  std::map<std::string, std::string> bytes_of;
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    auto id = "8000" + std::to_string(i) + std::to_string(now_s());
    fake_media m{random_bytes(50000 + i, 100 + i), "image/jpeg"};
    m.lookup_stalls = 1000; // every lookup hangs until the crash
    put_media(id, m);
    ids.push_back(id);
    bytes_of[post_media("image", id)] = m.bytes;
  }
  ASSERT_TRUE(fake_.wait_for(5, 10s)) << "the downloads did not start";
  inboxd_->restart(true); // kill -9 with every download in flight
  for (auto& id : ids)
    update(id, [](fake_media& m) { m.lookup_stalls = 0; });
  wait_ready();
  for (auto& [msg, bytes] : bytes_of) {
    auto r = wait_media(msg, 30s);
    ASSERT_EQ(r.status, 200) << msg << ": " << r.body;
    EXPECT_EQ(sha256_hex(r.body), sha256_hex(bytes));
  }
}

TEST_F(media_test, media_over_the_cap_fails_whether_announced_or_not) {
  auto announced = "8100" + std::to_string(now_s());
  fake_media big{random_bytes(kCap + 1, 9), "video/mp4"};
  put_media(announced, big);
  auto liar = "8200" + std::to_string(now_s());
  big.announced = 1000; // the lookup says 1000 bytes; the download is bigger than the cap
  put_media(liar, big);
  for (auto& id : {announced, liar}) {
    auto msg = post_media("video", id);
    auto r = wait_media(msg);
    expect_error(r, 422, "unprocessable");
    auto m = message(msg);
    EXPECT_EQ(m["media"]["state"], "failed") << m.dump();
    EXPECT_NE(m["media"].value("error", "").find("too large"), std::string::npos) << m.dump();
  }
  EXPECT_EQ(media(announced).downloads, 0) << "announced too large: never downloaded";
  // Nothing partial is left in the store.
  EXPECT_EQ(std::system(("test -z \"$(find " + media_dir_ + " -type f)\"").c_str()), 0);
}

TEST_F(media_test, media_older_than_meta_keeps_it_expires) {
  auto old_id = "8300" + std::to_string(now_s());
  put_media(old_id, {"bytes", "image/jpeg"});
  auto old_msg = post_media("image", old_id, 8 * 24 * 3600); // 8 days old: expired at once
  expect_error(get_media(old_msg), 410, "expired");
  EXPECT_EQ(media(old_id).lookups, 0);
  // One that keeps failing until Meta's 7 days run out.
  auto id = "8400" + std::to_string(now_s());
  fake_media failing{"bytes", "image/jpeg"};
  failing.always_fail = true;
  put_media(id, failing);
  auto msg = post_media("image", id, 7 * 24 * 3600 - 2);
  auto r = wait_media(msg, 20s);
  expect_error(r, 410, "expired");
  EXPECT_GE(media(id).lookups, 2);
  EXPECT_EQ(message(msg)["media"]["state"], "expired");
}

TEST_F(media_test, kapso_media_url_is_fetched_directly) {
  auto id = "kapso-" + std::to_string(now_s());
  auto bytes = random_bytes(64000, 11);
  put_media(id, {bytes, "image/jpeg"});
  auto c = fixture_case("kapso/events_v2.json", "message_received_image");
  auto& kapso = c["body"]["message"]["kapso"];
  auto url = "http://127.0.0.1:" + std::to_string(cdn_.port()) + "/files/" + id;
  kapso["media_url"] = url;
  kapso["media_data"]["url"] = url;
  c["body"]["message"]["id"] = "wamid.KAPSO-MEDIA-" + id;
  c["body"]["message"]["timestamp"] = std::to_string(now_s());
  // Kapso's media links are fetched without credentials (cdn_ refuses any), with no lookup.
  auto body = c["body"].dump();
  header_list h{{"Content-Type", "application/json"},
                {"X-Webhook-Event", c["headers"]["X-Webhook-Event"].get<std::string>()},
                {"X-Webhook-Signature", kapso_signature(kKapsoSecret, body)}};
  ASSERT_EQ(client().request("POST", "/api/webhook/kapso", body, h).status, 200);
  auto r = wait_media(message_id_for_wamid("wamid.KAPSO-MEDIA-" + id));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(sha256_hex(r.body), sha256_hex(bytes));
  EXPECT_EQ(media(id).lookups, 0);
  EXPECT_EQ(media(id).downloads, 1);
  EXPECT_EQ(fake_.count(), 0u);
}

TEST_F(media_test, an_upload_reaches_the_cloud_api_whole_and_its_id_sends) {
  struct sample {
    std::string type;
    size_t size;
  };
  std::vector<std::pair<std::string, std::string>> ids; // {media id, type}
  for (auto& s :
       {sample{"image/jpeg", 300000}, sample{"application/pdf", kCap}, sample{"audio/ogg", 1}}) {
    auto bytes = random_bytes(s.size, static_cast<uint32_t>(s.size));
    auto r = upload(bytes, s.type + "; codecs=opus");
    ASSERT_EQ(r.status, 201) << s.type << ": " << r.body;
    auto id = r.json().value("mediaId", "");
    std::lock_guard lock(mutex_);
    ASSERT_FALSE(uploads_.empty());
    auto& got = uploads_.back();
    EXPECT_EQ(id, "77" + std::to_string(uploads_.size()));
    EXPECT_EQ(got.product, "whatsapp");
    EXPECT_EQ(got.type, s.type);
    EXPECT_EQ(got.file_type, s.type);
    EXPECT_EQ(got.size, bytes.size());
    EXPECT_EQ(got.sha256, sha256_hex(bytes)) << "the bytes the Cloud API got differ";
    ids.emplace_back(id, s.type);
  }
  EXPECT_EQ(spooled_files(), "") << "the spooled uploads are removed once passed on";

  // The id sends: an image by id, with its caption, in Meta's wire format.
  auto in = with_unique_wamids(fixture_case("meta/message.json", "text"));
  in["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = std::to_string(now_s());
  ASSERT_EQ(post_meta(in).status, 200);
  auto conv = all_conversations()["conversations"][0]["id"].get<std::string>();
  auto r = client().post_json("/api/messages/send",
                              json{{"conversationId", conv},
                                   {"type", "image"},
                                   {"image", {{"id", ids[0].first}, {"caption", "Nota"}}}},
                              api_headers());
  ASSERT_EQ(r.status, 202) << r.body;
  json wire;
  for (int i = 0; i < 200 && wire.is_null(); ++i) {
    {
      std::lock_guard lock(mutex_);
      if (!sent_.empty())
        wire = sent_.back();
    }
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(wire.is_object()) << "the send never reached the Cloud API";
  EXPECT_EQ(wire["type"], "image");
  EXPECT_EQ(wire["image"], (json{{"id", ids[0].first}, {"caption", "Nota"}})) << wire.dump();
}

TEST_F(media_test, uploads_are_checked_and_a_refusal_is_told_apart_from_an_outage) {
  auto bytes = random_bytes(5000, 3);
  expect_error(upload(bytes, ""), 415, "unsupported_media_type");
  expect_error(upload(bytes, "jpeg"), 415, "unsupported_media_type");
  expect_error(upload("", "image/jpeg"), 400, "bad_request");
  EXPECT_EQ(client().request("POST", "/api/media", bytes, {{"Content-Type", "image/jpeg"}}).status,
            401);
  EXPECT_EQ(client()
                .request("POST", "/api/media", bytes,
                         {{"Content-Type", "image/jpeg"}, {"X-API-Key", "ik_wrong"}})
                .status,
            401);
  EXPECT_EQ(upload_count(), 0u) << "nothing reached the Cloud API";
  // Over INBOXD_MEDIA_MAX_BYTES: 413, whether the length is announced or found while reading.
  auto over = random_bytes(kCap + 1, 4);
  std::string head =
      "POST /api/media HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
      "Content-Type: image/jpeg\r\nX-API-Key: " +
      api_key_ + "\r\n";
  auto raw =
      client().send_raw(head + "Content-Length: " + std::to_string(over.size()) + "\r\n\r\n" + over,
                        std::chrono::seconds(10));
  EXPECT_EQ(raw_status(raw), 413) << raw.substr(0, 300);
  std::string chunked = head + "Transfer-Encoding: chunked\r\n\r\n";
  for (size_t off = 0; off < over.size(); off += 65536) {
    auto part = over.substr(off, 65536);
    char len[32];
    std::snprintf(len, sizeof(len), "%zx\r\n", part.size());
    chunked += len + part + "\r\n";
  }
  raw = client().send_raw(chunked + "0\r\n\r\n", std::chrono::seconds(10));
  EXPECT_EQ(raw_status(raw), 413) << raw.substr(0, 300);
  EXPECT_NE(raw.find("payload_too_large"), std::string::npos) << raw.substr(0, 300);

  // The Cloud API refusing (4xx) is 422 with its reason; an outage (5xx) is 503, to try again.
  set_upload_error(400);
  auto refused = upload(bytes, "image/jpeg");
  expect_error(refused, 422, "unprocessable");
  EXPECT_NE(refused.body.find("131053"), std::string::npos) << refused.body;
  set_upload_error(503);
  expect_error(upload(bytes, "image/jpeg"), 503, "unavailable");
  EXPECT_EQ(upload_count(), 2u);
  EXPECT_EQ(spooled_files(), "") << "no spooled upload is left behind, whatever the answer";
}

TEST_F(media_test, no_media_and_unknown_messages_are_404) {
  auto text = with_unique_wamids(fixture_case("meta/message.json", "text"));
  ASSERT_EQ(post_meta(text).status, 200);
  expect_error(get_media(message_id_for_wamid(first_wamid(text))), 404, "not_found");
  expect_error(get_media("msg_nope"), 404, "not_found");
  EXPECT_EQ(client().get("/api/messages/msg_nope/media").status, 401);
}

} // namespace
} // namespace inboxd::test
