#include "tests/support/http_client.hpp"

#include <utility> // before Asio: Boost 1.74's awaitable.hpp misses it under C++20

#include <algorithm>
#include <array>
#include <cctype>
#include <functional>
#include <optional>
#include <stdexcept>

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>
#include <set>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace inboxd::test {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

beast::string_view bsv(std::string_view s) {
  return beast::string_view(s.data(), s.size());
}

bool iequals(std::string_view a, std::string_view b) {
  return lower(a) == lower(b);
}

// --- OpenAPI recording (see record_exchange) ---------------------------------------------

// <dir>/<pid>.jsonl when INBOXD_OPENAPI_RECORD_DIR is set, else "".
const std::string& record_file() {
  static const std::string path = [] {
    const char* dir = std::getenv("INBOXD_OPENAPI_RECORD_DIR");
    return dir && *dir ? std::string(dir) + "/" + std::to_string(::getpid()) + ".jsonl"
                       : std::string();
  }();
  return path;
}

// One line per call, written with one write() on an O_APPEND descriptor.
void append_record(const nlohmann::json& line) {
  auto& path = record_file();
  if (path.empty())
    return;
  auto text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0)
    return;
  auto n = ::write(fd, text.data(), text.size());
  (void)n;
  ::close(fd);
}

std::string current_test() {
  auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return info ? std::string(info->test_suite_name()) + "." + info->name() : std::string();
}

// Records the end of every test, so the validator can tell a whole run from a partial one.
struct test_end_recorder : ::testing::EmptyTestEventListener {
  void OnTestEnd(const ::testing::TestInfo& info) override {
    append_record({{"testEnd", std::string(info.test_suite_name()) + "." + info.name()},
                   {"passed", !info.result()->Failed()}});
  }
};

[[maybe_unused]] const bool recorder_installed = [] {
  if (record_file().empty())
    return false;
  ::testing::UnitTest::GetInstance()->listeners().Append(new test_end_recorder);
  return true;
}();

std::mutex inboxd_ports_mutex;
std::set<int> inboxd_ports;

bool is_inboxd_port(int port) {
  std::lock_guard lock(inboxd_ports_mutex);
  return inboxd_ports.count(port) != 0;
}

} // namespace

void note_inboxd_port(int port) {
  std::lock_guard lock(inboxd_ports_mutex);
  inboxd_ports.insert(port);
}

void record_exchange(int port, std::string_view method, std::string_view target, int status,
                     const std::map<std::string, std::string>& headers, std::string_view body,
                     bool body_read) {
  if (record_file().empty() || !is_inboxd_port(port))
    return;
  nlohmann::json line = {{"test", current_test()},
                         {"method", std::string(method)},
                         {"target", std::string(target)},
                         {"status", status},
                         {"headers", headers},
                         {"bodyBytes", body.size()}};
  auto type = lower(headers.count("content-type") ? headers.at("content-type") : "");
  if (!body_read) {
    line["bodyUnread"] = true;
  } else if (type.rfind("application/json", 0) == 0) {
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_discarded())
      line["bodyText"] = std::string(body.substr(0, 2000));
    else
      line["body"] = std::move(j);
  } else if (type.rfind("text/", 0) == 0 && type.rfind("text/event-stream", 0) != 0) {
    line["bodyText"] = std::string(body.substr(0, 2000));
  }
  append_record(line);
}

void record_stream_event(int port, std::string_view type, std::string_view data) {
  if (record_file().empty() || !is_inboxd_port(port))
    return;
  nlohmann::json line = {{"test", current_test()}, {"streamEvent", std::string(type)}};
  auto j = nlohmann::json::parse(data, nullptr, false);
  if (j.is_discarded())
    line["dataText"] = std::string(data.substr(0, 2000));
  else
    line["data"] = std::move(j);
  append_record(line);
}

std::string http_response::header(std::string_view name) const {
  auto i = headers.find(lower(name));
  return i == headers.end() ? std::string() : i->second;
}

bool http_response::has_header(std::string_view name) const {
  return headers.count(lower(name)) > 0;
}

nlohmann::json http_response::json() const {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded())
    throw std::runtime_error("response body is not JSON (status " + std::to_string(status) +
                             "): " + body.substr(0, 2000));
  return j;
}

struct http_client::impl {
  net::io_context ioc;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;

  // Runs the io_context until every operation started on it has completed. Deadlines are set
  // on the tcp_stream (expires_after), which cancels its operations when they pass.
  void run() {
    ioc.restart();
    ioc.run();
  }

  void connect(const std::string& host, int port, std::chrono::milliseconds timeout) {
    stream.emplace(ioc);
    buffer.clear();
    beast::error_code ec;
    auto addr = net::ip::make_address(host, ec);
    if (ec)
      throw std::runtime_error("http_client: bad host " + host);
    stream->expires_after(timeout);
    stream->async_connect(tcp::endpoint(addr, static_cast<unsigned short>(port)),
                          [&](beast::error_code e) { ec = e; });
    run();
    if (ec) {
      stream.reset();
      throw std::runtime_error("http_client: connect to " + host + ":" + std::to_string(port) +
                               " failed: " + ec.message());
    }
  }

  void close() {
    if (stream) {
      beast::error_code ec;
      stream->socket().shutdown(tcp::socket::shutdown_both, ec);
      stream->socket().close(ec);
      stream.reset();
    }
    buffer.clear();
  }
};

http_client::http_client(int port, bool keep_alive, std::string host)
  : impl_(std::make_unique<impl>()), port_(port), keep_alive_(keep_alive), host_(std::move(host)) {}

http_client::~http_client() {
  impl_->close();
}

void http_client::close() {
  impl_->close();
}

bool http_client::connected() const {
  return impl_->stream.has_value() && impl_->stream->socket().is_open();
}

http_response http_client::request(std::string_view method, std::string_view target,
                                   std::string_view body, const header_list& headers) {
  auto verb = bhttp::string_to_verb(bsv(method));
  bhttp::request<bhttp::string_body> req;
  if (verb == bhttp::verb::unknown)
    req.method_string(bsv(method));
  else
    req.method(verb);
  req.target(bsv(target));
  req.version(11);
  req.set(bhttp::field::host, host_ + ":" + std::to_string(port_));
  for (auto& [k, v] : headers)
    req.insert(bsv(k), bsv(v));
  if (!keep_alive_ && req.find(bhttp::field::connection) == req.end())
    req.set(bhttp::field::connection, "close");
  req.body() = std::string(body);
  if (!body.empty() || verb == bhttp::verb::post || verb == bhttp::verb::put ||
      verb == bhttp::verb::patch)
    req.content_length(body.size());

  // A kept-alive connection the server has closed in the meantime shows up as an error on the
  // first read; a fresh connection is then tried once (only when nothing at all was received).
  for (int attempt = 0;; ++attempt) {
    bool reused = impl_->stream.has_value();
    if (!reused)
      impl_->connect(host_, port_, timeout_);
    auto& s = *impl_->stream;
    s.expires_after(timeout_);
    beast::error_code write_ec, read_ec;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(256ull * 1024 * 1024);
    parser.header_limit(1024 * 1024);
    if (verb == bhttp::verb::head)
      parser.skip(true);
    bool read_started = false;
    bhttp::async_write(s, req, [&](beast::error_code ec, size_t) {
      write_ec = ec;
      if (ec)
        return;
      read_started = true;
      bhttp::async_read(s, impl_->buffer, parser,
                        [&](beast::error_code ec2, size_t) { read_ec = ec2; });
    });
    impl_->run();
    auto ec = write_ec ? write_ec : read_ec;
    if (ec) {
      bool nothing_received = !read_started || (!parser.got_some() && impl_->buffer.size() == 0);
      impl_->close();
      if (reused && attempt == 0 && nothing_received && ec != beast::error::timeout)
        continue;
      throw std::runtime_error("http_client: " + std::string(method) + " " + std::string(target) +
                               " failed: " + ec.message());
    }
    auto res = parser.release();
    http_response out;
    out.status = static_cast<int>(res.result_int());
    out.body = std::move(res.body());
    for (auto& f : res) {
      auto name = lower(std::string_view(f.name_string().data(), f.name_string().size()));
      std::string value(f.value().data(), f.value().size());
      auto [it, inserted] = out.headers.emplace(name, value);
      if (!inserted)
        it->second += ", " + value;
    }
    if (!keep_alive_ || !res.keep_alive())
      impl_->close();
    record_exchange(port_, method, target, out.status, out.headers, out.body);
    return out;
  }
}

http_response http_client::get(std::string_view target, const header_list& headers) {
  return request("GET", target, {}, headers);
}

http_response http_client::post_json(std::string_view target, std::string_view body,
                                     const header_list& headers) {
  header_list h = headers;
  bool has_type =
      std::any_of(h.begin(), h.end(), [](auto& kv) { return iequals(kv.first, "content-type"); });
  if (!has_type)
    h.emplace_back("Content-Type", "application/json");
  return request("POST", target, body, h);
}

http_response http_client::post_json(std::string_view target, const nlohmann::json& body,
                                     const header_list& headers) {
  return post_json(target, std::string_view(body.dump()), headers);
}

std::string http_client::send_raw(std::string_view bytes, std::chrono::milliseconds wait) {
  impl raw;
  raw.connect(host_, port_, timeout_);
  auto& s = *raw.stream;
  s.expires_after(wait);
  std::string received;
  std::array<char, 16384> chunk;
  std::function<void()> read_more = [&] {
    s.async_read_some(net::buffer(chunk), [&](beast::error_code ec, size_t n) {
      received.append(chunk.data(), n);
      if (!ec)
        read_more();
    });
  };
  // Read while writing: a server may answer (e.g. 413) and close before it has read everything.
  net::async_write(s, net::buffer(bytes.data(), bytes.size()), [](beast::error_code, size_t) {});
  read_more();
  raw.run();
  raw.close();
  return received;
}

int raw_status(std::string_view raw) {
  if (raw.size() < 12 || raw.substr(0, 5) != "HTTP/")
    return 0;
  auto sp = raw.find(' ');
  if (sp == std::string_view::npos || sp + 4 > raw.size())
    return 0;
  int code = 0;
  for (size_t i = sp + 1; i < sp + 4; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(raw[i])))
      return 0;
    code = code * 10 + (raw[i] - '0');
  }
  return code;
}

int raw_response_count(std::string_view raw) {
  int n = 0;
  size_t pos = 0;
  while ((pos = raw.find("HTTP/1.1 ", pos)) != std::string_view::npos) {
    if (pos == 0 || raw[pos - 1] == '\n')
      ++n;
    pos += 9;
  }
  return n;
}

} // namespace inboxd::test
