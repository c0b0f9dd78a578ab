#include "actors/directory_actor.hpp"

#include <chrono>
#include <deque>
#include <map>
#include <utility>
#include <vector>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/continuation.hpp"
#include "actors/dropped.hpp"
#include "actors/registry.hpp"
#include "actors/workspace_input.hpp"
#include "messages/actor_messages.hpp"
#include "messages/ids.hpp"
#include "metrics/metrics.hpp"
#include "metrics/webhook_items.hpp"
#include "storage/registry_store.hpp"
#include "whatsapp/webhook_decoder.hpp"

namespace inboxd {

namespace {

constexpr size_t kReplayBatch = 1000;
constexpr size_t kMaxWaitingSaves = 1024;
// Scale-out: how often the directory reads the workspaces other nodes created or changed.
constexpr auto kRefreshPeriod = std::chrono::milliseconds(1000);
// ... and, for requests naming a workspace it did not know, at most once per kSyncSpacing (so
// made-up ids cost Redis at most ten reads of the workspaces a second); beyond kMaxSyncWaiting
// such requests waiting, the next are answered at once.
constexpr auto kSyncSpacing = std::chrono::milliseconds(100);
constexpr size_t kMaxSyncWaiting = 4096;
// A workspace actor that died is started again at once; one that dies again within this long
// is started again after it, so a workspace that fails as it loads does not spin.
constexpr auto kRestartSpacing = std::chrono::milliseconds(1000);

using restart_atom = caf::atom_constant<caf::atom("wsrestart")>;

metrics::counter_family workspace_restarts(
    "inboxd_workspace_restarts_total",
    "Workspace actors that died (an exception in a handler) and were started again from what is "
    "stored.");

struct directory_state {
  std::shared_ptr<registry> reg;
  workspace_options opts; // for the workspace actors; opts.registry_db is the directory's store too
  std::map<std::string, registry_entry> workspaces; // by id
  // Creates and patches are handled one at a time: while one is being stored, the next wait
  // here, so each is checked (slug and number unique) and applied against the stored state.
  bool saving = false;
  std::deque<admin_call> waiting_saves;
  // Scale-out: requests naming a workspace this node did not know, handed back after the next
  // read of the workspaces (one read at a time, at most one per kSyncSpacing).
  std::vector<std::pair<caf::actor, http_exchange>> sync_waiting;
  std::vector<admin_call> sync_admin;
  bool sync_due = false; // a read for the waiting requests is scheduled or in flight
  std::chrono::steady_clock::time_point last_sync{};
  std::map<std::string, std::chrono::steady_clock::time_point> restarted; // by workspace id
  static inline const char* name = "directory";
};

using dir_actor = caf::stateful_actor<directory_state>;

registry_store& registry_db(dir_actor* self) {
  return *self->state.opts.registry_db;
}

void handle_admin(dir_actor* self, admin_call& call);
bool sync_later(dir_actor* self, admin_call& call);

void publish(dir_actor* self) {
  auto snap = std::make_shared<registry_snapshot>();
  snap->loaded = true;
  for (auto& [id, e] : self->state.workspaces) {
    auto entry = std::make_shared<const registry_entry>(e);
    snap->by_id[id] = entry;
    snap->by_slug[e.ws.slug] = entry;
    snap->by_pid[e.ws.phone_number_id] = entry;
  }
  self->state.reg->publish(std::move(snap));
}

void add_workspace(dir_actor* self, workspace ws) {
  auto actor = spawn_workspace_actor(self->system(), ws, self->state.opts);
  self->link_to(actor);
  auto id = ws.id;
  self->state.workspaces[id] = registry_entry{std::move(ws), actor};
}

// A fresh workspace actor in place of one that died: it loads the workspace from Redis (and,
// scale-out, takes the lease again under a new epoch, which fences what the dead one left in
// flight). Requests that were in the dead actor's mailbox get no answer: their clients see the
// request timeout's 503 and retry.
void restart_workspace(dir_actor* self, const std::string& id) {
  auto i = self->state.workspaces.find(id);
  if (i == self->state.workspaces.end())
    return;
  i->second.actor = spawn_workspace_actor(self->system(), i->second.ws, self->state.opts);
  self->link_to(i->second.actor);
  self->state.restarted[id] = std::chrono::steady_clock::now();
  workspace_restarts.inc();
  publish(self);
}

// The directory is linked to every workspace actor: an exit from one of them is its death; any
// other exit (shutdown) ends the directory, and the links carry it to the workspace actors.
void on_exit(dir_actor* self, caf::exit_msg& msg) {
  for (auto& [id, e] : self->state.workspaces) {
    if (!e.actor || e.actor.address() != msg.source)
      continue;
    spdlog::error("directory: the actor of workspace {} died ({}); starting it again", id,
                  caf::to_string(msg.reason));
    auto last = self->state.restarted.find(id);
    if (last != self->state.restarted.end() &&
        std::chrono::steady_clock::now() - last->second < kRestartSpacing)
      self->delayed_send(self, kRestartSpacing, restart_atom::value, id);
    else
      restart_workspace(self, id);
    return;
  }
  self->quit(msg.reason);
}

const registry_entry* find_by(dir_actor* self, const std::string& field, const std::string& v,
                              const std::string& except_id) {
  for (auto& [id, e] : self->state.workspaces) {
    if (id == except_id)
      continue;
    if ((field == "slug" && e.ws.slug == v) || (field == "pid" && e.ws.phone_number_id == v))
      return &e;
  }
  return nullptr;
}

// The save in flight finished: the creates and patches that waited for it go on, in order.
void saved(dir_actor* self) {
  auto& st = self->state;
  st.saving = false;
  while (!st.saving && !st.waiting_saves.empty()) {
    auto call = std::move(st.waiting_saves.front());
    st.waiting_saves.pop_front();
    handle_admin(self, call);
  }
}

void save_workspace(dir_actor* self, workspace ws, const workspace* old, int status,
                    reply_handle reply) {
  if (find_by(self, "slug", ws.slug, ws.id))
    return reply.error(api_error::conflict, "slug is taken");
  if (find_by(self, "pid", ws.phone_number_id, ws.id))
    return reply.error(api_error::conflict, "phoneNumberId is taken");
  bool creating = old == nullptr;
  self->state.saving = true;
  auto before = old ? std::optional<workspace>(*old) : std::nullopt;
  registry_db(self).save_workspace(
      ws, std::move(before),
      in_actor<registry_write>(self, [self, ws, status, reply, creating](registry_write& w) {
        if (!w.conflict.empty()) { // another node stored that slug or number meanwhile
          reply.error(api_error::conflict,
                      w.conflict == "slug" ? "slug is taken" : "phoneNumberId is taken");
          return saved(self);
        }
        if (!w.ok) {
          spdlog::warn("directory: workspace {} not stored: {}", ws.id, w.error);
          reply.error(api_error::unavailable, "storage unavailable");
          return saved(self);
        }
        auto& all = self->state.workspaces;
        if (creating || !all.count(ws.id)) {
          add_workspace(self, ws);
        } else {
          all[ws.id].ws = ws;
          self->send(all[ws.id].actor, workspace_changed{ws});
        }
        publish(self);
        reply.json(status, workspace_api(ws));
        saved(self);
      }));
}

// The API shape of a dead letter: without the payload.
nlohmann::json dead_letter_api(const dead_letter_record& d) {
  return {{"id", d.id},
          {"phoneNumberId", d.phone_number_id},
          {"receivedAt", d.received_at},
          {"source", d.source}};
}

void handle_admin(dir_actor* self, admin_call& call) {
  auto& st = self->state;
  using op = admin_call::op;
  switch (call.what) {
    case op::create_workspace:
    case op::patch_workspace: {
      if (st.saving) {
        if (st.waiting_saves.size() >= kMaxWaitingSaves)
          return call.reply.error(api_error::unavailable, "too many workspace changes waiting");
        st.waiting_saves.push_back(std::move(call));
        return;
      }
      nlohmann::json body;
      std::string parse_error;
      if (!parse_json_bounded(call.body, body, parse_error))
        return call.reply.error(api_error::bad_request, parse_error);
      bool creating = call.what == op::create_workspace;
      workspace ws;
      const workspace* old = nullptr;
      if (creating) {
        ws.id = new_id("ws_");
        ws.created_at = now_ms();
      } else {
        auto i = st.workspaces.find(call.workspace_id);
        if (i == st.workspaces.end() && sync_later(self, call))
          return;
        if (i == st.workspaces.end())
          return call.reply.error(api_error::not_found, "no such workspace");
        old = &i->second.ws;
        ws = *old;
      }
      input_error err;
      if (!apply_workspace_input(body, creating, ws, err, st.opts.hooks.allow_private))
        return call.reply.error(err.code, err.message);
      return save_workspace(self, std::move(ws), old, creating ? 201 : 200, call.reply);
    }
    case op::get_workspace: {
      auto i = st.workspaces.find(call.workspace_id);
      if (i == st.workspaces.end() && sync_later(self, call))
        return;
      if (i == st.workspaces.end())
        return call.reply.error(api_error::not_found, "no such workspace");
      return call.reply.json(200, workspace_api(i->second.ws));
    }
    case op::list_dead_letters: {
      auto reply = call.reply;
      registry_db(self).list_dead_letters(
          static_cast<size_t>(call.limit),
          in_actor<dead_letters_read>(self, [reply](dead_letters_read& r) {
            if (!r.ok)
              return reply.error(api_error::unavailable, "storage unavailable");
            nlohmann::json out = nlohmann::json::array();
            for (auto& d : r.letters)
              out.push_back(dead_letter_api(d));
            reply.json(200, {{"deadLetters", std::move(out)}});
          }));
      return;
    }
    case op::replay_dead_letters: {
      auto reply = call.reply;
      registry_db(self).oldest_dead_letters(
          kReplayBatch, in_actor<dead_letters_read>(self, [self, reply](dead_letters_read& r) {
            if (!r.ok)
              return reply.error(api_error::unavailable, "storage unavailable");
            auto total = r.total;
            // Decode each letter whose number now has a workspace; ingest its events.
            struct job {
              std::string id;
              const registry_entry* entry;
              std::vector<wa_event> events;
            };
            std::vector<job> jobs;
            for (auto& letter : r.letters) {
              auto& pid = letter.phone_number_id;
              const registry_entry* entry = nullptr;
              for (auto& [id, e] : self->state.workspaces)
                if (e.ws.phone_number_id == pid)
                  entry = &e;
              if (!entry)
                continue;
              nlohmann::json body;
              std::string err;
              if (!parse_json_bounded(letter.body, body, err))
                continue;
              auto decoded = letter.source == "kapso" ? decode_kapso(body, letter.event_header)
                                                      : decode_meta(body);
              if (!decoded.ok)
                continue;
              job jb{letter.id, entry, {}};
              for (auto& e : decoded.value.events)
                if (e.phone_number_id == pid)
                  jb.events.push_back(std::move(e));
              jobs.push_back(std::move(jb));
            }
            auto replayed = static_cast<int64_t>(jobs.size());
            if (jobs.empty())
              return reply.json(200, {{"replayed", 0}, {"remaining", total}});
            std::vector<std::string> done_ids;
            size_t items = 0;
            for (auto& jb : jobs) {
              done_ids.push_back(jb.id);
              items += jb.events.size();
            }
            auto handle = caf::actor_cast<caf::actor>(self);
            auto ack = std::make_shared<ingest_ack>(
              items, [handle, done_ids, reply, replayed, total](bool ok) {
                if (!ok)
                  return reply.error(api_error::unavailable, "storage unavailable during replay");
                // Back inside the directory: remove what was ingested, then answer.
                caf::anon_send(handle, admin_call{admin_call::op::finish_replay, "",
                                                  nlohmann::json(done_ids).dump(),
                                                  total - replayed, reply});
              });
            for (auto& jb : jobs)
              if (!jb.events.empty())
                self->send(jb.entry->actor, ingest_batch{std::move(jb.events), ack, {}, {}, {}});
          }));
      return;
    }
    case op::finish_replay:
      return;
  }
}

// The second half of a replay: the ingested letters are removed.
void finish_replay(dir_actor* self, admin_call& call) {
  auto ids = nlohmann::json::parse(call.body, nullptr, false).get<std::vector<std::string>>();
  auto n = static_cast<int64_t>(ids.size());
  auto reply = call.reply;
  auto remaining = call.limit;
  registry_db(self).delete_dead_letters(
      std::move(ids), in_actor<registry_write>(self, [reply, n, remaining](registry_write& w) {
        if (!w.ok)
          return reply.error(api_error::unavailable, "storage unavailable");
        reply.json(200, {{"replayed", n}, {"remaining", remaining}});
      }));
}

void store_dead_letter(dir_actor* self, dead_letter& dl) {
  dead_letter_record rec{new_id("dl_"), dl.phone_number_id, now_ms(),
                         dl.source,     dl.event_header,    dl.body};
  auto ack = dl.ack;
  registry_db(self).store_dead_letter(
      std::move(rec), in_actor<registry_write>(self, [ack](registry_write& w) {
        if (w.ok)
          metrics::webhook_items.inc(metrics::webhook_outcome::dead_lettered);
        ack->complete(w.ok);
      }));
}

// Scale-out: what a read of every workspace shows that other nodes created or changed is added
// here (a webhook for a number created elsewhere is looked up again before it is dead-lettered).
void apply_read(dir_actor* self, workspaces_read& r) {
  if (self->state.saving)
    return; // a save of ours is in flight: the next read sees it settled
  bool changed = false;
  auto& all = self->state.workspaces;
  for (auto& ws : r.workspaces) {
    auto i = all.find(ws.id);
    if (i == all.end()) {
      add_workspace(self, std::move(ws));
      changed = true;
    } else if (nlohmann::json(i->second.ws) != nlohmann::json(ws)) {
      i->second.ws = ws;
      self->send(i->second.actor, workspace_changed{std::move(ws)});
      changed = true;
    }
  }
  if (changed)
    publish(self);
}

void refresh(dir_actor* self) {
  registry_db(self).load_workspaces(in_actor<workspaces_read>(self, [self](workspaces_read& r) {
    self->delayed_send(self, kRefreshPeriod, refresh_atom::value);
    if (!r.ok)
      return spdlog::warn("directory: cannot refresh workspaces: {}", r.error);
    apply_read(self, r);
  }));
}

// A read of the workspaces for the requests waiting in sync_waiting and sync_admin, which are
// handed back afterwards (synced: a workspace still unknown then does not exist).
void sync(dir_actor* self) {
  self->state.last_sync = std::chrono::steady_clock::now();
  registry_db(self).load_workspaces(in_actor<workspaces_read>(self, [self](workspaces_read& r) {
    auto& st = self->state;
    if (r.ok)
      apply_read(self, r);
    st.sync_due = false;
    auto waiting = std::move(st.sync_waiting);
    auto admin = std::move(st.sync_admin);
    st.sync_waiting.clear();
    st.sync_admin.clear();
    for (auto& [front, ex] : waiting) {
      ex.synced = true;
      self->send(front, std::move(ex));
    }
    for (auto& call : admin)
      handle_admin(self, call);
  }));
}

void schedule_sync(dir_actor* self) {
  auto& st = self->state;
  if (st.sync_due)
    return;
  st.sync_due = true;
  auto wait = st.last_sync + kSyncSpacing - std::chrono::steady_clock::now();
  if (wait > decltype(wait)::zero())
    self->delayed_send(
        self,
        std::chrono::duration_cast<std::chrono::milliseconds>(wait) + std::chrono::milliseconds(1),
        sync_atom::value);
  else
    self->send(self, sync_atom::value);
}

bool sync_full(dir_actor* self) {
  auto& st = self->state;
  return st.sync_waiting.size() + st.sync_admin.size() >= kMaxSyncWaiting;
}

// An admin call naming an unknown workspace (scale-out, not synced yet): handled again after the
// next read of the workspaces; false when it is to be answered now.
bool sync_later(dir_actor* self, admin_call& call) {
  if (self->state.opts.lease.node.empty() || call.synced || sync_full(self))
    return false;
  call.synced = true;
  self->state.sync_admin.push_back(std::move(call));
  schedule_sync(self);
  return true;
}

caf::behavior running(dir_actor* self) {
  return {
      [self](refresh_atom) { refresh(self); },
      [self](sync_atom) { sync(self); },
      [self](sync_atom, http_exchange& ex) {
        auto front = caf::actor_cast<caf::actor>(self->current_sender());
        if (!front)
          return; // only front actors ask, never anonymously
        if (sync_full(self)) {
          ex.synced = true;
          return self->send(front, std::move(ex)); // answered as unknown
        }
        self->state.sync_waiting.emplace_back(std::move(front), std::move(ex));
        schedule_sync(self);
      },
      [self](admin_call& call) {
        if (call.what == admin_call::op::finish_replay)
          finish_replay(self, call);
        else
          handle_admin(self, call);
      },
      [self](dead_letter& dl) { store_dead_letter(self, dl); },
      [self](restart_atom, const std::string& id) { restart_workspace(self, id); },
      [](continuation& c) { c.run(); },
  };
}

void load(dir_actor* self) {
  registry_db(self).load_workspaces(in_actor<workspaces_read>(self, [self](workspaces_read& r) {
    if (!r.ok) {
      spdlog::warn("directory: cannot load workspaces ({}), retrying", r.error);
      self->delayed_send(self, std::chrono::milliseconds(500), retry_atom::value);
      return;
    }
    for (auto& ws : r.workspaces)
      add_workspace(self, std::move(ws));
    publish(self);
    spdlog::info("directory: {} workspaces loaded", self->state.workspaces.size());
    self->set_default_handler(log_and_drop);
    self->become(running(self));
    if (!self->state.opts.lease.node.empty())
      self->delayed_send(self, kRefreshPeriod, refresh_atom::value);
  }));
}

caf::behavior directory_behavior(dir_actor* self, std::shared_ptr<registry> reg,
                                 workspace_options opts) {
  self->state.reg = std::move(reg);
  self->state.opts = std::move(opts);
  self->set_default_handler(caf::skip);
  self->set_exit_handler([self](caf::exit_msg& msg) { on_exit(self, msg); });
  load(self);
  return {
    [](continuation& c) { c.run(); },
    [self](retry_atom) { load(self); },
  };
}

} // namespace

caf::actor spawn_directory_actor(caf::actor_system& sys, std::shared_ptr<registry_store> db,
                                 std::shared_ptr<registry> reg, workspace_options opts) {
  opts.registry_db = std::move(db);
  return sys.spawn(directory_behavior, std::move(reg), std::move(opts));
}

} // namespace inboxd
