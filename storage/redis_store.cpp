#include "storage/redis_store.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <utility>

#include <nlohmann/json.hpp>

#include "messages/message_record.hpp"
#include "metrics/metrics.hpp"
#include "storage/cluster_slots.hpp"
#include "storage/commit_script.hpp"
#include "storage/event_codes.hpp"
#include "storage/keys.hpp"
#include "storage/lua_script.hpp"
#include "storage/redis_client.hpp"
#include "storage/reply_json.hpp"

namespace inboxd {

const char* to_string(commit_status s) {
  switch (s) {
    case commit_status::applied:
      return "applied";
    case commit_status::conflict:
      return "conflict";
    case commit_status::stale_epoch:
      return "stale_epoch";
    case commit_status::overloaded:
      return "overloaded";
    case commit_status::failed:
      return "failed";
    case commit_status::unknown:
      return "unknown";
  }
  return "?";
}

namespace {

// GET /metrics: the workspace queues' round trips and the change sets they commit, over every
// redis_store of the process.
metrics::counter_family round_trips(
    "inboxd_store_round_trips_total",
    "Redis round trips of the store's workspace queues (commits and the reads queued with them).");
metrics::histogram_family round_trip_seconds(
    "inboxd_store_round_trip_seconds",
    "Time from sending a store round trip to Redis to its reply.", metrics::latency_bounds_us,
    1e6);
constexpr std::array<uint64_t, 13> kGroupBounds{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024,
                                                2048, 4096};
metrics::histogram_family change_sets_per_round_trip(
    "inboxd_store_change_sets_per_round_trip",
    "Change sets committed in one round trip (group commit), for round trips carrying any.",
    kGroupBounds, 1);

std::vector<std::string> outcome_labels() {
  std::vector<std::string> out;
  for (auto s = commit_status::applied; s <= commit_status::unknown;
       s = static_cast<commit_status>(static_cast<int>(s) + 1))
    out.push_back(metrics::label("outcome", to_string(s)));
  return out;
}
metrics::counter_family commit_outcomes(
    "inboxd_store_commits_total",
    "Change sets by outcome: applied, conflict (a precondition failed), stale_epoch, overloaded "
    "(refused: the workspace's queue was full), failed (nothing written), unknown.",
    outcome_labels());

// One queued call of a workspace.
struct call {
  enum class kind : uint8_t { commit, targets, conversation } what = kind::commit;
  change_set cs;
  uint64_t epoch = 0;
  std::function<void(commit_result)> committed;
  std::vector<std::string> ids;
  std::function<void(message_targets)> targets;
  std::string conv_id, contact_id;
  std::function<void(conversation_records)> conversation;
  size_t first_reply = 0; // index of its first reply in the pipeline
};

void fail(call& c, commit_status status, const std::string& why) {
  switch (c.what) {
    case call::kind::commit: {
      commit_outcomes.inc(status);
      commit_result r;
      r.status = status;
      r.error = why;
      c.committed(std::move(r));
      break;
    }
    case call::kind::targets: {
      message_targets t;
      t.error = why;
      c.targets(std::move(t));
      break;
    }
    case call::kind::conversation: {
      conversation_records r;
      r.error = why;
      c.conversation(std::move(r));
      break;
    }
  }
}

// Transport errors the client reports before sending anything: nothing was written.
bool never_sent(const std::string& error) {
  return error == "redis not connected" || error == "redis client stopped" ||
         error == "redis pipeline limit reached" || error == "redis cluster map not loaded";
}

// Appends the script's tokens for `cs` (count first).
void encode(const change_set& cs, std::vector<std::string>& argv) {
  auto count_at = argv.size();
  argv.emplace_back();
  auto add = [&](std::initializer_list<std::string_view> tokens) {
    for (auto t : tokens)
      argv.emplace_back(t);
  };
  // 'u' checks the dedupe mark too: one EXISTS per assumed message.
  for (auto& id : cs.new_messages)
    if (std::find(cs.unlinked.begin(), cs.unlinked.end(), id) == cs.unlinked.end())
      add({"n", id});
  for (auto& id : cs.unlinked)
    add({"u", id});
  if (cs.client_message)
    add({"q", cs.client_message->client_message_id, cs.client_message->message_id});
  for (auto& [id, record] : cs.messages) {
    add({"m", id});
    append_message_record(argv.emplace_back(), record);
  }
  for (auto& [id, score] : cs.timeline)
    add({"t", cs.timeline_of, id, std::to_string(score)});
  for (auto& id : cs.drop_messages)
    add({"r", cs.timeline_of, id});
  for (auto& id : cs.unpark)
    add({"x", id});
  for (auto& [id, items] : cs.park)
    for (auto& item : items)
      add({"p", id, item});
  if (cs.conv) {
    add({"c", cs.conv->id});
    append_conversation_record(argv.emplace_back(), *cs.conv);
  }
  if (cs.ct) {
    add({"k", cs.ct->id});
    append_contact_record(argv.emplace_back(), *cs.ct);
  }
  for (auto& [derived, id] : cs.aliases)
    add({"a", derived, id});
  for (auto q : {job_queue::outbox, job_queue::media}) {
    auto& jobs = cs.jobs(q);
    const char* code = queue_code(q);
    for (auto& e : jobs.add)
      add({"o", code, e.id, nlohmann::json(e).dump(), std::to_string(e.due_ms)});
    for (auto& e : jobs.reschedule)
      add({"s", code, e.id, nlohmann::json(e).dump(), std::to_string(e.due_ms)});
    for (auto& id : jobs.remove)
      add({"z", code, id});
  }
  for (auto& e : cs.events)
    add({e.bot ? "b" : "e", std::string(event_code(e.type)), e.conversation_id, e.contact_id,
         e.message_id});
  for (auto& sha : cs.media_refs)
    add({"f", sha});
  if (cs.erase) {
    auto& er = *cs.erase;
    for (auto& id : er.gone)
      add({"g", id});
    for (auto& id : er.aliases)
      add({"A", id});
    for (auto& id : er.client_messages)
      add({"C", id});
    for (auto& sha : er.media)
      add({"F", sha});
    if (!er.conversation_id.empty())
      add({"D", er.conversation_id, er.contact_id});
    if (!er.scrub.empty()) {
      std::string ids;
      for (auto& id : er.scrub)
        (ids += id) += ' ';
      add({"S", ids});
    }
  }
  argv[count_at] = std::to_string(argv.size() - count_at - 1);
}

// Every key the script touches for `cs` (storage/commit_script.cpp), appended to `out`: on a
// Redis Cluster a script must declare them, so that a slot being migrated makes Redis answer
// TRYAGAIN or ASK before the script runs instead of failing it halfway.
void touched_keys(const std::string& ws, const change_set& cs, std::vector<std::string>& out) {
  for (auto* ids : {&cs.new_messages, &cs.drop_messages})
    for (auto& id : *ids)
      out.push_back(keys::message(ws, id));
  for (auto& id : cs.new_messages)
    out.push_back(keys::gone(ws, id));
  for (auto& id : cs.unlinked) {
    out.push_back(keys::message(ws, id));
    out.push_back(keys::alias(ws, id));
    out.push_back(keys::parked(ws, id));
    out.push_back(keys::gone(ws, id));
  }
  if (!cs.media_refs.empty())
    out.push_back(keys::media_refs(ws));
  if (cs.erase) {
    for (auto& id : cs.erase->gone)
      out.push_back(keys::gone(ws, id));
    for (auto& id : cs.erase->aliases)
      out.push_back(keys::alias(ws, id));
    for (auto& id : cs.erase->client_messages)
      out.push_back(keys::client_message(ws, id));
    if (!cs.erase->media.empty()) {
      out.push_back(keys::media_refs(ws));
      out.push_back(keys::media_garbage(ws));
    }
    if (!cs.erase->conversation_id.empty()) { // the conversation and contact go ('D')
      out.push_back(keys::conversations(ws));
      out.push_back(keys::contacts(ws));
      out.push_back(keys::timeline(ws, cs.erase->conversation_id));
    }
    if (!cs.erase->scrub.empty()) { // retained events and webhook deliveries ('S')
      out.push_back(keys::events(ws));
      out.push_back(keys::hook_subscriptions(ws));
    }
  }
  if (cs.client_message)
    out.push_back(keys::client_message(ws, cs.client_message->client_message_id));
  for (auto& m : cs.messages)
    out.push_back(keys::message(ws, m.first));
  if (!cs.timeline.empty() || !cs.drop_messages.empty())
    out.push_back(keys::timeline(ws, cs.timeline_of));
  for (auto& id : cs.unpark)
    out.push_back(keys::parked(ws, id));
  for (auto& p : cs.park)
    out.push_back(keys::parked(ws, p.first));
  if (cs.conv)
    out.push_back(keys::conversations(ws));
  if (cs.ct)
    out.push_back(keys::contacts(ws));
  for (auto& a : cs.aliases)
    out.push_back(keys::alias(ws, a.first));
  for (auto q : {job_queue::outbox, job_queue::media}) {
    auto& jobs = cs.jobs(q);
    for (auto* entries : {&jobs.add, &jobs.reschedule})
      for (auto& e : *entries)
        out.push_back(keys::queue_entry(ws, q, e.id));
    for (auto& id : jobs.remove)
      out.push_back(keys::queue_entry(ws, q, id));
    if (!jobs.empty())
      out.push_back(keys::queue(ws, q));
  }
  if (!cs.events.empty()) {
    out.push_back(keys::events(ws));
    out.push_back(keys::hook_subscriptions(ws)); // and the queues of the webhooks it names
    for (auto& e : cs.events)
      if (e.bot) {
        out.push_back(keys::hook_key(ws, "wq", "bot"));
        break;
      }
  }
}

commit_result decode_outcome(const redis_value& v) {
  commit_result r;
  r.status = commit_status::applied;
  for (auto& f : v.elements) {
    if (f.str.size() < 2)
      continue;
    if (f.str[0] == 'c')
      r.client_message_taken = f.str.substr(2);
    else
      (f.str[0] == 'd' ? r.duplicates : r.linked).push_back(f.str.substr(2));
  }
  if (!r.duplicates.empty() || !r.linked.empty() || !r.client_message_taken.empty())
    r.status = commit_status::conflict;
  return r;
}

bool parse_stream_entries(const redis_value& reply, std::vector<stream_entry>& out) {
  if (reply.kind != redis_value::type::array)
    return false;
  for (auto& entry : reply.elements) {
    if (entry.kind != redis_value::type::array || entry.elements.size() != 2 ||
        entry.elements[1].kind != redis_value::type::array)
      return false;
    stream_entry e;
    e.id = entry.elements[0].str;
    auto& fields = entry.elements[1].elements;
    for (size_t i = 0; i + 1 < fields.size(); i += 2) {
      auto& f = fields[i].str;
      auto& v = fields[i + 1].str;
      if (f == "type")
        e.type = event_type(v);
      else if (f == "data")
        e.data = v;
      else if (f == "m")
        e.message_id = v, e.names_records = true;
      else if (f == "c")
        e.conversation_id = v, e.names_records = true;
      else if (f == "k")
        e.contact_id = v;
    }
    out.push_back(std::move(e));
  }
  return true;
}

// Reads the records the entries name in one round trip, into message, conversation and contact
// ("" when gone).
void resolve_records(redis_executor& client, const std::string& ws, event_read out,
                     std::function<void(event_read)> done) {
  std::vector<std::string*> slots;
  std::vector<redis_command> cmds;
  for (auto& e : out.entries) {
    if (!e.names_records)
      continue;
    if (!e.message_id.empty()) {
      cmds.push_back({"GET", keys::message(ws, e.message_id)});
      slots.push_back(&e.message);
    }
    if (!e.conversation_id.empty()) {
      cmds.push_back({"HGET", keys::conversations(ws), e.conversation_id});
      slots.push_back(&e.conversation);
      cmds.push_back({"HGET", keys::contacts(ws), e.contact_id});
      slots.push_back(&e.contact);
    }
  }
  if (cmds.empty())
    return done(std::move(out));
  auto shared = std::make_shared<event_read>(std::move(out));
  client.exec(std::move(cmds), [shared, slots = std::move(slots),
                                done = std::move(done)](redis_result r) {
    auto& out = *shared;
    if (!r.ok() || r.replies.size() != slots.size()) {
      out.ok = false;
      out.error = r.ok() ? "short reply to an event record read" : r.error;
      out.entries.clear();
      return done(std::move(out));
    }
    for (size_t i = 0; i < slots.size(); ++i) {
      auto& v = r.replies[i];
      if (v.is_error()) {
        out.ok = false;
        out.error = v.str;
        out.entries.clear();
        return done(std::move(out));
      }
      *slots[i] = v.kind == redis_value::type::string ? v.str : std::string();
    }
    for (auto& e : out.entries)
      if (!e.message.empty())
        e.message = message_api(e.message_id, e.message);
    done(std::move(out));
  });
}

// The error of a reply that is not an array of `n` elements, or "" when it is one.
std::string array_error(const redis_result& r, size_t at, size_t n) {
  if (!r.ok())
    return r.error;
  if (r.replies.size() <= at)
    return "short reply";
  auto& v = r.replies[at];
  if (v.is_error())
    return v.str;
  if (v.kind != redis_value::type::array || (n != SIZE_MAX && v.elements.size() != n))
    return "unexpected reply";
  return {};
}

} // namespace

struct redis_store::impl : std::enable_shared_from_this<impl> {
  std::shared_ptr<redis_executor> client;
  redis_store_options opts;
  struct queue {
    bool busy = false;
    std::vector<call> waiting;
  };
  std::mutex mu;
  std::unordered_map<std::string, queue> queues;

  // One round trip of the queue path, counted and timed for GET /metrics.
  void exec(redis_pipeline cmds, size_t change_sets, redis_executor::callback done) {
    round_trips.inc();
    if (change_sets > 0)
      change_sets_per_round_trip.observe(change_sets);
    auto start = std::chrono::steady_clock::now();
    auto timed = [start, done = std::move(done)](redis_result r) {
      auto took = std::chrono::steady_clock::now() - start;
      round_trip_seconds.observe(
          std::chrono::duration_cast<std::chrono::microseconds>(took).count());
      done(std::move(r));
    };
    // Commits are acknowledged: on a Redis Cluster with replicas, one replica must have them.
    if (change_sets > 0)
      client->exec_durable(std::move(cmds), std::move(timed));
    else
      client->exec(std::move(cmds), std::move(timed));
  }

  // Sends `c` now if the workspace has nothing in flight, else queues it (bounded).
  void submit(const std::string& ws, call c) {
    bool refused = false;
    {
      std::lock_guard lock(mu);
      auto& q = queues[ws];
      if (!q.busy) {
        q.busy = true;
      } else if (q.waiting.size() < opts.max_queued) {
        q.waiting.push_back(std::move(c));
        return;
      } else {
        refused = true;
      }
    }
    if (refused)
      return fail(c, commit_status::overloaded, "too many storage calls queued for the workspace");
    std::vector<call> batch;
    batch.push_back(std::move(c));
    send(ws, std::move(batch));
  }

  // After a batch finished: the next one (everything that queued meanwhile), or idle.
  void next(const std::string& ws) {
    std::vector<call> batch;
    {
      std::lock_guard lock(mu);
      auto i = queues.find(ws);
      if (i == queues.end())
        return;
      if (i->second.waiting.empty()) {
        queues.erase(i);
        return;
      }
      batch.swap(i->second.waiting);
    }
    send(ws, std::move(batch));
  }

  // The EVALSHA (or EVAL) of the commits in `batch` with epoch `epoch`.
  redis_command script_call(const std::string& ws, const std::vector<call*>& commits,
                            uint64_t epoch, bool load) {
    redis_command cmd{load ? "EVAL" : "EVALSHA",
                      load ? commit_script().source : commit_script().sha,
                      "1",
                      keys::tag(ws) + ":epoch"};
    if (opts.declare_keys) {
      std::vector<std::string> declared;
      for (auto* c : commits)
        touched_keys(ws, c->cs, declared);
      std::sort(declared.begin(), declared.end());
      declared.erase(std::unique(declared.begin(), declared.end()), declared.end());
      cmd[2] = std::to_string(1 + declared.size());
      for (auto& k : declared)
        cmd.push_back(std::move(k));
    }
    cmd.insert(cmd.end(), {std::to_string(epoch),
                           keys::tag(ws),
                           std::to_string(opts.events_retain),
                           std::to_string(opts.park_ttl_seconds),
                           std::to_string(opts.client_message_ttl_seconds),
                           std::to_string(commits.size())});
    for (auto* c : commits)
      encode(c->cs, cmd);
    return cmd;
  }

  void send(const std::string& ws, std::vector<call> batch) {
    // Commits of one epoch share one script call (there is one epoch per workspace in practice).
    std::vector<std::pair<uint64_t, std::vector<call*>>> scripts;
    for (auto& c : batch)
      if (c.what == call::kind::commit) {
        if (scripts.empty() || scripts.back().first != c.epoch)
          scripts.emplace_back(c.epoch, std::vector<call*>{});
        scripts.back().second.push_back(&c);
      }
    redis_pipeline cmds;
    size_t change_sets = 0;
    for (auto& [epoch, commits] : scripts) {
      cmds.push_back(script_call(ws, commits, epoch, false));
      change_sets += commits.size();
    }
    for (auto& c : batch) {
      if (c.what == call::kind::targets) {
        c.first_reply = cmds.size();
        // The records; then every id's alias, and then its gone mark, in one MGET; the parked.
        redis_command own{"MGET"}, alias{"MGET"};
        for (auto& id : c.ids) {
          own.push_back(keys::message(ws, id));
          alias.push_back(keys::alias(ws, id));
        }
        for (auto& id : c.ids)
          alias.push_back(keys::gone(ws, id));
        cmds.push_back(std::move(own));
        cmds.push_back(std::move(alias));
        for (auto& id : c.ids)
          cmds.push_back({"LRANGE", keys::parked(ws, id), "0", "-1"});
      } else if (c.what == call::kind::conversation) {
        c.first_reply = cmds.size();
        cmds.push_back({"HGET", keys::conversations(ws), c.conv_id});
        cmds.push_back({"HGET", keys::contacts(ws), c.contact_id});
      }
    }
    auto self = shared_from_this();
    // `scripts` points into the batch's elements: moving the vector keeps them where they are.
    auto shared = std::make_shared<std::vector<call>>(std::move(batch));
    exec(std::move(cmds), change_sets,
         [self, ws, shared, scripts = std::move(scripts)](redis_result r) mutable {
           self->finish(ws, *shared, scripts, r);
         });
  }

  void finish(const std::string& ws, std::vector<call>& batch,
              std::vector<std::pair<uint64_t, std::vector<call*>>>& scripts, redis_result& r) {
    if (!r.ok()) {
      auto status = never_sent(r.error) ? commit_status::failed : commit_status::unknown;
      for (auto& c : batch)
        fail(c, status, r.error);
      return next(ws);
    }
    // Reads first: their replies do not depend on a script reload.
    for (auto& c : batch) {
      if (c.what == call::kind::targets)
        finish_targets(ws, c, r);
      else if (c.what == call::kind::conversation)
        finish_conversation(c, r);
    }
    std::vector<std::pair<uint64_t, std::vector<call*>>> reload;
    for (size_t s = 0; s < scripts.size(); ++s) {
      auto& reply = r.replies[s];
      if (reply.is_error() && reply.str.rfind("NOSCRIPT", 0) == 0)
        reload.push_back(std::move(scripts[s]));
      else
        finish_commits(scripts[s].second, reply);
    }
    if (reload.empty())
      return next(ws);
    // Redis lost the script (restart, SCRIPT FLUSH): EVAL loads it. Nothing ran yet, and the
    // workspace's next calls keep waiting, so the order of its writes is unchanged.
    redis_pipeline cmds;
    size_t change_sets = 0;
    for (auto& [epoch, commits] : reload) {
      cmds.push_back(script_call(ws, commits, epoch, true));
      change_sets += commits.size();
    }
    auto self = shared_from_this();
    auto keep = std::make_shared<std::vector<call>>(std::move(batch));
    exec(
        std::move(cmds), change_sets,
        [self, ws, keep, reload = std::move(reload)](redis_result r2) mutable {
          for (size_t s = 0; s < reload.size(); ++s) {
            if (!r2.ok()) {
              auto status = never_sent(r2.error) ? commit_status::failed : commit_status::unknown;
              for (auto* c : reload[s].second)
                fail(*c, status, r2.error);
            } else {
              self->finish_commits(reload[s].second, r2.replies[s]);
            }
          }
          self->next(ws);
        });
  }

  void finish_commits(std::vector<call*>& commits, const redis_value& reply) {
    if (reply.is_error()) {
      // A Redis Cluster that refused the call before running it (the slot moving or not
      // served, after the client's bounded retries) wrote nothing; any other script error may
      // have stopped after some writes, so the outcome is unknown.
      bool refused = retryable_cluster_error(reply.str) || parse_redirection(reply.str) ||
                     reply.str.rfind("CROSSSLOT", 0) == 0;
      for (auto* c : commits)
        fail(*c, refused ? commit_status::failed : commit_status::unknown, reply.str);
      return;
    }
    if (reply.kind != redis_value::type::array || reply.elements.empty()) {
      for (auto* c : commits)
        fail(*c, commit_status::unknown, "unexpected commit script reply");
      return;
    }
    auto& head = reply.elements[0].str;
    if (head == "stale") {
      auto stored = reply.elements.size() > 1 ? reply.elements[1].str : std::string();
      for (auto* c : commits)
        fail(*c, commit_status::stale_epoch, "workspace epoch is " + stored);
      return;
    }
    for (size_t i = 0; i < commits.size(); ++i) {
      if (i + 1 >= reply.elements.size()) {
        fail(*commits[i], commit_status::unknown, "short commit script reply");
        continue;
      }
      auto outcome = decode_outcome(reply.elements[i + 1]);
      commit_outcomes.inc(outcome.status);
      commits[i]->committed(std::move(outcome));
    }
  }

  void finish_conversation(call& c, redis_result& r) {
    conversation_records out;
    auto& cv = r.replies[c.first_reply];
    auto& ct = r.replies[c.first_reply + 1];
    if (cv.is_error() || ct.is_error()) {
      out.error = cv.is_error() ? cv.str : ct.str;
      return c.conversation(std::move(out));
    }
    out.ok = true;
    try {
      if (auto j = parse_object(cv))
        out.conv = conversation_record(*j, c.conv_id);
      if (auto j = parse_object(ct))
        out.ct = contact_record(*j, c.contact_id);
    } catch (const std::exception& e) {
      out.ok = false;
      out.error = std::string("unreadable record: ") + e.what();
    }
    c.conversation(std::move(out));
  }

  void finish_targets(const std::string& ws, call& c, redis_result& r) {
    message_targets out;
    auto& own = r.replies[c.first_reply];
    auto& alias = r.replies[c.first_reply + 1]; // the aliases, then the gone marks
    auto n = c.ids.size();
    if (own.kind != redis_value::type::array || alias.kind != redis_value::type::array ||
        own.elements.size() != n || alias.elements.size() != 2 * n) {
      out.error = own.is_error()     ? own.str
                  : alias.is_error() ? alias.str
                                     : "unexpected reply to a message read";
      return c.targets(std::move(out));
    }
    for (size_t i = 0; i < n; ++i) {
      if (own.elements[i].kind == redis_value::type::string)
        out.records[c.ids[i]] = message_api(c.ids[i], own.elements[i].str);
      else if (alias.elements[i].kind == redis_value::type::string)
        out.aliases[c.ids[i]] = alias.elements[i].str;
      if (alias.elements[n + i].kind == redis_value::type::string)
        out.gone.insert(c.ids[i]);
      auto& parked = r.replies[c.first_reply + 2 + i];
      for (auto& p : parked.elements)
        out.parked[c.ids[i]].push_back(p.str);
    }
    if (out.aliases.empty()) {
      out.ok = true;
      return c.targets(std::move(out));
    }
    // Messages we sent are stored under their own ids: read those the aliases name. Only the
    // conversation waiting for this read writes them, so this need not queue.
    redis_command mget{"MGET"};
    for (auto& [derived, id] : out.aliases)
      mget.push_back(keys::message(ws, id));
    exec({std::move(mget)}, 0, [out = std::move(out),
                                done = std::move(c.targets)](redis_result r2) mutable {
      if (!r2.ok() || r2.replies.empty() || r2.replies[0].kind != redis_value::type::array ||
          r2.replies[0].elements.size() != out.aliases.size()) {
        out.error = r2.ok() ? "unexpected reply to a message read" : r2.error;
        return done(std::move(out));
      }
      size_t k = 0;
      for (auto& [derived, id] : out.aliases) {
        auto& v = r2.replies[0].elements[k++];
        if (v.kind == redis_value::type::string)
          out.records[id] = message_api(id, v.str);
      }
      out.ok = true;
      done(std::move(out));
    });
  }
};

redis_store::redis_store(std::shared_ptr<redis_executor> client, redis_store_options opts)
  : impl_(std::make_shared<impl>()) {
  impl_->client = std::move(client);
  impl_->opts = opts;
}

redis_store::~redis_store() = default;

bool redis_store::reachable() const {
  return impl_->client->connected();
}

void redis_store::commit(change_set cs, uint64_t epoch, std::function<void(commit_result)> done) {
  call c;
  c.what = call::kind::commit;
  auto ws = cs.workspace_id;
  c.cs = std::move(cs);
  c.epoch = epoch;
  c.committed = std::move(done);
  impl_->submit(ws, std::move(c));
}

void redis_store::load_targets(std::string workspace_id, std::vector<std::string> ids,
                               std::function<void(message_targets)> done) {
  call c;
  c.what = call::kind::targets;
  c.ids = std::move(ids);
  c.targets = std::move(done);
  if (c.ids.empty()) {
    message_targets t;
    t.ok = true;
    return c.targets(std::move(t));
  }
  impl_->submit(workspace_id, std::move(c));
}

void redis_store::load_conversation(std::string workspace_id, std::string conversation_id,
                                    std::string contact_id,
                                    std::function<void(conversation_records)> done) {
  call c;
  c.what = call::kind::conversation;
  c.conv_id = std::move(conversation_id);
  c.contact_id = std::move(contact_id);
  c.conversation = std::move(done);
  impl_->submit(workspace_id, std::move(c));
}

void redis_store::load_messages(std::string workspace_id, std::vector<std::string> ids,
                                std::string client_message_id,
                                std::function<void(message_lookup)> done) {
  auto& client = impl_->client;
  redis_pipeline cmds;
  redis_command mget{"MGET"};
  for (auto& id : ids)
    mget.push_back(keys::message(workspace_id, id));
  if (!ids.empty())
    cmds.push_back(std::move(mget));
  if (!client_message_id.empty())
    cmds.push_back({"GET", keys::client_message(workspace_id, client_message_id)});
  if (cmds.empty())
    return done(message_lookup{true, {}, {}, {}});
  client->exec(std::move(cmds), [client, ws = std::move(workspace_id), ids = std::move(ids),
                                 with_cmid = !client_message_id.empty(),
                                 done = std::move(done)](redis_result r) mutable {
    message_lookup out;
    if (!ids.empty()) {
      if (auto e = array_error(r, 0, ids.size()); !e.empty()) {
        out.error = e;
        return done(std::move(out));
      }
      for (size_t i = 0; i < ids.size(); ++i)
        if (r.replies[0].elements[i].kind == redis_value::type::string)
          out.records[ids[i]] = message_api(ids[i], r.replies[0].elements[i].str);
    }
    if (with_cmid) {
      size_t at = ids.empty() ? 0 : 1;
      if (!r.ok() || r.replies.size() <= at || r.replies[at].is_error()) {
        out.error = r.ok() ? "unexpected reply" : r.error;
        return done(std::move(out));
      }
      if (r.replies[at].kind == redis_value::type::string)
        out.client_message = r.replies[at].str;
    }
    auto& first = out.client_message;
    if (first.empty() || out.records.count(first)) {
      out.ok = true;
      return done(std::move(out));
    }
    redis_pipeline get{{"GET", keys::message(ws, first)}}; // before `out` is moved from
    client->exec(std::move(get),
                 [out = std::move(out), done = std::move(done)](redis_result r2) mutable {
                   if (!r2.ok() || r2.replies.empty() || r2.replies[0].is_error()) {
                     out.error = r2.ok() ? r2.replies.empty() ? "short reply" : r2.replies[0].str
                                         : r2.error;
                     return done(std::move(out));
                   }
                   if (r2.replies[0].kind == redis_value::type::string)
                     out.records[out.client_message] =
                         message_api(out.client_message, r2.replies[0].str);
                   out.ok = true;
                   done(std::move(out));
                 });
  });
}

void redis_store::load_timeline(std::string workspace_id, std::string conversation_id,
                                int64_t before, int64_t limit,
                                std::function<void(timeline_page)> done) {
  auto& client = impl_->client;
  std::string max = before > 0 ? "(" + std::to_string(before) : "+inf";
  redis_command range{"ZREVRANGEBYSCORE", keys::timeline(workspace_id, conversation_id), max,
                      "-inf", "WITHSCORES", "LIMIT", "0", std::to_string(limit)};
  client->exec(
      {std::move(range)},
      [client, ws = std::move(workspace_id), done = std::move(done)](redis_result r) mutable {
        timeline_page page;
        if (auto e = array_error(r, 0, SIZE_MAX); !e.empty()) {
          page.error = e;
          return done(std::move(page));
        }
        auto& el = r.replies[0].elements;
        redis_command mget{"MGET"};
        for (size_t i = 0; i + 1 < el.size(); i += 2) {
          timeline_page::entry e;
          e.id = el[i].str;
          e.score = static_cast<int64_t>(std::strtod(el[i + 1].str.c_str(), nullptr));
          mget.push_back(keys::message(ws, e.id));
          page.entries.push_back(std::move(e));
        }
        if (page.entries.empty()) {
          page.ok = true;
          return done(std::move(page));
        }
        client->exec({std::move(mget)}, [page = std::move(page),
                                         done = std::move(done)](redis_result r2) mutable {
          if (auto e = array_error(r2, 0, page.entries.size()); !e.empty()) {
            page.error = e;
            return done(std::move(page));
          }
          for (size_t i = 0; i < page.entries.size(); ++i)
            if (r2.replies[0].elements[i].kind == redis_value::type::string)
              page.entries[i].record = message_api(page.entries[i].id, r2.replies[0].elements[i].str);
          page.ok = true;
          done(std::move(page));
        });
      });
}

void redis_store::load_queue(std::string workspace_id, job_queue q,
                             std::function<void(queue_read)> done) {
  auto& client = impl_->client;
  redis_command range{"ZRANGE", keys::queue(workspace_id, q), "0", "-1"};
  client->exec(
      {std::move(range)},
      [client, q, ws = std::move(workspace_id), done = std::move(done)](redis_result r) mutable {
        queue_read out;
        if (auto e = array_error(r, 0, SIZE_MAX); !e.empty()) {
          out.error = e;
          return done(std::move(out));
        }
        auto& ids = r.replies[0].elements;
        if (ids.empty()) {
          out.ok = true;
          return done(std::move(out));
        }
        redis_command mget{"MGET"};
        for (auto& id : ids)
          mget.push_back(keys::queue_entry(ws, q, id.str));
        auto n = ids.size();
        client->exec({std::move(mget)}, [out = std::move(out), n,
                                         done = std::move(done)](redis_result r2) mutable {
          if (auto e = array_error(r2, 0, n); !e.empty()) {
            out.error = e;
            return done(std::move(out));
          }
          for (auto& v : r2.replies[0].elements)
            if (v.kind == redis_value::type::string)
              out.entries.push_back(std::move(v.str));
          out.ok = true;
          done(std::move(out));
        });
      });
}

void redis_store::read_events(std::string workspace_id, std::string after, std::string upto,
                              size_t count, std::function<void(event_read)> done) {
  redis_command cmd;
  auto key = keys::events(workspace_id);
  if (count == 0)
    cmd = {"XREVRANGE", key, "+", "-", "COUNT", "1"};
  else
    cmd = {"XRANGE", key, after.empty() ? "-" : "(" + after, upto.empty() ? "+" : upto,
           "COUNT", std::to_string(count)};
  auto client = impl_->client;
  client->exec({std::move(cmd)}, [client, workspace_id, count,
                                  done = std::move(done)](redis_result r) mutable {
    event_read out;
    if (auto e = array_error(r, 0, SIZE_MAX); !e.empty())
      out.error = e;
    else if (!parse_stream_entries(r.replies[0], out.entries))
      out.error = "unexpected reply to an event log read";
    else
      out.ok = true;
    if (!out.ok || count == 0)
      return done(std::move(out));
    resolve_records(*client, workspace_id, std::move(out), std::move(done));
  });
}

namespace {

// KEYS: {ws}:mgc, {ws}:mref. ARGV: hashes to add to the garbage. Drops members a message holds
// again (mref > 0); returns the rest.
const lua_script media_garbage_script{R"LUA(
for i = 1, #ARGV do
  redis.call('SADD', KEYS[1], ARGV[i])
end
local out = {}
for _, sha in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if tonumber(redis.call('HGET', KEYS[2], sha) or '0') > 0 then
    redis.call('SREM', KEYS[1], sha)
  else
    out[#out + 1] = sha
  end
end
return out
)LUA"};

} // namespace

void redis_store::media_garbage(std::string workspace_id, std::vector<std::string> also,
                                std::function<void(media_garbage_read)> done) {
  run_script(impl_->client, media_garbage_script,
             {keys::media_garbage(workspace_id), keys::media_refs(workspace_id)}, std::move(also),
             [done = std::move(done)](redis_result r) {
               media_garbage_read out;
               if (!r.ok() || r.replies.empty() || r.replies[0].kind != redis_value::type::array) {
                 out.error = !r.ok() ? r.error : r.replies.empty() ? "no reply" : r.replies[0].str;
                 return done(std::move(out));
               }
               for (auto& v : r.replies[0].elements)
                 out.hashes.push_back(v.str);
               out.ok = true;
               done(std::move(out));
             });
}

void redis_store::media_collected(std::string workspace_id, std::vector<std::string> removed,
                                  std::function<void(bool)> done) {
  if (removed.empty())
    return done(true);
  redis_command srem{"SREM", keys::media_garbage(workspace_id)};
  for (auto& sha : removed)
    srem.push_back(sha);
  impl_->client->exec({std::move(srem)}, [done = std::move(done)](redis_result r) {
    done(r.ok() && !r.replies.empty() && !r.replies[0].is_error());
  });
}

store_counters store_totals() {
  return {round_trips.value(), change_sets_per_round_trip.sum(),
          commit_outcomes.value(commit_status::overloaded)};
}

} // namespace inboxd
