#include "actors/directory_actor.hpp"

#include <map>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/registry.hpp"
#include "actors/storage_calls.hpp"
#include "actors/workspace_input.hpp"
#include "messages/actor_messages.hpp"
#include "messages/ids.hpp"
#include "metrics/webhook_items.hpp"
#include "storage/keys.hpp"
#include "whatsapp/webhook_decoder.hpp"

namespace inboxd {

namespace {

constexpr size_t kReplayBatch = 1000;

struct directory_state {
  std::shared_ptr<registry> reg;
  workspace_options opts;
  storage_calls storage;
  std::map<std::string, registry_entry> workspaces; // by id
  static inline const char* name = "directory";
};

using dir_actor = caf::stateful_actor<directory_state>;

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
  auto actor = spawn_workspace_actor(self->system(), self->state.storage.shared_client(), ws,
                                     self->state.opts);
  self->link_to(actor);
  auto id = ws.id;
  self->state.workspaces[id] = registry_entry{std::move(ws), actor};
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

void save_workspace(dir_actor* self, workspace ws, const workspace* old, int status,
                    reply_handle reply) {
  if (find_by(self, "slug", ws.slug, ws.id))
    return reply.error("conflict", "slug is taken");
  if (find_by(self, "pid", ws.phone_number_id, ws.id))
    return reply.error("conflict", "phoneNumberId is taken");
  redis_pipeline cmds{{"MULTI"}, {"SET", keys::ws_meta(ws.id), nlohmann::json(ws).dump()},
                      {"SADD", keys::workspaces, ws.id}};
  if (old && old->slug != ws.slug)
    cmds.push_back({"HDEL", keys::ws_by_slug, old->slug});
  if (old && old->phone_number_id != ws.phone_number_id)
    cmds.push_back({"HDEL", keys::ws_by_pid, old->phone_number_id});
  cmds.push_back({"HSET", keys::ws_by_slug, ws.slug, ws.id});
  cmds.push_back({"HSET", keys::ws_by_pid, ws.phone_number_id, ws.id});
  cmds.push_back({"EXEC"});
  bool creating = old == nullptr;
  self->state.storage.run(self, std::move(cmds),
                          [self, ws, status, reply, creating](redis_result& r) {
                            if (!exec_committed(r))
                              return reply.error("unavailable", "storage unavailable");
                            auto& all = self->state.workspaces;
                            if (creating || !all.count(ws.id)) {
                              add_workspace(self, ws);
                            } else {
                              all[ws.id].ws = ws;
                              self->send(all[ws.id].actor, workspace_changed{ws});
                            }
                            publish(self);
                            reply.json(status, workspace_api(ws));
                          });
}

void handle_admin(dir_actor* self, admin_call& call) {
  auto& st = self->state;
  using op = admin_call::op;
  switch (call.what) {
    case op::create_workspace:
    case op::patch_workspace: {
      nlohmann::json body;
      std::string parse_error;
      if (!parse_json_bounded(call.body, body, parse_error))
        return call.reply.error("bad_request", parse_error);
      bool creating = call.what == op::create_workspace;
      workspace ws;
      const workspace* old = nullptr;
      if (creating) {
        ws.id = new_id("ws_");
        ws.created_at = now_ms();
      } else {
        auto i = st.workspaces.find(call.workspace_id);
        if (i == st.workspaces.end())
          return call.reply.error("not_found", "no such workspace");
        old = &i->second.ws;
        ws = *old;
      }
      input_error err;
      if (!apply_workspace_input(body, creating, ws, err))
        return call.reply.error(err.code, err.message);
      return save_workspace(self, std::move(ws), old, creating ? 201 : 200, call.reply);
    }
    case op::get_workspace: {
      auto i = st.workspaces.find(call.workspace_id);
      if (i == st.workspaces.end())
        return call.reply.error("not_found", "no such workspace");
      return call.reply.json(200, workspace_api(i->second.ws));
    }
    case op::list_dead_letters: {
      auto reply = call.reply;
      st.storage.run(self,
                     {{"ZREVRANGE", keys::dead_letters, "0", std::to_string(call.limit - 1)}},
                     [self, reply](redis_result& r) {
                       if (!r.ok() || r.replies.empty() || r.replies[0].is_error())
                         return reply.error("unavailable", "storage unavailable");
                       auto& ids = r.replies[0].elements;
                       if (ids.empty())
                         return reply.json(200, {{"deadLetters", nlohmann::json::array()}});
                       redis_command mget{"MGET"};
                       for (auto& id : ids)
                         mget.push_back(keys::dead_letter(id.str));
                       self->state.storage.run(self, {std::move(mget)}, [reply](redis_result& r) {
                         if (!r.ok() || r.replies.empty() || r.replies[0].is_error())
                           return reply.error("unavailable", "storage unavailable");
                         nlohmann::json out = nlohmann::json::array();
                         for (auto& v : r.replies[0].elements) {
                           auto j = nlohmann::json::parse(v.str, nullptr, false);
                           if (!j.is_object())
                             continue;
                           j.erase("body");
                           j.erase("eventHeader");
                           out.push_back(std::move(j));
                         }
                         reply.json(200, {{"deadLetters", std::move(out)}});
                       });
                     });
      return;
    }
    case op::replay_dead_letters: {
      auto reply = call.reply;
      st.storage.run(
        self, {{"ZRANGE", keys::dead_letters, "0", std::to_string(kReplayBatch - 1)}},
        [self, reply](redis_result& r) {
          if (!r.ok() || r.replies.empty() || r.replies[0].is_error())
            return reply.error("unavailable", "storage unavailable");
          auto& ids = r.replies[0].elements;
          if (ids.empty())
            return reply.json(200, {{"replayed", 0}, {"remaining", 0}});
          redis_command mget{"MGET"};
          for (auto& id : ids)
            mget.push_back(keys::dead_letter(id.str));
          self->state.storage.run(self, {std::move(mget), {"ZCARD", keys::dead_letters}},
                                  [self, reply](redis_result& r) {
            if (!r.ok() || r.replies.size() != 2)
              return reply.error("unavailable", "storage unavailable");
            auto total = r.replies[1].integer;
            // Decode each letter whose number now has a workspace; ingest its events.
            struct job {
              std::string id;
              const registry_entry* entry;
              std::vector<wa_event> events;
            };
            std::vector<job> jobs;
            for (auto& v : r.replies[0].elements) {
              auto j = nlohmann::json::parse(v.str, nullptr, false);
              if (!j.is_object())
                continue;
              auto pid = j.value("phoneNumberId", std::string());
              const registry_entry* entry = nullptr;
              for (auto& [id, e] : self->state.workspaces)
                if (e.ws.phone_number_id == pid)
                  entry = &e;
              if (!entry)
                continue;
              nlohmann::json body;
              std::string err;
              if (!parse_json_bounded(j.value("body", std::string()), body, err))
                continue;
              auto decoded = j.value("source", std::string()) == "kapso"
                               ? decode_kapso(body, j.value("eventHeader", std::string()))
                               : decode_meta(body);
              if (!decoded.ok)
                continue;
              job jb{j.value("id", std::string()), entry, {}};
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
                  return reply.error("unavailable", "storage unavailable during replay");
                // Back inside the directory: remove what was ingested, then answer.
                caf::anon_send(handle, admin_call{admin_call::op::finish_replay, "",
                                                  nlohmann::json(done_ids).dump(),
                                                  total - replayed, reply});
              });
            for (auto& jb : jobs)
              if (!jb.events.empty())
                self->send(jb.entry->actor, ingest_batch{std::move(jb.events), ack});
          });
        });
      return;
    }
    case op::finish_replay:
      return;
  }
}

// The second half of a replay: the ingested letters are removed.
void finish_replay(dir_actor* self, admin_call& call) {
  auto ids = nlohmann::json::parse(call.body, nullptr, false);
  redis_pipeline cmds{{"MULTI"}};
  redis_command zrem{"ZREM", keys::dead_letters};
  int64_t n = 0;
  for (auto& id : ids) {
    zrem.push_back(id.get<std::string>());
    cmds.push_back({"DEL", keys::dead_letter(id.get<std::string>())});
    ++n;
  }
  cmds.push_back(std::move(zrem));
  cmds.push_back({"EXEC"});
  auto reply = call.reply;
  auto remaining = call.limit;
  self->state.storage.run(self, std::move(cmds), [reply, n, remaining](redis_result& r) {
    if (!exec_committed(r))
      return reply.error("unavailable", "storage unavailable");
    reply.json(200, {{"replayed", n}, {"remaining", remaining}});
  });
}

void store_dead_letter(dir_actor* self, dead_letter& dl) {
  auto id = new_id("dl_");
  auto now = now_ms();
  nlohmann::json rec = {{"id", id},           {"phoneNumberId", dl.phone_number_id},
                        {"receivedAt", now},  {"source", dl.source},
                        {"eventHeader", dl.event_header}, {"body", dl.body}};
  redis_pipeline cmds{{"MULTI"},
                      {"SET", keys::dead_letter(id), rec.dump(-1, ' ', false,
                                                              nlohmann::json::error_handler_t::replace)},
                      {"ZADD", keys::dead_letters, std::to_string(now), id},
                      {"EXEC"}};
  auto ack = dl.ack;
  self->state.storage.run(self, std::move(cmds), [ack](redis_result& r) {
    bool stored = exec_committed(r);
    if (stored)
      metrics::webhook_items.inc(metrics::webhook_outcome::dead_lettered);
    ack->complete(stored);
  });
}

caf::behavior running(dir_actor* self) {
  return {
    [self](admin_call& call) {
      if (call.what == admin_call::op::finish_replay)
        finish_replay(self, call);
      else
        handle_admin(self, call);
    },
    [self](dead_letter& dl) { store_dead_letter(self, dl); },
    [self](storage_reply& r) { self->state.storage.on_reply(r); },
  };
}

void load(dir_actor* self) {
  self->state.storage.run(self, {{"SMEMBERS", keys::workspaces}}, [self](redis_result& r) {
    if (!r.ok() || r.replies.empty() || r.replies[0].kind != redis_value::type::array) {
      spdlog::warn("directory: cannot load workspaces ({}), retrying", r.error);
      self->delayed_send(self, std::chrono::milliseconds(500), retry_atom::value);
      return;
    }
    auto ids = r.replies[0].elements;
    auto done = [self] {
      publish(self);
      spdlog::info("directory: {} workspaces loaded", self->state.workspaces.size());
      self->set_default_handler(caf::print_and_drop);
      self->become(running(self));
    };
    if (ids.empty())
      return done();
    redis_command mget{"MGET"};
    for (auto& id : ids)
      mget.push_back(keys::ws_meta(id.str));
    self->state.storage.run(self, {std::move(mget)}, [self, done](redis_result& r) {
      if (!r.ok() || r.replies.empty() || r.replies[0].kind != redis_value::type::array) {
        self->delayed_send(self, std::chrono::milliseconds(500), retry_atom::value);
        return;
      }
      for (auto& v : r.replies[0].elements) {
        auto j = nlohmann::json::parse(v.str, nullptr, false);
        if (j.is_object())
          add_workspace(self, j.get<workspace>());
      }
      done();
    });
  });
}

caf::behavior directory_behavior(dir_actor* self, std::shared_ptr<redis_client> store,
                                 std::shared_ptr<registry> reg, workspace_options opts) {
  self->state.reg = std::move(reg);
  self->state.opts = opts;
  self->state.storage = storage_calls(std::move(store));
  self->set_default_handler(caf::skip);
  load(self);
  return {
    [self](storage_reply& r) { self->state.storage.on_reply(r); },
    [self](retry_atom) { load(self); },
  };
}

} // namespace

caf::actor spawn_directory_actor(caf::actor_system& sys, std::shared_ptr<redis_client> store,
                                 std::shared_ptr<registry> reg, workspace_options opts) {
  return sys.spawn(directory_behavior, std::move(store), std::move(reg), opts);
}

} // namespace inboxd
