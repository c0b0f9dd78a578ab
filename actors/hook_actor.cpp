#include "actors/hook_actor.hpp"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <set>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/continuation.hpp"
#include "actors/event_log.hpp"
#include "messages/actor_messages.hpp"
#include "messages/crypto.hpp"
#include "messages/ids.hpp"
#include "metrics/metrics.hpp"
#include "storage/hook_store.hpp"

namespace inboxd {

namespace {

/// The transport's answer to one attempt (from the transport's thread).
struct hook_done {
  std::string hook_id, member;
  int64_t event_ms = 0;
  int attempts = 0;
  outbound_response response;
};

} // namespace
} // namespace inboxd

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(inboxd::hook_done)

namespace inboxd {

namespace {

// A claim lasts this much longer than the attempt's own timeout.
constexpr int64_t kClaimMarginMs = 5000;
// While deliveries are pending, a webhook's queue is looked at at least this often (new ones
// come with a nudge; this covers a nudge lost to a failed step).
constexpr int64_t kPollMs = 5000;

enum class delivery_outcome : uint8_t { succeeded, retried, failed };
metrics::counter_family deliveries(
    "inboxd_outgoing_webhook_deliveries_total",
    "Attempts to deliver an event to an outgoing webhook, by outcome: succeeded "
    "(2xx), retried (anything else; tried again later) and failed (given up: the event was too "
    "old to retry).",
    metrics::label_values("outcome", {"succeeded", "retried", "failed"}));

// The queues of the process's webhooks, published by their actors for a scrape.
struct queue_slot {
  std::string endpoint;
  std::atomic<int64_t> depth{0};
  std::atomic<int64_t> oldest_ms{0};
};
std::mutex slots_mutex;
std::set<const queue_slot*> all_slots;

// One series per endpoint label: the bots of all workspaces are "bot" (summed: depth; the
// oldest: age), and a webhook whose actor is being replaced may briefly have two slots.
template <class F, class Combine>
metrics::computed_series_family::samples each_slot(F value, Combine combine) {
  std::map<std::string, double> by_label;
  {
    std::lock_guard lock(slots_mutex);
    for (auto* s : all_slots) {
      auto [i, fresh] = by_label.emplace(s->endpoint, value(*s));
      if (!fresh)
        i->second = combine(i->second, value(*s));
    }
  }
  metrics::computed_series_family::samples out;
  for (auto& [endpoint, v] : by_label)
    out.emplace_back(metrics::label("endpoint", endpoint), v);
  return out;
}
metrics::computed_series_family queue_depth(
    "inboxd_outgoing_webhook_queue_depth",
    "Deliveries pending per outgoing webhook of the workspaces this node serves (as of its last "
    "queue step; the bots of all workspaces together as endpoint=\"bot\").",
    "gauge", [] {
      return each_slot(
          [](const queue_slot& s) { return double(s.depth.load(std::memory_order_relaxed)); },
          [](double a, double b) { return a + b; });
    });
metrics::computed_series_family queue_oldest(
    "inboxd_outgoing_webhook_oldest_age_seconds",
    "Age of the oldest pending delivery's event per outgoing webhook (0 when none).", "gauge", [] {
      return each_slot(
          [](const queue_slot& s) {
            auto oldest = s.oldest_ms.load(std::memory_order_relaxed);
            return oldest == 0 ? 0.0 : std::max<int64_t>(0, now_ms() - oldest) / 1000.0;
          },
          [](double a, double b) { return std::max(a, b); });
    });

// One webhook's slot, registered while its actor knows the webhook.
class queue_gauges {
public:
  explicit queue_gauges(std::string endpoint) {
    slot_.endpoint = std::move(endpoint);
    std::lock_guard lock(slots_mutex);
    all_slots.insert(&slot_);
  }
  ~queue_gauges() {
    std::lock_guard lock(slots_mutex);
    all_slots.erase(&slot_);
  }
  queue_gauges(const queue_gauges&) = delete;
  queue_gauges& operator=(const queue_gauges&) = delete;
  void publish(int64_t depth, int64_t oldest_ms) {
    slot_.depth.store(depth, std::memory_order_relaxed);
    slot_.oldest_ms.store(oldest_ms, std::memory_order_relaxed);
  }

private:
  queue_slot slot_;
};

struct endpoint {
  hook_record rec;
  std::unique_ptr<queue_gauges> gauges;
  int in_flight = 0;
  bool stepping = false; // a step is in flight
  bool again = false;    // step again once it is answered
  std::vector<settled_delivery> settled;
  int64_t tick_at = INT64_MAX;
};

constexpr const char* kBot = "bot";

struct hook_state {
  workspace ws;
  std::string ws_id;
  hook_options opts;
  uint64_t epoch = 0;
  caf::actor workspace_actor;
  std::map<std::string, endpoint> hooks;
  std::mt19937_64 rng{std::random_device{}()};
  static inline const char* name = "hooks";
};

using hook_actor = caf::stateful_actor<hook_state>;

void step(hook_actor* self, const std::string& id);

void schedule(hook_actor* self, endpoint& ep, int64_t at) {
  auto now = now_ms();
  if (at >= ep.tick_at && ep.tick_at > now)
    return; // an earlier one is on its way
  ep.tick_at = at;
  self->delayed_send(self, std::chrono::milliseconds(std::max<int64_t>(at - now, 1)),
                     tick_atom::value, ep.rec.id);
}

void attempt(hook_actor* self, endpoint& ep, claimed_delivery& c) {
  auto& st = self->state;
  auto now = now_ms();
  auto attempts = parse_log(c.log).attempts + 1;
  auto event_ms = event_time(c.event.id);
  if (!compose_event(st.ws_id, c.event, now)) {
    // The records the event names were deleted since: nothing is left to deliver.
    outbound_response gone;
    gone.transport_error = "the event's records no longer exist";
    auto s = settle_attempt(c.member, event_ms, attempts, gone, now, st.opts.retry, st.rng);
    s.what = settled_delivery::outcome::failed;
    deliveries.inc(delivery_outcome::failed);
    ep.settled.push_back(std::move(s));
    return;
  }
  auto body = hook_body(c.event);
  auto req = hook_request(ep.rec, c.event, body, now / 1000, st.opts.timeout_ms);
  ++ep.in_flight;
  auto handle = caf::actor_cast<caf::actor>(self);
  st.opts.transport->post(std::move(req), [handle, hook = ep.rec.id, member = c.member, event_ms,
                                           attempts](outbound_response r) mutable {
    caf::anon_send(handle,
                   hook_done{std::move(hook), std::move(member), event_ms, attempts, std::move(r)});
  });
}

void stepped(hook_actor* self, const std::string& id, size_t asked, hook_step& r) {
  auto& st = self->state;
  auto found = st.hooks.find(id);
  if (found == st.hooks.end())
    return; // deleted meanwhile
  auto& ep = found->second;
  ep.stepping = false;
  auto now = now_ms();
  if (r.stale) {
    self->send(st.workspace_actor, fenced_atom::value, st.epoch);
    return;
  }
  if (r.gone) {
    st.hooks.erase(found); // deleted by another node (it owned the workspace meanwhile)
    return;
  }
  if (!r.ok) {
    // The outcomes sent are lost: their deliveries come back when their claims end.
    spdlog::warn("webhook {}: queue step failed: {}", id, r.error);
    schedule(self, ep, now + 1000);
    return;
  }
  ep.gauges->publish(r.depth, r.oldest_ms);
  for (auto& c : r.claimed)
    attempt(self, ep, c);
  if (ep.again || r.claimed.size() == asked || !ep.settled.empty()) {
    ep.again = false;
    return step(self, id);
  }
  if (r.depth > 0)
    schedule(self, ep, std::min(r.next_due_ms > now ? r.next_due_ms : now + 1, now + kPollMs));
}

// Records finished attempts and claims due deliveries for the free slots, unless a step is in
// flight (then it runs again once that one is answered).
void step(hook_actor* self, const std::string& id) {
  auto& st = self->state;
  auto found = st.hooks.find(id);
  if (found == st.hooks.end())
    return;
  auto& ep = found->second;
  if (ep.stepping) {
    ep.again = true;
    return;
  }
  size_t claim = st.opts.transport ? std::max(0, st.opts.concurrency - ep.in_flight) : 0;
  if (claim == 0 && ep.settled.empty())
    return;
  ep.stepping = true;
  auto now = now_ms();
  st.opts.db->step(
      st.ws_id, id, st.epoch, std::exchange(ep.settled, {}), claim, now,
      now + st.opts.timeout_ms + kClaimMarginMs,
      in_actor<hook_step>(self, [self, id, claim](hook_step& r) { stepped(self, id, claim, r); }));
}

void step_all(hook_actor* self) {
  std::vector<std::string> ids;
  for (auto& [id, ep] : self->state.hooks)
    ids.push_back(id);
  for (auto& id : ids)
    step(self, id);
}

void add_hook(hook_actor* self, hook_record rec) {
  auto id = rec.id;
  auto& ep = self->state.hooks[id];
  ep.rec = std::move(rec);
  ep.gauges = std::make_unique<queue_gauges>(id);
}

// The bot's endpoint as the workspace record has it (none when it has no bot).
void sync_bot(hook_actor* self) {
  auto& st = self->state;
  auto found = st.hooks.find(kBot);
  if (st.ws.bot_url.empty()) {
    if (found == st.hooks.end())
      return;
    st.hooks.erase(found);
    // What was queued for it goes with it (a bot set again later starts afresh).
    st.opts.db->delete_hook(st.ws_id, kBot, [](hook_write w) {
      if (!w.ok && !w.missing)
        spdlog::warn("bot queue: delete failed: {}", w.error);
    });
    return;
  }
  hook_record rec;
  rec.id = kBot;
  rec.url = st.ws.bot_url;
  rec.secret = st.ws.bot_secret;
  rec.events = {"message.created"};
  if (found == st.hooks.end())
    add_hook(self, std::move(rec));
  else
    found->second.rec = std::move(rec);
}

void answer_unavailable(const reply_handle& reply, const std::string& error) {
  spdlog::warn("webhooks: storage: {}", error);
  reply.error(api_error::unavailable, "storage unavailable");
}

void create(hook_actor* self, inbox_call& call) {
  auto& st = self->state;
  if (st.hooks.size() - st.hooks.count(kBot) >= st.opts.max_hooks)
    return call.reply.error(
        api_error::unprocessable,
        "a workspace has at most " + std::to_string(st.opts.max_hooks) + " webhooks");
  hook_record rec;
  rec.id = new_id("wh_");
  rec.url = call.draft.value("url", "");
  rec.events = call.draft.value("events", std::vector<std::string>{});
  if (auto d = call.draft.find("description"); d != call.draft.end() && d->is_string()) {
    rec.description = d->get<std::string>();
    rec.has_description = true;
  }
  rec.secret = "whsec_" + random_hex(32);
  rec.created_at = now_ms();
  auto reply = call.reply;
  st.opts.db->save_hook(st.ws_id, rec,
                        in_actor<hook_write>(self, [self, reply, rec](hook_write& w) {
                          if (!w.ok)
                            return answer_unavailable(reply, w.error);
                          add_hook(self, rec);
                          reply.json(201, hook_api(rec, true));
                        }));
}

void remove(hook_actor* self, inbox_call& call) {
  auto& st = self->state;
  if (!st.hooks.count(call.id) || call.id == kBot)
    return call.reply.error(api_error::not_found,
                            call.id == kBot ? "the bot is removed with the workspace's bot setting"
                                            : "no such webhook");
  auto reply = call.reply;
  auto id = call.id;
  st.opts.db->delete_hook(st.ws_id, id,
                          in_actor<hook_write>(self, [self, reply, id](hook_write& w) {
                            if (!w.ok && !w.missing)
                              return answer_unavailable(reply, w.error);
                            // Attempts in flight finish; their outcomes find nothing to record.
                            self->state.hooks.erase(id);
                            reply.send(http_response{204, "", "", {}});
                          }));
}

void list_deliveries(hook_actor* self, inbox_call& call) {
  auto& st = self->state;
  if (!st.hooks.count(call.id))
    return call.reply.error(api_error::not_found, "no such webhook");
  auto reply = call.reply;
  auto status = call.value;
  st.opts.db->list(st.ws_id, call.id, status, static_cast<size_t>(call.limit),
                   in_actor<delivery_rows>(self, [reply, status](delivery_rows& r) {
                     if (!r.ok)
                       return answer_unavailable(reply, r.error);
                     nlohmann::json out = nlohmann::json::array();
                     for (auto& row : r.rows)
                       out.push_back(delivery_api(row, status));
                     reply.json(200, {{"deliveries", std::move(out)}});
                   }));
}

void redeliver(hook_actor* self, inbox_call& call) {
  auto& st = self->state;
  if (!st.hooks.count(call.id))
    return call.reply.error(api_error::not_found, "no such webhook");
  auto reply = call.reply;
  auto id = call.id;
  st.opts.db->redeliver(
      st.ws_id, id, st.epoch, call.value, now_ms(),
      in_actor<delivery_rows>(self, [self, reply, id](delivery_rows& r) {
        if (!r.ok && (r.error == "missing" || r.error == "gone"))
          return reply.error(api_error::not_found,
                             "no attempted delivery with that id (it may be pending still)");
        if (!r.ok && r.error == "stale") {
          self->send(self->state.workspace_actor, fenced_atom::value, self->state.epoch);
          return reply.error(api_error::unavailable, "the workspace moved; try again");
        }
        if (!r.ok || r.rows.empty())
          return answer_unavailable(reply, r.ok ? "no row" : r.error);
        reply.json(202, {{"delivery", delivery_api(r.rows[0], "pending")}});
        step(self, id);
      }));
}

void handle_call(hook_actor* self, inbox_call& call) {
  using op = inbox_call::op;
  switch (call.what) {
    case op::hooks_create:
      return create(self, call);
    case op::hooks_list: {
      nlohmann::json out = nlohmann::json::array();
      for (auto& [id, ep] : self->state.hooks)
        if (id != kBot)
          out.push_back(hook_api(ep.rec, false));
      std::sort(out.begin(), out.end(), [](auto& a, auto& b) {
        return std::make_pair(a["createdAt"].template get<int64_t>(),
                              a["id"].template get<std::string>()) <
               std::make_pair(b["createdAt"].template get<int64_t>(),
                              b["id"].template get<std::string>());
      });
      return call.reply.json(200, {{"webhooks", std::move(out)}});
    }
    case op::hooks_delete:
      return remove(self, call);
    case op::hook_deliveries:
      return list_deliveries(self, call);
    case op::hook_redeliver:
      return redeliver(self, call);
    default:
      return call.reply.error(api_error::internal, "unexpected call");
  }
}

caf::behavior running(hook_actor* self) {
  return {
      [](continuation& c) { c.run(); },
      [self](inbox_call& call) { handle_call(self, call); },
      [self](events_atom) { step_all(self); },
      [self](workspace_changed& w) {
        self->state.ws = std::move(w.ws);
        sync_bot(self);
        step_all(self);
      },
      [self](tick_atom, const std::string& id) {
        if (auto i = self->state.hooks.find(id); i != self->state.hooks.end()) {
          i->second.tick_at = INT64_MAX;
          step(self, id);
        }
      },
      [self](hook_done& d) {
        auto& st = self->state;
        auto found = st.hooks.find(d.hook_id);
        if (found == st.hooks.end())
          return;
        auto& ep = found->second;
        --ep.in_flight;
        auto s = settle_attempt(std::move(d.member), d.event_ms, d.attempts, d.response, now_ms(),
                                st.opts.retry, st.rng);
        using outcome = settled_delivery::outcome;
        deliveries.inc(s.what == outcome::succeeded ? delivery_outcome::succeeded
                       : s.what == outcome::failed  ? delivery_outcome::failed
                                                    : delivery_outcome::retried);
        ep.settled.push_back(std::move(s));
        step(self, d.hook_id);
      },
  };
}

void load(hook_actor* self) {
  auto& st = self->state;
  if (!st.opts.db) { // outgoing webhooks are not set up in this process (tests of other parts)
    self->set_default_handler(caf::print_and_drop);
    self->become([](continuation& c) { c.run(); },
                 [](inbox_call& call) {
                   call.reply.error(api_error::unprocessable,
                                    "outgoing webhooks are not available on this server");
                 },
                 [](events_atom) {}, [](workspace_changed&) {});
    return;
  }
  st.opts.db->load_hooks(st.ws_id, in_actor<hooks_read>(self, [self](hooks_read& r) {
                           if (!r.ok) {
                             spdlog::warn("webhooks of {}: load failed: {}", self->state.ws_id,
                                          r.error);
                             self->delayed_send(self, std::chrono::seconds(1), retry_atom::value);
                             return;
                           }
                           for (auto& h : r.hooks)
                             add_hook(self, std::move(h));
                           sync_bot(self);
                           self->set_default_handler(caf::print_and_drop);
                           self->become(running(self));
                           step_all(self);
                         }));
}

caf::behavior hook_behavior(hook_actor* self, caf::actor workspace_actor, workspace ws,
                            hook_options opts, uint64_t epoch) {
  auto& st = self->state;
  st.ws_id = ws.id;
  st.ws = std::move(ws);
  st.opts = std::move(opts);
  st.epoch = epoch;
  st.workspace_actor = std::move(workspace_actor);
  // Until the webhooks are loaded, everything but the load's answer waits in the mailbox.
  self->set_default_handler(caf::skip);
  load(self);
  return {
      [](continuation& c) { c.run(); },
      [self](retry_atom) { load(self); },
  };
}

} // namespace

caf::actor spawn_hook_actor(caf::local_actor* parent, caf::actor workspace_actor, workspace ws,
                            hook_options opts, uint64_t epoch) {
  return parent->spawn(hook_behavior, std::move(workspace_actor), std::move(ws), std::move(opts),
                       epoch);
}

} // namespace inboxd
