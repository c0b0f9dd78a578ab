#pragma once
// The fixture of the media end-to-end tests: the real binary with a media store, and a local
// HTTPS fake of the Graph API (the media id's lookup, then the URL it names, with the bearer
// token) that serves real bytes and also fails, stalls, answers with expired URLs and with
// files over the cap; a plain-HTTP fake stands for someone else's CDN (Kapso's media links).

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

namespace inboxd::test {

using json = nlohmann::json;
using namespace std::chrono_literals;

inline constexpr const char* kToken = "meta-media-token";
inline constexpr size_t kCap = 2 * 1024 * 1024; // INBOXD_MEDIA_MAX_BYTES in these tests

inline std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s)
    c = static_cast<char>(rng() & 0xff);
  return s;
}

inline int64_t now_s() {
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
inline std::map<std::string, std::pair<std::string, std::string>> form_parts(
    const recorded_request& r) {
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
            // One download or upload in all; a stalled lookup (media_test) waits it out. Not
            // shorter: an upload that succeeds must finish within it on a loaded 2-core machine
            // under ASan (at 1.5 s one did not, and answered 503).
            {"INBOXD_MEDIA_TIMEOUT_MS", "5000"},
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

} // namespace inboxd::test
