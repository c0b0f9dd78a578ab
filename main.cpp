// inboxd: WhatsApp shared-inbox backend. Wires settings, Redis, the actor system and HTTP.

#include <atomic>
#include <csignal>
#include <cstdio>
#include <future>
#include <thread>
#include <utility> // before Asio: Boost 1.74's awaitable.hpp misses it under C++20
#include <vector>

#include <boost/asio.hpp>
#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/directory_actor.hpp"
#include "actors/registry.hpp"
#include "config/log_format.hpp"
#include "config/settings.hpp"
#include "http/forwarder.hpp"
#include "http/front_actor.hpp"
#include "http/http_server.hpp"
#include "http/https_client.hpp"
#include "http/io_scheduler.hpp"
#include "http/router.hpp"
#include "http/webhook_ingest.hpp"
#include "messages/actor_messages.hpp"
#include "storage/hook_store.hpp"
#include "storage/media_files.hpp"
#include "storage/redis_client.hpp"
#include "storage/redis_cluster.hpp"
#include "storage/redis_registry_store.hpp"
#include "storage/redis_store.hpp"

namespace net = boost::asio;
using namespace inboxd;

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--help") {
      std::fputs(settings_usage().c_str(), stdout);
      return 0;
    }
  auto loaded = load_settings(argc, argv);
  if (auto err = std::get_if<std::string>(&loaded)) {
    std::fprintf(stderr, "inboxd: %s\n", err->c_str());
    return 2;
  }
  auto cfg = std::get<settings>(loaded);
  const bool cluster = cfg.redis_url.rfind("redis-cluster://", 0) == 0;
  auto endpoint = parse_redis_url(cluster ? "redis://" : cfg.redis_url);
  auto cluster_endpoint = parse_redis_cluster_url(cluster ? cfg.redis_url : "");
  auto* err =
      cluster ? std::get_if<std::string>(&cluster_endpoint) : std::get_if<std::string>(&endpoint);
  if (err) {
    std::fprintf(stderr, "inboxd: INBOXD_REDIS_URL: %s\n", err->c_str());
    return 2;
  }
  configure_logging(cfg.log_output, cfg.log_level);

  // One io_context, run by INBOXD_HTTP_THREADS threads, carries the HTTP sessions, the Redis
  // clients and the actors (http/io_scheduler.hpp): a webhook crosses no thread between its socket,
  // its actors and Redis. It is declared first so that it outlives everything that posts to it.
  net::io_context io(cfg.http_threads);
  auto work = net::make_work_guard(io);

  // Redis: one server, or a Redis Cluster. Nothing connects before the threads start.
  std::shared_ptr<redis_executor> store;
  std::function<void(std::function<void()>)> stop_redis; // runs its argument once stopped
  redis_client_timing node_timing;
  node_timing.command_timeout = std::chrono::milliseconds(cfg.redis_command_timeout_ms);
  if (cluster) {
    redis_cluster_timing timing;
    timing.replica_wait = std::chrono::milliseconds(cfg.redis_replica_wait_ms);
    auto c = std::make_shared<redis_cluster>(io, std::get<redis_cluster_endpoint>(cluster_endpoint),
                                             node_timing, timing);
    c->start();
    store = c;
    stop_redis = [c](std::function<void()> done) { c->stop(std::move(done)); };
  } else {
    auto c = std::make_shared<redis_client>(io, std::get<redis_endpoint>(endpoint), size_t{1} << 20,
                                            node_timing);
    c->start();
    store = c;
    stop_redis = [c](std::function<void()> done) { c->stop(std::move(done)); };
  }

  // The Cloud API client (outbound HTTPS) on its own thread.
  https_client_settings tls;
  tls.ca_file = cfg.tls_ca_file;
  auto transport = std::make_shared<https_client>(tls);
  if (auto err = transport->start(); !err.empty()) {
    std::fprintf(stderr, "inboxd: INBOXD_TLS_CA_FILE: %s\n", err.c_str());
    return 2;
  }

  // Media downloads: their own client (long downloads never hold up sends) and the store on disk.
  std::shared_ptr<https_client> media_transport;
  std::shared_ptr<const media_files> media_store;
  if (!cfg.media_dir.empty()) {
    auto files = std::make_shared<media_files>(cfg.media_dir);
    if (auto err = files->prepare(); !err.empty()) {
      std::fprintf(stderr, "inboxd: INBOXD_MEDIA_DIR: %s\n", err.c_str());
      transport->stop();
      return 2;
    }
    // Downloads write continuously; an upload's file waits up to media_timeout_ms for the Cloud
    // API untouched: twice that is surely the debris of a killed process (this node or another).
    if (auto n = files->sweep_temp(2 * cfg.media_timeout_ms); n > 0)
      spdlog::info("media: removed {} stale temporary files", n);
    media_store = files;
    auto media_tls = tls;
    media_tls.background = true; // downloads take the CPU that ingestion leaves
    media_transport = std::make_shared<https_client>(media_tls);
    if (auto err = media_transport->start(); !err.empty()) {
      std::fprintf(stderr, "inboxd: media client: %s\n", err.c_str());
      transport->stop();
      return 2;
    }
  }

  // Outgoing webhooks: their own client, whose thread takes only the CPU that ingestion leaves
  // (a slow or hanging receiver costs a connection, never a thread), connecting to public
  // addresses only unless INBOXD_WEBHOOK_ALLOW_PRIVATE=1.
  auto hook_tls = tls;
  hook_tls.background = true;
  hook_tls.public_only = !cfg.webhook_allow_private;
  hook_tls.max_body = 64 * 1024;
  auto hook_transport = std::make_shared<https_client>(hook_tls);
  if (auto err = hook_transport->start(); !err.empty()) {
    std::fprintf(stderr, "inboxd: webhook client: %s\n", err.c_str());
    transport->stop();
    if (media_transport)
      media_transport->stop();
    return 2;
  }

  // Scale-out: requests for workspaces leased elsewhere go to their node over plain HTTP.
  std::shared_ptr<https_client> peers;
  std::shared_ptr<const forwarder> fwd;
  if (cfg.scale_out()) {
    https_client_settings peer_settings;
    peer_settings.max_in_flight = static_cast<size_t>(cfg.max_in_flight);
    peer_settings.max_body = cfg.webhook_body_limit;
    peers = std::make_shared<https_client>(peer_settings);
    if (auto err = peers->start(); !err.empty()) {
      std::fprintf(stderr, "inboxd: peer client: %s\n", err.c_str());
      transport->stop();
      hook_transport->stop();
      if (media_transport)
        media_transport->stop();
      return 2;
    }
    // A relayed event stream ends when the owner sends nothing (not even its pings) for 3 pings.
    // The hop header names this node and its address: an owner that sees most of a
    // workspace's webhooks arrive through this node hands the lease over to it.
    fwd = std::make_shared<forwarder>(peers, cfg.node_id + " " + cfg.advertise_url,
                                      cfg.cluster_secret, cfg.request_timeout_ms, &io,
                                      3 * cfg.sse_ping_ms, cfg.media_timeout_ms);
    spdlog::info("scale-out: node {} at {}, lease {} ms", cfg.node_id, cfg.advertise_url,
                 cfg.lease_ms);
  }
  int exit_code = 0;
  {
    caf::actor_system_config caf_cfg;
    caf_cfg.set("logger.verbosity", caf::atom("quiet"));
    use_io_scheduler(caf_cfg, io);
    caf::actor_system sys{caf_cfg};
    auto reg = std::make_shared<registry>();
    workspace_options opts;
    opts.conversation_idle_ms = cfg.conversation_idle_ms;
    opts.outbox.transport = transport;
    opts.outbox.timeout_ms = cfg.send_timeout_ms;
    opts.outbox.max_attempts = cfg.send_max_attempts;
    opts.outbox.retry_base_ms = cfg.send_retry_base_ms;
    opts.outbox.retry_max_ms = cfg.send_retry_max_ms;
    opts.outbox.rate_per_second = cfg.send_rate_per_second;
    opts.outbox.concurrency = cfg.send_concurrency;
    opts.media.transport = media_transport;
    opts.media.files = media_store;
    opts.media.max_bytes = cfg.media_max_bytes;
    opts.media.concurrency = cfg.media_concurrency;
    opts.media.download_timeout_ms = cfg.media_timeout_ms;
    opts.media.lookup_timeout_ms = cfg.send_timeout_ms;
    opts.media.retry_base_ms = cfg.media_retry_base_ms;
    opts.media.retry_max_ms = cfg.media_retry_max_ms;
    opts.hooks.db = std::make_shared<hook_store>(store);
    opts.hooks.transport = hook_transport;
    opts.hooks.timeout_ms = cfg.webhook_timeout_ms;
    opts.hooks.concurrency = cfg.webhook_concurrency;
    opts.hooks.allow_private = cfg.webhook_allow_private;
    opts.hooks.retry = {cfg.webhook_retry_base_ms, cfg.webhook_retry_max_ms,
                        cfg.webhook_retry_for_ms};
    opts.max_subscribers = cfg.sse_max_per_workspace;
    opts.api_rate = cfg.api_rate;
    opts.retention_sweep_ms = cfg.retention_sweep_ms;
    opts.lease = lease_claim{cfg.node_id, cfg.advertise_url, cfg.lease_ms};
    redis_store_options store_opts;
    store_opts.events_retain = cfg.events_retain;
    store_opts.declare_keys = cluster;
    opts.db = std::make_shared<redis_store>(store, store_opts);
    auto directory =
        spawn_directory_actor(sys, std::make_shared<redis_registry_store>(store), reg, opts);
    std::vector<caf::actor> fronts;
    for (int i = 0; i < std::max(2, cfg.http_threads); ++i)
      fronts.push_back(spawn_front_actor(sys, front_deps{cfg, reg, &directory, opts.db, fwd}));

    std::atomic<size_t> next{0};
    front_deps webhook_deps{cfg, reg, &directory, opts.db, fwd};
    http_server server(io, cfg, [&](std::shared_ptr<const http_request> req, reply_handle r) {
      if (fwd) // a workspace actor may answer "served elsewhere": the request is forwarded
        r = forwarding_reply(req, std::move(r), fwd);
      // Webhooks are checked and decoded right here and go straight to their workspace actors:
      // the hot path skips the front actor's hop.
      http_exchange ex{std::move(req), std::move(r)};
      if (ex.request->method == "POST") {
        auto m = match_route(ex.request->method, ex.request->path);
        if (m.which == route::wa_webhook || m.which == route::kapso_webhook) {
          ex.reply.set_route(static_cast<int>(m.which));
          if (ingest_webhook(webhook_deps, ex, m.which == route::wa_webhook))
            return;
          // A number this node does not know (scale-out): a front actor has the workspaces
          // read again first.
        }
      }
      auto& f = fronts[next.fetch_add(1, std::memory_order_relaxed) % fronts.size()];
      caf::anon_send(f, std::move(ex));
    });
    try {
      auto port = server.listen();
      spdlog::info("inboxd listening on {}:{}", cfg.http_addr, port);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "inboxd: %s\n", e.what());
      exit_code = 2;
    }
    // SIGTERM/SIGINT: stop accepting, let in-flight requests finish (up to 5 s); then this thread
    // stops the rest while the io threads still run the actors.
    std::promise<void> drained;
    net::signal_set signals(io, SIGTERM, SIGINT);
    net::steady_timer drain(io);
    auto deadline = std::chrono::steady_clock::now();
    std::function<void()> wait_drained = [&] {
      if (server.in_flight() == 0 || std::chrono::steady_clock::now() > deadline) {
        drained.set_value();
        return;
      }
      drain.expires_after(std::chrono::milliseconds(20));
      drain.async_wait([&](boost::system::error_code) { wait_drained(); });
    };
    if (exit_code == 0)
      signals.async_wait([&](boost::system::error_code ec, int sig) {
        if (ec)
          return;
        spdlog::info("signal {}: shutting down", sig);
        server.stop_accepting();
        server.close_streams(); // open event streams end now (clients resume elsewhere/later)
        deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        wait_drained();
      });
    else
      drained.set_value();
    std::vector<std::thread> threads;
    for (int i = 0; i < cfg.http_threads; ++i)
      threads.emplace_back([&] { io.run(); });
    drained.get_future().wait();
    // Pending Cloud API calls fail now (their entries stay in the outbox for the next start),
    // while the actors they report to still run.
    transport->stop();
    hook_transport->stop(); // an attempt cut short is made again once its claim ends
    if (media_transport)
      media_transport->stop(); // a download cut short is tried again at the next start
    if (peers)
      peers->stop();
    // CAF waits for every actor at shutdown: stop them explicitly, and wait while the io threads
    // run them to their end.
    for (auto& f : fronts)
      caf::anon_send_exit(f, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(directory, caf::exit_reason::user_shutdown);
    sys.await_all_actors_done();
    // Redis calls still in flight (an actor's commit whose reply had not come) fail now, before
    // the io_context stops: a call left in hiredis keeps its callback, and what that holds, alive.
    std::promise<void> redis_stopped;
    stop_redis([&] { redis_stopped.set_value(); });
    redis_stopped.get_future().wait();
    work.reset();
    io.stop(); // keep-alive sessions would keep it running
    for (auto& t : threads)
      t.join();
    // The actor system ends here, after every io thread: the io scheduler's contract.
  }
  spdlog::info("inboxd stopped");
  return exit_code;
}
