#include "actors/workspace_actor.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <variant>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/continuation.hpp"
#include "actors/conversation_actor.hpp"
#include "actors/conversation_index.hpp"
#include "actors/delivery_keys.hpp"
#include "actors/dropped.hpp"
#include "actors/event_hub.hpp"
#include "actors/media_reads.hpp"
#include "actors/media_upload.hpp"
#include "actors/rate_limiter.hpp"
#include "messages/actor_messages.hpp"
#include "messages/crypto.hpp"
#include "messages/ids.hpp"
#include "metrics/metrics.hpp"
#include "metrics/webhook_items.hpp"
#include "storage/registry_store.hpp"

namespace inboxd {

namespace {

struct child {
  caf::actor handle;
  uint64_t sent = 0; // messages sent to it (compared with its `handled` before passivating)
  std::chrono::steady_clock::time_point last_sent;
};

struct workspace_state {
  workspace ws;
  workspace_options opts;
  std::map<std::string, std::string> api_keys; // key id -> sha256 hex
  std::map<std::string, member> members;       // user id -> member
  rate_limiter limiter;                        // API requests per principal (INBOXD_API_RATE)
  conversation_index index;
  delivery_keys deliveries; // Kapso deliveries stored lately (ingest_batch::delivery)
  std::unordered_map<std::string, child> children; // conversation id -> actor
  bool sweeping = false; // a sweep for idle children is scheduled or under way
  uint32_t retention_at = 0;      // the retention sweep's place in the index (see retention_step)
  bool retention_pending = false; // its next step is scheduled
  std::vector<std::string> sweep_left; // children of the sweep under way still to ask
  caf::actor outbound;                         // the outbox sender
  caf::actor media;                            // the media downloader
  caf::actor hooks;                            // the outgoing webhooks' deliverer
  std::unique_ptr<event_hub> hub;              // event stream subscribers
  std::map<uint64_t, std::function<void()>> timers; // the hub's delayed work, by tag
  uint64_t next_timer = 0;
  // Shutdown (see stop_next_batch): the children still to stop and those stopping now.
  bool stopping = false;
  caf::error stop_reason;
  std::unordered_map<caf::actor_id, caf::actor> to_stop;
  std::unordered_set<caf::actor_id> exiting;
  // Scale-out (opts.lease.node set; see the header).
  bool owner = false;     // holds the lease (loading or serving)
  uint64_t epoch = 0;     // the lease's epoch while owner
  bool acquiring = false; // an acquire is in flight
  bool releasing = false; // stopping: the lease's release is not answered yet
  std::vector<std::variant<ingest_batch, inbox_call>> waiting; // arrived while acquiring/loading
  std::string holder_url; // !owner: the holder's node, known until holder_until
  // Owner: webhook events since the last hand-over decision, straight from Meta/Kapso (or the
  // balancer) and through each peer ("<node> <url>"): the lease follows them (hand_over_if_due).
  uint64_t direct_events = 0;
  std::map<std::string, uint64_t> via_events;
  std::chrono::steady_clock::time_point holder_until, renewed_at;
  static inline const char* name = "workspace";
};

using ws_actor = caf::stateful_actor<workspace_state>;

registry_store& registry_db(ws_actor* self) {
  return *self->state.opts.registry_db;
}

// A registry write's callback: back in the actor, `then` runs once the write is stored; a failed
// write answers 503 and changes nothing.
template <class F>
registry_store::write_done when_stored(ws_actor* self, reply_handle reply, F then) {
  return in_actor<registry_write>(self, [reply, then = std::move(then)](registry_write& w) mutable {
    if (!w.ok)
      return reply.error(api_error::unavailable, "storage unavailable");
    then();
  });
}

nlohmann::json member_api(const std::string& user, const member& m) {
  return {{"userId", user}, {"role", m.role}, {"createdAt", m.created_at}};
}

// {members: [...]} of every member, ordered by user id.
nlohmann::json members_api(const std::map<std::string, member>& members) {
  nlohmann::json out = nlohmann::json::array();
  for (auto& [user, m] : members)
    out.push_back(member_api(user, m));
  return {{"members", std::move(out)}};
}

caf::behavior running(ws_actor* self);
void load(ws_actor* self);

enum class lease_change : uint8_t { acquired, lost, released, handed_over };

metrics::counter_family lease_changes(
    "inboxd_lease_changes_total",
    "Workspace leases this node acquired, lost (another node took over, a renew failed for a "
    "whole TTL, or a commit was fenced), released (shutdown) and handed over (to the node most "
    "of the workspace's webhooks came through).",
    metrics::label_values("change", {"acquired", "lost", "released", "handed_over"}));

// A lease is handed over at a renewal when, of the last (at least) this many webhook events,
// this many times more came through one peer than straight and through all others together.
constexpr uint64_t kHandOverMinEvents = 20;
constexpr uint64_t kHandOverRatio = 3;

metrics::gauge_family leases_held("inboxd_leases_held",
                                  "Workspace leases this node holds (scale-out).");

bool scale_out(ws_actor* self) {
  return !self->state.opts.lease.node.empty();
}

// Idle conversation actors are found by a sweep of the children, not by a timeout in each of
// them: a CAF `after` timeout is re-armed on every message through the clock thread's locked
// queue (a thread wake-up per message on the ingest path).
std::chrono::milliseconds sweep_period(const workspace_options& opts) {
  return std::chrono::milliseconds(std::max<int64_t>(1, opts.conversation_idle_ms / 2));
}

// Asks the children nothing was sent to for the idle time whether they are idle (they answer
// conversation_idle, which passivates them); runs while there are children. A sweep asks
// kSweepBatch children at a time, the next batch a millisecond later (a message to itself would
// be handled in the same run, before the children): asking every idle child at once put them all on this actor's worker queue, where CAF
// 0.17's stealing is quadratic (see stop_next_batch); with 111,000 idle conversations after a
// closed-loop ingest, the sweep doubled inboxd's CPU per webhook of the ingest that followed.
constexpr size_t kSweepBatch = 256;

void sweep(ws_actor* self) {
  auto& st = self->state;
  auto now = std::chrono::steady_clock::now();
  auto idle = std::chrono::milliseconds(st.opts.conversation_idle_ms);
  if (st.sweep_left.empty())
    for (auto& [id, c] : st.children)
      if (now - c.last_sent >= idle)
        st.sweep_left.push_back(id);
  for (size_t n = 0; n < kSweepBatch && !st.sweep_left.empty(); ++n) {
    auto i = st.children.find(st.sweep_left.back());
    st.sweep_left.pop_back();
    if (i != st.children.end() && now - i->second.last_sent >= idle)
      self->send(i->second.handle, idle_check_atom::value);
  }
  if (!st.sweep_left.empty()) {
    self->delayed_send(self, std::chrono::milliseconds(1), sweep_atom::value);
    return;
  }
  st.sweeping = !st.children.empty();
  if (st.sweeping)
    self->delayed_send(self, sweep_period(st.opts), sweep_atom::value);
}

// Shutdown stops the conversation actors a batch at a time, the next one as the previous ones are
// down, and quits after the last. Sending every child its exit at once put them all on this
// actor's worker queue, and CAF 0.17's work stealing takes a job from a queue's tail by walking
// the queue from its head (double_ended_queue::take_tail, holding the head lock the owner needs
// too): idle workers stealing N children one at a time made shutdown O(N^2) (65k conversations:
// 15-22 s, workers spinning in take_tail). A batch keeps that queue short.
constexpr size_t kStopBatch = 128;

void stop_next_batch(ws_actor* self) {
  auto& st = self->state;
  while (st.exiting.size() < kStopBatch && !st.to_stop.empty()) {
    auto node = st.to_stop.extract(st.to_stop.begin());
    self->send_exit(node.mapped(), st.stop_reason);
    st.exiting.insert(node.key());
  }
  if (st.exiting.empty() && !st.releasing)
    self->quit(st.stop_reason);
}

// Sends `msg` to the conversation's actor, spawning it (from the in-memory summary) if needed.
template <class Message>
void to_conversation(ws_actor* self, const std::string& conv_id, Message&& msg) {
  auto& st = self->state;
  auto i = st.children.find(conv_id);
  if (i == st.children.end()) {
    conversation_seed seed;
    seed.workspace_id = st.ws.id;
    seed.conv = *st.index.conversation_by_id(conv_id);
    if (auto ct = st.index.contact_by_id(seed.conv.contact_id))
      seed.ct = *ct;
    seed.persisted = seed.conv.updated_at != 0;
    seed.outbound = st.outbound;
    seed.media = st.media;
    seed.db = st.opts.db;
    seed.epoch = st.epoch;
    auto handle =
        spawn_conversation_actor(self, caf::actor_cast<caf::actor>(self), std::move(seed));
    // Monitored, not linked: a link is an entry in *this* actor's attachable list, which CAF
    // scans linearly on every unlink, so with many conversations passivation went quadratic
    // and the workspace actor stalled (seen in the scale benchmark). A monitor lives on the
    // child's list instead. Children are stopped explicitly when the workspace exits.
    self->monitor(handle);
    i = st.children.emplace(conv_id, child{handle, 0, {}}).first;
    if (!st.sweeping) {
      st.sweeping = true;
      self->delayed_send(self, sweep_period(st.opts), sweep_atom::value);
    }
  }
  ++i->second.sent;
  i->second.last_sent = std::chrono::steady_clock::now();
  self->send(i->second.handle, std::forward<Message>(msg));
}

// Retention (retentionDays): every INBOXD_RETENTION_SWEEP_MS the next kRetentionBatch stored
// conversations are told to delete their messages older than the cutoff (at most 500 each per
// step; conversation_actor.cpp, expire), so a whole pass takes conversations / kRetentionBatch
// steps and the work per step is bounded. Nothing of the sweep is stored: after a restart it
// starts over, and deleting again what is gone changes nothing.
constexpr size_t kRetentionBatch = 100;

void schedule_retention(ws_actor* self) {
  auto& st = self->state;
  if (st.ws.retention_days <= 0 || st.retention_pending || st.stopping)
    return;
  st.retention_pending = true;
  self->delayed_send(self, std::chrono::milliseconds(st.opts.retention_sweep_ms),
                     retention_atom::value);
}

void retention_step(ws_actor* self) {
  auto& st = self->state;
  st.retention_pending = false;
  if (st.ws.retention_days <= 0 || st.stopping)
    return;
  auto cutoff = now_ms() - int64_t{st.ws.retention_days} * 24 * 3600 * 1000;
  for (auto& id : st.index.stored_conversations(st.retention_at, kRetentionBatch)) {
    inbox_call call;
    call.what = inbox_call::op::expire_messages;
    call.id = id;
    call.before = cutoff;
    to_conversation(self, id, std::move(call));
  }
  schedule_retention(self);
}

// The conversation of the customer `who` names (see conversation_index::link, which also clears
// from `who` a name another contact holds). First sight of a customer: its contact and
// conversation are decided here, once, so concurrent webhooks of one new customer share them.
conversation_index::contact_ids conversation_of(ws_actor* self, conversation_index::identity& who,
                                                int64_t now) {
  auto& st = self->state;
  auto known = st.index.link(who);
  if (!known) {
    contact c;
    c.id = new_id("ct_");
    c.phone = who.phone;
    c.wa_user_id = who.user_id;
    c.username = who.username;
    c.created_at = now;
    st.index.put_contact(c);
    known = conversation_index::contact_ids{c.id, ""};
  }
  if (known->conversation_id.empty()) {
    conversation cv;
    cv.id = new_id("cv_");
    cv.contact_id = known->contact_id;
    cv.mode = st.ws.default_mode;
    cv.created_at = now;
    st.index.put_conversation(cv);
    known->conversation_id = cv.id;
  }
  return std::move(*known);
}

// Kapso's X-Idempotency-Key: a delivery this workspace stored lately is acknowledged without
// being processed again (false); another is remembered once all its events are stored, so one
// that failed is processed in full when it comes again.
bool first_delivery(ws_actor* self, ingest_batch& batch) {
  auto n = batch.events.size();
  if (self->state.deliveries.contains(batch.delivery, now_ms())) {
    metrics::webhook_items.inc(metrics::webhook_outcome::repeated, n);
    for (size_t i = 0; i < n; ++i)
      batch.ack->complete(true);
    return false;
  }
  auto remember = in_actor<bool>(self, [self, delivery = batch.delivery](bool) {
    self->state.deliveries.add(delivery, now_ms());
  });
  batch.ack = std::make_shared<ingest_ack>(
      n, [parent = std::move(batch.ack), n, remember = std::move(remember)](bool ok) {
        if (ok)
          remember(true); // before the answer, so that a repeat sent after it finds the key
        for (size_t i = 0; i < n; ++i)
          parent->complete(ok);
      });
  return true;
}

// Routes a webhook's events: each to the conversation of its customer, in order, grouped per
// conversation.
void ingest(ws_actor* self, ingest_batch& batch) {
  auto& st = self->state;
  if (!batch.delivery.empty() && !first_delivery(self, batch))
    return;
  std::map<std::string, std::vector<wa_event>> by_conv;
  std::vector<std::string> order;
  auto now = now_ms();
  for (auto& e : batch.events) {
    conversation_index::identity who{std::move(e.contact_phone), std::move(e.contact_user_id),
                                     std::move(e.contact_username)};
    if (who.phone.empty() && who.user_id.empty() && who.username.empty()) {
      // Only statuses of group messages come without a customer: the inbox keeps 1:1
      // conversations, so they are acknowledged and logged, not stored.
      spdlog::info("workspace {}: {} for {} names no contact; ignored", st.ws.id, to_string(e.kind),
                   e.target_wamid);
      batch.ack->complete(true);
      continue;
    }
    auto ids = conversation_of(self, who, now);
    e.contact_phone = std::move(who.phone);
    e.contact_user_id = std::move(who.user_id);
    e.contact_username = std::move(who.username);
    if (e.kind == wa_event_kind::message && (!e.new_phone.empty() || !e.new_user_id.empty()))
      st.index.rename(ids.contact_id, e.new_phone, e.new_user_id); // same contact, new names
    auto& v = by_conv[ids.conversation_id];
    if (v.empty())
      order.push_back(ids.conversation_id);
    v.push_back(std::move(e));
  }
  for (auto& id : order)
    to_conversation(
        self, id,
        ingest_batch{std::move(by_conv[id]), batch.ack, {}, {}, {}, !st.ws.bot_url.empty()});
}

// API key: acts as role admin, principal apikey:<keyId>. User token: must be a member now
// (checked on every request, so removing a member takes effect at once).
bool authorized(ws_actor* self, const inbox_call& call, std::string& principal, std::string& role,
                bool& forbidden) {
  forbidden = false;
  if (!call.user_id.empty()) {
    auto m = self->state.members.find(call.user_id);
    if (m == self->state.members.end()) {
      forbidden = true;
      return false;
    }
    principal = call.user_id;
    role = m->second.role;
    return true;
  }
  role = "admin";
  auto& key = call.api_key;
  if (key.rfind("ibx_", 0) == 0) {
    // ibx_<workspaceId>_<secret>: the key is known by its hash alone (a workspace has few keys).
    auto hash = sha256_hex(key);
    for (auto& [key_id, stored] : self->state.api_keys)
      if (constant_time_equal(stored, hash)) {
        principal = "apikey:" + key_id;
        return true;
      }
    return false;
  }
  // Keys made before 2026-12-03: ibx.<workspaceId>.<keyId>.<secret>
  auto p1 = key.find('.');
  auto p2 = p1 == std::string::npos ? p1 : key.find('.', p1 + 1);
  auto p3 = p2 == std::string::npos ? p2 : key.find('.', p2 + 1);
  if (p3 == std::string::npos)
    return false;
  auto key_id = key.substr(p2 + 1, p3 - p2 - 1);
  auto i = self->state.api_keys.find(key_id);
  if (i == self->state.api_keys.end() || !constant_time_equal(i->second, sha256_hex(key)))
    return false;
  principal = "apikey:" + key_id;
  return true;
}

// INBOXD_API_RATE: an authenticated request over its principal's rate is answered 429 here
// (true), on the workspace's owner, so a request forwarded from another node counts once.
bool rate_limited(ws_actor* self, const inbox_call& call) {
  auto& limiter = self->state.limiter;
  if (!limiter.enabled())
    return false;
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::steady_clock::now().time_since_epoch())
                 .count();
  auto wait = limiter.take(call.principal, now);
  if (wait == 0)
    return false;
  auto res = make_error(api_error::rate_limited,
                        "too many requests for this API key or user; "
                        "retry after the time in Retry-After");
  for (auto& [name, value] : res.headers)
    if (name == "Retry-After")
      value = std::to_string(retry_after_seconds(wait));
  call.reply.send(std::move(res));
  return true;
}

// Admin member operations (the front checked the admin token). Returns false for other calls.
bool handle_member_admin(ws_actor* self, inbox_call& call) {
  auto& st = self->state;
  using op = inbox_call::op;
  auto reply = call.reply;
  switch (call.what) {
    case op::list_members:
      reply.json(200, members_api(st.members));
      return true;
    case op::put_member: {
      auto user = call.id;
      member m{call.value, now_ms()};
      if (auto i = st.members.find(user); i != st.members.end())
        m.created_at = i->second.created_at;
      registry_db(self).put_member(st.ws.id, user, m,
                                   when_stored(self, reply, [self, reply, user, m] {
                                     self->state.members[user] = m;
                                     reply.json(200, member_api(user, m));
                                   }));
      return true;
    }
    case op::delete_member: {
      auto user = call.id;
      if (!st.members.count(user)) {
        reply.error(api_error::not_found, "no such member");
        return true;
      }
      // Forgotten once stored: until then the member still works (one round trip), and a
      // failed write leaves the member in memory as it is in Redis.
      registry_db(self).delete_member(st.ws.id, user, when_stored(self, reply, [self, reply, user] {
                                        self->state.members.erase(user);
                                        reply.send(http_response{204, "", "", {}});
                                      }));
      return true;
    }
    default:
      return false;
  }
}

void handle_call(ws_actor* self, inbox_call& call) {
  auto& st = self->state;
  auto now = now_ms();
  using op = inbox_call::op;
  std::string principal;
  if (call.what == op::create_api_key) {
    auto key_id = new_id("key_");
    // The workspace id leads so that a balancer can route the key's requests to the workspace's
    // node (API.md "Scale-out"); ids and the hex secret hold no '_' of their own after "ibx_".
    auto key = "ibx_" + st.ws.id + "_" + random_hex(24);
    auto hash = sha256_hex(key);
    auto reply = call.reply;
    registry_db(self).put_api_key(st.ws.id, key_id, hash,
                                  when_stored(self, reply, [self, reply, key_id, key, hash] {
                                    self->state.api_keys[key_id] = hash;
                                    reply.json(201, {{"id", key_id}, {"key", key}});
                                  }));
    return;
  }
  if (call.what == op::revoke_api_key) {
    if (!st.api_keys.count(call.id))
      return call.reply.error(api_error::not_found, "no such api key");
    auto reply = call.reply;
    auto key_id = call.id;
    // Forgotten once stored: the key keeps working until then (one round trip), and a failed
    // write leaves it working, as it is still in Redis.
    registry_db(self).delete_api_key(st.ws.id, key_id,
                                     when_stored(self, reply, [self, reply, key_id] {
                                       self->state.api_keys.erase(key_id);
                                       reply.send(http_response{204, "", "", {}});
                                     }));
    return;
  }
  if (handle_member_admin(self, call))
    return;
  std::string role;
  bool forbidden = false;
  if (!authorized(self, call, principal, role, forbidden))
    return forbidden ? call.reply.error(api_error::forbidden, "not a member of this workspace")
                     : call.reply.error(api_error::unauthorized, "invalid API key");
  call.principal = principal;
  call.role = role;
  if (rate_limited(self, call))
    return;
  switch (call.what) {
    case op::hooks_create:
    case op::hooks_list:
    case op::hooks_delete:
    case op::hook_deliveries:
    case op::hook_redeliver:
      if (role != "owner" && role != "admin")
        return call.reply.error(api_error::forbidden, "webhooks are for owners and admins");
      return self->send(st.hooks, std::move(call));
    case op::contact_by_phone: {
      auto ct = st.index.contact_by_phone(call.phone);
      if (!ct || ct->updated_at == 0)
        return call.reply.error(api_error::not_found, "no contact with that phone");
      return call.reply.json(200, {{"contact", contact_api(*ct)}});
    }
    case op::contact_by_user_id: {
      auto ct = st.index.contact_by_user_id(call.value);
      if (!ct || ct->updated_at == 0)
        return call.reply.error(api_error::not_found, "no contact with that user id");
      return call.reply.json(200, {{"contact", contact_api(*ct)}});
    }
    case op::contacts_list:
      return call.reply.json(200, st.index.list_contacts(call.q, call.page, call.limit));
    case op::members:
      return call.reply.json(200, members_api(st.members));
    case op::conversations_list: {
      conversation_filter f;
      f.status = call.status;
      f.assigned_to = call.assigned_to == "me" ? principal : call.assigned_to;
      f.mode = call.mode;
      f.tags = call.tags;
      f.active_only = call.active_only;
      f.q = call.q;
      f.me = principal;
      f.page = call.page;
      f.limit = call.limit;
      http_response page;
      page.body = st.index.list_conversations(f, now);
      return call.reply.send(std::move(page));
    }
    case op::subscribe_events:
      return st.hub->subscribe(call.reply, call.value);
    case op::upload_media:
      if (!st.ws.send.configured())
        return call.reply.error(api_error::unprocessable,
                                "sending is not configured for this workspace");
      if (!st.opts.media.transport)
        return call.reply.error(api_error::unprocessable,
                                "media is disabled on this server (INBOXD_MEDIA_DIR is empty)");
      return upload_media(*st.opts.media.transport, st.ws.send, st.ws.phone_number_id,
                          std::move(call.request), call.value, st.opts.media.download_timeout_ms,
                          call.reply);
    case op::message_media:
      return serve_message_media(self, st.opts.db, st.opts.media.files, st.ws.id, call.id,
                                 call.request, call.reply);
    case op::conversation_get: {
      auto cv = st.index.conversation_by_id(call.id);
      if (!cv || cv->updated_at == 0)
        return call.reply.error(api_error::not_found, "no such conversation");
      return call.reply.json(200, st.index.render(*cv, now));
    }
    case op::send_message:
    case op::mark_read:
    case op::typing:
      call.send_enabled = st.ws.send.configured() && st.opts.outbox.transport;
      if (call.what != op::mark_read && !call.send_enabled) {
        auto cv = st.index.conversation_by_id(call.id);
        if (!cv || cv->updated_at == 0)
          return call.reply.error(api_error::not_found, "no such conversation");
        return call.reply.error(api_error::unprocessable, "sending is not configured for this workspace");
      }
      [[fallthrough]];
    case op::messages_list:
    case op::handover:
    case op::set_status:
    case op::set_tags: {
      auto cv = st.index.conversation_by_id(call.id);
      if (!cv || cv->updated_at == 0)
        return call.reply.error(api_error::not_found, "no such conversation");
      auto id = call.id;
      return to_conversation(self, id, std::move(call));
    }
    case op::assign: {
      auto cv = st.index.conversation_by_id(call.id);
      if (!cv || cv->updated_at == 0)
        return call.reply.error(api_error::not_found, "no such conversation");
      if (!call.value_null) {
        if (role == "agent" && call.value != principal)
          return call.reply.error(api_error::forbidden, "agents may only assign themselves");
        if (!st.members.count(call.value))
          return call.reply.error(api_error::unprocessable, "the assignee is not a member of this workspace");
      }
      auto id = call.id;
      return to_conversation(self, id, std::move(call));
    }
    case op::erase_contact:
    case op::patch_contact: {
      if (call.what == op::erase_contact && role != "owner" && role != "admin")
        return call.reply.error(api_error::forbidden, "erasing a contact is for owners and admins");
      auto ct = st.index.contact_by_id(call.id);
      auto cv = ct ? st.index.conversation_of_contact(ct->id) : std::nullopt;
      if (!ct || ct->updated_at == 0 || !cv)
        return call.reply.error(api_error::not_found, "no such contact");
      auto id = cv->id;
      return to_conversation(self, id, std::move(call));
    }
    default:
      return call.reply.error(api_error::internal, "unexpected call");
  }
}

// --- Scale-out: the lease -------------------------------------------------------------------

// How long a node trusts what it learned of another holder before asking Redis again: a dead
// holder's workspace is taken over within this time after its lease ran out.
constexpr auto kHolderRecheck = std::chrono::milliseconds(1000);

void forward_elsewhere(ws_actor* self, ingest_batch& b) {
  auto& url = self->state.holder_url;
  if (b.moved && !url.empty())
    return b.moved(url);
  for (size_t i = 0; i < b.events.size(); ++i)
    b.ack->complete(false);
}

void forward_elsewhere(ws_actor* self, inbox_call& call) {
  auto& url = self->state.holder_url;
  // An event stream is relayed from the owner for as long as it stays open (http/event_relay).
  if (url.empty())
    return call.reply.error(api_error::unavailable,
                            "the workspace is served by another node; try again");
  call.reply.forward(url);
}

void forward_waiting(ws_actor* self) {
  auto waiting = std::move(self->state.waiting);
  self->state.waiting.clear();
  for (auto& w : waiting)
    std::visit([self](auto& m) { forward_elsewhere(self, m); }, w);
}

void schedule_renew(ws_actor* self) {
  auto& st = self->state;
  auto period = std::chrono::milliseconds(std::max<int64_t>(1, st.opts.lease.ttl_ms / 3));
  self->delayed_send(self, period, lease_atom::value, st.epoch);
}

caf::behavior not_owner(ws_actor* self);
void renew(ws_actor* self, uint64_t epoch);

// The lease is gone (`holder_url` took it, "" when unknown): everything of the workspace held
// here is dropped; requests are forwarded from now on.
void lose_lease(ws_actor* self, std::string holder_url, int64_t ttl_ms,
                lease_change why = lease_change::lost) {
  auto& st = self->state;
  if (!st.owner)
    return;
  if (why == lease_change::lost)
    spdlog::warn("workspace {}: lease of epoch {} lost{}{}", st.ws.id, st.epoch,
                 holder_url.empty() ? "" : " to ", holder_url);
  lease_changes.inc(static_cast<size_t>(why));
  leases_held.add(-1);
  st.owner = false;
  for (auto& [id, c] : st.children) {
    self->demonitor(c.handle);
    self->send_exit(c.handle, caf::exit_reason::user_shutdown);
  }
  st.children.clear();
  st.sweep_left.clear();
  for (auto* worker : {&st.outbound, &st.media, &st.hooks})
    if (*worker) {
      self->unlink_from(*worker);
      self->send_exit(*worker, caf::exit_reason::user_shutdown);
      *worker = nullptr;
    }
  st.hub->close_all();
  // The index is not assignable (its name pool is viewed by its own map): made anew in place.
  std::destroy_at(&st.index);
  std::construct_at(&st.index);
  st.api_keys.clear();
  st.members.clear();
  st.timers.clear(); // their ticks, like the renewal's, are dropped from now on
  st.direct_events = 0;
  st.via_events.clear();
  st.holder_url = std::move(holder_url);
  st.holder_until = std::chrono::steady_clock::now() +
                    std::min(std::chrono::milliseconds(ttl_ms), kHolderRecheck);
  forward_waiting(self);
  self->set_default_handler(drop_quietly);
  self->become(not_owner(self));
}

void acquire(ws_actor* self) {
  auto& st = self->state;
  st.acquiring = true;
  registry_db(self).acquire_lease(
      st.ws.id, st.opts.lease, in_actor<lease_reply>(self, [self](lease_reply& r) {
        auto& st = self->state;
        st.acquiring = false;
        if (!r.ok) {
          spdlog::warn("workspace {}: lease not acquired: {}", st.ws.id, r.error);
          st.holder_url.clear();
          return forward_waiting(self); // 503: the client retries
        }
        if (!r.mine) {
          st.holder_url = r.holder_url;
          st.holder_until = std::chrono::steady_clock::now() +
                            std::min(std::chrono::milliseconds(r.ttl_ms), kHolderRecheck);
          return forward_waiting(self);
        }
        spdlog::info("workspace {}: lease acquired, epoch {}", st.ws.id, r.epoch);
        lease_changes.inc(static_cast<size_t>(lease_change::acquired));
        leases_held.add(1);
        st.owner = true;
        st.epoch = r.epoch;
        st.renewed_at = std::chrono::steady_clock::now();
        st.holder_url.clear();
        schedule_renew(self);
        // Until loaded, new work waits in the mailbox behind `waiting`.
        self->set_default_handler(caf::skip);
        self->become({
            [](continuation& c) { c.run(); },
            [self](retry_atom) { load(self); },
            [self](lease_atom, uint64_t epoch) { renew(self, epoch); },
        });
        load(self);
      }));
}

// A request while this node does not hold the lease: forwarded while the holder's lease is
// known to run, else it waits for an acquire.
template <class Message>
void not_owner_request(ws_actor* self, Message& m) {
  auto& st = self->state;
  // A request a peer forwarded here says that peer no longer holds the lease (it may have handed
  // it to this node): Redis is asked instead of what this node last learned.
  bool forwarded = false;
  if constexpr (std::is_same_v<Message, ingest_batch>)
    forwarded = !m.via.empty();
  else
    forwarded = m.forwarded;
  if (!forwarded && !st.holder_url.empty() && std::chrono::steady_clock::now() < st.holder_until)
    return forward_elsewhere(self, m);
  st.waiting.emplace_back(std::move(m));
  if (!st.acquiring)
    acquire(self);
}

caf::behavior not_owner(ws_actor* self) {
  return {
      [self](ingest_batch& b) { not_owner_request(self, b); },
      [self](inbox_call& call) { not_owner_request(self, call); },
      [self](workspace_changed& w) { self->state.ws = w.ws; },
      [](continuation& c) { c.run(); },
  };
}

// Webhook events of a batch, by where they came from (for hand_over_if_due).
void note_origin(ws_actor* self, const ingest_batch& b) {
  auto& st = self->state;
  if (b.via.empty())
    st.direct_events += b.events.size();
  else if (st.via_events.size() < 64 || st.via_events.count(b.via))
    st.via_events[b.via] += b.events.size();
}

// At a renewal, once kHandOverMinEvents webhook events arrived since the last decision: hands
// the lease over to the peer most of them came through, if kHandOverRatio holds (the balancer
// sends this workspace's webhooks there), and starts counting anew. True when the hand-over is
// under way (it renews again should it fail).
bool hand_over_if_due(ws_actor* self) {
  auto& st = self->state;
  uint64_t total = st.direct_events;
  for (auto& [via, n] : st.via_events)
    total += n;
  if (total < kHandOverMinEvents)
    return false;
  std::string best;
  uint64_t best_events = 0, others = st.direct_events;
  for (auto& [via, n] : st.via_events) {
    if (n > best_events) {
      others += best_events;
      best = via;
      best_events = n;
    } else {
      others += n;
    }
  }
  st.direct_events = 0;
  st.via_events.clear();
  auto space = best.find(' ');
  if (best_events < kHandOverRatio * others || space == std::string::npos)
    return false;
  lease_claim successor{best.substr(0, space), best.substr(space + 1), st.opts.lease.ttl_ms};
  if (successor.node == st.opts.lease.node)
    return false;
  spdlog::info(
      "workspace {}: handing the lease over to {} ({} webhook events came through it, "
      "{} otherwise)",
      st.ws.id, successor.node, best_events, others);
  auto epoch = st.epoch;
  registry_db(self).hand_over_lease(
      st.ws.id, st.opts.lease, epoch, successor,
      in_actor<lease_reply>(self, [self, epoch, to = successor.node](lease_reply& r) {
        auto& st = self->state;
        if (!st.owner || epoch != st.epoch)
          return;
        if (!r.ok) {
          spdlog::warn("workspace {}: lease hand-over failed: {}", st.ws.id, r.error);
          return schedule_renew(self);
        }
        lose_lease(self, r.holder_url, r.ttl_ms,
                   r.holder_node == to ? lease_change::handed_over : lease_change::lost);
      }));
  return true;
}

void renew(ws_actor* self, uint64_t epoch) {
  auto& st = self->state;
  if (!st.owner || epoch != st.epoch)
    return; // a timer of an earlier lease
  registry_db(self).renew_lease(
      st.ws.id, st.opts.lease, epoch, in_actor<lease_reply>(self, [self, epoch](lease_reply& r) {
        auto& st = self->state;
        if (!st.owner || epoch != st.epoch)
          return;
        auto now = std::chrono::steady_clock::now();
        if (r.ok && r.mine) {
          st.renewed_at = now;
          if (hand_over_if_due(self))
            return;
        } else if (r.ok) {
          return lose_lease(self, r.holder_url, r.ttl_ms);
        } else {
          spdlog::warn("workspace {}: lease renewal failed: {}", st.ws.id, r.error);
          // Past a whole TTL without a renewal another node may hold it: stop serving.
          if (now - st.renewed_at >= std::chrono::milliseconds(st.opts.lease.ttl_ms))
            return lose_lease(self, "", 0);
        }
        schedule_renew(self);
      }));
}

caf::behavior running(ws_actor* self) {
  return {
      [self](lease_atom, uint64_t epoch) { renew(self, epoch); },
      [self](fenced_atom, uint64_t epoch) {
        if (self->state.owner && epoch == self->state.epoch)
          lose_lease(self, "", 0);
      },
      [self](ingest_batch& b) {
        note_origin(self, b);
        ingest(self, b);
      },
      [self](inbox_call& call) { handle_call(self, call); },
      [self](conversation_changed& c) {
        auto& idx = self->state.index;
        idx.put_contact(c.ct, true);
        idx.put_conversation(c.conv);
        self->state.hub->appended();
        self->send(self->state.hooks, events_atom::value);
      },
      [self](conversation_erased& e) {
        auto& st = self->state;
        st.index.erase(e.conversation_id, e.contact_id);
        if (auto i = st.children.find(e.conversation_id); i != st.children.end()) {
          self->demonitor(i->second.handle);
          st.children.erase(i);
        }
        for (auto* worker : {&st.outbound, &st.media})
          if (*worker)
            self->send(*worker, forget_atom::value, e.jobs);
        if (e.media && st.media)
          self->send(st.media, media_gc_atom::value, std::vector<std::string>{});
        self->send(st.hooks, events_atom::value); // its deliveries may have gone
      },
      [self](events_atom) {
        self->state.hub->appended();
        self->send(self->state.hooks, events_atom::value);
      },
      [self](tick_atom, uint64_t tag) {
        auto i = self->state.timers.find(tag);
        if (i == self->state.timers.end())
          return;
        auto fn = std::move(i->second);
        self->state.timers.erase(i);
        fn();
      },
      [self](sweep_atom) { sweep(self); },
      [self](conversation_idle& idle) {
        auto& children = self->state.children;
        auto i = children.find(idle.conversation_id);
        auto sender = caf::actor_cast<caf::actor>(self->current_sender());
        if (i != children.end() && i->second.handle == sender) {
          if (i->second.sent != idle.handled)
            return; // something is on its way to it: keep it
          children.erase(i);
        }
        self->demonitor(sender);
        self->send(sender, stop_atom::value);
      },
      [self](retention_atom) { retention_step(self); },
      [self](workspace_changed& w) {
        self->state.ws = w.ws;
        schedule_retention(self);
        self->send(self->state.media, w);
        self->send(self->state.hooks, w);
        self->send(self->state.outbound, std::move(w));
      },
      [self](send_result& r) {
        if (!self->state.index.conversation_by_id(r.conversation_id)) {
          // Erased while its send was in flight: nothing is left to record it on.
          spdlog::info("workspace {}: send result for a conversation no longer here",
                       self->state.ws.id);
          if (r.outbound)
            self->send(r.outbound, send_recorded{r.entry_id, true});
          return;
        }
        auto id = r.conversation_id;
        to_conversation(self, id, std::move(r));
      },
      [self](media_result& r) {
        if (!self->state.index.conversation_by_id(r.conversation_id)) {
          // Erased while its download was in flight: the file it kept may hold no message.
          spdlog::info("workspace {}: media result for a conversation no longer here",
                       self->state.ws.id);
          if (r.media) {
            self->send(r.media, media_recorded{r.message_id, true});
            if (r.state == "stored")
              self->send(r.media, media_gc_atom::value, std::vector<std::string>{r.sha256});
          }
          return;
        }
        auto id = r.conversation_id;
        to_conversation(self, id, std::move(r));
      },
      [](continuation& c) { c.run(); },
  };
}

void load(ws_actor* self) {
  auto& id = self->state.ws.id;
  auto loaded = [self](workspace_records& r) {
    auto& st = self->state;
    if (scale_out(self) && !st.owner)
      return; // the lease was lost while loading
    if (!r.ok) {
      spdlog::warn("workspace {}: load failed ({}), retrying", st.ws.id, r.error);
      self->delayed_send(self, std::chrono::milliseconds(500), retry_atom::value);
      return;
    }
    st.api_keys = std::move(r.api_keys);
    st.members = std::move(r.members);
    for (auto& c : r.contacts)
      st.index.put_contact(c);
    for (auto& c : r.conversations)
      st.index.put_conversation(c);
    spdlog::info("workspace {} loaded: {} conversations", st.ws.id, st.index.conversation_count());
    // The outbox sender starts once the conversations it reports to are known.
    st.outbound = spawn_outbound_actor(self, st.opts.db, caf::actor_cast<caf::actor>(self), st.ws,
                                       st.opts.outbox, st.epoch);
    self->link_to(st.outbound);
    st.media = spawn_media_actor(self, st.opts.db, caf::actor_cast<caf::actor>(self), st.ws,
                                 st.opts.media, st.epoch);
    self->link_to(st.media);
    st.hooks =
        spawn_hook_actor(self, caf::actor_cast<caf::actor>(self), st.ws, st.opts.hooks, st.epoch);
    self->link_to(st.hooks);
    self->set_default_handler(log_and_drop);
    self->become(running(self));
    schedule_retention(self);
    // What arrived while the lease was acquired goes first, in order.
    auto waiting = std::move(st.waiting);
    st.waiting.clear();
    for (auto& w : waiting)
      std::visit(
          [self](auto& m) {
            if constexpr (std::is_same_v<std::decay_t<decltype(m)>, ingest_batch>)
              ingest(self, m);
            else
              handle_call(self, m);
          },
          w);
  };
  registry_db(self).load_workspace_state(id, in_actor<workspace_records>(self, std::move(loaded)));
}

caf::behavior workspace_behavior(ws_actor* self, workspace ws, workspace_options opts) {
  self->state.ws = std::move(ws);
  self->state.opts = opts;
  self->state.limiter = rate_limiter(opts.api_rate);
  self->state.hub = std::make_unique<event_hub>(
    [self](std::string after, std::string upto, size_t count,
           std::function<void(event_read&)> then) {
      auto& st = self->state;
      st.opts.db->read_events(
        st.ws.id, std::move(after), std::move(upto), count,
        in_actor<event_read>(self, [self, then = std::move(then)](event_read& r) {
          auto now = now_ms();
          for (auto& e : r.entries)
            if (!compose_event(self->state.ws.id, e, now))
              e.data.clear();
          then(r);
        }));
    },
    [self](std::chrono::milliseconds delay, std::function<void()> fn) {
      auto tag = ++self->state.next_timer;
      self->state.timers.emplace(tag, std::move(fn));
      self->delayed_send(self, delay, tick_atom::value, tag);
    },
    self->state.opts.max_subscribers);
  // Exiting (the directory's link, or shutdown) stops every live conversation actor first, a
  // batch at a time (stop_next_batch); meanwhile the workspace takes no more work.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    auto& st = self->state;
    if (st.stopping)
      return;
    st.stopping = true;
    st.stop_reason = msg.reason;
    if (st.owner) { // handed back at once instead of running out: another node may take it
      st.owner = false;
      lease_changes.inc(static_cast<size_t>(lease_change::released));
      leases_held.add(-1);
      // Quitting waits for Redis' answer (bounded by the client's command timeout), so the
      // release is written before the process stops its Redis client.
      st.releasing = true;
      auto handle = caf::actor_cast<caf::actor>(self);
      registry_db(self).release_lease(st.ws.id, st.opts.lease, st.epoch, [handle](lease_reply) {
        caf::anon_send(handle, lease_atom::value, uint64_t{0});
      });
    }
    for (auto& [id, c] : st.children)
      st.to_stop.emplace(c.handle.id(), std::move(c.handle));
    st.children.clear();
    self->set_default_handler(drop_quietly);
    self->become([](continuation&) {}, // store results too: nothing may spawn a child now
                 [self](lease_atom, uint64_t epoch) {
                   if (epoch != 0)
                     return;                      // a renewal's timer
                   self->state.releasing = false; // the release was answered
                   stop_next_batch(self);
                 });
    stop_next_batch(self);
  });
  // A conversation actor that died unexpectedly is forgotten (its next message respawns it
  // from the stored state).
  self->set_down_handler([self](caf::down_msg& msg) {
    if (self->state.stopping) {
      auto id = msg.source.id();
      if (self->state.exiting.erase(id) == 0)
        self->state.to_stop.erase(id); // it ended by itself before its turn
      return stop_next_batch(self);
    }
    auto& children = self->state.children;
    for (auto i = children.begin(); i != children.end(); ++i)
      if (i->second.handle.address() == msg.source) {
        if (msg.reason)
          spdlog::error("workspace {}: conversation {} died: {}", self->state.ws.id, i->first,
                        caf::to_string(msg.reason));
        children.erase(i);
        return;
      }
  });
  if (scale_out(self)) {
    // Nothing is loaded before this node holds the lease (taken on the first request).
    self->set_default_handler(drop_quietly);
    return not_owner(self);
  }
  // Until loaded, everything but the load's continuation waits in the mailbox.
  self->set_default_handler(caf::skip);
  load(self);
  return {
    [](continuation& c) { c.run(); },
    [self](retry_atom) { load(self); },
  };
}

} // namespace

caf::actor spawn_workspace_actor(caf::actor_system& sys, workspace ws, workspace_options opts) {
  return sys.spawn(workspace_behavior, std::move(ws), opts);
}

} // namespace inboxd
