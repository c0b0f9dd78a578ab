#include "actors/workspace_actor.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/continuation.hpp"
#include "actors/conversation_actor.hpp"
#include "actors/conversation_index.hpp"
#include "actors/event_hub.hpp"
#include "messages/actor_messages.hpp"
#include "messages/crypto.hpp"
#include "messages/ids.hpp"
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
  conversation_index index;
  std::unordered_map<std::string, child> children; // conversation id -> actor
  bool sweeping = false; // a sweep for idle children is scheduled or under way
  std::vector<std::string> sweep_left; // children of the sweep under way still to ask
  caf::actor outbound;                         // the outbox sender
  std::unique_ptr<event_hub> hub;              // event stream subscribers
  std::map<uint64_t, std::function<void()>> timers; // the hub's delayed work, by tag
  uint64_t next_timer = 0;
  // Shutdown (see stop_next_batch): the children still to stop and those stopping now.
  bool stopping = false;
  caf::error stop_reason;
  std::unordered_map<caf::actor_id, caf::actor> to_stop;
  std::unordered_set<caf::actor_id> exiting;
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

caf::behavior running(ws_actor* self);

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
  if (st.exiting.empty())
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
    seed.db = st.opts.db;
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

// Routes a webhook's events: grouped by contact phone, in order, to their conversation actors.
void ingest(ws_actor* self, ingest_batch& batch) {
  auto& st = self->state;
  std::map<std::string, std::vector<wa_event>> by_phone;
  std::vector<std::string> order;
  for (auto& e : batch.events) {
    auto& v = by_phone[e.contact_phone];
    if (v.empty())
      order.push_back(e.contact_phone);
    v.push_back(std::move(e));
  }
  auto now = now_ms();
  for (auto& phone : order) {
    if (phone.empty()) {
      // Only statuses of group messages come without a contact phone: the inbox keeps 1:1
      // conversations, so they are acknowledged and logged, not stored.
      for (auto& e : by_phone[phone]) {
        spdlog::info("workspace {}: {} for {} has no contact phone; ignored", st.ws.id,
                     to_string(e.kind), e.target_wamid);
        batch.ack->complete(true);
      }
      continue;
    }
    auto known = st.index.ids_by_phone(phone);
    std::string conv_id;
    if (!known) {
      // First sight of this phone: the contact and its conversation are decided here, once.
      contact c;
      c.id = new_id("ct_");
      c.phone = phone;
      c.created_at = now;
      conversation cv;
      cv.id = new_id("cv_");
      cv.contact_id = c.id;
      cv.mode = st.ws.default_mode;
      cv.created_at = now;
      st.index.put_contact(c);
      st.index.put_conversation(cv);
      conv_id = cv.id;
    } else if (!known->conversation_id.empty()) {
      conv_id = std::move(known->conversation_id);
    } else {
      conversation fresh;
      fresh.id = new_id("cv_");
      fresh.contact_id = known->contact_id;
      fresh.mode = st.ws.default_mode;
      fresh.created_at = now;
      st.index.put_conversation(fresh);
      conv_id = fresh.id;
    }
    to_conversation(self, conv_id, ingest_batch{std::move(by_phone[phone]), batch.ack});
  }
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
  // Key format: ibx.<workspaceId>.<keyId>.<secret>
  auto& key = call.api_key;
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

// Admin member operations (the front checked the admin token). Returns false for other calls.
bool handle_member_admin(ws_actor* self, inbox_call& call) {
  auto& st = self->state;
  using op = inbox_call::op;
  auto reply = call.reply;
  switch (call.what) {
    case op::list_members: {
      nlohmann::json out = nlohmann::json::array();
      for (auto& [user, m] : st.members)
        out.push_back(member_api(user, m));
      reply.json(200, {{"members", std::move(out)}});
      return true;
    }
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
    auto key = "ibx." + st.ws.id + "." + key_id + "." + random_hex(24);
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
  switch (call.what) {
    case op::contact_by_phone: {
      auto ct = st.index.contact_by_phone(call.phone);
      if (!ct || ct->updated_at == 0)
        return call.reply.error(api_error::not_found, "no contact with that phone");
      return call.reply.json(200, {{"contact", contact_api(*ct)}});
    }
    case op::contacts_list:
      return call.reply.json(200, st.index.list_contacts(call.q, call.page, call.limit));
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
    case op::conversation_get: {
      auto cv = st.index.conversation_by_id(call.id);
      if (!cv || cv->updated_at == 0)
        return call.reply.error(api_error::not_found, "no such conversation");
      return call.reply.json(200, st.index.render(*cv, now));
    }
    case op::send_message:
    case op::mark_read:
      call.send_enabled = st.ws.send.configured() && st.opts.outbox.transport;
      if (call.what == op::send_message && !call.send_enabled) {
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
    case op::patch_contact: {
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

caf::behavior running(ws_actor* self) {
  return {
    [self](ingest_batch& b) { ingest(self, b); },
    [self](inbox_call& call) { handle_call(self, call); },
    [self](conversation_changed& c) {
      auto& idx = self->state.index;
      if (!c.old_phone.empty())
        idx.remove_phone(c.old_phone);
      idx.put_contact(c.ct);
      idx.put_conversation(c.conv);
      self->state.hub->appended();
    },
    [self](events_atom) { self->state.hub->appended(); },
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
    [self](workspace_changed& w) {
      self->state.ws = w.ws;
      self->send(self->state.outbound, std::move(w));
    },
    [self](send_result& r) {
      if (!self->state.index.conversation_by_id(r.conversation_id)) {
        spdlog::error("workspace {}: send result for unknown conversation {}", self->state.ws.id,
                      r.conversation_id);
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
                                       st.opts.outbox);
    self->link_to(st.outbound);
    self->set_default_handler(caf::print_and_drop);
    self->become(running(self));
  };
  registry_db(self).load_workspace_state(id, in_actor<workspace_records>(self, std::move(loaded)));
}

caf::behavior workspace_behavior(ws_actor* self, workspace ws, workspace_options opts) {
  self->state.ws = std::move(ws);
  self->state.opts = opts;
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
    for (auto& [id, c] : st.children)
      st.to_stop.emplace(c.handle.id(), std::move(c.handle));
    st.children.clear();
    self->set_default_handler(caf::drop);
    self->become([](continuation&) {}); // store results too: nothing may spawn a child now
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
