#include "storage/redis_registry_store.hpp"

#include <exception>
#include <utility>

#include <nlohmann/json.hpp>

#include "storage/keys.hpp"
#include "storage/redis_client.hpp"
#include "storage/registry_scripts.hpp"
#include "storage/reply_json.hpp"

namespace inboxd {

namespace {

// Every command of a write answered without an error.
registry_write outcome(const redis_result& r) {
  registry_write w;
  if (!r.ok()) {
    w.error = r.error;
    return w;
  }
  for (auto& v : r.replies)
    if (v.is_error()) {
      w.error = v.str;
      return w;
    }
  w.ok = !r.replies.empty();
  if (!w.ok)
    w.error = "no reply";
  return w;
}

// The call failed, or a reply is not of `kind`: `error` says why.
bool bad_reply(const redis_result& r, size_t n, redis_value::type kind, std::string& error) {
  if (!r.ok()) {
    error = r.error;
    return true;
  }
  if (r.replies.size() != n) {
    error = "unexpected number of replies";
    return true;
  }
  for (auto& v : r.replies)
    if (v.kind != kind) {
      error = v.is_error() ? v.str : "unexpected reply type";
      return true;
    }
  return false;
}

template <class T>
void get_opt(const nlohmann::json& j, const char* key, T& out) {
  if (auto i = j.find(key); i != j.end() && !i->is_null())
    i->get_to(out);
}

// Stored form of a member: {"role","createdAt"}.
std::string member_json(const member& m) {
  return nlohmann::json{{"role", m.role}, {"createdAt", m.created_at}}.dump();
}

member read_member(const nlohmann::json& j) {
  member m;
  get_opt(j, "role", m.role);
  get_opt(j, "createdAt", m.created_at);
  return m;
}

// Stored form of a dead letter (the body is the sender's bytes: invalid UTF-8 is replaced).
std::string dead_letter_json(const dead_letter_record& d) {
  nlohmann::json j = {
      {"id", d.id},         {"phoneNumberId", d.phone_number_id}, {"receivedAt", d.received_at},
      {"source", d.source}, {"eventHeader", d.event_header},      {"body", d.body}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

dead_letter_record read_dead_letter(const nlohmann::json& j) {
  dead_letter_record d;
  get_opt(j, "id", d.id);
  get_opt(j, "phoneNumberId", d.phone_number_id);
  get_opt(j, "receivedAt", d.received_at);
  get_opt(j, "source", d.source);
  get_opt(j, "eventHeader", d.event_header);
  get_opt(j, "body", d.body);
  return d;
}

// Reads the JSON objects among `values` with `read`, into `out`; skips what is not an object.
// False (and `error` set) when an object cannot be read.
template <class T, class Read>
bool read_objects(const std::vector<redis_value>& values, Read read, std::vector<T>& out,
                  const char* what, std::string& error) {
  for (auto& v : values) {
    auto j = parse_object(v);
    if (!j)
      continue;
    try {
      out.push_back(read(*j));
    } catch (const std::exception& e) {
      error = std::string("unreadable ") + what + " record: " + e.what();
      return false;
    }
  }
  return true;
}

// A write of one command.
void write_one(const std::shared_ptr<redis_executor>& client, redis_command cmd,
               registry_store::write_done done) {
  client->exec({std::move(cmd)}, [done = std::move(done)](redis_result r) { done(outcome(r)); });
}

// A lease script's answer: {'mine', epoch} or {'held', epoch, node, url, pttl}.
lease_reply read_lease(const redis_result& r) {
  lease_reply out;
  if (!r.ok() || r.replies.size() != 1) {
    out.error = r.ok() ? "no reply" : r.error;
    return out;
  }
  auto& v = r.replies[0];
  auto& e = v.elements;
  auto str = [&](size_t i) { return i < e.size() ? e[i].str : std::string(); };
  if (v.kind != redis_value::type::array || e.empty() || (str(0) != "mine" && str(0) != "held")) {
    out.error = v.is_error() ? v.str : "unexpected lease reply";
    return out;
  }
  out.ok = true;
  out.mine = str(0) == "mine";
  try {
    out.epoch = std::stoull(str(1));
  } catch (const std::exception&) {
    out.ok = false;
    out.error = "unreadable lease epoch";
    return out;
  }
  if (!out.mine) {
    out.holder_node = str(2);
    out.holder_url = str(3);
    out.ttl_ms = e.size() > 4 ? e[4].integer : 0;
  }
  return out;
}

// A write's outcome for `done`.
std::function<void(redis_result)> written(registry_store::write_done done) {
  return [done = std::move(done)](redis_result r) { done(outcome(r)); };
}

// Moves the registry of the layout before 2026-12-03 (storage/keys.hpp, keys::legacy) to the
// current keys: workspaces first (copied, then their old keys deleted), then dead letters the
// same way. Each step can run again after a crash: copies overwrite themselves, deletes of
// keys already gone do nothing. `done` gets "" or an error.
void migrate_legacy(const std::shared_ptr<redis_executor>& client,
                    std::function<void(std::string)> done) {
  client->exec(
      {{"SMEMBERS", keys::legacy::workspaces},
       {"ZRANGE", keys::legacy::dead_letters, "0", "-1", "WITHSCORES"}},
      [client, done = std::move(done)](redis_result r) mutable {
        std::string error;
        if (bad_reply(r, 2, redis_value::type::array, error))
          return done(error);
        auto& ids = r.replies[0].elements;
        auto& letters = r.replies[1].elements; // id, score, id, score, ...
        if (ids.empty() && letters.empty())
          return done("");
        redis_pipeline reads;
        for (auto& id : ids)
          reads.push_back({"GET", keys::legacy::ws_meta(id.str)});
        for (size_t i = 0; i + 1 < letters.size(); i += 2)
          reads.push_back({"GET", keys::legacy::dead_letter(letters[i].str)});
        client->exec(std::move(reads), [client, ids = std::move(ids), letters = std::move(letters),
                                        done = std::move(done)](redis_result r2) mutable {
          if (!r2.ok())
            return done(r2.error);
          redis_pipeline copies, deletes{{"DEL", keys::legacy::workspaces},
                                         {"DEL", keys::legacy::ws_by_slug},
                                         {"DEL", keys::legacy::ws_by_pid},
                                         {"DEL", keys::legacy::dead_letters}};
          auto& m = migrate_workspace_script();
          for (size_t i = 0; i < ids.size(); ++i) {
            deletes.push_back({"DEL", keys::legacy::ws_meta(ids[i].str)});
            auto j = parse_object(r2.replies[i]);
            if (!j)
              continue; // not a record: nothing to keep
            auto text = [&](const char* k) {
              auto f = j->find(k);
              return f != j->end() && f->is_string() ? f->get<std::string>() : std::string();
            };
            copies.push_back({"EVAL", m.source, "3", keys::workspaces, keys::ws_by_slug,
                              keys::ws_by_pid, ids[i].str, r2.replies[i].str, text("slug"),
                              text("phoneNumberId")});
          }
          auto& d = store_dead_letter_script();
          for (size_t i = 0, k = ids.size(); i + 1 < letters.size(); i += 2, ++k) {
            auto& id = letters[i].str;
            deletes.push_back({"DEL", keys::legacy::dead_letter(id)});
            if (r2.replies[k].kind == redis_value::type::string)
              copies.push_back({"EVAL", d.source, "2", keys::dead_letter(id), keys::dead_letters,
                                r2.replies[k].str, letters[i + 1].str, id});
          }
          // The old keys go only once every copy is stored.
          auto finish = std::make_shared<std::function<void(std::string)>>(std::move(done));
          auto remove = [client, deletes = std::move(deletes), finish]() mutable {
            client->exec(std::move(deletes), [finish](redis_result r4) {
              auto w = outcome(r4);
              (*finish)(w.ok ? "" : w.error);
            });
          };
          if (copies.empty())
            return remove();
          client->exec(std::move(copies),
                       [remove = std::move(remove), finish](redis_result r3) mutable {
                         if (auto w = outcome(r3); !w.ok)
                           return (*finish)(w.error);
                         remove();
                       });
        });
      });
}

} // namespace

redis_registry_store::redis_registry_store(std::shared_ptr<redis_executor> client)
  : client_(std::move(client)) {}

void redis_registry_store::load_workspaces(std::function<void(workspaces_read)> done) {
  migrate_legacy(client_, [client = client_, done = std::move(done)](std::string error) mutable {
    if (!error.empty()) {
      workspaces_read out;
      out.error = "moving the registry to its current keys: " + error;
      return done(std::move(out));
    }
    client->exec({{"HGETALL", keys::workspaces}}, [done = std::move(done)](redis_result r) {
      workspaces_read out;
      if (bad_reply(r, 1, redis_value::type::array, out.error))
        return done(std::move(out));
      // HGETALL answers id, record, id, record, ...
      std::vector<redis_value> records;
      auto& all = r.replies[0].elements;
      for (size_t i = 1; i < all.size(); i += 2)
        records.push_back(std::move(all[i]));
      out.ok = read_objects(
          records, [](const nlohmann::json& j) { return j.get<workspace>(); }, out.workspaces,
          "workspace", out.error);
      done(std::move(out));
    });
  });
}

void redis_registry_store::save_workspace(workspace ws, std::optional<workspace> old,
                                          write_done done) {
  auto old_slug = old && old->slug != ws.slug ? old->slug : std::string();
  auto old_pid =
      old && old->phone_number_id != ws.phone_number_id ? old->phone_number_id : std::string();
  run_script(client_, save_workspace_script(),
             {keys::workspaces, keys::ws_by_slug, keys::ws_by_pid},
             {ws.id, nlohmann::json(ws).dump(), ws.slug, ws.phone_number_id, old_slug, old_pid},
             [done = std::move(done)](redis_result r) {
               auto w = outcome(r);
               if (w.ok && (r.replies[0].str == "slug" || r.replies[0].str == "pid")) {
                 w.ok = false;
                 w.conflict = r.replies[0].str;
                 w.error = w.conflict + " is another workspace's";
               }
               done(std::move(w));
             });
}

void redis_registry_store::store_dead_letter(dead_letter_record letter, write_done done) {
  run_script(client_, store_dead_letter_script(),
             {keys::dead_letter(letter.id), keys::dead_letters},
             {dead_letter_json(letter), std::to_string(letter.received_at), letter.id},
             written(std::move(done)));
}

void redis_registry_store::list_dead_letters(size_t limit,
                                             std::function<void(dead_letters_read)> done) {
  read_dead_letters(true, limit, std::move(done));
}

void redis_registry_store::oldest_dead_letters(size_t limit,
                                               std::function<void(dead_letters_read)> done) {
  read_dead_letters(false, limit, std::move(done));
}

void redis_registry_store::read_dead_letters(bool newest_first, size_t limit,
                                             std::function<void(dead_letters_read)> done) {
  redis_pipeline cmds{{"ZCARD", keys::dead_letters}};
  if (limit > 0)
    cmds.push_back({newest_first ? "ZREVRANGE" : "ZRANGE", keys::dead_letters, "0",
                    std::to_string(limit - 1)});
  client_->exec(std::move(cmds), [client = client_, limit, done = std::move(done)](redis_result r) {
    dead_letters_read out;
    if (!r.ok() || r.replies.size() != (limit > 0 ? 2u : 1u) ||
        r.replies[0].kind != redis_value::type::integer ||
        (limit > 0 && r.replies[1].kind != redis_value::type::array)) {
      out.error = !r.ok() ? r.error : "unexpected reply to a dead-letter read";
      return done(std::move(out));
    }
    out.total = r.replies[0].integer;
    if (limit == 0 || r.replies[1].elements.empty()) {
      out.ok = true;
      return done(std::move(out));
    }
    redis_command mget{"MGET"};
    for (auto& id : r.replies[1].elements)
      mget.push_back(keys::dead_letter(id.str));
    client->exec({std::move(mget)},
                 [out = std::move(out), done = std::move(done)](redis_result r2) mutable {
                   out.ok = !bad_reply(r2, 1, redis_value::type::array, out.error) &&
                            read_objects(r2.replies[0].elements, read_dead_letter, out.letters,
                                         "dead letter", out.error);
                   done(std::move(out));
                 });
  });
}

void redis_registry_store::delete_dead_letters(std::vector<std::string> ids, write_done done) {
  std::vector<std::string> letter_keys{keys::dead_letters};
  for (auto& id : ids)
    letter_keys.push_back(keys::dead_letter(id));
  run_script(client_, delete_dead_letters_script(), std::move(letter_keys), std::move(ids),
             written(std::move(done)));
}

void redis_registry_store::load_workspace_state(std::string workspace_id,
                                                std::function<void(workspace_records)> done) {
  redis_pipeline cmds{{"HGETALL", keys::api_keys(workspace_id)},
                      {"HGETALL", keys::contacts(workspace_id)},
                      {"HGETALL", keys::conversations(workspace_id)},
                      {"HGETALL", keys::members(workspace_id)}};
  client_->exec(std::move(cmds), [done = std::move(done)](redis_result r) {
    workspace_records out;
    if (bad_reply(r, 4, redis_value::type::array, out.error))
      return done(std::move(out));
    // HGETALL answers field, value, field, value, ...
    auto& keys_ = r.replies[0].elements;
    for (size_t i = 0; i + 1 < keys_.size(); i += 2)
      out.api_keys[keys_[i].str] = keys_[i + 1].str;
    auto& mem = r.replies[3].elements;
    for (size_t i = 0; i + 1 < mem.size(); i += 2) {
      auto j = parse_object(mem[i + 1]);
      if (!j)
        continue;
      try {
        out.members[mem[i].str] = read_member(*j);
      } catch (const std::exception& e) {
        out.error = std::string("unreadable member record: ") + e.what();
        return done(std::move(out));
      }
    }
    // Records are stored under their ids (hash fields): the field names a record without one.
    auto read_records = [&](size_t i, auto read, auto& into, const char* what) {
      auto& all = r.replies[i].elements;
      for (size_t k = 0; k + 1 < all.size(); k += 2) {
        auto j = parse_object(all[k + 1]);
        if (!j)
          continue;
        try {
          into.push_back(read(*j, all[k].str));
        } catch (const std::exception& e) {
          out.error = std::string("unreadable ") + what + " record: " + e.what();
          return false;
        }
      }
      return true;
    };
    out.ok = read_records(1, contact_record, out.contacts, "contact") &&
             read_records(2, conversation_record, out.conversations, "conversation");
    done(std::move(out));
  });
}

void redis_registry_store::put_member(std::string workspace_id, std::string user_id, member m,
                                      write_done done) {
  write_one(client_, {"HSET", keys::members(workspace_id), std::move(user_id), member_json(m)},
            std::move(done));
}

void redis_registry_store::delete_member(std::string workspace_id, std::string user_id,
                                         write_done done) {
  write_one(client_, {"HDEL", keys::members(workspace_id), std::move(user_id)}, std::move(done));
}

void redis_registry_store::put_api_key(std::string workspace_id, std::string key_id,
                                       std::string key_hash, write_done done) {
  write_one(client_, {"HSET", keys::api_keys(workspace_id), std::move(key_id), std::move(key_hash)},
            std::move(done));
}

void redis_registry_store::delete_api_key(std::string workspace_id, std::string key_id,
                                          write_done done) {
  write_one(client_, {"HDEL", keys::api_keys(workspace_id), std::move(key_id)}, std::move(done));
}

void redis_registry_store::acquire_lease(std::string workspace_id, lease_claim me,
                                         lease_done done) {
  run_script(client_, acquire_lease_script(),
             {keys::owner(workspace_id), keys::epoch(workspace_id)},
             {me.node, me.url, std::to_string(me.ttl_ms)},
             [done = std::move(done)](redis_result r) { done(read_lease(r)); });
}

void redis_registry_store::renew_lease(std::string workspace_id, lease_claim me, uint64_t epoch,
                                       lease_done done) {
  run_script(client_, renew_lease_script(), {keys::owner(workspace_id), keys::epoch(workspace_id)},
             {me.node, me.url, std::to_string(me.ttl_ms), std::to_string(epoch)},
             [done = std::move(done)](redis_result r) { done(read_lease(r)); });
}

void redis_registry_store::hand_over_lease(std::string workspace_id, lease_claim me, uint64_t epoch,
                                           lease_claim successor, lease_done done) {
  run_script(client_, hand_over_lease_script(),
             {keys::owner(workspace_id), keys::epoch(workspace_id)},
             {me.node, me.url, std::to_string(me.ttl_ms), std::to_string(epoch), successor.node,
              successor.url},
             [done = std::move(done)](redis_result r) { done(read_lease(r)); });
}

void redis_registry_store::release_lease(std::string workspace_id, lease_claim me, uint64_t epoch,
                                         lease_done done) {
  run_script(client_, release_lease_script(),
             {keys::owner(workspace_id), keys::epoch(workspace_id)},
             {me.node, me.url, std::to_string(epoch)},
             [done = std::move(done)](redis_result r) { done(read_lease(r)); });
}

} // namespace inboxd
