#include "actors/outbound_actor.hpp"

#include <map>
#include <mutex>
#include <random>
#include <set>
#include <tuple>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/continuation.hpp"
#include "actors/dropped.hpp"
#include "messages/actor_messages.hpp"
#include "messages/ids.hpp"
#include "metrics/metrics.hpp"
#include "storage/store.hpp"
#include "whatsapp/cloud_api.hpp"

namespace inboxd {

namespace {

// What of a send's failure reason may be logged: the reasons classify_send_response composes
// (transport, TLS, HTTP status), never the Cloud API's error text, which may echo what was sent
// (a template's parameters); that text stays in the message's stored error.
std::string_view loggable_title(const std::string& title) {
  for (auto made_here :
       {"transport: ", "TLS certificate refused: ", "unreadable success answer", "HTTP "})
    if (title.rfind(made_here, 0) == 0)
      return title;
  return "(the Cloud API's error text is not logged)";
}

/// The transport's answer to one entry (from the transport's thread).
struct send_done {
  std::string entry_id;
  outbound_response response;
};

} // namespace
} // namespace inboxd

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(inboxd::send_done)

namespace inboxd {

namespace {

// A send's claim lasts this much longer than the send's own timeout (see start_send).
constexpr std::chrono::milliseconds kClaimMargin{5000};

// GET /metrics: the outboxes of the process, without a series per workspace. Each outbound
// actor publishes its entry count and its oldest entry's queue time in a slot (registered once,
// while it runs); a scrape sums and takes the oldest over the slots.
struct outbox_slot {
  std::atomic<int64_t> entries{0};
  std::atomic<int64_t> oldest_ms{INT64_MAX};
};
std::mutex slots_mutex;
std::set<const outbox_slot*> all_slots;

template <class F>
void each_slot(F&& f) {
  std::lock_guard lock(slots_mutex);
  for (auto* s : all_slots)
    f(*s);
}

metrics::computed_family outbox_entries(
    "inboxd_outbox_entries", "Entries in the outboxes (messages and read receipts to send).",
    "gauge", [] {
      int64_t n = 0;
      each_slot([&](const outbox_slot& s) { n += s.entries.load(std::memory_order_relaxed); });
      return static_cast<double>(n);
    });
metrics::computed_family outbox_oldest_age(
    "inboxd_outbox_oldest_age_seconds",
    "Age of the oldest outbox entry (since it was queued, or loaded at start when later; 0 when "
    "the outboxes are empty).",
    "gauge", [] {
      int64_t oldest = INT64_MAX;
      each_slot([&](const outbox_slot& s) {
        oldest = std::min(oldest, s.oldest_ms.load(std::memory_order_relaxed));
      });
      return oldest == INT64_MAX ? 0.0 : std::max<int64_t>(0, now_ms() - oldest) / 1000.0;
    });

// One actor's slot, registered for the actor's lifetime.
class outbox_gauges {
public:
  outbox_gauges() {
    std::lock_guard lock(slots_mutex);
    all_slots.insert(&slot_);
  }
  ~outbox_gauges() {
    std::lock_guard lock(slots_mutex);
    all_slots.erase(&slot_);
  }
  outbox_gauges(const outbox_gauges&) = delete;
  outbox_gauges& operator=(const outbox_gauges&) = delete;

  void publish(size_t entries, const std::multiset<int64_t>& queued) {
    slot_.entries.store(static_cast<int64_t>(entries), std::memory_order_relaxed);
    slot_.oldest_ms.store(queued.empty() ? INT64_MAX : *queued.begin(),
                          std::memory_order_relaxed);
  }

private:
  outbox_slot slot_;
};

struct item {
  outbox_entry entry;
  int64_t queued_ms = 0;    // when it was queued (or loaded), for the oldest-entry gauge
  uint64_t order = 0;       // arrival order: keeps a conversation's messages in sequence
  bool in_flight = false;
  bool recording = false;   // outcome handed to the conversation actor, not yet confirmed
  std::optional<send_result> outcome;
};

struct outbound_state {
  workspace ws;
  outbox_options opts;
  uint64_t epoch = 0; // the workspace's lease epoch: every commit carries it
  std::shared_ptr<store> db;
  caf::actor workspace_actor;
  std::map<std::string, item> items;
  std::set<std::tuple<int64_t, uint64_t, std::string>> due; // (due_ms, order, id), idle entries
  std::set<std::string> busy_conversations;
  int in_flight = 0;
  uint64_t next_order = 0;
  double tokens = 0;
  int64_t refilled_at = 0;
  int64_t tick_at = INT64_MAX; // when the scheduled tick fires (INT64_MAX: none)
  std::mt19937_64 rng{std::random_device{}()};
  std::multiset<int64_t> queued; // the items' queued_ms
  outbox_gauges gauges;
  static inline const char* name = "outbound";
};

using ob_actor = caf::stateful_actor<outbound_state>;

void pump(ob_actor* self);

void schedule_tick(ob_actor* self, int64_t at) {
  auto& st = self->state;
  auto now = now_ms();
  if (at >= st.tick_at && st.tick_at > now)
    return; // an earlier tick is already on its way
  st.tick_at = at;
  self->delayed_send(self, std::chrono::milliseconds(std::max<int64_t>(at - now, 1)),
                     tick_atom::value);
}

void add(ob_actor* self, outbox_entry e) {
  auto& st = self->state;
  if (st.items.count(e.id))
    return; // already known (loaded and announced, or announced twice)
  item it;
  it.order = st.next_order++;
  it.queued_ms = std::min(now_ms(), e.due_ms); // a fresh entry is due when it is queued
  st.due.emplace(e.due_ms, it.order, e.id);
  st.queued.insert(it.queued_ms);
  it.entry = std::move(e);
  st.items.emplace(it.entry.id, std::move(it));
  st.gauges.publish(st.items.size(), st.queued);
}

void forget(ob_actor* self, const std::string& id) {
  auto& st = self->state;
  auto found = st.items.find(id);
  if (found == st.items.end())
    return;
  st.queued.erase(st.queued.find(found->second.queued_ms));
  st.items.erase(found);
  st.gauges.publish(st.items.size(), st.queued);
}

// Commits a change of the outbox under the lease's epoch; `done` runs in the actor. A refused
// epoch means another node owns the workspace now: the workspace actor is told, and drops this
// actor.
void commit(ob_actor* self, change_set cs, std::function<void(commit_result&)> done) {
  auto& st = self->state;
  cs.workspace_id = st.ws.id;
  st.db->commit(std::move(cs), st.epoch,
                in_actor<commit_result>(self, [self, done = std::move(done)](commit_result& r) {
                  if (r.status == commit_status::stale_epoch)
                    self->send(self->state.workspace_actor, fenced_atom::value, self->state.epoch);
                  done(r);
                }));
}

// Commits a change of the outbox that nothing waits for (best effort, logged when lost).
void commit_quietly(ob_actor* self, change_set cs, const char* what) {
  commit(self, std::move(cs), [self, what](commit_result& r) {
    if (!r.ok())
      spdlog::warn("outbound {}: {} not stored ({}): {}", self->state.ws.id, what,
                   to_string(r.status), r.error);
  });
}

// Stores the entry's new schedule (best effort: if it is lost, the entry is due at once after
// a restart, which only makes the retry earlier). Not written when the entry left the outbox.
void persist(ob_actor* self, const outbox_entry& e) {
  change_set cs;
  cs.outbox.reschedule.push_back(e);
  commit_quietly(self, std::move(cs), "retry schedule");
}

// Deletes a read receipt's entry (best effort: one left behind is sent again after a restart,
// which WhatsApp ignores).
void remove_entry(ob_actor* self, const std::string& id) {
  change_set cs;
  cs.outbox.remove.push_back(id);
  commit_quietly(self, std::move(cs), "outbox removal");
  forget(self, id);
}

// Hands a message's final outcome to its conversation actor (through the workspace actor).
void record(ob_actor* self, item& it) {
  it.recording = true;
  auto r = *it.outcome;
  r.outbound = caf::actor_cast<caf::actor>(self);
  self->send(self->state.workspace_actor, std::move(r));
}

void finish(ob_actor* self, item& it, bool sent, std::string wamid, int64_t code,
            std::string title) {
  if (it.entry.kind != "message") {
    if (!sent)
      spdlog::info("outbound {}: read receipt {} failed: {} {}", self->state.ws.id, it.entry.id,
                   code, loggable_title(title));
    return remove_entry(self, it.entry.id);
  }
  send_result r;
  r.conversation_id = it.entry.conversation_id;
  r.entry_id = it.entry.id;
  r.sent = sent;
  r.wamid = std::move(wamid);
  r.code = code;
  r.title = std::move(title);
  it.outcome = std::move(r);
  record(self, it);
}

void post(ob_actor* self, item& it) {
  auto& st = self->state;
  auto req = cloud_api_request(st.ws.send, st.ws.phone_number_id, it.entry.payload,
                               st.opts.timeout_ms);
  auto handle = caf::actor_cast<caf::actor>(self);
  auto id = it.entry.id;
  st.opts.transport->post(std::move(req), [handle, id](outbound_response res) {
    caf::anon_send(handle, send_done{id, std::move(res)});
  });
}

// A send starts with its claim: the entry's stored due time moves past the send's timeout, in a
// commit under the lease's epoch, and only once that is stored does the request go out. So a
// node that lost the workspace sends nothing (its claim is refused), and the node that takes
// the workspace over leaves an entry claimed just before alone until the claim runs out: if
// the old node did send it, its answer was lost with the old node, and the entry goes out again
// (at least once, never from two nodes at the same time).
void start_send(ob_actor* self, item& it) {
  auto& st = self->state;
  it.in_flight = true;
  ++st.in_flight;
  if (it.entry.kind == "message")
    st.busy_conversations.insert(it.entry.conversation_id);
  change_set cs;
  cs.outbox.reschedule.push_back(it.entry);
  cs.outbox.reschedule.back().due_ms = now_ms() + st.opts.timeout_ms + kClaimMargin.count();
  commit(self, std::move(cs), [self, id = it.entry.id](commit_result& r) {
    auto& st = self->state;
    auto found = st.items.find(id);
    if (found == st.items.end())
      return;
    auto& it = found->second;
    if (r.ok())
      return post(self, it);
    if (r.status == commit_status::stale_epoch)
      return; // another node's now; this actor is about to be dropped, in flight until then
    spdlog::warn("outbound {}: {} not claimed ({}): {}", st.ws.id, id, to_string(r.status),
                 r.error);
    it.in_flight = false;
    --st.in_flight;
    if (it.entry.kind == "message")
      st.busy_conversations.erase(it.entry.conversation_id);
    it.entry.due_ms = now_ms() + st.opts.retry_base_ms; // not an attempt: nothing went out
    st.due.emplace(it.entry.due_ms, it.order, it.entry.id);
    pump(self);
  });
}

// Sends every due entry the limits allow; schedules a tick for the rest.
void pump(ob_actor* self) {
  auto& st = self->state;
  auto now = now_ms();
  if (st.opts.rate_per_second > 0) {
    auto rate = static_cast<double>(st.opts.rate_per_second);
    st.tokens = std::min(rate, st.tokens + (now - st.refilled_at) * rate / 1000.0);
    st.refilled_at = now;
  }
  int64_t next = INT64_MAX;
  for (auto i = st.due.begin(); i != st.due.end();) {
    auto [due_ms, order, id] = *i;
    if (due_ms > now) {
      next = std::min(next, due_ms);
      break;
    }
    if (st.in_flight >= st.opts.concurrency)
      break; // a completion pumps again
    auto found = st.items.find(id);
    if (found == st.items.end()) {
      i = st.due.erase(i);
      continue;
    }
    auto& it = found->second;
    if (!st.ws.send.configured() || !st.opts.transport) {
      i = st.due.erase(i);
      finish(self, it, false, "", -1, "sending is not configured for this workspace");
      continue;
    }
    if (it.entry.kind == "message" && st.busy_conversations.count(it.entry.conversation_id)) {
      ++i; // the conversation's earlier message is in flight: keep the order
      continue;
    }
    if (st.tokens < 1.0) {
      next = std::min(next, now + 1 + static_cast<int64_t>(1000.0 / st.opts.rate_per_second));
      break;
    }
    st.tokens -= 1.0;
    i = st.due.erase(i);
    start_send(self, it);
  }
  if (next != INT64_MAX)
    schedule_tick(self, next);
}

int64_t backoff_ms(ob_actor* self, int attempts) {
  auto& o = self->state.opts;
  int64_t d = o.retry_base_ms;
  for (int i = 1; i < attempts && d < o.retry_max_ms; ++i)
    d *= 2;
  d = std::min(d, o.retry_max_ms);
  // "Equal jitter": half fixed, half random, so retries of many entries spread out.
  std::uniform_int_distribution<int64_t> half(0, d / 2);
  return d - d / 2 + half(self->state.rng);
}

void on_done(ob_actor* self, send_done& d) {
  auto& st = self->state;
  auto found = st.items.find(d.entry_id);
  if (found == st.items.end())
    return;
  auto& it = found->second;
  it.in_flight = false;
  --st.in_flight;
  if (it.entry.kind == "message")
    st.busy_conversations.erase(it.entry.conversation_id);
  auto out = classify_send_response(d.response, it.entry.kind == "read");
  switch (out.what) {
    case send_outcome::kind::sent:
      finish(self, it, true, out.wamid, 0, "");
      break;
    case send_outcome::kind::failed:
      spdlog::info("outbound {}: {} failed: {} {}", st.ws.id, it.entry.id, out.code,
                   loggable_title(out.title));
      finish(self, it, false, "", out.code, out.title);
      break;
    case send_outcome::kind::retry:
      ++it.entry.attempts;
      if (it.entry.attempts >= st.opts.max_attempts) {
        spdlog::info("outbound {}: {} gave up after {} attempts: {} {}", st.ws.id, it.entry.id,
                     it.entry.attempts, out.code, loggable_title(out.title));
        finish(self, it, false, "", out.code,
               out.title + " (gave up after " + std::to_string(it.entry.attempts) + " attempts)");
        break;
      }
      it.entry.due_ms = now_ms() + backoff_ms(self, it.entry.attempts);
      spdlog::debug("outbound {}: {} retry {} in {} ms: {}", st.ws.id, it.entry.id,
                    it.entry.attempts, it.entry.due_ms - now_ms(), loggable_title(out.title));
      persist(self, it.entry);
      st.due.emplace(it.entry.due_ms, it.order, it.entry.id);
      break;
  }
  pump(self);
}

caf::behavior running(ob_actor* self) {
  return {
    [self](outbox_enqueued& e) {
      add(self, std::move(e.entry));
      pump(self);
    },
    [self](send_done& d) { on_done(self, d); },
    [self](send_recorded& r) {
      auto& st = self->state;
      auto found = st.items.find(r.entry_id);
      if (found == st.items.end())
        return;
      if (r.ok)
        return forget(self, r.entry_id);
      // Storage refused: hand the outcome over again shortly (never sent twice meanwhile).
      self->delayed_send(self, std::chrono::seconds(1), retry_atom::value, r.entry_id);
    },
    [self](forget_atom, const std::vector<std::string>& ids) {
      for (auto& id : ids)
        if (auto i = self->state.items.find(id);
            i != self->state.items.end() && !i->second.in_flight && !i->second.outcome)
          forget(self, id);
    },
    [self](retry_atom, const std::string& id) {
      auto found = self->state.items.find(id);
      if (found != self->state.items.end() && found->second.outcome)
        record(self, found->second);
    },
    [self](tick_atom) {
      self->state.tick_at = INT64_MAX;
      pump(self);
    },
    [self](workspace_changed& w) {
      self->state.ws = std::move(w.ws);
      pump(self);
    },
    [](continuation& c) { c.run(); },
  };
}

void load(ob_actor* self) {
  auto ws = self->state.ws.id;
  self->state.db->load_queue(
      ws, job_queue::outbox, in_actor<queue_read>(self, [self, ws](queue_read& r) {
        if (!r.ok) {
          spdlog::warn("outbound {}: load failed ({}), retrying", ws, r.error);
          self->delayed_send(self, std::chrono::milliseconds(500), retry_atom::value);
          return;
        }
        size_t n = 0;
        for (auto& text : r.entries) {
          auto j = nlohmann::json::parse(text, nullptr, false);
          try {
            auto e = j.get<outbox_entry>();
            if (!e.id.empty()) {
              add(self, std::move(e));
              ++n;
            }
          } catch (const nlohmann::json::exception& ex) {
            spdlog::error("outbound {}: unreadable outbox entry skipped: {}", ws, ex.what());
          }
        }
        if (n > 0)
          spdlog::info("outbound {}: resumed {} outbox entries", ws, n);
        self->state.refilled_at = now_ms();
        self->set_default_handler(log_and_drop);
        self->become(running(self));
        pump(self);
      }));
}

caf::behavior outbound_behavior(ob_actor* self, std::shared_ptr<store> db,
                                caf::actor workspace_actor, workspace ws, outbox_options opts,
                                uint64_t epoch) {
  auto& st = self->state;
  st.epoch = epoch;
  st.ws = std::move(ws);
  st.opts = std::move(opts);
  st.db = std::move(db);
  st.workspace_actor = std::move(workspace_actor);
  st.tokens = st.opts.rate_per_second;
  // Until the outbox is loaded, everything but the load's answer waits in the mailbox.
  self->set_default_handler(caf::skip);
  load(self);
  return {
    [](continuation& c) { c.run(); },
    [self](retry_atom) { load(self); },
  };
}

} // namespace

caf::actor spawn_outbound_actor(caf::local_actor* parent, std::shared_ptr<store> db,
                                caf::actor workspace_actor, workspace ws, outbox_options opts,
                                uint64_t epoch) {
  return parent->spawn(outbound_behavior, std::move(db), std::move(workspace_actor), std::move(ws),
                       std::move(opts), epoch);
}

} // namespace inboxd
