#include "config/settings.hpp"

#include <cctype>
#include <charconv>
#include <cstdlib>
#include <functional>
#include <map>
#include <string_view>

namespace inboxd {

namespace {

struct option {
  const char* flag;
  const char* env;
  const char* help;
  std::function<std::string(settings&, std::string_view)> set; // returns an error or ""
};

template <class T>
std::function<std::string(settings&, std::string_view)> number(T settings::*field, int64_t lo,
                                                                int64_t hi) {
  return [=](settings& s, std::string_view v) -> std::string {
    int64_t x = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
    if (ec != std::errc{} || p != v.data() + v.size() || x < lo || x > hi)
      return "expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
             "], got '" + std::string(v) + "'";
    s.*field = static_cast<T>(x);
    return "";
  };
}

std::function<std::string(settings&, std::string_view)> text(std::string settings::*field) {
  return [=](settings& s, std::string_view v) -> std::string {
    s.*field = std::string(v);
    return "";
  };
}

const std::vector<option>& options() {
  static const std::vector<option> opts = {
      {"http-addr", "INBOXD_HTTP_ADDR", "listen address (127.0.0.1)", text(&settings::http_addr)},
      {"http-port", "INBOXD_HTTP_PORT", "listen port (8080; 0 picks one)",
       number(&settings::http_port, 0, 65535)},
      {"http-threads", "INBOXD_HTTP_THREADS",
       "threads running the HTTP sessions, the actors and the Redis clients (2)",
       number(&settings::http_threads, 1, 64)},
      {"redis-url", "INBOXD_REDIS_URL",
       "redis://[:password@]host:port[/db], or "
       "redis-cluster://[:password@]host:port[,host:port...]",
       text(&settings::redis_url)},
      {"admin-token", "INBOXD_ADMIN_TOKEN", "bearer token for /api/admin/* (off when unset)",
       text(&settings::admin_token)},
      {"jwt-secret", "INBOXD_JWT_SECRET", "HS256 secret for user tokens",
       text(&settings::jwt_secret)},
      {"meta-app-secret", "INBOXD_META_APP_SECRET", "Meta app secret (X-Hub-Signature-256)",
       text(&settings::meta_app_secret)},
      {"meta-verify-token", "INBOXD_META_VERIFY_TOKEN", "token for Meta's GET handshake",
       text(&settings::meta_verify_token)},
      {"kapso-webhook-secret", "INBOXD_KAPSO_WEBHOOK_SECRET", "secret for X-Webhook-Signature",
       text(&settings::kapso_webhook_secret)},
      {"tls-ca-file", "INBOXD_TLS_CA_FILE", "extra CA bundle for outbound HTTPS",
       text(&settings::tls_ca_file)},
      {"request-timeout-ms", "INBOXD_REQUEST_TIMEOUT_MS", "503 after this many ms (2000)",
       number(&settings::request_timeout_ms, 100, 600000)},
      {"conversation-idle-ms", "INBOXD_CONVERSATION_IDLE_MS",
       "passivate conversation actors idle this long (60000)",
       number(&settings::conversation_idle_ms, 10, 86400000)},
      {"api-body-limit", "INBOXD_API_BODY_LIMIT", "max body bytes on non-webhook routes (65536)",
       number(&settings::api_body_limit, 1024, 3 * 1024 * 1024)},
      {"http-idle-timeout-ms", "INBOXD_HTTP_IDLE_TIMEOUT_MS", "close idle connections (30000)",
       number(&settings::http_idle_timeout_ms, 100, 3600000)},
      {"http-max-pipelined", "INBOXD_HTTP_MAX_PIPELINED", "max queued requests per connection (16)",
       number(&settings::max_pipelined, 1, 1024)},
      {"http-max-connections", "INBOXD_HTTP_MAX_CONNECTIONS", "max open connections (10000)",
       number(&settings::max_connections, 1, 1000000)},
      {"max-in-flight", "INBOXD_MAX_IN_FLIGHT",
       "requests being processed at once; beyond this 503 (20000)",
       number(&settings::max_in_flight, 1, 10000000)},
      {"send-timeout-ms", "INBOXD_SEND_TIMEOUT_MS",
       "one Cloud API request (connect+TLS+write+read) times out after this (10000)",
       number(&settings::send_timeout_ms, 100, 600000)},
      {"send-max-attempts", "INBOXD_SEND_MAX_ATTEMPTS",
       "attempts for a retryable send failure before the message fails (8)",
       number(&settings::send_max_attempts, 1, 100)},
      {"send-retry-base-ms", "INBOXD_SEND_RETRY_BASE_MS",
       "first retry delay; doubles per attempt, with jitter (1000)",
       number(&settings::send_retry_base_ms, 1, 5000)},
      {"send-retry-max-ms", "INBOXD_SEND_RETRY_MAX_MS", "longest retry delay (60000)",
       number(&settings::send_retry_max_ms, 1, 3600000)},
      {"send-rate", "INBOXD_SEND_RATE", "messages per second per phone number (80)",
       number(&settings::send_rate_per_second, 1, 100000)},
      {"send-concurrency", "INBOXD_SEND_CONCURRENCY",
       "Cloud API requests in flight per workspace (32)",
       number(&settings::send_concurrency, 1, 4096)},
      {"media-dir", "INBOXD_MEDIA_DIR",
       "directory of the media store; empty turns media downloads off (var/media)",
       text(&settings::media_dir)},
      {"media-max-bytes", "INBOXD_MEDIA_MAX_BYTES",
       "largest media downloaded; larger ones are recorded as failed (104857600)",
       number(&settings::media_max_bytes, 1024, 4ull << 30)},
      {"media-concurrency", "INBOXD_MEDIA_CONCURRENCY", "media downloads at once per workspace (4)",
       number(&settings::media_concurrency, 1, 256)},
      {"media-timeout-ms", "INBOXD_MEDIA_TIMEOUT_MS",
       "one media download (connect+TLS+write+read) times out after this (300000)",
       number(&settings::media_timeout_ms, 100, 3600000)},
      {"media-retry-base-ms", "INBOXD_MEDIA_RETRY_BASE_MS",
       "first media retry delay; doubles per attempt, with jitter (2000)",
       number(&settings::media_retry_base_ms, 1, 600000)},
      {"media-retry-max-ms", "INBOXD_MEDIA_RETRY_MAX_MS", "longest media retry delay (3600000)",
       number(&settings::media_retry_max_ms, 1, 86400000)},
      {"webhook-allow-private", "INBOXD_WEBHOOK_ALLOW_PRIVATE",
       "1: outgoing webhooks may target loopback and private addresses (0)",
       [](settings& s, std::string_view v) -> std::string {
         if (v != "0" && v != "1")
           return "must be 0 or 1";
         s.webhook_allow_private = v == "1";
         return {};
       }},
      {"webhook-timeout-ms", "INBOXD_WEBHOOK_TIMEOUT_MS",
       "one outgoing webhook delivery (connect+TLS+write+read) times out after this (10000)",
       number(&settings::webhook_timeout_ms, 100, 60000)},
      {"webhook-concurrency", "INBOXD_WEBHOOK_CONCURRENCY",
       "delivery attempts in flight per outgoing webhook (4)",
       number(&settings::webhook_concurrency, 1, 256)},
      {"webhook-retry-base-ms", "INBOXD_WEBHOOK_RETRY_BASE_MS",
       "first delivery retry delay; doubles per attempt, with jitter (5000)",
       number(&settings::webhook_retry_base_ms, 1, 3600000)},
      {"webhook-retry-max-ms", "INBOXD_WEBHOOK_RETRY_MAX_MS",
       "longest delivery retry delay (3600000)",
       number(&settings::webhook_retry_max_ms, 1, 86400000)},
      {"webhook-retry-for-ms", "INBOXD_WEBHOOK_RETRY_FOR_MS",
       "deliveries are retried until their event is this old, then failed (86400000)",
       number(&settings::webhook_retry_for_ms, 1, 30LL * 86400000)},
      {"events-retain", "INBOXD_EVENTS_RETAIN",
       "events kept per workspace for Last-Event-ID replay, at least (10000)",
       number(&settings::events_retain, 100, 10000000)},
      {"sse-buffer-bytes", "INBOXD_SSE_BUFFER_BYTES",
       "unsent bytes a subscriber may lag before it is dropped (1048576)",
       number(&settings::sse_buffer_bytes, 4096, 1024 * 1024 * 1024)},
      {"sse-ping-ms", "INBOXD_SSE_PING_MS", "interval of ': ping' comments on streams (15000)",
       number(&settings::sse_ping_ms, 100, 3600000)},
      {"sse-max-per-workspace", "INBOXD_SSE_MAX_PER_WORKSPACE",
       "event stream subscribers per workspace; beyond it 429 (1000)",
       number(&settings::sse_max_per_workspace, 1, 1000000)},
      {"sse-max-streams", "INBOXD_SSE_MAX_STREAMS",
       "event stream subscribers per process; beyond it 429 (10000)",
       number(&settings::sse_max_streams, 1, 1000000)},
      {"node-id", "INBOXD_NODE_ID",
       "scale-out: this node's unique name, [A-Za-z0-9._-]{1,64} (off when unset)",
       [](settings& s, std::string_view v) -> std::string {
         bool ok = !v.empty() && v.size() <= 64;
         for (char c : v)
           ok = ok &&
                (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-');
         if (!ok)
           return "expected 1 to 64 of [A-Za-z0-9._-], got '" + std::string(v) + "'";
         s.node_id = std::string(v);
         return "";
       }},
      {"advertise-url", "INBOXD_ADVERTISE_URL",
       "scale-out: http://host:port where other nodes reach this one",
       text(&settings::advertise_url)},
      {"cluster-secret", "INBOXD_CLUSTER_SECRET",
       "scale-out: HMAC key for requests forwarded between nodes (16+ characters)",
       text(&settings::cluster_secret)},
      {"lease-ms", "INBOXD_LEASE_MS", "scale-out: TTL of a workspace lease (5000)",
       number(&settings::lease_ms, 100, 3600000)},
      {"redis-replica-wait-ms", "INBOXD_REDIS_REPLICA_WAIT_MS",
       "Redis Cluster with replicas: how long an acknowledged write waits for one replica, "
       "else 503; 0 does not wait (500)",
       number(&settings::redis_replica_wait_ms, 0, 1000)},
      {"redis-command-timeout-ms", "INBOXD_REDIS_COMMAND_TIMEOUT_MS",
       "a Redis connection with no reply for this long to a waiting call is dropped and opened "
       "again; at least twice the replica wait (2000)",
       number(&settings::redis_command_timeout_ms, 100, 600000)},
      {"log-level", "INBOXD_LOG_LEVEL", "trace|debug|info|warn|error|off (info)",
       [](settings& s, std::string_view v) -> std::string {
         static const char* levels[] = {"trace", "debug", "info", "warn", "error", "off"};
         for (auto l : levels)
           if (v == l) {
             s.log_level = std::string(v);
             return "";
           }
         return "expected trace|debug|info|warn|error|off, got '" + std::string(v) + "'";
       }},
      {"log-format", "INBOXD_LOG_FORMAT", "text|json: json writes one JSON object per line (text)",
       [](settings& s, std::string_view v) -> std::string {
         if (v != "text" && v != "json")
           return "expected text|json, got '" + std::string(v) + "'";
         s.log_output = v == "json" ? log_format::json : log_format::text;
         return "";
       }},
      {"access-log", "INBOXD_ACCESS_LOG",
       "all|errors|off: a log line per answered request, or only for 4xx/5xx (errors)",
       [](settings& s, std::string_view v) -> std::string {
         if (v == "all")
           s.access_log = access_log_mode::all;
         else if (v == "errors")
           s.access_log = access_log_mode::errors;
         else if (v == "off")
           s.access_log = access_log_mode::off;
         else
           return "expected all|errors|off, got '" + std::string(v) + "'";
         return "";
       }},
      {"api-rate", "INBOXD_API_RATE",
       "API requests per second per API key or user, burst twice that; 0 = no limit (0)",
       number(&settings::api_rate, 0, 1000000)},
      {"retention-sweep-ms", "INBOXD_RETENTION_SWEEP_MS",
       "ms between steps of the retention sweep of a workspace with retentionDays (60000)",
       number(&settings::retention_sweep_ms, 10, 86400000)},
  };
  return opts;
}

} // namespace

std::string settings_usage() {
  std::string out = "usage: inboxd [--flag=value ...]\n";
  for (auto& o : options())
    out += "  --" + std::string(o.flag) + " (" + o.env + "): " + o.help + "\n";
  return out;
}

std::variant<settings, std::string> load_settings(int argc, char** argv) {
  settings s;
  for (auto& o : options())
    if (const char* v = std::getenv(o.env)) {
      if (auto err = o.set(s, v); !err.empty())
        return std::string(o.env) + ": " + err;
    }
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg.substr(0, 2) != "--")
      return "unexpected argument '" + std::string(arg) + "'";
    arg.remove_prefix(2);
    std::string_view name = arg, value;
    bool has_value = false;
    if (auto eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    }
    const option* found = nullptr;
    for (auto& o : options())
      if (name == o.flag)
        found = &o;
    if (!found)
      return "unknown flag --" + std::string(name);
    if (!has_value) {
      if (i + 1 >= argc)
        return "flag --" + std::string(name) + " needs a value";
      value = argv[++i];
    }
    if (auto err = found->set(s, value); !err.empty())
      return "--" + std::string(name) + ": " + err;
  }
  if (s.redis_url.rfind("redis://", 0) != 0 && s.redis_url.rfind("redis-cluster://", 0) != 0)
    return "INBOXD_REDIS_URL: expected redis://[:password@]host:port[/db] or "
           "redis-cluster://[:password@]host:port[,host:port...], got '" +
           s.redis_url + "'";
  // Redis holds a connection's replies while its WAIT blocks: a wait as long as the timeout
  // would drop the connection.
  if (s.redis_command_timeout_ms < 2 * s.redis_replica_wait_ms)
    return "INBOXD_REDIS_COMMAND_TIMEOUT_MS: expected at least twice INBOXD_REDIS_REPLICA_WAIT_MS";
  if (s.scale_out()) {
    auto& u = s.advertise_url;
    bool url_ok = u.rfind("http://", 0) == 0 && u.size() > 7 && u.size() <= 256 &&
                  u.find_first_of("|/?# ", 7) == std::string::npos;
    if (!url_ok)
      return "INBOXD_ADVERTISE_URL: INBOXD_NODE_ID is set, so expected http://host:port "
             "(no path), got '" +
             u + "'";
    if (s.cluster_secret.size() < 16)
      return "INBOXD_CLUSTER_SECRET: INBOXD_NODE_ID is set, so expected at least 16 characters";
  }
  return s;
}

} // namespace inboxd
