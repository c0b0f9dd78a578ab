// https_client against the local fake Cloud API: TLS trust, timeouts, hostile servers, keep-alive,
// concurrency and shutdown, bodies streamed to files. Every wait is bounded, so a broken client
// fails instead of hanging.

#include "http/https_client.hpp"

#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "messages/crypto.hpp"
#include "tests/support/fake_cloud_api.hpp"

namespace inboxd {
namespace {

using namespace std::chrono_literals;
using test::fake_cloud_api;
using test::recorded_request;
using test::reply;

// Sanitizer builds are slow: generous bounds for "should happen". No test measures a duration:
// timeouts are shown by what ends a call and in which order calls end.
constexpr auto kWait = 20s;

outbound_request send_to(const fake_cloud_api& api, std::string to = "15551234567") {
  outbound_request req;
  req.url = api.url();
  req.headers = {{"Authorization", "Bearer test-token"}};
  req.body = nlohmann::json{{"messaging_product", "whatsapp"},
                            {"to", to},
                            {"type", "text"},
                            {"text", {{"body", "hello"}}}}
                 .dump();
  req.timeout_ms = 10000;
  return req;
}

std::unique_ptr<https_client> make_client(const fake_cloud_api& api, https_client_settings s = {}) {
  s.ca_file = api.ca_file();
  auto c = std::make_unique<https_client>(std::move(s));
  auto err = c->start();
  EXPECT_EQ(err, "");
  return c;
}

// Posts and waits for the callback; fails the test (and returns a marker) if it never comes.
outbound_response post_and_wait(https_client& client, outbound_request req,
                                std::chrono::milliseconds wait = kWait) {
  auto p = std::make_shared<std::promise<outbound_response>>();
  auto f = p->get_future();
  client.post(std::move(req), [p](outbound_response r) { p->set_value(std::move(r)); });
  if (f.wait_for(wait) != std::future_status::ready) {
    ADD_FAILURE() << "callback did not run within " << wait.count() << " ms";
    outbound_response r;
    r.transport_error = "test: no callback";
    return r;
  }
  return f.get();
}

// Counts completions per call index; lets a test wait for all and check "exactly once".
struct completion_log {
  explicit completion_log(size_t n) : calls(n) {}

  outbound_transport::callback callback_for(size_t i) {
    return [this, i](outbound_response r) {
      std::lock_guard lock(mutex);
      calls[i].push_back(std::move(r));
      ++total;
      cv.notify_all();
    };
  }

  bool wait_total(size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex);
    return cv.wait_for(lock, timeout, [&] { return total >= n; });
  }

  std::mutex mutex;
  std::condition_variable cv;
  std::vector<std::vector<outbound_response>> calls;
  size_t total = 0;
};

// A fresh directory under /tmp, removed with everything in it at the end of the test.
struct temp_dir {
  temp_dir() {
    char tmpl[] = "/tmp/inboxd-https-client-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr)
      throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  std::string file(const std::string& name) const { return path + "/" + name; }

  std::string path;
};

std::string file_contents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bool file_exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

// n bytes cycling through all 256 byte values, shifted by `seed`.
std::string binary_body(size_t n, unsigned seed = 0) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i)
    s[i] = static_cast<char>((i + seed) & 0xff);
  return s;
}

reply media(int status, std::string body, std::string type = "application/octet-stream") {
  auto r = reply::json(status, std::move(body));
  r.headers = {{"Content-Type", std::move(type)}};
  return r;
}

// A GET that downloads into `path`.
outbound_request download(const fake_cloud_api& api, const std::string& path,
                          uint64_t max_body = 0) {
  outbound_request req;
  req.method = "GET";
  req.url = api.url("/v21.0/media/123");
  req.headers = {{"Authorization", "Bearer test-token"}};
  req.body_file = path;
  req.max_body = max_body;
  req.timeout_ms = 10000;
  return req;
}

constexpr uint64_t kMediaMax = 100 * 1024 * 1024;

// --- URL parsing -------------------------------------------------------------------------------

TEST(parse_http_url, accepts_cloud_api_urls) {
  auto r = parse_http_url("https://graph.facebook.com/v21.0/123/messages?x=1#frag");
  ASSERT_TRUE(std::holds_alternative<http_url>(r));
  auto& u = std::get<http_url>(r);
  EXPECT_TRUE(u.tls);
  EXPECT_EQ(u.host, "graph.facebook.com");
  EXPECT_EQ(u.port, 443);
  EXPECT_EQ(u.target, "/v21.0/123/messages?x=1");

  auto p = std::get<http_url>(parse_http_url("HTTP://127.0.0.1:8080"));
  EXPECT_FALSE(p.tls);
  EXPECT_EQ(p.port, 8080);
  EXPECT_EQ(p.target, "/");

  auto v6 = std::get<http_url>(parse_http_url("https://[::1]:9443?q"));
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.port, 9443);
  EXPECT_EQ(v6.target, "/?q");
}

TEST(parse_http_url, rejects_bad_urls) {
  for (const char* bad :
       {"", "graph.facebook.com/v21.0", "ftp://host/", "https://", "https:///path",
        "https://host:0/", "https://host:65536/", "https://host:12ab/", "https://host:/",
        "https://user:pw@host/", "https://ho st/", "https://host/pa th", "https://host/\r\nX: y",
        "https://[::1/", "https://[zz]/", "https://ho$t/"}) {
    EXPECT_TRUE(std::holds_alternative<std::string>(parse_http_url(bad))) << bad;
  }
  EXPECT_TRUE(
      std::holds_alternative<std::string>(parse_http_url("https://h/" + std::string(9000, 'a'))));
}

// --- TLS -----------------------------------------------------------------------------------------

TEST(https_client, tls_success_with_trusted_ca) {
  fake_cloud_api api;
  auto client = make_client(api);
  auto res = post_and_wait(*client, send_to(api, "15550001111"));
  ASSERT_TRUE(res.ok()) << res.transport_error;
  EXPECT_FALSE(res.tls_verify_failed);
  EXPECT_EQ(res.status, 200);
  auto body = nlohmann::json::parse(res.body);
  EXPECT_EQ(body["messages"][0]["id"], "wamid.fake.1");
  EXPECT_EQ(body["contacts"][0]["wa_id"], "15550001111");

  ASSERT_EQ(api.count(), 1u);
  auto req = api.requests()[0];
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.target, "/v21.0/1234567890/messages");
  EXPECT_EQ(req.header("authorization"), "Bearer test-token");
  EXPECT_EQ(req.header("content-type"), "application/json");
  EXPECT_EQ(req.header("host"), "127.0.0.1:" + std::to_string(api.port()));
  EXPECT_EQ(req.header("content-length"), std::to_string(req.body.size()));
  EXPECT_EQ(nlohmann::json::parse(req.body)["to"], "15550001111");
  EXPECT_EQ(client->in_flight(), 0u);
}

TEST(https_client, tls_by_host_name_localhost) {
  fake_cloud_api api;
  auto client = make_client(api);
  auto req = send_to(api);
  req.url = "https://localhost:" + std::to_string(api.port()) + "/v21.0/1/messages";
  auto res = post_and_wait(*client, req);
  ASSERT_TRUE(res.ok()) << res.transport_error;
  EXPECT_EQ(res.status, 200);
  ASSERT_EQ(api.count(), 1u);
  EXPECT_EQ(api.requests()[0].header("host"), "localhost:" + std::to_string(api.port()));
}

TEST(https_client, wrong_certificate_is_refused) {
  fake_cloud_api api(/*tls=*/true, /*wrong_certificate=*/true);
  auto client = make_client(api);
  auto res = post_and_wait(*client, send_to(api));
  EXPECT_FALSE(res.ok());
  EXPECT_TRUE(res.tls_verify_failed) << res.transport_error;
  EXPECT_EQ(res.status, 0);
  EXPECT_GE(api.connections(), 1u); // it did connect, and then refused the certificate
  EXPECT_EQ(api.count(), 0u);       // so no request was ever sent
}

TEST(https_client, certificate_from_unknown_ca_is_refused_without_ca_file) {
  fake_cloud_api api;
  https_client client; // system store only: the fake's CA is not in it
  ASSERT_EQ(client.start(), "");
  auto res = post_and_wait(client, send_to(api));
  EXPECT_FALSE(res.ok());
  EXPECT_TRUE(res.tls_verify_failed) << res.transport_error;
  EXPECT_EQ(api.count(), 0u);
}

TEST(https_client, unreadable_ca_file_fails_start) {
  https_client_settings s;
  s.ca_file = "/nonexistent/inboxd-ca.pem";
  https_client client(s);
  EXPECT_NE(client.start(), "");
}

// --- misbehaving servers -------------------------------------------------------------------------

TEST(https_client, hang_times_out_at_the_requests_own_deadline) {
  fake_cloud_api api;
  api.set_responder([](const recorded_request&) { return reply::hang(); });
  auto client = make_client(api);
  // Two hanging requests: one with a deadline far beyond this test's waits, one with a short
  // one. Only the short one can end by itself, and it ends with a timeout while the other is
  // still waiting: each request has its own deadline.
  completion_log log(2);
  auto patient = send_to(api, "15550000001");
  patient.timeout_ms = 3600 * 1000;
  client->post(patient, log.callback_for(0));
  auto hasty = send_to(api, "15550000002");
  hasty.timeout_ms = 50;
  client->post(hasty, log.callback_for(1));
  ASSERT_TRUE(log.wait_total(1, kWait)) << "the short deadline never fired";
  {
    std::lock_guard lock(log.mutex);
    EXPECT_TRUE(log.calls[0].empty()) << "the patient request ended first";
    ASSERT_EQ(log.calls[1].size(), 1u);
    EXPECT_EQ(log.calls[1][0].transport_error, "timeout");
    EXPECT_EQ(log.calls[1][0].status, 0);
  }
  EXPECT_TRUE(api.wait_for(2, kWait)); // both were sent, no answer came
  client->stop();
  std::lock_guard lock(log.mutex);
  ASSERT_EQ(log.calls[0].size(), 1u);
  EXPECT_EQ(log.calls[0][0].transport_error, "https_client stopped");
}

TEST(https_client, connect_to_closed_port_is_a_transport_error) {
  int port;
  {
    fake_cloud_api gone(/*tls=*/false);
    port = gone.port();
  }
  https_client client;
  ASSERT_EQ(client.start(), "");
  outbound_request req;
  req.url = "http://127.0.0.1:" + std::to_string(port) + "/x";
  auto res = post_and_wait(client, req);
  EXPECT_FALSE(res.ok());
  EXPECT_EQ(res.status, 0);
  EXPECT_FALSE(res.tls_verify_failed);
}

TEST(https_client, reset_is_a_transport_error_and_not_retried_on_a_fresh_connection) {
  fake_cloud_api api;
  api.set_responder([](const recorded_request&) { return reply::reset(); });
  auto client = make_client(api);
  auto res = post_and_wait(*client, send_to(api));
  EXPECT_FALSE(res.ok());
  EXPECT_FALSE(res.tls_verify_failed);
  EXPECT_EQ(res.status, 0);
  // A retry would come before the call completes (the caller sees the last attempt's outcome).
  EXPECT_EQ(api.count(), 1u);
}

TEST(https_client, error_status_is_a_response_not_a_transport_error) {
  fake_cloud_api api;
  api.set_responder([](const recorded_request&) {
    return test::meta_error(400, 131030, "Recipient phone number not in allowed list",
                            "Recipient phone number not in allowed list");
  });
  auto client = make_client(api);
  auto res = post_and_wait(*client, send_to(api));
  ASSERT_TRUE(res.ok()) << res.transport_error;
  EXPECT_EQ(res.status, 400);
  auto body = nlohmann::json::parse(res.body);
  EXPECT_EQ(body["error"]["code"], 131030);
  EXPECT_EQ(body["error"]["type"], "OAuthException");
  EXPECT_EQ(body["error"]["error_data"]["messaging_product"], "whatsapp");
}

TEST(https_client, invalid_responses_are_transport_errors) {
  static constexpr char kNulHeader[] = "HTTP/1.1 200 OK\r\nX: \0\r\nContent-Length: 0\r\n\r\n";
  const std::vector<std::string> answers = {
      "garbage\r\n\r\n",
      "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", // EOF before the whole body
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
      std::string(kNulHeader, sizeof(kNulHeader) - 1),
      "HTTP/1.1 200", // EOF inside the status line
      "",             // EOF without a byte
  };
  for (bool tls : {true, false}) {
    fake_cloud_api api(tls);
    auto client = make_client(api);
    for (auto& a : answers) {
      api.set_responder([a](const recorded_request&) { return reply::raw(a); });
      auto res = post_and_wait(*client, send_to(api));
      EXPECT_FALSE(res.ok()) << (tls ? "https: " : "http: ") << a;
      EXPECT_EQ(res.status, 0) << a;
    }
    EXPECT_EQ(api.count(), answers.size()); // fresh connections each time: no retries
  }
}

TEST(https_client, body_over_the_limit_is_a_transport_error) {
  fake_cloud_api api;
  api.set_responder([](const recorded_request&) {
    return reply::json(200, "\"" + std::string(2000, 'x') + "\"");
  });
  https_client_settings s;
  s.max_body = 1000;
  auto client = make_client(api, s);
  auto res = post_and_wait(*client, send_to(api));
  EXPECT_FALSE(res.ok());
  EXPECT_NE(res.transport_error.find("larger than"), std::string::npos) << res.transport_error;

  api.set_responder(
      [](const recorded_request&) { return reply::json(200, std::string(900, ' ')); });
  auto ok = post_and_wait(*client, send_to(api));
  EXPECT_TRUE(ok.ok()) << ok.transport_error;
  EXPECT_EQ(ok.body.size(), 900u);
}

TEST(https_client, headers_with_line_breaks_are_refused_before_sending) {
  fake_cloud_api api;
  auto client = make_client(api);
  auto req = send_to(api);
  req.headers.push_back({"X-Evil", "a\r\nX-Injected: 1"});
  auto res = post_and_wait(*client, req);
  EXPECT_FALSE(res.ok());
  EXPECT_EQ(api.count(), 0u);
}

// --- keep-alive
// ------------------------------------------------------------------------------------

TEST(https_client, sequential_posts_reuse_connections) {
  fake_cloud_api api;
  auto client = make_client(api);
  for (int i = 0; i < 50; ++i) {
    auto res = post_and_wait(*client, send_to(api, "1555000" + std::to_string(i)));
    ASSERT_TRUE(res.ok()) << i << ": " << res.transport_error;
    ASSERT_EQ(res.status, 200);
    EXPECT_EQ(nlohmann::json::parse(res.body)["messages"][0]["id"],
              "wamid.fake." + std::to_string(i + 1));
  }
  EXPECT_EQ(api.count(), 50u);
  EXPECT_LE(api.connections(), 3u);
  EXPECT_EQ(client->idle_connections(), 1u);
  // The same connection served request after request.
  auto reqs = api.requests();
  EXPECT_GE(reqs.back().index_on_connection, 45u);
}

TEST(https_client, connection_close_from_server_is_honoured) {
  fake_cloud_api api(/*tls=*/false);
  api.set_responder([](const recorded_request&) {
    auto r = reply::json(200, "{}");
    r.close = true;
    return r;
  });
  auto client = make_client(api);
  for (int i = 0; i < 5; ++i) {
    auto res = post_and_wait(*client, send_to(api));
    ASSERT_TRUE(res.ok()) << res.transport_error;
  }
  EXPECT_EQ(api.connections(), 5u);
  EXPECT_EQ(client->idle_connections(), 0u);
}

TEST(https_client, reused_connection_dropped_by_server_is_retried_once) {
  for (bool tls : {true, false}) {
    fake_cloud_api api(tls);
    // Every connection answers its first request, then drops the next one unanswered: what a
    // server closing an idle keep-alive connection looks like when our request races the close.
    api.set_responder([](const recorded_request& r) {
      return r.index_on_connection == 1 ? reply::json(200, "{\"n\":1}") : reply::reset();
    });
    auto client = make_client(api);
    for (int i = 0; i < 3; ++i) {
      auto res = post_and_wait(*client, send_to(api));
      ASSERT_TRUE(res.ok()) << i << ": " << res.transport_error;
      EXPECT_EQ(res.status, 200);
    }
    // 1 + (dropped + retried) * 2: the dropped requests reached the server (at-least-once).
    EXPECT_EQ(api.count(), 5u);
    EXPECT_EQ(api.connections(), 3u);
  }
}

// --- request bodies streamed from files
// ------------------------------------------------------------

TEST(https_client, upload_sends_head_then_the_file_then_tail) {
  for (bool tls : {true, false}) {
    fake_cloud_api api(tls);
    auto client = make_client(api);
    temp_dir dir;
    const auto bytes = binary_body(3 * 1024 * 1024 + 17, 5); // over the 1 MiB response limit
    auto path = dir.file("upload.bin");
    std::ofstream(path, std::ios::binary) << bytes;
    auto req = send_to(api);
    req.body = "head:";
    req.upload_file = path;
    req.body_tail = ":tail";
    auto res = post_and_wait(*client, req);
    ASSERT_TRUE(res.ok()) << res.transport_error;
    ASSERT_EQ(api.count(), 1u);
    auto got = api.requests()[0];
    EXPECT_EQ(got.header("content-length"), std::to_string(5 + bytes.size() + 5));
    EXPECT_TRUE(got.body == "head:" + bytes + ":tail")
        << "the body differs, " << got.body.size() << " bytes";
    EXPECT_TRUE(file_exists(path)) << "the caller owns the file";
  }
}

TEST(https_client, missing_upload_file_is_a_transport_error_before_sending) {
  fake_cloud_api api;
  auto client = make_client(api);
  temp_dir dir;
  auto req = send_to(api);
  req.upload_file = dir.file("gone.bin");
  auto res = post_and_wait(*client, req);
  EXPECT_EQ(res.transport_error,
            "cannot read " + dir.file("gone.bin") + ": No such file or directory");
  req.upload_file = dir.path;
  res = post_and_wait(*client, req);
  EXPECT_EQ(res.transport_error, "cannot read " + dir.path + ": not a regular file");
  EXPECT_EQ(api.count(), 0u);
  EXPECT_EQ(client->in_flight(), 0u);
}

TEST(https_client, retried_upload_sends_the_whole_file_again) {
  fake_cloud_api api;
  auto client = make_client(api);
  temp_dir dir;
  const auto bytes = binary_body(200 * 1024, 9);
  auto path = dir.file("upload.bin");
  std::ofstream(path, std::ios::binary) << bytes;
  auto req = send_to(api);
  req.body = "h";
  req.upload_file = path;
  ASSERT_TRUE(post_and_wait(*client, req).ok()); // opens a keep-alive connection
  api.set_responder([](const recorded_request& r) {
    return r.index_on_connection == 2 ? reply::reset() : reply::json(200, R"({"id":"1"})");
  });
  auto res = post_and_wait(*client, req);
  ASSERT_TRUE(res.ok()) << res.transport_error;
  auto all = api.requests();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_TRUE(all[2].body == "h" + bytes) << all[2].body.size() << " bytes";
}

// --- response bodies streamed to files -----------------------------------------------------------

TEST(https_client, body_streams_to_a_file_with_size_and_sha256) {
  for (bool tls : {true, false}) {
    fake_cloud_api api(tls);
    const auto body = binary_body(3 * 1024 * 1024); // 3x the client's default limit
    api.set_responder([&body](const recorded_request&) { return media(200, body); });
    auto client = make_client(api); // settings.max_body: the default 1 MiB
    temp_dir dir;
    auto path = dir.file("media.bin");
    auto res = post_and_wait(*client, download(api, path, kMediaMax));
    ASSERT_TRUE(res.ok()) << res.transport_error;
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.body, "");
    EXPECT_EQ(res.content_type, "application/octet-stream");
    EXPECT_EQ(res.body_size, body.size());
    EXPECT_EQ(res.body_sha256, sha256_hex(body));
    EXPECT_TRUE(file_contents(path) == body) << "the file differs from the body";
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    ASSERT_EQ(api.count(), 1u);
    EXPECT_EQ(api.requests()[0].method, "GET");
  }
}

TEST(https_client, error_status_body_also_goes_to_the_file) {
  fake_cloud_api api;
  const std::string html = "<html><body>Not Found</body></html>";
  api.set_responder([&html](const recorded_request&) { return media(404, html, "text/html"); });
  auto client = make_client(api);
  temp_dir dir;
  auto path = dir.file("media.bin");
  auto res = post_and_wait(*client, download(api, path));
  ASSERT_TRUE(res.ok()) << res.transport_error;
  EXPECT_EQ(res.status, 404);
  EXPECT_EQ(res.body, "");
  EXPECT_EQ(res.content_type, "text/html");
  EXPECT_EQ(file_contents(path), html);
  EXPECT_EQ(res.body_size, html.size());
  EXPECT_EQ(res.body_sha256, sha256_hex(html));
}

TEST(https_client, file_body_over_the_limit_fails_and_leaves_no_file) {
  // Chunked, so the first 3000 bytes reach the file before the limit (5000) is crossed.
  std::string raw = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 4; ++i)
    raw += "bb8\r\n" + binary_body(3000, i) + "\r\n";
  raw += "0\r\n\r\n";
  for (bool per_request : {true, false}) {
    fake_cloud_api api;
    api.set_responder([&raw](const recorded_request&) { return reply::raw(raw); });
    https_client_settings s;
    if (!per_request)
      s.max_body = 5000;
    auto client = make_client(api, s);
    temp_dir dir;
    auto path = dir.file("media.bin");
    auto res = post_and_wait(*client, download(api, path, per_request ? 5000 : 0));
    EXPECT_FALSE(res.ok());
    EXPECT_EQ(res.transport_error, "response body larger than 5000 bytes");
    EXPECT_EQ(res.status, 0);
    EXPECT_FALSE(file_exists(path)) << (per_request ? "per request" : "client setting");
  }
}

TEST(https_client, content_length_over_the_limit_fails_at_the_header) {
  // Only the header and 3 bytes come, then the connection closes: a client reading the body
  // would report the early end, not the limit.
  fake_cloud_api api;
  api.set_responder([](const recorded_request&) {
    return reply::raw("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kMediaMax + 1) +
                      "\r\n\r\nabc");
  });
  auto client = make_client(api);
  temp_dir dir;
  auto path = dir.file("media.bin");
  auto res = post_and_wait(*client, download(api, path, kMediaMax));
  EXPECT_EQ(res.transport_error,
            "response body larger than " + std::to_string(kMediaMax) + " bytes");
  EXPECT_FALSE(file_exists(path));
  // The same in memory, at the client's limit.
  auto mem = post_and_wait(*client, send_to(api));
  EXPECT_EQ(mem.transport_error, "response body larger than 1048576 bytes");
}

TEST(https_client, failed_downloads_leave_no_file) {
  temp_dir dir;
  // Timeout, and stop() while waiting.
  {
    fake_cloud_api api;
    api.set_responder([](const recorded_request&) { return reply::hang(); });
    auto client = make_client(api);
    completion_log log(2);
    auto hasty = download(api, dir.file("hasty"));
    hasty.timeout_ms = 50;
    auto patient = download(api, dir.file("patient"));
    patient.timeout_ms = 3600 * 1000;
    client->post(patient, log.callback_for(0));
    client->post(hasty, log.callback_for(1));
    ASSERT_TRUE(log.wait_total(1, kWait));
    {
      std::lock_guard lock(log.mutex);
      ASSERT_EQ(log.calls[1].size(), 1u);
      EXPECT_EQ(log.calls[1][0].transport_error, "timeout");
    }
    EXPECT_FALSE(file_exists(dir.file("hasty")));
    EXPECT_TRUE(api.wait_for(2, kWait));
    EXPECT_TRUE(file_exists(dir.file("patient"))); // still downloading
    client->stop();
    std::lock_guard lock(log.mutex);
    ASSERT_EQ(log.calls[0].size(), 1u);
    EXPECT_EQ(log.calls[0][0].transport_error, "https_client stopped");
    EXPECT_FALSE(file_exists(dir.file("patient")));
  }
  // The connection ends 5000 bytes into a 100000-byte body; a reset.
  for (bool tls : {true, false}) {
    fake_cloud_api api(tls);
    api.set_responder([](const recorded_request&) {
      return reply::raw("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + binary_body(5000));
    });
    auto client = make_client(api);
    auto res = post_and_wait(*client, download(api, dir.file("short")));
    EXPECT_EQ(res.transport_error, "read failed: connection closed before a complete response");
    EXPECT_FALSE(file_exists(dir.file("short")));

    api.set_responder([](const recorded_request&) { return reply::reset(); });
    res = post_and_wait(*client, download(api, dir.file("reset")));
    EXPECT_FALSE(res.ok());
    EXPECT_FALSE(file_exists(dir.file("reset")));
  }
}

TEST(https_client, unwritable_file_is_a_transport_error_before_sending) {
  fake_cloud_api api;
  auto client = make_client(api);
  temp_dir dir;
  auto path = dir.file("missing/media.bin");
  auto res = post_and_wait(*client, download(api, path));
  EXPECT_EQ(res.transport_error, "cannot write " + path + ": No such file or directory");
  EXPECT_EQ(res.status, 0);
  EXPECT_EQ(api.count(), 0u);
  EXPECT_EQ(client->in_flight(), 0u);
}

TEST(https_client, downloads_reuse_a_keep_alive_connection) {
  fake_cloud_api api;
  api.set_responder([](const recorded_request& r) {
    return media(200, binary_body(200000 + r.index_on_connection, r.index_on_connection));
  });
  auto client = make_client(api);
  temp_dir dir;
  for (unsigned i = 1; i <= 2; ++i) {
    auto path = dir.file("media" + std::to_string(i));
    auto res = post_and_wait(*client, download(api, path));
    ASSERT_TRUE(res.ok()) << i << ": " << res.transport_error;
    auto expected = binary_body(200000 + i, i);
    EXPECT_TRUE(file_contents(path) == expected) << i;
    EXPECT_EQ(res.body_size, expected.size());
    EXPECT_EQ(res.body_sha256, sha256_hex(expected));
  }
  EXPECT_EQ(api.connections(), 1u);
  ASSERT_EQ(api.count(), 2u);
  EXPECT_EQ(api.requests()[1].index_on_connection, 2u);
  EXPECT_EQ(client->idle_connections(), 1u);
}

TEST(https_client, retried_download_holds_exactly_the_body) {
  for (bool tls : {true, false}) {
    fake_cloud_api api(tls);
    // As in reused_connection_dropped_by_server_is_retried_once: each connection answers once.
    const auto body = binary_body(100000, 7);
    api.set_responder([&body](const recorded_request& r) {
      return r.index_on_connection == 1 ? media(200, body) : reply::reset();
    });
    auto client = make_client(api);
    ASSERT_TRUE(post_and_wait(*client, send_to(api)).ok()); // leaves a connection idle
    temp_dir dir;
    auto path = dir.file("media.bin");
    std::ofstream(path, std::ios::binary) << std::string(300000, 'z'); // older and longer
    auto res = post_and_wait(*client, download(api, path));
    ASSERT_TRUE(res.ok()) << res.transport_error;
    EXPECT_TRUE(file_contents(path) == body) << "the file is not exactly the body";
    EXPECT_EQ(res.body_size, body.size());
    EXPECT_EQ(res.body_sha256, sha256_hex(body));
    EXPECT_EQ(api.count(), 3u);
    EXPECT_EQ(api.connections(), 2u);
  }
}

TEST(https_client, in_memory_body_honours_the_requests_limit) {
  fake_cloud_api api;
  api.set_responder(
      [](const recorded_request&) { return reply::json(200, std::string(2000, ' ')); });
  https_client_settings s;
  s.max_body = 1500;
  auto client = make_client(api, s);
  auto req = send_to(api);
  req.max_body = 1000; // below the client's setting
  auto res = post_and_wait(*client, req);
  EXPECT_EQ(res.transport_error, "response body larger than 1000 bytes");
  req.max_body = 0; // the client's setting
  res = post_and_wait(*client, req);
  EXPECT_EQ(res.transport_error, "response body larger than 1500 bytes");
  req.max_body = 2000; // above it, exactly the body's size
  res = post_and_wait(*client, req);
  ASSERT_TRUE(res.ok()) << res.transport_error;
  EXPECT_EQ(res.body, std::string(2000, ' '));
  EXPECT_EQ(res.body_size, 2000u);
  EXPECT_EQ(res.body_sha256, "");
}

// --- concurrency and shutdown
// ----------------------------------------------------------------------

TEST(https_client, concurrent_posts_complete_exactly_once) {
  fake_cloud_api api;
  constexpr size_t n = 200;
  completion_log log(n); // outlives the client, whose callbacks write to it
  auto client = make_client(api);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (size_t i = t; i < n; i += 4)
        client->post(send_to(api, std::to_string(1000 + i)), log.callback_for(i));
    });
  for (auto& t : threads)
    t.join();
  ASSERT_TRUE(log.wait_total(n, 60s)) << log.total;
  EXPECT_EQ(client->in_flight(), 0u);
  EXPECT_LE(client->idle_connections(), 16u); // max_idle_per_host
  // After stop() no callback runs any more, and a call still pending would complete now: a
  // (wrong) second completion shows below either way.
  client->stop();
  std::lock_guard lock(log.mutex);
  EXPECT_EQ(log.total, n);
  for (size_t i = 0; i < n; ++i) {
    ASSERT_EQ(log.calls[i].size(), 1u) << i;
    auto& r = log.calls[i][0];
    ASSERT_TRUE(r.ok()) << i << ": " << r.transport_error;
    EXPECT_EQ(nlohmann::json::parse(r.body)["contacts"][0]["wa_id"], std::to_string(1000 + i));
  }
  EXPECT_EQ(api.count(), n);
}

TEST(https_client, stop_completes_every_pending_call_exactly_once) {
  fake_cloud_api api;
  api.set_responder([](const recorded_request&) { return reply::hang(); });
  constexpr size_t n = 20;
  completion_log log(n);
  auto client = make_client(api);
  for (size_t i = 0; i < n; ++i) {
    auto req = send_to(api);
    req.timeout_ms = 60000;
    client->post(req, log.callback_for(i));
  }
  ASSERT_TRUE(api.wait_for(n, kWait)); // all are on the wire, waiting for answers
  EXPECT_EQ(log.total, 0u);
  client->stop(); // does not wait for the 60 s deadlines: every call ends as "stopped"
  {
    std::lock_guard lock(log.mutex); // stop() returned: every callback has run
    EXPECT_EQ(log.total, n);
    for (size_t i = 0; i < n; ++i) {
      ASSERT_EQ(log.calls[i].size(), 1u) << i;
      EXPECT_EQ(log.calls[i][0].transport_error, "https_client stopped");
    }
  }
  // After stop(): fails at once, inline.
  bool called = false;
  client->post(send_to(api), [&](outbound_response r) {
    called = true;
    EXPECT_EQ(r.transport_error, "https_client not running");
  });
  EXPECT_TRUE(called);
  client->stop(); // idempotent
  EXPECT_EQ(log.total, n);
}

TEST(https_client, stop_right_after_posting_completes_each_call_once) {
  fake_cloud_api api;
  constexpr size_t n = 100;
  completion_log log(n);
  auto client = make_client(api);
  for (size_t i = 0; i < n; ++i)
    client->post(send_to(api), log.callback_for(i));
  client->stop();
  std::lock_guard lock(log.mutex);
  EXPECT_EQ(log.total, n);
  for (size_t i = 0; i < n; ++i)
    EXPECT_EQ(log.calls[i].size(), 1u) << i;
  EXPECT_EQ(client->in_flight(), 0u);
}

TEST(https_client, destructor_stops_with_calls_pending) {
  fake_cloud_api api;
  api.set_responder([](const recorded_request&) { return reply::hang(); });
  completion_log log(3);
  {
    auto client = make_client(api);
    for (size_t i = 0; i < 3; ++i)
      client->post(send_to(api), log.callback_for(i));
    ASSERT_TRUE(api.wait_for(3, kWait));
  }
  EXPECT_EQ(log.total, 3u);
}

TEST(https_client, in_flight_limit_fails_at_once) {
  fake_cloud_api api;
  api.set_responder([](const recorded_request&) { return reply::hang(); });
  https_client_settings s;
  s.max_in_flight = 2;
  completion_log log(3);
  auto client = make_client(api, s);
  client->post(send_to(api), log.callback_for(0));
  client->post(send_to(api), log.callback_for(1));
  client->post(send_to(api), log.callback_for(2));
  ASSERT_TRUE(log.wait_total(1, kWait));
  {
    std::lock_guard lock(log.mutex);
    ASSERT_EQ(log.calls[2].size(), 1u);
    EXPECT_EQ(log.calls[2][0].transport_error, "too many requests in flight");
    EXPECT_TRUE(log.calls[0].empty());
    EXPECT_TRUE(log.calls[1].empty());
  }
  EXPECT_EQ(client->in_flight(), 2u);
  client->stop();
  EXPECT_EQ(log.total, 3u);
}

TEST(https_client, callbacks_may_post_again) {
  fake_cloud_api api;
  std::promise<int> finished;
  std::atomic<int> ok{0};
  std::function<void(outbound_response)> next;
  std::unique_ptr<https_client> client;
  next = [&](outbound_response r) {
    if (r.ok() && r.status == 200)
      ++ok;
    if (ok < 10 && r.ok())
      client->post(send_to(api), next); // re-entrant: from the client's own thread
    else
      finished.set_value(ok.load());
  };
  client = make_client(api);
  client->post(send_to(api), next);
  auto f = finished.get_future();
  ASSERT_EQ(f.wait_for(kWait), std::future_status::ready);
  EXPECT_EQ(f.get(), 10);
  EXPECT_EQ(api.count(), 10u);
}

// --- plain HTTP, bad input
// -------------------------------------------------------------------------

TEST(https_client, plain_http_works) {
  fake_cloud_api api(/*tls=*/false);
  auto client = make_client(api);
  ASSERT_EQ(api.url().rfind("http://", 0), 0u);
  auto res = post_and_wait(*client, send_to(api, "4915112345678"));
  ASSERT_TRUE(res.ok()) << res.transport_error;
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(nlohmann::json::parse(res.body)["contacts"][0]["input"], "4915112345678");
  EXPECT_EQ(api.count(), 1u);
}

TEST(https_client, bad_url_fails_via_the_callback_on_the_client_thread) {
  https_client client;
  ASSERT_EQ(client.start(), "");
  for (const char* url : {"not a url", "ftp://example.com/", "https://", "https://h:99999/"}) {
    outbound_request req;
    req.url = url;
    std::promise<std::pair<outbound_response, std::thread::id>> p;
    auto f = p.get_future();
    client.post(req, [&p](outbound_response r) {
      p.set_value({std::move(r), std::this_thread::get_id()});
    });
    ASSERT_EQ(f.wait_for(kWait), std::future_status::ready) << url;
    auto [res, tid] = f.get();
    EXPECT_EQ(res.transport_error.rfind("bad url", 0), 0u) << url << ": " << res.transport_error;
    EXPECT_NE(tid, std::this_thread::get_id());
  }
  EXPECT_EQ(client.in_flight(), 0u);
}

TEST(https_client, post_before_start_fails_inline) {
  https_client client;
  bool called = false;
  outbound_request req;
  req.url = "https://example.com/";
  client.post(req, [&](outbound_response r) {
    called = true;
    EXPECT_EQ(r.transport_error, "https_client not running");
  });
  EXPECT_TRUE(called);
}

} // namespace
} // namespace inboxd
