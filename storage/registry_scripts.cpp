#include "storage/registry_scripts.hpp"

namespace inboxd {

namespace {

// KEYS[1] = {inboxd}:ws, KEYS[2] = {inboxd}:ws:slug, KEYS[3] = {inboxd}:ws:pid (one slot).
// ARGV[1] = workspace id, ARGV[2] = workspace JSON, ARGV[3] = slug, ARGV[4] = phone_number_id,
// ARGV[5] / ARGV[6] = the slug / phone_number_id the workspace had before when it changed, else
// '' (both are never empty: the API requires 1 to 64 characters). Returns 'ok', or 'slug' /
// 'pid' when another workspace holds that slug / number (nothing written): the uniqueness check
// of every node, in Redis (a compare-and-set).
constexpr const char* kSaveWorkspace = R"LUA(
local slug = redis.call('HGET', KEYS[2], ARGV[3])
if slug and slug ~= ARGV[1] then
  return 'slug'
end
local pid = redis.call('HGET', KEYS[3], ARGV[4])
if pid and pid ~= ARGV[1] then
  return 'pid'
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[5] ~= '' and redis.call('HGET', KEYS[2], ARGV[5]) == ARGV[1] then
  redis.call('HDEL', KEYS[2], ARGV[5])
end
if ARGV[6] ~= '' and redis.call('HGET', KEYS[3], ARGV[6]) == ARGV[1] then
  redis.call('HDEL', KEYS[3], ARGV[6])
end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[4], ARGV[1])
return 'ok'
)LUA";

// Keys as kSaveWorkspace; ARGV[1] = id, ARGV[2] = JSON, ARGV[3] = slug, ARGV[4] = number, as
// read from the layout before 2026-12-03 (already unique there). A workspace copied before (a
// migration cut short) is overwritten with the same record; an index entry already held is kept.
constexpr const char* kMigrateWorkspace = R"LUA(
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] ~= '' then
  redis.call('HSETNX', KEYS[2], ARGV[3], ARGV[1])
end
if ARGV[4] ~= '' then
  redis.call('HSETNX', KEYS[3], ARGV[4], ARGV[1])
end
return 'ok'
)LUA";

// KEYS[1] = {inboxd}:deadletter:<id>, KEYS[2] = {inboxd}:deadletters. ARGV[1] = record JSON,
// ARGV[2] = receivedAt (ms, the score), ARGV[3] = id.
constexpr const char* kStoreDeadLetter = R"LUA(
redis.call('SET', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
return 1
)LUA";

// KEYS[1] = {inboxd}:deadletters, KEYS[1 + i] = {inboxd}:deadletter:<ARGV[i]> for each id ARGV[i].
constexpr const char* kDeleteDeadLetters = R"LUA(
for i = 1, #ARGV do
  redis.call('DEL', KEYS[1 + i])
  redis.call('ZREM', KEYS[1], ARGV[i])
end
return 1
)LUA";

// Leases (DESIGN.md "Scale-out"). KEYS[1] = {ws:<id>}:owner ("<epoch>|<node>|<url>", with a TTL),
// KEYS[2] = {ws:<id>}:epoch (only grows). Each returns {'mine', epoch} or {'held', epoch, node,
// url, pttl} (another node holds it), or for a renew that found the lease gone to a newer epoch
// whose holder's lease ran out, {'held', epoch, '', '', 0}.

// ARGV[1] = node, ARGV[2] = url, ARGV[3] = TTL ms. Taken when nobody holds it or this node's
// earlier incarnation does (a restart): always under a new epoch, which fences every writer of
// the old one.
constexpr const char* kAcquireLease = R"LUA(
local cur = redis.call('GET', KEYS[1])
if cur then
  local epoch, node, url = string.match(cur, '^(%d+)|([^|]*)|(.*)$')
  if node and node ~= ARGV[1] then
    return {'held', epoch, node, url, redis.call('PTTL', KEYS[1])}
  end
end
local epoch = tostring(redis.call('INCR', KEYS[2]))
redis.call('SET', KEYS[1], epoch .. '|' .. ARGV[1] .. '|' .. ARGV[2], 'PX', ARGV[3])
return {'mine', epoch}
)LUA";

// ARGV[1] = node, ARGV[2] = url, ARGV[3] = TTL ms, ARGV[4] = the epoch held. Extended while this
// node holds it under that epoch; also taken back when it ran out and nobody took it since (the
// epoch is still ours), so a renew delayed past the TTL loses nothing.
constexpr const char* kRenewLease = R"LUA(
local mine = ARGV[4] .. '|' .. ARGV[1] .. '|' .. ARGV[2]
local cur = redis.call('GET', KEYS[1])
if cur == mine or (not cur and redis.call('GET', KEYS[2]) == ARGV[4]) then
  redis.call('SET', KEYS[1], mine, 'PX', ARGV[3])
  return {'mine', ARGV[4]}
end
if cur then
  local epoch, node, url = string.match(cur, '^(%d+)|([^|]*)|(.*)$')
  return {'held', epoch or '0', node or '', url or '', redis.call('PTTL', KEYS[1])}
end
return {'held', redis.call('GET', KEYS[2]) or '0', '', '', 0}
)LUA";

// ARGV[1] = node, ARGV[2] = url, ARGV[3] = the epoch held. Deletes the lease if this node holds
// it under that epoch (the epoch key stays: the next holder's epoch is higher).
constexpr const char* kReleaseLease = R"LUA(
if redis.call('GET', KEYS[1]) == ARGV[3] .. '|' .. ARGV[1] .. '|' .. ARGV[2] then
  redis.call('DEL', KEYS[1])
  return {'mine', ARGV[3]}
end
return {'held', '0', '', '', 0}
)LUA";

// ARGV[1] = node, ARGV[2] = url, ARGV[3] = TTL ms, ARGV[4] = the epoch held, ARGV[5] = the
// successor's node, ARGV[6] = its url. While this node holds the lease under that epoch, the
// lease names the successor instead (same epoch, a whole TTL): every node forwards to it, and
// its first request takes the lease under a new epoch (acquire: the lease names it), which fences
// what this node still has in flight. Unanswered by the successor, it runs out like any lease.
// Not held so: nobody is named (the lease was lost already; the next request asks again).
constexpr const char* kHandOverLease = R"LUA(
if redis.call('GET', KEYS[1]) == ARGV[4] .. '|' .. ARGV[1] .. '|' .. ARGV[2] then
  redis.call('SET', KEYS[1], ARGV[4] .. '|' .. ARGV[5] .. '|' .. ARGV[6], 'PX', ARGV[3])
  return {'held', ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[3])}
end
return {'held', '0', '', '', 0}
)LUA";

} // namespace

const lua_script& hand_over_lease_script() {
  static const lua_script s{kHandOverLease};
  return s;
}

const lua_script& acquire_lease_script() {
  static const lua_script s{kAcquireLease};
  return s;
}

const lua_script& renew_lease_script() {
  static const lua_script s{kRenewLease};
  return s;
}

const lua_script& release_lease_script() {
  static const lua_script s{kReleaseLease};
  return s;
}

const lua_script& save_workspace_script() {
  static const lua_script s{kSaveWorkspace};
  return s;
}

const lua_script& migrate_workspace_script() {
  static const lua_script s{kMigrateWorkspace};
  return s;
}

const lua_script& store_dead_letter_script() {
  static const lua_script s{kStoreDeadLetter};
  return s;
}

const lua_script& delete_dead_letters_script() {
  static const lua_script s{kDeleteDeadLetters};
  return s;
}

} // namespace inboxd
