#pragma once
// The process log (spdlog's default logger, stdout): INBOXD_LOG_FORMAT=text (spdlog's default
// pattern) or json, one object per line:
//   {"time":"2026-12-06T14:11:23.123Z","level":"info","msg":"...", and where known
//    "requestId","workspace","method","route","status","durationMs","bytes"}
// Every string is escaped (control characters as \uXXXX or their short forms, invalid UTF-8 as
// U+FFFD), so any message stays one valid JSON line. Messages longer than kMaxLogMessage bytes
// are cut there.
//
// The access log (INBOXD_ACCESS_LOG=all|errors|off) writes one line per answered request through
// the same logger: request id, method, route name (never the path or query), workspace where
// known, status, duration and body bytes.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace inboxd {

enum class log_format { text, json };
enum class access_log_mode { all, errors, off };

inline constexpr size_t kMaxLogMessage = 16 * 1024;

/// The fields a JSON log line carries besides time, level and msg. Empty views, status 0 and
/// negative numbers are left out.
struct log_fields {
  std::string_view request_id{};
  std::string_view workspace{};
  std::string_view method{};
  std::string_view route{};
  int status = 0;
  double duration_ms = -1;
  int64_t bytes = -1;
};

/// While alive, JSON log lines written on this thread carry `fields` (they must outlive the
/// scope). Scopes nest; the innermost wins.
class log_scope {
public:
  explicit log_scope(const log_fields& fields);
  ~log_scope();
  log_scope(const log_scope&) = delete;
  log_scope& operator=(const log_scope&) = delete;

private:
  const log_fields* previous_;
};

/// The part of a failure reason that may be logged: for an answer, "HTTP <status>[ code <n>]"
/// without the remote party's text after ": " (a Cloud API error may echo what was sent, such as
/// a template's parameters); any other reason (a transport error: names hosts only) whole.
inline std::string_view loggable_reason(std::string_view why) {
  if (why.rfind("HTTP ", 0) != 0)
    return why;
  return why.substr(0, why.find(": "));
}

/// Installs `format` on every spdlog logger and sets `level` (trace|debug|info|warn|error|off).
void configure_logging(log_format format, const std::string& level);

/// The format configure_logging installed last (text before any call).
log_format current_log_format();

/// Appends `s` as a JSON string (quotes included): control characters escaped, invalid UTF-8
/// replaced by U+FFFD.
void append_log_string(std::string& out, std::string_view s);

/// Appends one JSON log line (no newline).
void append_json_log_line(std::string& out, std::chrono::system_clock::time_point time,
                          std::string_view level, std::string_view msg, const log_fields* fields);

/// Whether log_access would write the line of an answer with `status` (cheap: callers skip
/// gathering the fields otherwise).
bool access_log_wanted(access_log_mode mode, int status);

/// Writes the access log line of one answered request when `mode` wants it (errors: status 400
/// and above). Level info, warn for 5xx.
void log_access(access_log_mode mode, const log_fields& fields);

} // namespace inboxd
