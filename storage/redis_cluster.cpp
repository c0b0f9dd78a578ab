#include "storage/redis_cluster.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <mutex>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "metrics/metrics.hpp"

namespace inboxd {

namespace {

namespace asio = boost::asio;

enum class redirect_kind : uint8_t { moved, ask, retry };
std::vector<std::string> redirect_labels() {
  return {metrics::label("kind", "moved"), metrics::label("kind", "ask"),
          metrics::label("kind", "retry")};
}
metrics::counter_family redirects(
    "inboxd_redis_cluster_redirects_total",
    "Commands a Redis Cluster node did not run and the client sent again: moved (MOVED, the "
    "slot has a new master), ask (ASK, the slot is being migrated), retry (TRYAGAIN or "
    "CLUSTERDOWN, sent again after a backoff).",
    redirect_labels());
enum class wait_outcome : uint8_t { acknowledged, timed_out };
metrics::counter_family replica_waits(
    "inboxd_redis_replica_waits_total",
    "WAITs for one replica after acknowledged writes (shared by the writes finishing meanwhile): "
    "acknowledged, or timed_out (the writes are answered as failed: their outcome is unknown).",
    metrics::label_values("outcome", {"acknowledged", "timed_out"}));
metrics::counter_family map_reads("inboxd_redis_cluster_map_reads_total",
                                  "Reads of the Redis Cluster slot map (CLUSTER SLOTS).");

constexpr const char* kNotLoaded = "redis cluster map not loaded";

// One exec() call while it is being served: its replies fill in as the parts come back.
struct job {
  redis_pipeline cmds;
  std::vector<redis_value> replies;
  // Per command: redirections followed since its last retry, and retries taken (a slot being
  // migrated can answer ASK, then TRYAGAIN on the importing node, many times over).
  std::vector<int> hops, retries;
  redis_executor::callback done;
  size_t outstanding = 0; // parts sent and not answered, plus parts waiting for a retry timer
  size_t parts = 0;       // parts sent in all
  std::string error;      // the first transport failure
};

// Where a part goes: a node, with ASKING before each command when `ask`.
struct target {
  std::string node;
  bool ask = false;
  bool operator<(const target& o) const { return std::tie(node, ask) < std::tie(o.node, o.ask); }
};

} // namespace

std::variant<redis_cluster_endpoint, std::string> parse_redis_cluster_url(const std::string& url) {
  constexpr std::string_view scheme = "redis-cluster://";
  if (url.size() > 4096)
    return std::string("redis cluster url too long");
  if (url.rfind(scheme, 0) != 0)
    return std::string("redis cluster url must start with redis-cluster://");
  std::string rest = url.substr(scheme.size());
  std::string userinfo;
  if (auto at = rest.rfind('@'); at != std::string::npos) {
    userinfo = rest.substr(0, at + 1);
    rest = rest.substr(at + 1);
  }
  if (rest.find('/') != std::string::npos)
    return std::string("redis cluster url must not name a database (a cluster has only 0)");
  redis_cluster_endpoint ep;
  size_t from = 0;
  while (from <= rest.size()) {
    auto comma = rest.find(',', from);
    auto seed = rest.substr(from, comma == std::string::npos ? std::string::npos : comma - from);
    if (seed.empty())
      return std::string("redis cluster url has an empty node");
    auto one = parse_redis_url("redis://" + userinfo + seed);
    if (auto err = std::get_if<std::string>(&one))
      return *err;
    auto& node = std::get<redis_endpoint>(one);
    ep.password = node.password;
    ep.seeds.push_back({node.host, node.port});
    if (ep.seeds.size() > 64)
      return std::string("redis cluster url names more than 64 nodes");
    if (comma == std::string::npos)
      break;
    from = comma + 1;
  }
  return ep;
}

struct redis_cluster::impl : std::enable_shared_from_this<impl> {
  impl(asio::io_context& io, redis_cluster_endpoint ep, redis_client_timing nt,
       redis_cluster_timing t)
    : io(io), endpoint(std::move(ep)), node_timing(nt), timing(t), refresh_timer(io) {}

  asio::io_context& io;
  redis_cluster_endpoint endpoint;
  redis_client_timing node_timing;
  redis_cluster_timing timing;

  mutable std::mutex mu;
  std::map<std::string, std::shared_ptr<redis_client>> nodes;                    // by "host:port"
  std::vector<std::string> slot_owner = std::vector<std::string>(kClusterSlots); // "" unknown
  std::vector<uint8_t> slot_replicas = std::vector<uint8_t>(kClusterSlots);      // listed replicas
  // exec_durable(): per master, whether a WAIT is in flight, and the calls waiting for the next.
  using wait_done = std::function<void(std::string failure)>;
  struct replica_wait {
    bool in_flight = false;
    std::vector<wait_done> next;
  };
  std::map<std::string, replica_wait> waits;
  bool loaded = false;
  bool stopped = false;
  bool refreshing = false, refresh_again = false;
  asio::steady_timer refresh_timer;

  // The client for `addr`, connecting a new one on first use. Holds mu.
  std::shared_ptr<redis_client> node_locked(const cluster_node_address& addr) {
    auto name = addr.name();
    auto& c = nodes[name];
    if (!c) {
      redis_endpoint e;
      e.host = addr.host;
      e.port = addr.port;
      e.password = endpoint.password;
      c = std::make_shared<redis_client>(io, e, size_t{1} << 20, node_timing);
      c->start();
    }
    return c;
  }

  void start() {
    std::lock_guard lock(mu);
    for (auto& s : endpoint.seeds)
      node_locked(s);
    schedule_refresh_locked(std::chrono::milliseconds(0));
  }

  void stop(std::function<void()> done) {
    std::lock_guard lock(mu);
    if (stopped && !done)
      return;
    stopped = true;
    refresh_timer.cancel();
    if (nodes.empty()) {
      if (done)
        asio::post(io, std::move(done));
      return;
    }
    auto left = std::make_shared<std::atomic<size_t>>(nodes.size());
    for (auto& [name, c] : nodes)
      c->stop([left, done] {
        if (left->fetch_sub(1) == 1 && done)
          done();
      });
  }

  // Reads the slot map soon (coalesced: one read at a time, one more if asked meanwhile).
  void refresh_soon() {
    std::lock_guard lock(mu);
    if (stopped)
      return;
    if (refreshing) {
      refresh_again = true;
      return;
    }
    schedule_refresh_locked(std::chrono::milliseconds(0));
  }

  void schedule_refresh_locked(std::chrono::milliseconds after) {
    refresh_timer.expires_after(after);
    refresh_timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec)
        self->read_map();
    });
  }

  // CLUSTER SLOTS from the first connected node (seeds first, then the masters known).
  void read_map() {
    std::shared_ptr<redis_client> from;
    std::string from_host;
    {
      std::lock_guard lock(mu);
      if (stopped)
        return;
      refreshing = true;
      refresh_again = false;
      for (auto& s : endpoint.seeds)
        if (auto c = node_locked(s); c->connected()) {
          from = c;
          from_host = s.host;
          break;
        }
      if (!from)
        for (auto& [name, c] : nodes)
          if (c->connected()) {
            from = c;
            from_host = name.substr(0, name.rfind(':'));
            break;
          }
      if (!from) { // nobody connected yet: the clients reconnect by themselves
        refreshing = false;
        schedule_refresh_locked(timing.refresh_backoff);
        return;
      }
    }
    map_reads.inc();
    from->exec({{"CLUSTER", "SLOTS"}}, [self = shared_from_this(), from_host](redis_result r) {
      self->map_read(r, from_host);
    });
  }

  void map_read(const redis_result& r, const std::string& from_host) {
    std::string error = r.error;
    std::optional<std::vector<slot_range>> ranges;
    if (r.ok() && !r.replies.empty())
      ranges = parse_cluster_slots(r.replies[0], from_host, error);
    std::lock_guard lock(mu);
    refreshing = false;
    if (stopped)
      return;
    if (!ranges || ranges->empty()) {
      schedule_refresh_locked(timing.refresh_backoff);
      return;
    }
    std::vector<std::string> owners(kClusterSlots);
    std::vector<uint8_t> replicas(kClusterSlots);
    for (auto& range : *ranges) {
      node_locked(range.master);
      auto name = range.master.name();
      for (int s = range.first; s <= range.last; ++s) {
        owners[s] = name;
        replicas[s] = static_cast<uint8_t>(std::min(range.replicas, 255));
      }
    }
    slot_owner.swap(owners);
    slot_replicas.swap(replicas);
    loaded = true;
    schedule_refresh_locked(refresh_again ? timing.refresh_backoff : timing.refresh_interval);
  }

  // Sends the commands `which` of `j`, each to the master of its slot unless `redirected`
  // names its node: the one a MOVED or ASK answer named (a read of the slot map from a node
  // whose view lags must not send it back where it came from).
  void dispatch(const std::shared_ptr<job>& j, const std::vector<size_t>& which,
                const std::map<size_t, target>& redirected = {}) {
    std::map<target, std::vector<size_t>> parts;
    std::vector<std::pair<std::shared_ptr<redis_client>, std::vector<size_t>>> sends;
    {
      std::lock_guard lock(mu);
      if (stopped) { // no new connections after stop(): they would keep the io_context busy
        if (j->error.empty())
          j->error = "redis client stopped";
        for (auto i : which)
          fail_reply(j, i, j->error);
        return;
      }
      std::string keyless; // commands without keys go with the first keyed one (or anywhere)
      for (auto i : which)
        if (auto s = command_slot(j->cmds[i]); s && *s >= 0) {
          keyless = slot_owner[*s];
          break;
        }
      if (keyless.empty())
        for (auto& o : slot_owner)
          if (!o.empty()) {
            keyless = o;
            break;
          }
      for (auto i : which) {
        if (auto r = redirected.find(i); r != redirected.end()) {
          parts[r->second].push_back(i);
          continue;
        }
        auto s = command_slot(j->cmds[i]);
        if (s && *s < 0) {
          j->replies[i].kind = redis_value::type::error;
          j->replies[i].str = "CROSSSLOT Keys in request don't hash to the same slot";
          continue;
        }
        auto& owner = s ? slot_owner[*s] : keyless;
        if (owner.empty()) {
          j->replies[i].kind = redis_value::type::error;
          j->replies[i].str = "CLUSTERDOWN Hash slot not served";
          continue;
        }
        parts[{owner, false}].push_back(i);
      }
      for (auto& [t, idx] : parts) {
        auto colon = t.node.rfind(':');
        cluster_node_address addr{t.node.substr(0, colon), std::stoi(t.node.substr(colon + 1))};
        sends.emplace_back(node_locked(addr), idx);
      }
      j->outstanding += sends.size();
      j->parts += sends.size();
    }
    size_t p = 0;
    for (auto& [t, idx] : parts) {
      auto& [client, indices] = sends[p++];
      redis_pipeline cmds;
      for (auto i : indices) {
        if (t.ask)
          cmds.push_back({"ASKING"});
        cmds.push_back(j->cmds[i]);
      }
      client->exec(std::move(cmds),
                   [self = shared_from_this(), j, indices = indices, ask = t.ask, node = t.node](
                       redis_result r) mutable { self->answered(j, indices, ask, node, r); });
    }
    if (sends.empty())
      maybe_done(j, 0);
  }

  void answered(const std::shared_ptr<job>& j, const std::vector<size_t>& indices, bool ask,
                const std::string& node, redis_result& r) {
    std::vector<size_t> again, later;
    std::map<size_t, target> redirected;
    bool moved = false;
    std::string failed; // the call's transport failure so far ("" none)
    {
      std::lock_guard lock(mu);
      if (!r.ok() && j->error.empty())
        j->error = r.error;
      failed = j->error;
    }
    if (!r.ok())
      refresh_soon();
    size_t stride = ask ? 2 : 1;
    for (size_t k = 0; k < indices.size(); ++k) {
      size_t at = k * stride + (ask ? 1 : 0);
      if (at >= r.replies.size())
        break;
      auto i = indices[k];
      auto& reply = r.replies[at];
      if (reply.is_error()) {
        if (auto red = parse_redirection(reply.str); red && j->hops[i] < kMaxRedirects) {
          if (red->to.host.empty()) // Redis names no host when it does not know one
            red->to.host = node.substr(0, node.rfind(':'));
          ++j->hops[i];
          redirected[i] = target{red->to.name(), red->ask};
          if (red->ask) {
            redirects.inc(redirect_kind::ask);
          } else {
            redirects.inc(redirect_kind::moved);
            std::lock_guard lock(mu);
            slot_owner[red->slot] = red->to.name();
            moved = true;
          }
          again.push_back(i);
          continue;
        }
        // TRYAGAIN and CLUSTERDOWN, and redirections that went round kMaxRedirects times (two
        // nodes naming each other while a slot's new owner is being announced): again later.
        if ((retryable_cluster_error(reply.str) || parse_redirection(reply.str)) &&
            j->retries[i] < timing.retry_attempts) {
          redirects.inc(redirect_kind::retry);
          ++j->retries[i];
          j->hops[i] = 0;
          later.push_back(i);
          continue;
        }
      }
      j->replies[i] = std::move(reply);
    }
    if (moved)
      refresh_soon();
    if (!again.empty()) {
      if (failed.empty())
        dispatch(j, again, redirected);
      else
        for (auto i : again)
          fail_reply(j, i, failed);
    }
    if (!later.empty()) {
      if (!failed.empty()) {
        for (auto i : later)
          fail_reply(j, i, failed);
      } else {
        int attempt = 0;
        for (auto i : later)
          attempt = std::max(attempt, j->retries[i]);
        auto delay = timing.retry_delay * (1 << std::min(attempt - 1, 10));
        {
          std::lock_guard lock(mu);
          ++j->outstanding;
        }
        auto timer = std::make_shared<asio::steady_timer>(io, delay);
        timer->async_wait([self = shared_from_this(), j, later, timer](boost::system::error_code) {
          self->dispatch(j, later);
          self->maybe_done(j, 1);
        });
      }
    }
    maybe_done(j, 1);
  }

  // Waits for one replica of `slot`'s master to have every write sent to it so far; `then` gets
  // "" (acknowledged, or no replica is listed) or why not.
  void wait_replica(int slot, wait_done then) {
    std::shared_ptr<redis_client> client;
    std::string node;
    {
      std::lock_guard lock(mu);
      node = slot_owner[slot];
      if (!stopped && !node.empty() && slot_replicas[slot] > 0) {
        auto& w = waits[node];
        if (w.in_flight) {
          w.next.push_back(std::move(then));
          return;
        }
        w.in_flight = true;
        auto colon = node.rfind(':');
        client = node_locked({node.substr(0, colon), std::stoi(node.substr(colon + 1))});
      }
    }
    if (!client)
      return then({});
    std::vector<wait_done> batch;
    batch.push_back(std::move(then));
    send_wait(node, client, std::move(batch));
  }

  void send_wait(const std::string& node, const std::shared_ptr<redis_client>& client,
                 std::vector<wait_done> batch) {
    auto ms = std::to_string(timing.replica_wait.count());
    client->exec({{"WAIT", "1", ms}}, [self = shared_from_this(), node, client, ms,
                                       batch = std::move(batch)](redis_result r) mutable {
      std::string failure;
      if (!r.ok())
        failure = "waiting for a replica failed: " + r.error;
      else if (r.replies.empty() || r.replies[0].kind != redis_value::type::integer ||
               r.replies[0].integer < 1)
        failure = "no replica acknowledged the write within " + ms + " ms";
      replica_waits.inc(failure.empty() ? wait_outcome::acknowledged : wait_outcome::timed_out);
      if (!failure.empty())
        self->refresh_soon();
      for (auto& f : batch)
        f(failure);
      std::vector<wait_done> next;
      {
        std::lock_guard lock(self->mu);
        auto& w = self->waits[node];
        next.swap(w.next);
        w.in_flight = !next.empty();
      }
      if (!next.empty())
        self->send_wait(node, client, std::move(next));
    });
  }

  static void fail_reply(const std::shared_ptr<job>& j, size_t i, const std::string& why) {
    j->replies[i].kind = redis_value::type::error;
    j->replies[i].str = "ERR not sent: " + why;
  }

  // Counts `finished` parts off; the last one answers the call.
  void maybe_done(const std::shared_ptr<job>& j, size_t finished) {
    {
      std::lock_guard lock(mu);
      j->outstanding -= finished;
      if (j->outstanding > 0)
        return;
    }
    auto done = std::move(j->done);
    redis_result r;
    // Split over several masters, a part that was never sent does not make the call unsent.
    r.error =
        j->error.empty() || j->parts <= 1 ? j->error : "redis cluster part failed: " + j->error;
    r.replies = std::move(j->replies);
    done(std::move(r));
  }
};

redis_cluster::redis_cluster(boost::asio::io_context& io, redis_cluster_endpoint endpoint,
                             redis_client_timing node_timing, redis_cluster_timing timing)
  : impl_(std::make_shared<impl>(io, std::move(endpoint), node_timing, timing)) {}

redis_cluster::~redis_cluster() {
  stop();
}

void redis_cluster::start() {
  impl_->start();
}

void redis_cluster::stop(std::function<void()> stopped) {
  impl_->stop(std::move(stopped));
}

void redis_cluster::exec(redis_pipeline cmds, callback done) {
  auto fail_later = [&](std::string why) {
    asio::post(impl_->io, [done = std::move(done), why = std::move(why)]() mutable {
      done(redis_result{{}, std::move(why)});
    });
  };
  if (cmds.empty())
    return fail_later("empty redis pipeline");
  for (const auto& c : cmds)
    if (c.empty())
      return fail_later("empty redis command");
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopped)
      return fail_later("redis client stopped");
    if (!impl_->loaded)
      return fail_later(kNotLoaded);
  }
  auto j = std::make_shared<job>();
  j->replies.resize(cmds.size());
  j->hops.resize(cmds.size());
  j->retries.resize(cmds.size());
  j->cmds = std::move(cmds);
  j->done = std::move(done);
  std::vector<size_t> all(j->cmds.size());
  for (size_t i = 0; i < all.size(); ++i)
    all[i] = i;
  // The first part's answer must not finish the call before the others were sent.
  {
    std::lock_guard lock(impl_->mu);
    ++j->outstanding;
  }
  impl_->dispatch(j, all);
  impl_->maybe_done(j, 1);
}

void redis_cluster::exec_durable(redis_pipeline cmds, callback done) {
  std::optional<int> slot;
  for (auto& c : cmds)
    if (auto s = command_slot(c); s && *s >= 0) {
      slot = s;
      break;
    }
  if (impl_->timing.replica_wait.count() <= 0 || !slot)
    return exec(std::move(cmds), std::move(done));
  exec(std::move(cmds),
       [impl = impl_, slot = *slot, done = std::move(done)](redis_result r) mutable {
         if (!r.ok())
           return done(std::move(r));
         impl->wait_replica(
             slot, [r = std::move(r), done = std::move(done)](std::string failure) mutable {
               if (!failure.empty())
                 r.error = std::move(failure);
               done(std::move(r));
             });
       });
}

bool redis_cluster::connected() const {
  std::lock_guard lock(impl_->mu);
  if (!impl_->loaded || impl_->stopped)
    return false;
  std::string last;
  for (auto& o : impl_->slot_owner) {
    if (o.empty())
      return false;
    if (o == last)
      continue;
    last = o;
    auto n = impl_->nodes.find(o);
    if (n == impl_->nodes.end() || !n->second->connected())
      return false;
  }
  return true;
}

} // namespace inboxd
