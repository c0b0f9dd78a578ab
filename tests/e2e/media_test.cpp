// End-to-end: inbound media downloaded by the real binary from a local HTTPS fake of the Graph
// API (the two steps: the media id's lookup, then the URL it names, with the bearer token) into
// the media store, and served by GET /api/messages/{id}/media with Range and ETag. The fake
// serves real bytes and also fails, stalls, answers with expired URLs and with files over the
// cap; inboxd is killed mid-queue. The bytes inboxd serves must equal the bytes the fake served
// (SHA-256).

#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include "messages/crypto.hpp"
#include "messages/ids.hpp"
#include "tests/e2e/e2e_test.hpp"
#include "tests/support/fake_cloud_api.hpp"
#include "tests/support/sse_client.hpp"

namespace inboxd::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kToken = "meta-media-token";
constexpr size_t kCap = 2 * 1024 * 1024; // INBOXD_MEDIA_MAX_BYTES in these tests

std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s)
    c = static_cast<char>(rng() & 0xff);
  return s;
}

int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// What the fake Graph API knows of one media id, and how it misbehaves.
struct fake_media {
  std::string bytes, mime;
  int lookup_failures = 0;  // the next lookups answer 500
  int lookup_stalls = 0;    // the next lookups never answer
  int expired_urls = 0;     // the next downloads answer 404 (the URL expired)
  bool always_fail = false; // every lookup answers 500
  uint64_t announced = 0;   // file_size the lookup announces (0: the real size)
  int lookups = 0, downloads = 0;
};

// What the fake Graph API received from one upload (POST /<ver>/<phone number id>/media).
struct fake_upload {
  std::string product, type, file_type, sha256;
  size_t size = 0;
};

// The parts of a multipart/form-data body by name: {Content-Type, content}.
std::map<std::string, std::pair<std::string, std::string>> form_parts(const recorded_request& r) {
  std::map<std::string, std::pair<std::string, std::string>> parts;
  auto ct = r.header("content-type");
  auto at = ct.find("boundary=");
  if (ct.rfind("multipart/form-data;", 0) != 0 || at == std::string::npos)
    return parts;
  auto delim = "--" + ct.substr(at + 9);
  auto& body = r.body;
  auto pos = body.find(delim);
  while (pos != std::string::npos && body.compare(pos + delim.size(), 2, "\r\n") == 0) {
    auto head = pos + delim.size() + 2;
    auto head_end = body.find("\r\n\r\n", head);
    auto next = body.find("\r\n" + delim, head_end);
    if (head_end == std::string::npos || next == std::string::npos)
      break;
    auto headers = body.substr(head, head_end - head);
    auto name_at = headers.find("name=\"");
    auto type_at = headers.find("Content-Type: ");
    auto name = name_at == std::string::npos
                    ? std::string()
                    : headers.substr(name_at + 6, headers.find('"', name_at + 6) - name_at - 6);
    auto type = type_at == std::string::npos ? std::string() : headers.substr(type_at + 14);
    parts[name] = {type.substr(0, type.find("\r\n")),
                   body.substr(head_end + 4, next - head_end - 4)};
    pos = next + 2;
  }
  return parts;
}

class media_test : public e2e_test {
protected:
  inboxd_process::env_map extra_env() const override {
    return {{"INBOXD_TLS_CA_FILE", fake_.ca_file()},
            {"INBOXD_MEDIA_DIR", media_dir_},
            {"INBOXD_MEDIA_MAX_BYTES", std::to_string(kCap)},
            {"INBOXD_MEDIA_RETRY_BASE_MS", "50"},
            {"INBOXD_MEDIA_RETRY_MAX_MS", "200"},
            {"INBOXD_MEDIA_TIMEOUT_MS", "1500"},
            {"INBOXD_SEND_TIMEOUT_MS", "1000"}};
  }

  static std::string make_dir() {
    char tmpl[] = "/tmp/inboxd-media-XXXXXX";
    auto* d = mkdtemp(tmpl);
    return d ? std::string(d) + "/store" : std::string("/tmp/inboxd-media-failed");
  }

  void SetUp() override {
    fake_.set_responder([this](const recorded_request& r) { return answer(r, false); });
    cdn_.set_responder([this](const recorded_request& r) { return answer(r, true); });
    e2e_test::SetUp();
    if (HasFatalFailure())
      return;
    auto r = client().request("PATCH", "/api/admin/workspaces/" + ws_id_,
                              json{{"send", {{"baseUrl", base()}, {"accessToken", kToken}}}}.dump(),
                              {{"Authorization", std::string("Bearer ") + kAdminToken},
                               {"Content-Type", "application/json"}});
    ASSERT_EQ(r.status, 200) << r.body;
  }

  void TearDown() override {
    e2e_test::TearDown();
    std::system(("rm -rf " + media_dir_.substr(0, media_dir_.rfind('/'))).c_str());
  }

  std::string base() const { return "https://127.0.0.1:" + std::to_string(fake_.port()); }

  // The fake Graph API: GET /v24.0/<id> looks a media up, GET /files/<id> serves its bytes
  // (with the bearer token). `cdn`: a host of someone else's (Kapso's media links), which must
  // never see the workspace's credentials.
  reply answer(const recorded_request& r, bool cdn) {
    std::lock_guard lock(mutex_);
    auto path = r.target.substr(0, r.target.find('?'));
    if (r.method == "POST" && !cdn)
      return posted(r, path);
    bool lookup = path.rfind("/v24.0/", 0) == 0;
    bool file = path.rfind("/files/", 0) == 0;
    auto id = path.substr(path.rfind('/') + 1);
    auto found = media_.find(id);
    if ((!lookup && !file) || found == media_.end())
      return meta_error(404, 100, "Unsupported get request");
    if (cdn ? !r.header("authorization").empty() || !r.header("x-api-key").empty()
            : r.header("authorization") != std::string("Bearer ") + kToken)
      return meta_error(401, 190, cdn ? "Credentials sent to a third party" : "Invalid token");
    auto& m = found->second;
    if (lookup) {
      ++m.lookups;
      if (m.always_fail || m.lookup_failures > 0) {
        --m.lookup_failures;
        return meta_error(500, 2, "Service temporarily unavailable");
      }
      if (m.lookup_stalls > 0) {
        --m.lookup_stalls;
        return reply::hang();
      }
      json body = {{"messaging_product", "whatsapp"},
                   {"url", base() + "/files/" + id + "?hash=abc"},
                   {"mime_type", m.mime},
                   {"sha256", sha256_hex(m.bytes)},
                   {"file_size", std::to_string(m.announced ? m.announced : m.bytes.size())},
                   {"id", id}};
      return reply::json(200, body.dump());
    }
    ++m.downloads;
    if (m.expired_urls > 0) {
      --m.expired_urls;
      return reply::json(404, "URL signature expired");
    }
    reply out;
    out.body = m.bytes;
    out.headers = {{"Content-Type", m.mime}};
    return out;
  }

  // POST: an upload (answered with a media id, or upload_error_ when set) or a send.
  reply posted(const recorded_request& r, const std::string& path) {
    if (r.header("authorization") != std::string("Bearer ") + kToken)
      return meta_error(401, 190, "Invalid token");
    auto graph = std::string("/v24.0/") + kPhoneNumberId;
    if (path == graph + "/messages") {
      sent_.push_back(json::parse(r.body));
      return reply::json(200, meta_success_body(sent_.back().value("to", ""),
                                                "wamid.up." + std::to_string(sent_.size())));
    }
    if (path != graph + "/media")
      return meta_error(404, 100, "Unsupported post request");
    auto parts = form_parts(r);
    fake_upload u{parts["messaging_product"].second, parts["type"].second, parts["file"].first,
                  sha256_hex(parts["file"].second), parts["file"].second.size()};
    uploads_.push_back(u);
    if (upload_error_)
      return meta_error(upload_error_, upload_error_ >= 500 ? 2 : 131053, "Media upload error");
    return reply::json(200, json{{"id", "77" + std::to_string(uploads_.size())}}.dump());
  }

  // POST /api/media with the API key.
  http_response upload(const std::string& bytes, const std::string& type) {
    auto h = api_headers();
    if (!type.empty())
      h.emplace_back("Content-Type", type);
    return client().request("POST", "/api/media", bytes, h);
  }

  size_t upload_count() {
    std::lock_guard lock(mutex_);
    return uploads_.size();
  }
  void set_upload_error(int status) {
    std::lock_guard lock(mutex_);
    upload_error_ = status;
  }

  // Files under the media store's tmp/ (spooled uploads not yet removed).
  std::string spooled_files() {
    std::string out;
    std::error_code ec;
    for (auto& e : std::filesystem::directory_iterator(media_dir_ + "/tmp", ec))
      out += e.path().string() + " ";
    return out;
  }

  void put_media(const std::string& id, fake_media m) {
    std::lock_guard lock(mutex_);
    media_[id] = std::move(m);
  }
  fake_media media(const std::string& id) {
    std::lock_guard lock(mutex_);
    return media_[id];
  }
  void update(const std::string& id, const std::function<void(fake_media&)>& f) {
    std::lock_guard lock(mutex_);
    f(media_[id]);
  }

  // Posts the shared fixture case `kind` (image, video, ...) with a fresh wamid, the time
  // `age_s` seconds ago and media id `media_id`; returns the message id.
  std::string post_media(const std::string& kind, const std::string& media_id, int64_t age_s = 5) {
    auto body = with_unique_wamids(fixture_case("meta/message.json", kind));
    auto& msg = body["entry"][0]["changes"][0]["value"]["messages"][0];
    msg["timestamp"] = std::to_string(now_s() - age_s);
    auto type = msg["type"].get<std::string>();
    msg[type]["id"] = media_id;
    msg[type].erase("url");
    auto r = post_meta(body);
    EXPECT_EQ(r.status, 200) << r.body;
    return message_id_for_wamid(first_wamid(body));
  }

  http_response get_media(const std::string& msg_id, const header_list& extra = {}) {
    auto h = api_headers();
    h.insert(h.end(), extra.begin(), extra.end());
    return client().get("/api/messages/" + msg_id + "/media", h);
  }

  // Polls until the media is no longer pending (202); returns the last answer.
  http_response wait_media(const std::string& msg_id, std::chrono::milliseconds limit = 20s) {
    auto until = std::chrono::steady_clock::now() + limit;
    auto r = get_media(msg_id);
    while (r.status == 202 && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(50ms);
      r = get_media(msg_id);
    }
    return r;
  }

  // The message as GET /api/conversations/{id}/messages lists it.
  json message(const std::string& msg_id) {
    for (auto& c : all_conversations().value("conversations", json::array())) {
      auto list = api_get("/api/conversations/" + c["id"].get<std::string>() + "/messages");
      for (auto& m : list.value("messages", json::array()))
        if (m.value("id", "") == msg_id)
          return m;
    }
    return json();
  }

  fake_cloud_api fake_;
  fake_cloud_api cdn_{false}; // plain HTTP: inboxd trusts only fake_'s CA
  std::string media_dir_ = make_dir();
  std::mutex mutex_;
  std::map<std::string, fake_media> media_;
  std::vector<fake_upload> uploads_;
  std::vector<json> sent_; // the JSON of each send the fake received
  int upload_error_ = 0;   // the HTTP status uploads answer with (0: a media id)
};

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
