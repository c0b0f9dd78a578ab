// Unit tests: file_response (Range, If-Range, If-None-Match over plain data), and the Beast HTTP
// server writing a file body (http_response::file_path) over real loopback sockets. Every network
// operation has a deadline.

#include "messages/file_response.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <utility> // before Asio: Boost 1.74's awaitable.hpp misses it under C++20

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "http/http_server.hpp"
#include "metrics/metrics.hpp"
#include "tests/support/http_client.hpp"

namespace inboxd {
namespace {

const std::string kEtag = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const std::string kQuoted = "\"" + kEtag + "\"";
const std::string kPath = "/var/lib/inboxd/media/ab/cd";
const std::string kType = "image/jpeg";

http_request get(std::vector<std::pair<std::string, std::string>> headers = {}) {
  http_request r;
  r.method = "GET";
  r.path = r.target = "/api/messages/m_1/media";
  r.headers = std::move(headers);
  return r;
}

std::string header(const http_response& res, const std::string& name) {
  for (auto& [k, v] : res.headers)
    if (k == name)
      return v;
  return {};
}

bool has_header(const http_response& res, const std::string& name) {
  for (auto& [k, v] : res.headers)
    if (k == name)
      return true;
  return false;
}

// The headers every answer carries.
void expect_common(const http_response& res) {
  EXPECT_EQ(header(res, "ETag"), kQuoted);
  EXPECT_EQ(header(res, "Accept-Ranges"), "bytes");
  EXPECT_EQ(header(res, "Cache-Control"), "private, max-age=31536000, immutable");
}

void expect_whole(const http_response& res, uint64_t size) {
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.file_path, kPath);
  EXPECT_EQ(res.file_offset, 0u);
  EXPECT_EQ(res.file_length, size);
  EXPECT_EQ(res.content_type, kType);
  EXPECT_FALSE(has_header(res, "Content-Range"));
  expect_common(res);
}

void expect_partial(const http_response& res, uint64_t first, uint64_t last, uint64_t size) {
  EXPECT_EQ(res.status, 206);
  EXPECT_EQ(res.file_path, kPath);
  EXPECT_EQ(res.file_offset, first);
  EXPECT_EQ(res.file_length, last - first + 1);
  EXPECT_EQ(res.content_type, kType);
  EXPECT_EQ(header(res, "Content-Range"), "bytes " + std::to_string(first) + "-" +
                                              std::to_string(last) + "/" + std::to_string(size));
  expect_common(res);
}

void expect_unsatisfiable(const http_response& res, uint64_t size) {
  EXPECT_EQ(res.status, 416);
  EXPECT_TRUE(res.file_path.empty());
  EXPECT_EQ(header(res, "Content-Range"), "bytes */" + std::to_string(size));
  EXPECT_EQ(res.content_type, "application/json; charset=utf-8");
  auto body = nlohmann::json::parse(res.body);
  EXPECT_EQ(body["error"]["code"], "range_not_satisfiable");
  EXPECT_TRUE(body["error"]["message"].is_string());
  expect_common(res);
}

void expect_not_modified(const http_response& res) {
  EXPECT_EQ(res.status, 304);
  EXPECT_TRUE(res.file_path.empty());
  EXPECT_EQ(res.file_length, 0u);
  EXPECT_TRUE(res.body.empty());
  EXPECT_TRUE(res.content_type.empty());
  EXPECT_FALSE(has_header(res, "Content-Range"));
  expect_common(res);
}

http_response ranged(const std::string& range, uint64_t size = 1000) {
  return file_response(get({{"range", range}}), kPath, size, kType, kEtag);
}

TEST(file_response, whole_file_without_range) {
  expect_whole(file_response(get(), kPath, 1000, kType, kEtag), 1000);
}

TEST(file_response, closed_range) {
  expect_partial(ranged("bytes=0-99"), 0, 99, 1000);
  expect_partial(ranged("bytes=100-199"), 100, 199, 1000);
  expect_partial(ranged("bytes=999-999"), 999, 999, 1000);
  expect_partial(ranged("bytes=0-999"), 0, 999, 1000);
}

TEST(file_response, last_position_beyond_the_end_is_clamped) {
  expect_partial(ranged("bytes=500-1000"), 500, 999, 1000);
  expect_partial(ranged("bytes=500-5000000"), 500, 999, 1000);
  expect_partial(ranged("bytes=0-99999999999999999999999999"), 0, 999, 1000); // saturates
}

TEST(file_response, open_range) {
  expect_partial(ranged("bytes=100-"), 100, 999, 1000);
  expect_partial(ranged("bytes=0-"), 0, 999, 1000);
  expect_partial(ranged("bytes=999-"), 999, 999, 1000);
}

TEST(file_response, suffix_range) {
  expect_partial(ranged("bytes=-100"), 900, 999, 1000);
  expect_partial(ranged("bytes=-1"), 999, 999, 1000);
  expect_partial(ranged("bytes=-1000"), 0, 999, 1000);
  expect_partial(ranged("bytes=-5000"), 0, 999, 1000); // longer than the file: all of it
  expect_partial(ranged("bytes=-99999999999999999999999999"), 0, 999, 1000);
}

TEST(file_response, range_syntax_is_lenient_where_the_rfc_is) {
  expect_partial(ranged("BYTES=10-19"), 10, 19, 1000);     // the unit is case-insensitive
  expect_partial(ranged("  bytes=10-19  "), 10, 19, 1000); // surrounding whitespace
  expect_partial(ranged("bytes= 10-19 ,"), 10, 19, 1000);  // empty list elements
  expect_partial(ranged("bytes=,10-19"), 10, 19, 1000);
}

TEST(file_response, unsatisfiable_range_is_416) {
  expect_unsatisfiable(ranged("bytes=1000-"), 1000);
  expect_unsatisfiable(ranged("bytes=1000-2000"), 1000);
  expect_unsatisfiable(ranged("bytes=5000-6000"), 1000);
  expect_unsatisfiable(ranged("bytes=99999999999999999999999999-"), 1000);
  expect_unsatisfiable(ranged("bytes=18446744073709551615-"), 1000);
  expect_unsatisfiable(ranged("bytes=-0"), 1000);
}

TEST(file_response, malformed_range_is_ignored) {
  for (auto r : {"bytes", "bytes=", "bytes=,", "bytes=abc", "bytes=5", "bytes=-", "bytes=a-b",
                 "bytes=1-a", "bytes=--5", "bytes=5--6", "bytes=200-100", "bytes=+5-10",
                 "bytes=0x10-20", "bytes=1 -2", "items=0-10", "0-10", "bytes 0-10", "bytes=-5-"})
    expect_whole(ranged(r), 1000);
}

TEST(file_response, multiple_ranges_are_ignored) {
  expect_whole(ranged("bytes=0-9,20-29"), 1000);
  expect_whole(ranged("bytes=0-9, -5"), 1000);
  expect_whole(ranged("bytes=5000-6000,7000-8000"), 1000); // even when none is satisfiable
}

TEST(file_response, head_ignores_range) {
  auto req = get({{"range", "bytes=0-9"}});
  req.method = "HEAD";
  expect_whole(file_response(req, kPath, 1000, kType, kEtag), 1000);
}

TEST(file_response, if_none_match_matching_is_304) {
  auto inm = [](const std::string& v) {
    return file_response(get({{"if-none-match", v}}), kPath, 1000, kType, kEtag);
  };
  expect_not_modified(inm(kQuoted));
  expect_not_modified(inm("W/" + kQuoted)); // weak comparison
  expect_not_modified(inm("*"));
  expect_not_modified(inm(" * "));
  expect_not_modified(inm("\"other\", " + kQuoted));
  expect_not_modified(inm("W/\"other\",W/" + kQuoted + " , \"third\""));
  expect_not_modified(inm("\"a,b\", " + kQuoted)); // a comma inside a tag is part of the tag
}

TEST(file_response, if_none_match_not_matching_is_served) {
  auto inm = [](const std::string& v, const std::string& range = "") {
    std::vector<std::pair<std::string, std::string>> h{{"if-none-match", v}};
    if (!range.empty())
      h.emplace_back("range", range);
    return file_response(get(h), kPath, 1000, kType, kEtag);
  };
  expect_whole(inm("\"other\""), 1000);
  expect_whole(inm("W/\"other\", \"another\""), 1000);
  expect_whole(inm(kEtag), 1000);             // unquoted: malformed, ignored
  expect_whole(inm("\"" + kEtag), 1000);      // unterminated
  expect_whole(inm(kQuoted + " junk"), 1000); // not a list of tags
  expect_whole(inm("\"" + kEtag.substr(1) + "\""), 1000);
  expect_partial(inm("\"other\"", "bytes=0-9"), 0, 9, 1000); // then Range applies
}

TEST(file_response, if_none_match_comes_before_range) {
  auto res = file_response(get({{"if-none-match", kQuoted}, {"range", "bytes=0-9"}}), kPath, 1000,
                           kType, kEtag);
  expect_not_modified(res);
  res = file_response(get({{"if-none-match", kQuoted}, {"range", "bytes=5000-"}}), kPath, 1000,
                      kType, kEtag);
  expect_not_modified(res);
}

TEST(file_response, if_range_matching_serves_the_range) {
  auto res = file_response(get({{"range", "bytes=10-19"}, {"if-range", kQuoted}}), kPath, 1000,
                           kType, kEtag);
  expect_partial(res, 10, 19, 1000);
  res = file_response(get({{"range", "bytes=10-19"}, {"if-range", " " + kQuoted + " "}}), kPath,
                      1000, kType, kEtag);
  expect_partial(res, 10, 19, 1000);
}

TEST(file_response, if_range_not_matching_serves_the_whole_file) {
  for (std::string v : {std::string("\"other\""), "W/" + kQuoted, kEtag,
                        std::string("Wed, 21 Oct 2015 07:28:00 GMT"), "\"" + kEtag + "x\""}) {
    auto res =
        file_response(get({{"range", "bytes=10-19"}, {"if-range", v}}), kPath, 1000, kType, kEtag);
    expect_whole(res, 1000);
  }
  // Not matching also means no 416 for a range that would not be satisfiable.
  auto res = file_response(get({{"range", "bytes=5000-"}, {"if-range", "\"other\""}}), kPath, 1000,
                           kType, kEtag);
  expect_whole(res, 1000);
}

TEST(file_response, if_range_without_range_is_ignored) {
  expect_whole(file_response(get({{"if-range", "\"other\""}}), kPath, 1000, kType, kEtag), 1000);
}

TEST(file_response, zero_size_file) {
  expect_whole(file_response(get(), kPath, 0, kType, kEtag), 0);
  expect_unsatisfiable(ranged("bytes=0-", 0), 0);
  expect_unsatisfiable(ranged("bytes=0-0", 0), 0);
  expect_unsatisfiable(ranged("bytes=-0", 0), 0);
  // A suffix range of an empty file is satisfiable, yet no Content-Range can say so: the (empty)
  // whole file.
  expect_whole(ranged("bytes=-5", 0), 0);
  expect_not_modified(file_response(get({{"if-none-match", kQuoted}}), kPath, 0, kType, kEtag));
}

TEST(file_response, one_byte_file) {
  expect_partial(ranged("bytes=0-0", 1), 0, 0, 1);
  expect_partial(ranged("bytes=0-", 1), 0, 0, 1);
  expect_partial(ranged("bytes=-1", 1), 0, 0, 1);
  expect_partial(ranged("bytes=-2", 1), 0, 0, 1);
  expect_unsatisfiable(ranged("bytes=1-", 1), 1);
}

// --- the server writing file bodies ---

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using namespace std::chrono_literals;

constexpr uint64_t kFileSize = 5 * 1024 * 1024;

// 5 MiB holding every byte value, with no period of 256 (a misplaced chunk would show).
std::string file_bytes() {
  std::string out(kFileSize, '\0');
  for (uint64_t i = 0; i < kFileSize; ++i)
    out[i] = static_cast<char>((i + i / 256 + i / 65536) & 0xff);
  return out;
}

// The count of inboxd_http_request_duration_seconds for route="not_found" (the test's paths are
// no route of the API) and `status_class`.
uint64_t requests_counted(const std::string& status_class) {
  auto text = metrics::registry::global().render();
  auto key = "inboxd_http_request_duration_seconds_count{route=\"not_found\",status=\"" +
             status_class + "\"} ";
  auto pos = text.find(key);
  if (pos == std::string::npos)
    return 0;
  return std::stoull(text.substr(pos + key.size()));
}

class file_serving_test : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("inboxd_file_response_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    data_ = file_bytes();
    path_ = (dir_ / "media.bin").string();
    std::ofstream(path_, std::ios::binary)
        .write(data_.data(), static_cast<std::streamsize>(data_.size()));
    empty_path_ = (dir_ / "empty.bin").string();
    std::ofstream(empty_path_, std::ios::binary).flush();

    cfg_.http_addr = "127.0.0.1";
    cfg_.http_port = 0;
    cfg_.request_timeout_ms = 5000;
    server_ = std::make_unique<http_server>(
        io_, cfg_, [this](std::shared_ptr<const http_request> req, reply_handle reply) {
          dispatch(*req, reply);
        });
    port_ = server_->listen();
    for (int i = 0; i < 2; ++i)
      threads_.emplace_back([this] { io_.run(); });
  }

  void TearDown() override {
    server_->stop_accepting();
    work_.reset();
    io_.stop();
    for (auto& t : threads_)
      t.join();
    server_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  void dispatch(const http_request& req, const reply_handle& reply) {
    if (req.path == "/file")
      return reply.send(file_response(req, path_, kFileSize, "application/octet-stream", kEtag));
    if (req.path == "/empty")
      return reply.send(file_response(req, empty_path_, 0, "application/octet-stream", kEtag));
    if (req.path == "/missing") // gone between the handler's look and the write
      return reply.send(file_response(req, (dir_ / "nope.bin").string(), 10, "text/plain", kEtag));
    if (req.path == "/longer") // the handler believes in more bytes than the file holds
      return reply.send(
          file_response(req, path_, kFileSize + 1, "application/octet-stream", kEtag));
    if (req.path == "/directory")
      return reply.send(file_response(req, dir_.string(), 10, "text/plain", kEtag));
    if (req.path == "/no-body") { // file_path on a status without a body is ignored
      http_response res;
      res.status = 204;
      res.content_type.clear();
      res.file_path = path_;
      res.file_length = 10;
      return reply.send(std::move(res));
    }
    reply.json(200, {{"path", req.path}});
  }

  net::io_context io_;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_{
      net::make_work_guard(io_)};
  settings cfg_;
  std::unique_ptr<http_server> server_;
  uint16_t port_ = 0;
  std::vector<std::thread> threads_;
  std::filesystem::path dir_;
  std::string data_, path_, empty_path_;
};

// Several requests on one connection, each read fully before the next is sent (a deadline on
// every operation). The responses, in order; throws when the connection fails.
std::vector<bhttp::response<bhttp::string_body>> exchange_on_one_connection(
    uint16_t port, const std::vector<bhttp::request<bhttp::empty_body>>& requests) {
  net::io_context io;
  beast::tcp_stream stream(io);
  beast::flat_buffer buffer;
  beast::error_code ec;
  stream.expires_after(15s);
  stream.async_connect({net::ip::make_address("127.0.0.1"), port},
                       [&](beast::error_code e) { ec = e; });
  io.run();
  if (ec)
    throw std::runtime_error("connect: " + ec.message());
  std::vector<bhttp::response<bhttp::string_body>> out;
  for (auto& req : requests) {
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    stream.expires_after(15s);
    bhttp::async_write(stream, req, [&](beast::error_code e, size_t) {
      ec = e;
      if (!e)
        bhttp::async_read(stream, buffer, parser, [&](beast::error_code e2, size_t) { ec = e2; });
    });
    io.restart();
    io.run();
    if (ec)
      throw std::runtime_error("request " + std::to_string(out.size() + 1) + ": " + ec.message());
    out.push_back(parser.release());
  }
  return out;
}

bhttp::request<bhttp::empty_body> raw_get(const std::string& target,
                                          const std::string& range = "") {
  bhttp::request<bhttp::empty_body> req{bhttp::verb::get, target, 11};
  req.set(bhttp::field::host, "127.0.0.1");
  if (!range.empty())
    req.set(bhttp::field::range, range);
  return req;
}

TEST_F(file_serving_test, full_get_returns_the_file) {
  auto before = requests_counted("2xx");
  test::http_client client(port_);
  auto res = client.get("/file");
  ASSERT_EQ(res.status, 200) << res.body.substr(0, 200);
  EXPECT_EQ(res.header("content-length"), std::to_string(kFileSize));
  EXPECT_EQ(res.header("content-type"), "application/octet-stream");
  EXPECT_EQ(res.header("etag"), kQuoted);
  EXPECT_EQ(res.header("accept-ranges"), "bytes");
  EXPECT_EQ(res.header("cache-control"), "private, max-age=31536000, immutable");
  EXPECT_TRUE(res.has_header("x-request-id"));
  EXPECT_FALSE(res.has_header("content-range"));
  EXPECT_FALSE(res.has_header("transfer-encoding"));
  ASSERT_EQ(res.body.size(), data_.size());
  EXPECT_TRUE(res.body == data_); // not EXPECT_EQ: a mismatch would print 10 MiB
  EXPECT_EQ(requests_counted("2xx"), before + 1);
}

TEST_F(file_serving_test, range_get_returns_exactly_those_bytes) {
  test::http_client client(port_);
  struct probe {
    std::string range;
    uint64_t first, last;
  };
  for (auto& p : std::vector<probe>{{"bytes=1000-1999", 1000, 1999},
                                    {"bytes=65530-200000", 65530, 200000}, // crosses chunks
                                    {"bytes=0-0", 0, 0},
                                    {"bytes=-70000", kFileSize - 70000, kFileSize - 1},
                                    {"bytes=5000000-", 5000000, kFileSize - 1},
                                    {"bytes=5242000-99999999", 5242000, kFileSize - 1}}) {
    SCOPED_TRACE(p.range);
    auto res = client.get("/file", {{"Range", p.range}});
    ASSERT_EQ(res.status, 206) << res.body.substr(0, 200);
    auto length = p.last - p.first + 1;
    EXPECT_EQ(res.header("content-length"), std::to_string(length));
    EXPECT_EQ(res.header("content-range"), "bytes " + std::to_string(p.first) + "-" +
                                               std::to_string(p.last) + "/" +
                                               std::to_string(kFileSize));
    ASSERT_EQ(res.body.size(), length);
    EXPECT_TRUE(res.body == data_.substr(p.first, length));
  }
}

TEST_F(file_serving_test, conditional_and_unsatisfiable_answers) {
  test::http_client client(port_);
  auto res = client.get("/file", {{"If-None-Match", "W/" + kQuoted}});
  EXPECT_EQ(res.status, 304);
  EXPECT_TRUE(res.body.empty());
  EXPECT_EQ(res.header("etag"), kQuoted);
  res = client.get("/file", {{"Range", "bytes=6000000-"}});
  EXPECT_EQ(res.status, 416);
  EXPECT_EQ(res.header("content-range"), "bytes */" + std::to_string(kFileSize));
  EXPECT_EQ(res.json()["error"]["code"], "range_not_satisfiable");
  res = client.get("/file", {{"Range", "bytes=0-9"}, {"If-Range", "\"stale\""}});
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body.size(), kFileSize);
  res = client.get("/empty");
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.header("content-length"), "0");
  EXPECT_TRUE(res.body.empty());
}

TEST_F(file_serving_test, requests_share_one_keep_alive_connection) {
  auto responses = exchange_on_one_connection(
      port_, {raw_get("/file"), raw_get("/file", "bytes=100-299"), raw_get("/empty"),
              raw_get("/file", "bytes=-3"), raw_get("/json")});
  ASSERT_EQ(responses.size(), 5u);
  EXPECT_EQ(responses[0].result_int(), 200u);
  EXPECT_TRUE(responses[0].body() == data_);
  EXPECT_TRUE(responses[0].keep_alive());
  EXPECT_EQ(responses[1].result_int(), 206u);
  EXPECT_EQ(responses[1].body(), data_.substr(100, 200));
  EXPECT_EQ(responses[2].result_int(), 200u);
  EXPECT_EQ(responses[2].body(), "");
  EXPECT_EQ(responses[3].result_int(), 206u);
  EXPECT_EQ(responses[3].body(), data_.substr(kFileSize - 3));
  EXPECT_EQ(responses[4].result_int(), 200u);
  EXPECT_EQ(nlohmann::json::parse(responses[4].body())["path"], "/json");
}

TEST_F(file_serving_test, a_file_that_cannot_be_served_is_500_and_the_connection_goes_on) {
  auto before = requests_counted("5xx");
  auto responses =
      exchange_on_one_connection(port_, {raw_get("/missing"), raw_get("/longer"),
                                         raw_get("/directory"), raw_get("/file", "bytes=0-3")});
  ASSERT_EQ(responses.size(), 4u);
  for (size_t i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(responses[i].result_int(), 500u);
    EXPECT_EQ(responses[i][bhttp::field::content_type], "application/json; charset=utf-8");
    auto body = nlohmann::json::parse(responses[i].body());
    EXPECT_EQ(body["error"]["code"], "internal");
    EXPECT_TRUE(responses[i].keep_alive());
  }
  EXPECT_EQ(requests_counted("5xx"), before + 3); // the metrics see the 500, not the 200
  EXPECT_EQ(responses[3].result_int(), 206u);
  EXPECT_EQ(responses[3].body(), data_.substr(0, 4));
}

TEST_F(file_serving_test, a_status_without_a_body_ignores_the_file) {
  auto responses = exchange_on_one_connection(port_, {raw_get("/no-body"), raw_get("/json")});
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[0].result_int(), 204u);
  EXPECT_EQ(responses[0].body(), "");
  EXPECT_EQ(responses[1].result_int(), 200u);
}

} // namespace
} // namespace inboxd
