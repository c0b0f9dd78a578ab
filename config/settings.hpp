#pragma once
// Process settings with documented defaults, loaded from the environment and CLI flags
// (a flag wins over the environment). See README "Configuration".

#include <cstdint>
#include <string>
#include <variant>

#include "config/log_format.hpp"

namespace inboxd {

struct settings {
  std::string http_addr = "127.0.0.1";     // INBOXD_HTTP_ADDR / --http-addr
  int http_port = 8080;                    // INBOXD_HTTP_PORT / --http-port (0: pick a free port)
  int http_threads = 2; // INBOXD_HTTP_THREADS: run HTTP, the actors and Redis I/O
  std::string redis_url = "redis://127.0.0.1:6379/0"; // INBOXD_REDIS_URL / --redis-url
  std::string admin_token;                 // INBOXD_ADMIN_TOKEN: admin API off when empty
  std::string jwt_secret;                  // INBOXD_JWT_SECRET
  std::string meta_app_secret;             // INBOXD_META_APP_SECRET
  std::string meta_verify_token;           // INBOXD_META_VERIFY_TOKEN
  std::string kapso_webhook_secret;        // INBOXD_KAPSO_WEBHOOK_SECRET
  std::string tls_ca_file;                 // INBOXD_TLS_CA_FILE
  int64_t request_timeout_ms = 2000;       // INBOXD_REQUEST_TIMEOUT_MS: answer 503 after this
  int64_t conversation_idle_ms = 60000;    // INBOXD_CONVERSATION_IDLE_MS: passivate idle actors
  size_t webhook_body_limit = 3 * 1024 * 1024; // fixed by API.md
  size_t api_body_limit = 64 * 1024;       // INBOXD_API_BODY_LIMIT: non-webhook routes
  int64_t http_idle_timeout_ms = 30000;    // INBOXD_HTTP_IDLE_TIMEOUT_MS: keep-alive idle close
  int max_pipelined = 16;                  // INBOXD_HTTP_MAX_PIPELINED: queued requests per connection
  int max_connections = 10000;             // INBOXD_HTTP_MAX_CONNECTIONS
  int64_t max_in_flight = 20000;           // INBOXD_MAX_IN_FLIGHT: beyond this, 503 at once
  int64_t send_timeout_ms = 10000;         // INBOXD_SEND_TIMEOUT_MS: one Cloud API request, in all
  int send_max_attempts = 8;               // INBOXD_SEND_MAX_ATTEMPTS: then the message fails
  int64_t send_retry_base_ms = 1000;       // INBOXD_SEND_RETRY_BASE_MS: first backoff (doubles, jitter)
  int64_t send_retry_max_ms = 60000;       // INBOXD_SEND_RETRY_MAX_MS: backoff cap
  int send_rate_per_second = 80;           // INBOXD_SEND_RATE: per phone number (workspace)
  int send_concurrency = 32;               // INBOXD_SEND_CONCURRENCY: requests in flight per workspace
  // Media downloads (API.md "Media"): off when media_dir is "" (the queue then waits in Redis).
  std::string media_dir = "var/media";     // INBOXD_MEDIA_DIR: the content-addressed store
  uint64_t media_max_bytes = 100ull << 20; // INBOXD_MEDIA_MAX_BYTES: larger media fail
  int media_concurrency = 4;               // INBOXD_MEDIA_CONCURRENCY: downloads per workspace
  int64_t media_timeout_ms = 300000;       // INBOXD_MEDIA_TIMEOUT_MS: one download, in all
  int64_t media_retry_base_ms = 2000;      // INBOXD_MEDIA_RETRY_BASE_MS: first backoff
  int64_t media_retry_max_ms = 3600000;    // INBOXD_MEDIA_RETRY_MAX_MS: backoff cap
  // Outgoing webhooks (API.md "Bots and outgoing webhooks").
  bool webhook_allow_private =
      false; // INBOXD_WEBHOOK_ALLOW_PRIVATE: 1 allows loopback/private targets
  int64_t webhook_timeout_ms = 10000; // INBOXD_WEBHOOK_TIMEOUT_MS: one delivery attempt, in all
  int webhook_concurrency = 4;        // INBOXD_WEBHOOK_CONCURRENCY: attempts in flight per webhook
  int64_t webhook_retry_base_ms =
      5000; // INBOXD_WEBHOOK_RETRY_BASE_MS: first backoff (doubles, jitter)
  int64_t webhook_retry_max_ms = 3600000;  // INBOXD_WEBHOOK_RETRY_MAX_MS: backoff cap
  int64_t webhook_retry_for_ms = 86400000; // INBOXD_WEBHOOK_RETRY_FOR_MS: then a delivery fails
  int64_t events_retain = 10000;           // INBOXD_EVENTS_RETAIN: events kept per workspace (at least)
  size_t sse_buffer_bytes = 1024 * 1024;   // INBOXD_SSE_BUFFER_BYTES: unsent bytes before a subscriber is dropped
  int64_t sse_ping_ms = 15000;             // INBOXD_SSE_PING_MS: ": ping" comment interval
  int sse_max_per_workspace = 1000;        // INBOXD_SSE_MAX_PER_WORKSPACE: beyond it 429
  int sse_max_streams = 10000;             // INBOXD_SSE_MAX_STREAMS: per process; beyond it 429
  std::string log_level = "info";          // INBOXD_LOG_LEVEL: trace|debug|info|warn|error|off
  log_format log_output = log_format::text;             // INBOXD_LOG_FORMAT: text|json
  access_log_mode access_log = access_log_mode::errors; // INBOXD_ACCESS_LOG: all|errors|off
  // INBOXD_API_RATE: API requests/s per API key or user (burst 2x); 0 turns the limit off.
  int api_rate = 0;
  // INBOXD_RETENTION_SWEEP_MS: between steps of a workspace's retention sweep (retentionDays).
  int64_t retention_sweep_ms = 60000;
  // Scale-out (API.md "Scale-out"): several nodes share one Redis; off while node_id is empty.
  std::string node_id;        // INBOXD_NODE_ID: unique per node, [A-Za-z0-9._-]{1,64}
  std::string advertise_url;  // INBOXD_ADVERTISE_URL: http://host:port other nodes use
  std::string cluster_secret; // INBOXD_CLUSTER_SECRET: HMAC key of forwarded requests
  int64_t lease_ms = 5000;    // INBOXD_LEASE_MS: a workspace lease's TTL
  // INBOXD_REDIS_REPLICA_WAIT_MS: on a Redis Cluster whose masters have replicas, an
  // acknowledged write waits this long for one replica to have it, else 503 (0: no waiting).
  int64_t redis_replica_wait_ms = 500;
  // INBOXD_REDIS_COMMAND_TIMEOUT_MS: a Redis connection whose oldest call waited this long with
  // no reply at all meanwhile is dropped (its calls fail) and opened again.
  int64_t redis_command_timeout_ms = 2000;

  bool scale_out() const { return !node_id.empty(); }
};

/// Loads settings from the environment, then argv (--name=value or --name value). Returns the
/// settings or a one-line reason (bad number, unknown flag, bad redis URL, ...).
std::variant<settings, std::string> load_settings(int argc, char** argv);

/// The usage text for --help.
std::string settings_usage();

} // namespace inboxd
