#include "config/log_format.hpp"

#include <atomic>
#include <cstdio>
#include <ctime>
#include <memory>

#include <spdlog/formatter.h>
#include <spdlog/spdlog.h>

namespace inboxd {

namespace {

thread_local const log_fields* current_fields = nullptr;
std::atomic<log_format> installed{log_format::text};

// The length of the valid UTF-8 sequence at p (n bytes left), or 0 when it is not one
// (overlong forms, surrogates and code points past U+10FFFF are not).
size_t utf8_sequence(const unsigned char* p, size_t n) {
  unsigned c = p[0];
  if (c < 0x80)
    return 1;
  size_t len = 0;
  uint32_t cp = 0;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (n < len)
    return 0;
  for (size_t i = 1; i < len; ++i) {
    if ((p[i] & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (p[i] & 0x3F);
  }
  if (len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)))
    return 0;
  if (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))
    return 0;
  return len;
}

std::string_view level_name(spdlog::level::level_enum l) {
  switch (l) {
    case spdlog::level::trace:
      return "trace";
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
      return "error";
    case spdlog::level::critical:
      return "critical";
    default:
      return "off";
  }
}

void append_time(std::string& out, std::chrono::system_clock::time_point t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  auto secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                        static_cast<int>(ms % 1000));
  out.push_back('"');
  out.append(buf, n > 0 ? static_cast<size_t>(n) : 0);
  out.push_back('"');
}

class json_formatter final : public spdlog::formatter {
public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    thread_local std::string line;
    line.clear();
    append_json_log_line(line, msg.time, level_name(msg.level),
                         std::string_view(msg.payload.data(), msg.payload.size()), current_fields);
    line.push_back('\n');
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<json_formatter>();
  }
};

} // namespace

log_scope::log_scope(const log_fields& fields) : previous_(current_fields) {
  current_fields = &fields;
}

log_scope::~log_scope() {
  current_fields = previous_;
}

void append_log_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out.push_back('"');
  auto p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size();
  for (size_t i = 0; i < n;) {
    unsigned char c = p[i];
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        ++i;
        continue;
      case '\\':
        out += "\\\\";
        ++i;
        continue;
      case '\n':
        out += "\\n";
        ++i;
        continue;
      case '\r':
        out += "\\r";
        ++i;
        continue;
      case '\t':
        out += "\\t";
        ++i;
        continue;
      default:
        break;
    }
    if (c < 0x20 || c == 0x7f) {
      out += "\\u00";
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 0xf]);
      ++i;
      continue;
    }
    auto len = utf8_sequence(p + i, n - i);
    if (len == 0) {
      out += "\\ufffd";
      ++i;
      continue;
    }
    out.append(s.data() + i, len);
    i += len;
  }
  out.push_back('"');
}

void append_json_log_line(std::string& out, std::chrono::system_clock::time_point time,
                          std::string_view level, std::string_view msg, const log_fields* fields) {
  out += "{\"time\":";
  append_time(out, time);
  out += ",\"level\":";
  append_log_string(out, level);
  out += ",\"msg\":";
  append_log_string(out, msg.substr(0, kMaxLogMessage));
  if (!fields) {
    out.push_back('}');
    return;
  }
  auto text = [&](const char* key, std::string_view v) {
    if (v.empty())
      return;
    out += ",\"";
    out += key;
    out += "\":";
    append_log_string(out, v.substr(0, 256));
  };
  text("requestId", fields->request_id);
  text("workspace", fields->workspace);
  text("method", fields->method);
  text("route", fields->route);
  if (fields->status > 0)
    out += ",\"status\":" + std::to_string(fields->status);
  if (fields->duration_ms >= 0) {
    char buf[32];
    int k = std::snprintf(buf, sizeof buf, "%.3f", fields->duration_ms);
    out += ",\"durationMs\":";
    out.append(buf, k > 0 ? static_cast<size_t>(k) : 0);
  }
  if (fields->bytes >= 0)
    out += ",\"bytes\":" + std::to_string(fields->bytes);
  out.push_back('}');
}

void configure_logging(log_format format, const std::string& level) {
  spdlog::set_level(spdlog::level::from_str(level));
  if (format == log_format::json)
    spdlog::set_formatter(std::make_unique<json_formatter>());
  else
    spdlog::set_pattern("%+"); // spdlog's default
  installed.store(format, std::memory_order_relaxed);
}

log_format current_log_format() {
  return installed.load(std::memory_order_relaxed);
}

bool access_log_wanted(access_log_mode mode, int status) {
  if (mode == access_log_mode::off || (mode == access_log_mode::errors && status < 400))
    return false;
  return spdlog::default_logger_raw()->should_log(status >= 500 ? spdlog::level::warn
                                                                : spdlog::level::info);
}

void log_access(access_log_mode mode, const log_fields& f) {
  if (!access_log_wanted(mode, f.status))
    return;
  auto level = f.status >= 500 ? spdlog::level::warn : spdlog::level::info;
  auto* logger = spdlog::default_logger_raw();
  if (current_log_format() == log_format::json) {
    log_scope scope(f);
    logger->log(level, "{} {} {}", f.method, f.route, f.status);
    return;
  }
  logger->log(level, "{} {} {} request_id={} workspace={} duration_ms={:.3f} bytes={}", f.method,
              f.route, f.status, f.request_id, f.workspace.empty() ? "-" : f.workspace,
              f.duration_ms, f.bytes);
}

} // namespace inboxd
