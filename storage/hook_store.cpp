#include "storage/hook_store.hpp"

#include <algorithm>
#include <exception>
#include <tuple>
#include <utility>

#include <nlohmann/json.hpp>

#include "messages/message_record.hpp"
#include "storage/event_codes.hpp"
#include "storage/keys.hpp"
#include "storage/lua_script.hpp"
#include "storage/redis_client.hpp"

namespace inboxd {

namespace {

// Every script: KEYS[1] = {ws:<id>}:epoch (the workspace's slot), ARGV[1] = the key prefix
// {ws:<id>}, ARGV[2] = the webhook id; the keys below share the tag.

// Save: ARGV[3] = webhook JSON, ARGV[4] = subscription codes.
const lua_script save_script{R"LUA(
local p, h = ARGV[1], ARGV[2]
redis.call('HSET', p .. ':wh', h, ARGV[3])
redis.call('HSET', p .. ':whsub', h, ARGV[4])
return 'ok'
)LUA"};

// Delete: the webhook, its subscription and every key of its deliveries; 'missing' if unknown.
// The bot ('bot') is no webhook record: its deliveries are queued by the commit script directly
// (op b) while the workspace has a bot, and deleting it drops them.
const lua_script delete_script{R"LUA(
local p, h = ARGV[1], ARGV[2]
if redis.call('HDEL', p .. ':wh', h) == 0 and h ~= 'bot' then
  return 'missing'
end
redis.call('HDEL', p .. ':whsub', h)
redis.call('DEL', p .. ':wq:' .. h, p .. ':wl:' .. h, p .. ':wr:' .. h, p .. ':wok:' .. h,
           p .. ':wf:' .. h)
return 'ok'
)LUA"};

// Step: ARGV[3] = epoch, ARGV[4] = now, ARGV[5] = lease end, ARGV[6] = deliveries to claim,
// ARGV[7] = succeeded to keep, ARGV[8] = failed to keep, ARGV[9] = settled count, then per
// settled delivery: outcome (s|r|f), member, due, event time, log JSON.
// Returns {'stale'}, {'gone'} or {'ok', depth, oldest, next due, member, log, r1, r2, ...} with
// r1, r2 the records the member names (message; or conversation and contact), '' when gone.
const lua_script step_script{R"LUA(
local stored = redis.call('GET', KEYS[1])
if stored and stored ~= ARGV[3] then
  return {'stale'}
end
local p, h = ARGV[1], ARGV[2]
if h ~= 'bot' and redis.call('HEXISTS', p .. ':whsub', h) == 0 then
  return {'gone'}
end
local q, log, retrying = p .. ':wq:' .. h, p .. ':wl:' .. h, p .. ':wr:' .. h
local now = ARGV[4]
local function finish(z, eid, keep)
  redis.call('ZADD', z, now, eid)
  local extra = redis.call('ZCARD', z) - keep
  if extra > 0 then
    local old = redis.call('ZRANGE', z, 0, extra - 1)
    redis.call('ZREMRANGEBYRANK', z, 0, extra - 1)
    redis.call('HDEL', log, unpack(old))
  end
end
local i = 10
for s = 1, tonumber(ARGV[9]) do
  local what, member = ARGV[i], ARGV[i + 1]
  if redis.call('ZSCORE', q, member) then
    local eid = string.match(member, '^(%S+)')
    redis.call('HSET', log, eid, ARGV[i + 4])
    if what == 'r' then
      redis.call('ZADD', q, ARGV[i + 2], member)
      redis.call('ZADD', retrying, ARGV[i + 3], eid)
    else
      redis.call('ZREM', q, member)
      redis.call('ZREM', retrying, eid)
      if what == 's' then
        finish(p .. ':wok:' .. h, eid, tonumber(ARGV[7]))
      else
        finish(p .. ':wf:' .. h, eid, tonumber(ARGV[8]))
      end
    end
  end
  i = i + 5
end
local out = {'ok', 0, 0, 0}
local n = tonumber(ARGV[6])
if n > 0 then
  local due = redis.call('ZRANGEBYSCORE', q, '-inf', now, 'LIMIT', 0, n)
  for _, member in ipairs(due) do
    redis.call('ZADD', q, ARGV[5], member)
    local eid, a, b = string.match(member, '^(%S+) %S+ (%S+) ?(%S*)$')
    redis.call('ZADD', retrying, 'NX', string.match(eid, '^(%d+)'), eid)
    out[#out + 1] = member
    out[#out + 1] = redis.call('HGET', log, eid) or ''
    if b == '' then
      out[#out + 1] = redis.call('GET', p .. ':m:' .. a) or ''
      out[#out + 1] = ''
    else
      out[#out + 1] = redis.call('HGET', p .. ':convs', a) or ''
      out[#out + 1] = redis.call('HGET', p .. ':contacts', b) or ''
    end
  end
end
out[2] = redis.call('ZCARD', q)
local first = redis.call('ZRANGE', q, 0, 0, 'WITHSCORES')
local oldest = redis.call('ZRANGE', retrying, 0, 0, 'WITHSCORES')
if first[2] then
  out[4] = first[2]
  out[3] = first[2]
end
if oldest[2] and (out[3] == 0 or tonumber(oldest[2]) < tonumber(out[3])) then
  out[3] = oldest[2]
end
return out
)LUA"};

// List: ARGV[3] = pending|succeeded|failed, ARGV[4] = limit. Returns {member, eid, log, score}
// per delivery ('' for what is unknown).
const lua_script list_script{R"LUA(
local p, h = ARGV[1], ARGV[2]
local log = p .. ':wl:' .. h
local n = tonumber(ARGV[4])
local out = {}
if ARGV[3] == 'pending' then
  local rows = redis.call('ZRANGE', p .. ':wq:' .. h, 0, n - 1, 'WITHSCORES')
  for i = 1, #rows, 2 do
    local eid = string.match(rows[i], '^(%S+)')
    out[#out + 1] = rows[i]
    out[#out + 1] = eid
    out[#out + 1] = redis.call('HGET', log, eid) or ''
    out[#out + 1] = rows[i + 1]
  end
else
  local z = p .. (ARGV[3] == 'succeeded' and ':wok:' or ':wf:') .. h
  local rows = redis.call('ZREVRANGE', z, 0, n - 1, 'WITHSCORES')
  for i = 1, #rows, 2 do
    out[#out + 1] = ''
    out[#out + 1] = rows[i]
    out[#out + 1] = redis.call('HGET', log, rows[i]) or ''
    out[#out + 1] = rows[i + 1]
  end
end
return out
)LUA"};

// Redeliver: ARGV[3] = epoch, ARGV[4] = event id, ARGV[5] = now; the member comes from the
// delivery's log record. Returns {'stale'}, {'gone'}, {'missing'} (never attempted, or its log
// was trimmed) or {'ok', member, eid, log, now}.
const lua_script redeliver_script{R"LUA(
local stored = redis.call('GET', KEYS[1])
if stored and stored ~= ARGV[3] then
  return {'stale'}
end
local p, h, eid = ARGV[1], ARGV[2], ARGV[4]
if h ~= 'bot' and redis.call('HEXISTS', p .. ':whsub', h) == 0 then
  return {'gone'}
end
local log = redis.call('HGET', p .. ':wl:' .. h, eid)
if not log then
  return {'missing'}
end
local ok, record = pcall(cjson.decode, log)
if not ok or type(record) ~= 'table' or type(record.m) ~= 'string' then
  return {'missing'}
end
redis.call('ZREM', p .. ':wok:' .. h, eid)
redis.call('ZREM', p .. ':wf:' .. h, eid)
redis.call('ZADD', p .. ':wq:' .. h, ARGV[5], record.m)
redis.call('ZADD', p .. ':wr:' .. h, string.match(eid, '^(%d+)'), eid)
return {'ok', record.m, eid, log, ARGV[5]}
)LUA"};

std::vector<std::string> script_keys(const std::string& ws) {
  return {keys::epoch(ws)};
}

std::string hook_json(const hook_record& h) {
  nlohmann::json j = {{"id", h.id},
                      {"url", h.url},
                      {"secret", h.secret},
                      {"events", h.events},
                      {"createdAt", h.created_at}};
  if (h.has_description)
    j["description"] = h.description;
  return j.dump();
}

// The first reply's status word ("ok", "stale", ...) of a script answering an array or a string.
std::string status_of(const redis_result& r, std::string& error) {
  if (!r.ok()) {
    error = r.error;
    return {};
  }
  if (r.replies.size() != 1) {
    error = "no reply";
    return {};
  }
  auto& v = r.replies[0];
  if (v.is_error()) {
    error = v.str;
    return {};
  }
  if (v.kind == redis_value::type::array)
    return v.elements.empty() ? std::string() : v.elements[0].str;
  return v.str;
}

std::function<void(redis_result)> written(std::function<void(hook_write)> done) {
  return [done = std::move(done)](redis_result r) {
    hook_write w;
    auto s = status_of(r, w.error);
    w.ok = s == "ok";
    w.stale = s == "stale";
    w.missing = s == "missing" || s == "gone";
    if (!w.ok && w.error.empty() && !w.stale && !w.missing)
      w.error = "unexpected reply";
    done(std::move(w));
  };
}

int64_t to_ms(const redis_value& v) {
  if (v.kind == redis_value::type::integer)
    return v.integer;
  try {
    return static_cast<int64_t>(std::stod(v.str));
  } catch (const std::exception&) {
    return 0;
  }
}

// The event a member names, with the records read for it.
stream_entry event_of(const std::string& member, std::string r1, std::string r2) {
  stream_entry e;
  e.names_records = true;
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= member.size()) {
    auto sp = member.find(' ', start);
    parts.push_back(member.substr(start, sp == std::string::npos ? sp : sp - start));
    if (sp == std::string::npos)
      break;
    start = sp + 1;
  }
  if (parts.size() < 3)
    return e;
  e.id = parts[0];
  e.type = event_type(parts[1]);
  if (parts.size() == 3) {
    e.message_id = parts[2];
    if (!r1.empty())
      e.message = message_api(e.message_id, r1);
  } else {
    e.conversation_id = parts[2];
    e.contact_id = parts[3];
    e.conversation = std::move(r1);
    e.contact = std::move(r2);
  }
  return e;
}

} // namespace

std::string subscription_codes(const std::vector<std::string>& events) {
  std::string out = " ";
  for (auto& t : events) {
    auto code = event_code(t);
    if (code != t) {
      out += code;
      out += ' ';
    }
  }
  return out;
}

hook_store::hook_store(std::shared_ptr<redis_executor> client) : client_(std::move(client)) {}

void hook_store::load_hooks(std::string workspace_id, std::function<void(hooks_read)> done) {
  client_->exec({{"HGETALL", keys::hooks(workspace_id)}}, [done = std::move(done)](redis_result r) {
    hooks_read out;
    if (!r.ok() || r.replies.size() != 1 || r.replies[0].kind != redis_value::type::array) {
      out.error = !r.ok() ? r.error : "unexpected reply to a webhook read";
      return done(std::move(out));
    }
    auto& e = r.replies[0].elements;
    for (size_t i = 0; i + 1 < e.size(); i += 2) {
      auto j = nlohmann::json::parse(e[i + 1].str, nullptr, false);
      if (!j.is_object())
        continue;
      try {
        hook_record h;
        h.id = e[i].str;
        h.url = j.at("url").get<std::string>();
        h.secret = j.at("secret").get<std::string>();
        h.events = j.at("events").get<std::vector<std::string>>();
        h.created_at = j.value("createdAt", int64_t{0});
        if (auto d = j.find("description"); d != j.end() && d->is_string()) {
          h.description = d->get<std::string>();
          h.has_description = true;
        }
        out.hooks.push_back(std::move(h));
      } catch (const std::exception& ex) {
        out.error = std::string("unreadable webhook record: ") + ex.what();
        return done(std::move(out));
      }
    }
    std::sort(out.hooks.begin(), out.hooks.end(), [](auto& a, auto& b) {
      return std::tie(a.created_at, a.id) < std::tie(b.created_at, b.id);
    });
    out.ok = true;
    done(std::move(out));
  });
}

void hook_store::save_hook(std::string workspace_id, hook_record hook,
                           std::function<void(hook_write)> done) {
  run_script(client_, save_script, script_keys(workspace_id),
             {keys::tag(workspace_id), hook.id, hook_json(hook), subscription_codes(hook.events)},
             written(std::move(done)));
}

void hook_store::delete_hook(std::string workspace_id, std::string hook_id,
                             std::function<void(hook_write)> done) {
  run_script(client_, delete_script, script_keys(workspace_id),
             {keys::tag(workspace_id), std::move(hook_id)}, written(std::move(done)));
}

void hook_store::step(std::string workspace_id, std::string hook_id, uint64_t epoch,
                      std::vector<settled_delivery> settled, size_t claim, int64_t now_ms,
                      int64_t lease_until, std::function<void(hook_step)> done) {
  std::vector<std::string> args{keys::tag(workspace_id),       std::move(hook_id),
                                std::to_string(epoch),         std::to_string(now_ms),
                                std::to_string(lease_until),   std::to_string(claim),
                                std::to_string(kKeepFinished), std::to_string(kKeepFinished * 10),
                                std::to_string(settled.size())};
  using outcome = settled_delivery::outcome;
  for (auto& s : settled) {
    args.push_back(s.what == outcome::succeeded ? "s" : s.what == outcome::failed ? "f" : "r");
    args.push_back(std::move(s.member));
    args.push_back(std::to_string(s.due_ms));
    args.push_back(std::to_string(s.event_ms));
    args.push_back(std::move(s.log));
  }
  run_script(client_, step_script, script_keys(workspace_id), std::move(args),
             [done = std::move(done)](redis_result r) {
               hook_step out;
               auto s = status_of(r, out.error);
               out.stale = s == "stale";
               out.gone = s == "gone";
               if (s != "ok") {
                 if (out.error.empty() && !out.stale && !out.gone)
                   out.error = "unexpected reply to a delivery step";
                 return done(std::move(out));
               }
               auto& e = r.replies[0].elements;
               if (e.size() < 4 || (e.size() - 4) % 4 != 0) {
                 out.error = "unexpected reply to a delivery step";
                 return done(std::move(out));
               }
               out.depth = to_ms(e[1]);
               out.oldest_ms = to_ms(e[2]);
               out.next_due_ms = to_ms(e[3]);
               for (size_t i = 4; i + 3 < e.size(); i += 4) {
                 claimed_delivery c;
                 c.member = e[i].str;
                 c.log = e[i + 1].str;
                 c.event = event_of(c.member, std::move(e[i + 2].str), std::move(e[i + 3].str));
                 out.claimed.push_back(std::move(c));
               }
               out.ok = true;
               done(std::move(out));
             });
}

namespace {

std::function<void(redis_result)> rows_of(std::function<void(delivery_rows)> done, bool status) {
  return [done = std::move(done), status](redis_result r) {
    delivery_rows out;
    if (!r.ok() || r.replies.size() != 1 || r.replies[0].kind != redis_value::type::array) {
      out.error = !r.ok() ? r.error
                  : r.replies.size() == 1 && r.replies[0].is_error()
                      ? r.replies[0].str
                      : "unexpected reply to a delivery read";
      return done(std::move(out));
    }
    auto& e = r.replies[0].elements;
    size_t i = 0;
    if (status) {
      auto s = e.empty() ? std::string() : e[0].str;
      if (s != "ok") {
        out.error = s; // stale, gone, missing
        return done(std::move(out));
      }
      i = 1;
    }
    for (; i + 3 < e.size(); i += 4)
      out.rows.push_back({e[i].str, e[i + 1].str, e[i + 2].str, to_ms(e[i + 3])});
    out.ok = true;
    done(std::move(out));
  };
}

} // namespace

void hook_store::list(std::string workspace_id, std::string hook_id, std::string state,
                      size_t limit, std::function<void(delivery_rows)> done) {
  run_script(client_, list_script, script_keys(workspace_id),
             {keys::tag(workspace_id), std::move(hook_id), std::move(state), std::to_string(limit)},
             rows_of(std::move(done), false));
}

void hook_store::redeliver(std::string workspace_id, std::string hook_id, uint64_t epoch,
                           std::string event_id, int64_t now_ms,
                           std::function<void(delivery_rows)> done) {
  run_script(client_, redeliver_script, script_keys(workspace_id),
             {keys::tag(workspace_id), std::move(hook_id), std::to_string(epoch),
              std::move(event_id), std::to_string(now_ms)},
             rows_of(std::move(done), true));
}

} // namespace inboxd
