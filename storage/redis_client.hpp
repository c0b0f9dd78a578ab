#pragma once
// Asynchronous Redis client: hiredis' async API driven by an Asio io_context.
//
// Contract:
// - exec() may be called from any thread (actors call it); it never blocks. The commands are
//   sent as one pipeline, in order, on one connection; `done` is called exactly once, on the
//   client's io_context thread, with every reply in order, or with an error message when the
//   connection is down, breaks before all replies came, or the pipeline limit is reached.
//   A Redis error reply to one command is not a failure of the call: it is a redis_value of
//   type error in its place (check EXEC's result for atomic blocks).
// - Commands are argument vectors (binary safe), e.g. {"HSET", key, field, value}.
// - While disconnected, calls fail at once; the client reconnects by itself (backoff from
//   100 ms to 1 s by default, see redis_client_timing) so service resumes without a restart
//   once Redis is back.
// - Bounded: at most `max_pending` commands outstanding; beyond that calls fail at once.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "storage/redis_value.hpp"

namespace boost::asio {
class io_context;
}

namespace inboxd {

struct redis_endpoint {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string password; // empty: no AUTH
  int db = 0;
};

/// Parses `redis://[:password@]host:port[/db]`; returns an error message on failure.
std::variant<redis_endpoint, std::string> parse_redis_url(const std::string& url);

using redis_command = std::vector<std::string>;
using redis_pipeline = std::vector<redis_command>;

/// Either the replies (one per command) or an error message.
struct redis_result {
  std::vector<redis_value> replies;
  std::string error; // non-empty: the call failed, replies may be incomplete
  bool ok() const { return error.empty(); }
};

/// The client's timing policy. The defaults are production's; tests shrink them so that
/// timeouts and reconnects happen at once, and assert what happened instead of how long it took.
struct redis_client_timing {
  /// First reconnect delay after a failure; doubled per failed attempt up to `max_backoff`.
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{1000};
  /// TCP connect plus the AUTH/SELECT/PING handshake.
  std::chrono::milliseconds connect_timeout{2000};
  /// The connection is dropped (its calls fail with "redis command timeout") when the oldest
  /// outstanding pipeline is older than this *and* no reply at all arrived for this long, so a
  /// huge pipeline that is still streaming replies is not cut off, while a hung Redis is.
  std::chrono::milliseconds command_timeout{2000};
  /// How often both timeouts are checked (one timer per client, not per call).
  std::chrono::milliseconds tick_interval{200};
};

/// The reconnect delay that follows `current`: doubled, at most `timing.max_backoff`.
std::chrono::milliseconds next_backoff(std::chrono::milliseconds current,
                                       const redis_client_timing& timing);

/// What the stores send commands through: one Redis server (redis_client, below) or a Redis
/// Cluster (redis_cluster, storage/redis_cluster.hpp). Both keep exec()'s contract.
class redis_executor {
public:
  using callback = std::function<void(redis_result)>;
  virtual ~redis_executor() = default;
  virtual void exec(redis_pipeline cmds, callback done) = 0;
  /// exec() for writes that are acknowledged to clients: where the master serving the
  /// pipeline's keys has replicas and the executor is set to wait for them (a Redis Cluster
  /// with a replica wait, storage/redis_cluster.hpp), it then waits for one replica to have
  /// every write (WAIT). Should none have them in time, the call fails (`error` set, the
  /// replies kept): the writes are on the master only, and a failover may lose them, so their
  /// outcome is unknown. One server: exec().
  virtual void exec_durable(redis_pipeline cmds, callback done) {
    exec(std::move(cmds), std::move(done));
  }
  virtual bool connected() const = 0;
};

class redis_client final : public redis_executor {
public:

  redis_client(boost::asio::io_context& io, redis_endpoint endpoint, size_t max_pending = 1 << 20,
               redis_client_timing timing = {});
  ~redis_client();
  redis_client(const redis_client&) = delete;
  redis_client& operator=(const redis_client&) = delete;

  /// Starts connecting (asynchronously). Call once.
  void start();

  /// Closes the connection; pending calls fail (their callbacks run). `stopped`, when given, runs
  /// on the io_context once that is done: stop the io_context only after it ran, or calls still
  /// in flight keep what their callbacks hold alive for good.
  void stop(std::function<void()> stopped = {});

  /// Sends `cmds` as one pipeline; see the contract above. Thread-safe.
  void exec(redis_pipeline cmds, callback done) override;

  /// True while the connection is established (best effort, thread-safe).
  bool connected() const override;

private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

} // namespace inboxd
