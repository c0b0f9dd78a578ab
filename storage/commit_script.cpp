#include "storage/commit_script.hpp"


namespace inboxd {

namespace {

// KEYS[1] = {ws:<id>}:epoch (declares the workspace's slot; every key below shares its tag).
// ARGV[1] = the committer's epoch, ARGV[2] = the key prefix {ws:<id>}, ARGV[3] = events to keep
// (XADD MAXLEN ~), ARGV[4] = TTL of parked events (s), ARGV[5] = TTL of client message ids (s),
// ARGV[6] = number of change sets; then per change set its token count and tokens: an op letter
// followed by its fixed arguments.
//   n id          precondition: message id is not stored yet (dedupe mark)
//   u id          precondition: as n, and no alias and nothing parked for message id
//   q cmid id     precondition: client message id unused; write: SET <p>:cmid:<cmid> id EX ttl
//   m id json     SET  <p>:m:<id>
//   t conv id s   ZADD <p>:tl:<conv> s id
//   r conv id     DEL  <p>:m:<id>, ZREM <p>:tl:<conv> id
//   x id          DEL  <p>:park:<id>
//   p id json     RPUSH <p>:park:<id>, EXPIRE ttl
//   c id json     HSET <p>:convs
//   k id json     HSET <p>:contacts
//   a id target   SET  <p>:alias:<id> target
//   o q id json due  SET <p>:<e>:<id>, ZADD <p>:<z> due id, for the job queue q: `ob` the
//                    outbox (z = outbox, e = ob), `md` media downloads (z = media, e = md)
//   s q id json due  as o, only while id is in <p>:<z> (a reschedule)
//   z q id           ZREM <p>:<z> id, DEL <p>:<e>:<id>
//   e type c k m  XADD <p>:events MAXLEN ~ keep * type .. m <m> (a message event, m not empty)
//                 or * type .. c <c> k <k> (a conversation event): events name records; then,
//                 for each outgoing webhook in <p>:whsub (id -> " code code ... ") that
//                 subscribes to the type, the delivery "<event id> <type> <m>" (or
//                 "<event id> <type> <c> <k>") joins its queue <p>:wq:<id>, due at the event's
//                 time (one ZADD per webhook and script call; storage/hook_store.hpp works them)
//   b type c k m  as e, and the delivery also joins the bot's queue <p>:wq:bot (an inbound
//                 message of an `ai` conversation of a workspace with a bot)
//   f sha         HINCRBY <p>:mref sha 1 (a message now holds that stored media file)
// An erasure (DELETE /api/contacts/{id}) adds, besides r, x and z for what the contact had:
//   g id          SET <p>:gone:<id> 1 EX ttl: n and u refuse the id as a duplicate from now on
//   A id          DEL <p>:alias:<id>
//   C cmid        DEL <p>:cmid:<cmid>
//   F sha         HINCRBY <p>:mref sha -1; at 0 the hash leaves mref and joins <p>:mgc (its file
//                 is removed from the media store, actors/media_actor.hpp)
//   D conv ct     HDEL <p>:convs conv, HDEL <p>:contacts ct, DEL <p>:tl:<conv>
//   S ids         (ids separated by spaces) XDEL the events naming any of them; for each webhook
//                 (<p>:whsub and the bot) ZREM the deliveries naming them from its queue, and the
//                 delivery log entries (wl, wr, wok, wf) of those
// Returns {"ok", r1, r2, ...} with one array per change set: empty when applied, otherwise its
// failed preconditions as "d:<id>" (duplicate), "l:<id>" (linked) or "c:<message id>" (the
// client message id is taken, by that message); or {"stale", epoch} when the workspace's epoch
// key holds another epoch (nothing written).
// Preconditions are checked for a change set before any of its writes; our own key types never
// make a write fail, so a change set is applied whole or not at all.
constexpr const char* kScript = R"LUA(
local stored = redis.call('GET', KEYS[1])
if stored and stored ~= ARGV[1] then
  return {'stale', stored}
end
local p = ARGV[2]
local keep = ARGV[3]
local ttl = ARGV[4]
local cmid_ttl = ARGV[5]
local sets = tonumber(ARGV[6])
local arity = {n=1, u=1, q=2, m=2, t=3, r=2, x=1, p=2, c=2, k=2, a=2, o=4, s=4, z=2, e=4, b=4,
               f=1, g=1, A=1, C=1, F=1, D=2, S=1}
local queues = {ob=':outbox', md=':media'}
local out = {'ok'}
local hooks = nil -- <p>:whsub as {id, codes, id, codes, ...}, read at the first event
local fan = {}    -- webhook id -> {score, member, score, member, ...}
local function queue(hook, ms, member)
  local q = fan[hook]
  if not q then
    q = {}
    fan[hook] = q
  end
  q[#q + 1] = ms
  q[#q + 1] = member
end
local function deliver(id, code, refs, bot)
  if hooks == nil then
    hooks = redis.call('HGETALL', p .. ':whsub')
  end
  if #hooks == 0 and not bot then
    return
  end
  local ms = string.match(id, '^(%d+)')
  local member = id .. ' ' .. code .. ' ' .. refs
  if bot then
    queue('bot', ms, member)
  end
  local pattern = ' ' .. code .. ' '
  for h = 1, #hooks, 2 do
    if string.find(hooks[h + 1], pattern, 1, true) then
      queue(hooks[h], ms, member)
    end
  end
end
local function scrub(list)
  local ids = {}
  for id in string.gmatch(list, '%S+') do
    ids[id] = true
  end
  local events = p .. ':events'
  local drop = {}
  for _, e in ipairs(redis.call('XRANGE', events, '-', '+')) do
    local f = e[2]
    for k = 1, #f - 1, 2 do
      if (f[k] == 'm' or f[k] == 'c' or f[k] == 'k') and ids[f[k + 1]] then
        drop[#drop + 1] = e[1]
        break
      end
    end
  end
  for from = 1, #drop, 1000 do
    redis.call('XDEL', events, unpack(drop, from, math.min(from + 999, #drop)))
  end
  local function names(member) -- "<event id> <type> <record ids>"
    local n = 0
    for w in string.gmatch(member, '%S+') do
      n = n + 1
      if n > 2 and ids[w] then
        return true
      end
    end
    return false
  end
  local hooks = redis.call('HKEYS', p .. ':whsub')
  hooks[#hooks + 1] = 'bot'
  for _, h in ipairs(hooks) do
    local q, log = p .. ':wq:' .. h, p .. ':wl:' .. h
    for _, member in ipairs(redis.call('ZRANGE', q, 0, -1)) do
      if names(member) then
        redis.call('ZREM', q, member)
      end
    end
    local all = redis.call('HGETALL', log)
    for k = 1, #all - 1, 2 do
      local ok, rec = pcall(cjson.decode, all[k + 1])
      if ok and type(rec) == 'table' and type(rec.m) == 'string' and names(rec.m) then
        redis.call('HDEL', log, all[k])
        for _, z in ipairs({':wr:', ':wok:', ':wf:'}) do
          redis.call('ZREM', p .. z .. h, all[k])
        end
      end
    end
  end
end
local i = 7
for s = 1, sets do
  local count = tonumber(ARGV[i])
  local first = i + 1
  local last = i + count
  local failed = {}
  local j = first
  while j <= last do
    local op = ARGV[j]
    if op == 'n' then
      if redis.call('EXISTS', p .. ':m:' .. ARGV[j + 1], p .. ':gone:' .. ARGV[j + 1]) > 0 then
        failed[#failed + 1] = 'd:' .. ARGV[j + 1]
      end
    elseif op == 'u' then
      local id = ARGV[j + 1]
      local m = p .. ':m:' .. id
      local gone = p .. ':gone:' .. id
      if redis.call('EXISTS', m, p .. ':alias:' .. id, p .. ':park:' .. id, gone) > 0 then
        if redis.call('EXISTS', m, gone) > 0 then
          failed[#failed + 1] = 'd:' .. id
        else
          failed[#failed + 1] = 'l:' .. id
        end
      end
    elseif op == 'q' then
      local taken = redis.call('GET', p .. ':cmid:' .. ARGV[j + 1])
      if taken then
        failed[#failed + 1] = 'c:' .. taken
      end
    end
    j = j + 1 + arity[op]
  end
  if #failed == 0 then
    j = first
    while j <= last do
      local op = ARGV[j]
      local a, b, c = ARGV[j + 1], ARGV[j + 2], ARGV[j + 3]
      if op == 'm' then
        redis.call('SET', p .. ':m:' .. a, b)
      elseif op == 't' then
        redis.call('ZADD', p .. ':tl:' .. a, c, b)
      elseif op == 'q' then
        redis.call('SET', p .. ':cmid:' .. a, b, 'EX', cmid_ttl)
      elseif op == 'r' then
        redis.call('DEL', p .. ':m:' .. b)
        redis.call('ZREM', p .. ':tl:' .. a, b)
      elseif op == 'x' then
        redis.call('DEL', p .. ':park:' .. a)
      elseif op == 'p' then
        redis.call('RPUSH', p .. ':park:' .. a, b)
        redis.call('EXPIRE', p .. ':park:' .. a, ttl)
      elseif op == 'c' then
        redis.call('HSET', p .. ':convs', a, b)
      elseif op == 'k' then
        redis.call('HSET', p .. ':contacts', a, b)
      elseif op == 'a' then
        redis.call('SET', p .. ':alias:' .. a, b)
      elseif op == 'o' or op == 's' then
        local z = p .. queues[a]
        if op == 'o' or redis.call('ZSCORE', z, b) then
          redis.call('SET', p .. ':' .. a .. ':' .. b, c)
          redis.call('ZADD', z, ARGV[j + 4], b)
        end
      elseif op == 'z' then
        redis.call('ZREM', p .. queues[a], b)
        redis.call('DEL', p .. ':' .. a .. ':' .. b)
      elseif op == 'f' then
        redis.call('HINCRBY', p .. ':mref', a, 1)
      elseif op == 'g' then
        redis.call('SET', p .. ':gone:' .. a, '1', 'EX', ttl)
      elseif op == 'A' then
        redis.call('DEL', p .. ':alias:' .. a)
      elseif op == 'C' then
        redis.call('DEL', p .. ':cmid:' .. a)
      elseif op == 'F' then
        if redis.call('HINCRBY', p .. ':mref', a, -1) <= 0 then
          redis.call('HDEL', p .. ':mref', a)
          redis.call('SADD', p .. ':mgc', a)
        end
      elseif op == 'D' then
        redis.call('HDEL', p .. ':convs', a)
        redis.call('HDEL', p .. ':contacts', b)
        redis.call('DEL', p .. ':tl:' .. a)
      elseif op == 'S' then
        scrub(a)
      elseif op == 'e' or op == 'b' then
        local m = ARGV[j + 4]
        if m ~= '' then
          deliver(redis.call('XADD', p .. ':events', 'MAXLEN', '~', keep, '*', 'type', a, 'm', m),
                  a, m, op == 'b')
        else
          deliver(redis.call('XADD', p .. ':events', 'MAXLEN', '~', keep, '*', 'type', a, 'c', b,
                             'k', c), a, b .. ' ' .. c, op == 'b')
        end
      end
      j = j + 1 + arity[op]
    end
  end
  out[#out + 1] = failed
  i = last + 1
end
for id, q in pairs(fan) do
  local key = p .. ':wq:' .. id
  for from = 1, #q, 4000 do
    redis.call('ZADD', key, unpack(q, from, math.min(from + 3999, #q)))
  end
end
return out
)LUA";

} // namespace

const lua_script& commit_script() {
  static const lua_script s{kScript};
  return s;
}

} // namespace inboxd
