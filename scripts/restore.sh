#!/usr/bin/env bash
# Restores a snapshot taken by scripts/backup.sh into the local Redis that scripts/run.sh runs,
# and leaves that Redis running as run.sh starts it (AOF on) with exactly the snapshot's data.
#
#   scripts/restore.sh --rdb FILE [--dir DIR] [--port PORT] [--appendfsync everysec|always]
#                      [--force]
#
# DIR: the Redis data directory (default var/redis, run.sh's); PORT: 127.0.0.1's port (default
# $INBOXD_LOCAL_REDIS_PORT, else 6379). Stop inboxd first (every node): a running inboxd would
# write into the restored data and keeps state in memory. The script refuses while other clients
# are connected to Redis, unless --force.
#
# Steps (each one checked; rerunning with the same FILE ends in the same state):
#  1. redis-check-rdb FILE.
#  2. If a Redis answers on PORT: it must use DIR (CONFIG GET dir); SHUTDOWN NOSAVE (the AOF is
#     flushed on shutdown) and wait until the port is free.
#  3. Move the current data (the AOF directory and the RDB file) to DIR/pre-restore-<UTC time>/
#     (nothing is deleted; remove it once the restore is confirmed).
#  4. Copy FILE to DIR/dump.rdb (tmp + rename).
#  5. Start redis-server with --appendonly no: with AOF on, Redis loads the AOF and ignores
#     dump.rdb, so the snapshot is loaded this way. Wait until it answers PING (not LOADING).
#  6. CONFIG SET appendonly yes: Redis writes a new AOF from the loaded data (a rewrite); wait
#     until the rewrite has finished with status ok.
#  7. SHUTDOWN and start it again as run.sh does (--appendonly yes, loading the new AOF), and
#     check that it holds as many keys as were loaded from FILE.
# Then start inboxd (scripts/run.sh reuses this Redis).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rdb=""
dir="$root/var/redis"
port="${INBOXD_LOCAL_REDIS_PORT:-6379}"
fsync=everysec
force=0
wait_s=120

die() {
  echo "restore.sh: $*" >&2
  exit 1
}
say() { echo "restore.sh: $*" >&2; }
usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
  exit "${1:-1}"
}

while (($#)); do
  case "$1" in
  --rdb) rdb="${2:?--rdb needs a value}"; shift 2 ;;
  --dir) dir="${2:?--dir needs a value}"; shift 2 ;;
  --port) port="${2:?--port needs a value}"; shift 2 ;;
  --appendfsync) fsync="${2:?--appendfsync needs a value}"; shift 2 ;;
  --force) force=1; shift ;;
  -h | --help) usage 0 ;;
  *) echo "restore.sh: unknown argument: $1" >&2; usage 1 ;;
  esac
done
[[ -n "$rdb" ]] || { echo "restore.sh: --rdb FILE is required" >&2; usage 1; }
[[ "$port" =~ ^[0-9]+$ ]] || die "--port must be a number"
[[ "$fsync" =~ ^(everysec|always|no)$ ]] || die "--appendfsync must be everysec, always or no"
for tool in redis-server redis-cli redis-check-rdb; do
  command -v "$tool" >/dev/null || die "$tool not found (Debian packages redis-server, redis-tools)"
done

[[ -f "$rdb" && -r "$rdb" ]] || die "no readable file $rdb"
rdb="$(cd "$(dirname "$rdb")" && pwd)/$(basename "$rdb")"
mkdir -p -- "$dir" || die "cannot create $dir"
dir="$(cd "$dir" && pwd)"
pidfile="$dir/redis.pid"

# rcli ARGS...: one command to 127.0.0.1:PORT, raw output (fails when nothing answers).
rcli() { redis-cli --no-auth-warning -h 127.0.0.1 -p "$port" "$@" 2>&1; }
answers() { [[ "$(rcli PING)" == PONG ]]; }
port_free() { [[ "$(rcli PING)" == *"Connection refused"* ]]; }
# alive PID: the process exists and is not a zombie (a daemonized redis-server's parent may reap
# it late).
alive() { kill -0 "$1" 2>/dev/null && [[ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" != Z ]]; }
info_field() { rcli INFO "$1" | tr -d '\r' | sed -n "s/^$2://p"; }

# 1. The snapshot is a valid RDB.
if ! check=$(redis-check-rdb "$rdb" 2>&1); then
  die "$rdb is not a valid RDB file: $(grep -A1 'RDB ERROR' <<<"$check" | tail -n1)"
fi
keys_in_file=$(sed -n 's/^\[info\] \([0-9]*\) keys read$/\1/p' <<<"$check")
expired_in_file=$(sed -n 's/^\[info\] \([0-9]*\) already expired$/\1/p' <<<"$check")
volatile_in_file=$(sed -n 's/^\[info\] \([0-9]*\) expires$/\1/p' <<<"$check")
say "$rdb: RDB OK, ${keys_in_file:-?} keys"

# 2. Stop the Redis on PORT (it must be the one using DIR).
if answers; then
  running_dir=$(rcli CONFIG GET dir | sed -n 2p)
  [[ "$running_dir" == "$dir" ]] ||
    die "the Redis on 127.0.0.1:$port uses ${running_dir:-an unknown dir}, not $dir (--dir/--port?)"
  others=$(($(rcli CLIENT LIST | grep -c '^id=') - 1))
  if ((others > 0 && !force)); then
    die "$others other client(s) connected to 127.0.0.1:$port: stop inboxd first (or --force)"
  fi
  pid=$(info_field server process_id)
  say "stopping redis-server (pid $pid) on 127.0.0.1:$port"
  rcli SHUTDOWN NOSAVE >/dev/null || true
  for _ in $(seq 1 $((wait_s * 10))); do
    alive "$pid" || break
    sleep 0.1
  done
  ! alive "$pid" || die "redis-server (pid $pid) did not exit within ${wait_s} s"
elif ! port_free; then
  die "something answers on 127.0.0.1:$port but not PONG: $(rcli PING | head -n1)"
fi
if [[ -f "$pidfile" ]] && alive "$(cat "$pidfile")"; then
  die "redis-server of $pidfile (pid $(cat "$pidfile")) runs but does not answer on port $port"
fi

# 3. Keep the data it had.
aside="$dir/pre-restore-$(date -u +%Y-%m-%dT%H-%M-%S.%3NZ)"
moved=()
for f in appendonlydir dump.rdb; do
  if [[ -e "$dir/$f" ]]; then
    mkdir -p -- "$aside"
    mv -- "$dir/$f" "$aside/" || die "cannot move $dir/$f to $aside"
    moved+=("$f")
  fi
done
((${#moved[@]} == 0)) || say "the previous data (${moved[*]}) is in $aside"

# 4. The snapshot in place.
cp -- "$rdb" "$dir/.dump.rdb.tmp" || die "cannot copy $rdb into $dir"
mv -f -- "$dir/.dump.rdb.tmp" "$dir/dump.rdb"

# start_redis APPENDONLY: daemonized, as run.sh starts it; waits for PONG (PING answers
# LOADING while the data loads).
start_redis() {
  redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" \
    --appendonly "$1" --appendfsync "$fsync" \
    --daemonize yes --pidfile "$pidfile" --logfile "$dir/redis.log" ||
    die "redis-server did not start; see $dir/redis.log"
  for _ in $(seq 1 $((wait_s * 10))); do
    answers && return 0
    sleep 0.1
  done
  die "redis-server did not answer PING within ${wait_s} s; see $dir/redis.log"
}
stop_redis() {
  local pid
  pid=$(info_field server process_id)
  rcli SHUTDOWN >/dev/null || true
  for _ in $(seq 1 $((wait_s * 10))); do
    alive "$pid" || return 0
    sleep 0.1
  done
  die "redis-server (pid $pid) did not exit within ${wait_s} s"
}
# keyspace FIELD: the sum of keys= or expires= over every db.
keyspace() {
  rcli INFO keyspace | tr -d '\r' | { grep -oE "$1=[0-9]+" || true; } | cut -d= -f2 | awk '{ n += $1 } END { print n + 0 }'
}

# 5. Load it.
say "loading the snapshot (redis-server --appendonly no)"
start_redis no
loaded=$(keyspace keys)
volatile=$(keyspace expires)
# Keys with a TTL may expire between the check and the load; no other key may be missing.
if [[ -n "$keys_in_file" ]]; then
  most=$((keys_in_file - ${expired_in_file:-0}))
  least=$((keys_in_file - ${volatile_in_file:-0}))
  ((loaded <= most && loaded >= least)) ||
    die "Redis loaded $loaded keys, the file has $most (Redis still runs with appendonly no)"
fi

# 6. A new AOF from the loaded data.
say "loaded $loaded keys; CONFIG SET appendonly yes (AOF rewrite)"
[[ "$(rcli CONFIG SET appendonly yes)" == OK ]] || die "CONFIG SET appendonly yes failed"
deadline=$((SECONDS + wait_s))
while :; do
  info=$(rcli INFO persistence | tr -d '\r')
  f() { sed -n "s/^$1://p" <<<"$info"; }
  if [[ "$(f aof_enabled)" == 1 && "$(f aof_rewrite_in_progress)" == 0 &&
    "$(f aof_rewrite_scheduled)" == 0 && "$(f aof_rewrites)" -ge 1 ]]; then
    [[ "$(f aof_last_bgrewrite_status)" == ok ]] || die "the AOF rewrite failed; see $dir/redis.log"
    break
  fi
  ((SECONDS < deadline)) || die "the AOF rewrite did not finish within ${wait_s} s"
  sleep 0.1
done

# 7. Restart as run.sh does and check that the AOF holds the same.
say "restarting redis-server with --appendonly yes"
stop_redis
start_redis yes
now=$(keyspace keys)
((now <= loaded && now >= loaded - volatile)) ||
  die "after the restart Redis holds $now keys, $loaded were loaded"
say "restored $loaded keys from $rdb; redis-server pid $(cat "$pidfile") on 127.0.0.1:$port; start inboxd now"
