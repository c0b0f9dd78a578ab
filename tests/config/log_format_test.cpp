#include "config/log_format.hpp"

#include <memory>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

using namespace inboxd;

namespace {

std::string json_string(std::string_view s) {
  std::string out;
  append_log_string(out, s);
  return out;
}

// Logs through a logger writing to a string stream, as the default logger would.
class captured_log {
public:
  explicit captured_log(log_format format) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    logger_ = std::make_shared<spdlog::logger>("test", sink);
    previous_ = spdlog::default_logger();
    spdlog::set_default_logger(logger_);
    configure_logging(format, "debug");
  }
  ~captured_log() {
    configure_logging(log_format::text, "info");
    spdlog::set_default_logger(previous_);
  }
  std::vector<std::string> lines() const {
    std::vector<std::string> out;
    std::istringstream in(out_.str());
    for (std::string l; std::getline(in, l);)
      out.push_back(l);
    return out;
  }

private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> logger_, previous_;
};

} // namespace

TEST(log_format, json_strings_are_escaped_and_valid_utf8) {
  EXPECT_EQ(json_string("plain"), "\"plain\"");
  EXPECT_EQ(json_string("a\"b\\c\nd\re\tf"), "\"a\\\"b\\\\c\\nd\\re\\tf\"");
  EXPECT_EQ(json_string(std::string("\x01\x1f\x7f", 3)), "\"\\u0001\\u001f\\u007f\"");
  EXPECT_EQ(json_string(std::string("nul\0x", 5)), "\"nul\\u0000x\"");
  EXPECT_EQ(json_string("Voc\xc3\xaas \xf0\x9f\x98\x80"), "\"Voc\xc3\xaas \xf0\x9f\x98\x80\"");
  // Invalid UTF-8: a lone continuation byte, a truncated sequence, an overlong '/', a surrogate,
  // a code point past U+10FFFF.
  EXPECT_EQ(json_string("\x80"), "\"\\ufffd\"");
  EXPECT_EQ(json_string("a\xc3"), "\"a\\ufffd\"");
  EXPECT_EQ(json_string("\xc0\xaf"), "\"\\ufffd\\ufffd\"");
  EXPECT_EQ(json_string("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");
  EXPECT_EQ(json_string("\xf4\x90\x80\x80"), "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
  // Whatever the bytes, the result parses as the one JSON string.
  std::string all;
  for (int i = 0; i < 256; ++i)
    all.push_back(static_cast<char>(i));
  auto parsed = nlohmann::json::parse(json_string(all + all), nullptr, false);
  ASSERT_TRUE(parsed.is_string());
}

TEST(log_format, a_line_has_time_level_msg_and_the_fields_known) {
  std::string line;
  auto t = std::chrono::system_clock::time_point(std::chrono::milliseconds(1765030283123));
  append_json_log_line(line, t, "info", "hello \"x\"\n", nullptr);
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["time"], "2025-12-06T14:11:23.123Z");
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["msg"], "hello \"x\"\n");
  EXPECT_EQ(j.size(), 3u);

  log_fields f;
  f.request_id = "req_1";
  f.workspace = "ws_1";
  f.method = "GET";
  f.route = "conversations_list";
  f.status = 200;
  f.duration_ms = 1.5;
  f.bytes = 42;
  line.clear();
  append_json_log_line(line, t, "warn", "m", &f);
  j = nlohmann::json::parse(line);
  EXPECT_EQ(j["requestId"], "req_1");
  EXPECT_EQ(j["workspace"], "ws_1");
  EXPECT_EQ(j["method"], "GET");
  EXPECT_EQ(j["route"], "conversations_list");
  EXPECT_EQ(j["status"], 200);
  EXPECT_DOUBLE_EQ(j["durationMs"].get<double>(), 1.5);
  EXPECT_EQ(j["bytes"], 42);

  line.clear();
  append_json_log_line(line, t, "info", std::string(kMaxLogMessage + 100, 'x'), nullptr);
  EXPECT_EQ(nlohmann::json::parse(line)["msg"].get<std::string>().size(), kMaxLogMessage);
}

TEST(log_format, spdlog_lines_come_out_as_json_with_the_scope_fields) {
  captured_log log(log_format::json);
  spdlog::info("plain {}", "line\nwith \"quotes\" and \xff");
  {
    log_fields f;
    f.request_id = "req_abc";
    f.workspace = "ws_9";
    log_scope scope(f);
    spdlog::warn("inside");
  }
  spdlog::debug("after");
  log_fields a;
  a.request_id = "req_2";
  a.method = "POST";
  a.route = "message_send";
  a.status = 503;
  a.duration_ms = 2;
  a.bytes = 10;
  log_access(access_log_mode::errors, a);
  a.status = 202;
  log_access(access_log_mode::errors, a); // not an error: not written
  log_access(access_log_mode::all, a);
  log_access(access_log_mode::off, a);
  auto lines = log.lines();
  ASSERT_EQ(lines.size(), 5u);
  std::vector<nlohmann::json> js;
  for (auto& l : lines) {
    auto j = nlohmann::json::parse(l, nullptr, false);
    ASSERT_TRUE(j.is_object()) << l;
    ASSERT_TRUE(j.contains("time") && j.contains("level") && j.contains("msg")) << l;
    js.push_back(j);
  }
  EXPECT_EQ(js[0]["msg"], "plain line\nwith \"quotes\" and \xef\xbf\xbd");
  EXPECT_FALSE(js[0].contains("requestId"));
  EXPECT_EQ(js[1]["requestId"], "req_abc");
  EXPECT_EQ(js[1]["workspace"], "ws_9");
  EXPECT_EQ(js[1]["level"], "warn");
  EXPECT_FALSE(js[2].contains("requestId"));
  EXPECT_EQ(js[3]["level"], "warn");
  EXPECT_EQ(js[3]["status"], 503);
  EXPECT_EQ(js[3]["route"], "message_send");
  EXPECT_EQ(js[4]["level"], "info");
  EXPECT_EQ(js[4]["status"], 202);
  EXPECT_EQ(js[4]["requestId"], "req_2");
}

TEST(log_format, text_access_lines_name_the_fields) {
  captured_log log(log_format::text);
  log_fields a;
  a.request_id = "req_3";
  a.method = "GET";
  a.route = "healthz";
  a.status = 200;
  a.duration_ms = 0.25;
  a.bytes = 15;
  log_access(access_log_mode::all, a);
  auto lines = log.lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(
      lines[0].find("GET healthz 200 request_id=req_3 workspace=- duration_ms=0.250 bytes=15"),
      std::string::npos)
      << lines[0];
}
