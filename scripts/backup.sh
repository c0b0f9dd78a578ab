#!/usr/bin/env bash
# Takes a consistent snapshot (an RDB file) of the Redis inboxd uses and prints its path.
#
#   scripts/backup.sh [--url URL] [--dest DIR] [--method auto|bgsave|replica] [--timeout S]
#
# URL: redis://[:password@]host:port[/db] or redis-cluster://[:password@]host:port[,...]
# (default: $INBOXD_REDIS_URL, else redis://127.0.0.1:6379/0, what scripts/run.sh uses).
# DIR: where the snapshot goes (default var/backups; created if missing).
#
# Methods (the snapshot is Redis' own fork-time RDB in both, so it is consistent):
#   bgsave   BGSAVE (after any save already running ends), wait until INFO persistence counts
#            one more save and says rdb_last_bgsave_status:ok, then copy <CONFIG GET dir>/
#            <dbfilename>. Needs that directory on this machine: Redis on the same host.
#   replica  redis-cli --rdb: Redis forks and streams a fresh RDB over the replication protocol
#            (REPLCONF rdb-only). Works against a remote Redis; needs the SYNC command.
#   auto     bgsave when the host is loopback and the RDB file is readable here, else replica.
# Either way the file is written as <name>.tmp, checked with redis-check-rdb, then renamed to
# redis-<host>-<port>-<UTC time>.rdb, so a listed .rdb file is always complete and valid.
#
# redis-cluster:// takes one snapshot per master (from CLUSTER NODES of the first reachable
# node) into cluster-<UTC time>/, with the node table as nodes.txt, and prints that directory.
# Each master's snapshot is consistent; they are taken one after another, not at one instant
# (every workspace's keys share a hash tag, so each workspace is on one master).
#
# The password, if any, goes to redis-cli through REDISCLI_AUTH (never on a command line).
# Exit status: 0 and the path on stdout; 1 with a message on stderr.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
url="${INBOXD_REDIS_URL:-redis://127.0.0.1:6379/0}"
dest="$root/var/backups"
method=auto
timeout_s=600

# Partial files and directories, removed on any exit (a finished one is taken off the list).
cleanup=()
trap 'rm -rf -- "${cleanup[@]}"' EXIT

die() {
  echo "backup.sh: $*" >&2
  exit 1
}
usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
  exit "${1:-1}"
}

while (($#)); do
  case "$1" in
  --url) url="${2:?--url needs a value}"; shift 2 ;;
  --dest) dest="${2:?--dest needs a value}"; shift 2 ;;
  --method) method="${2:?--method needs a value}"; shift 2 ;;
  --timeout) timeout_s="${2:?--timeout needs a value}"; shift 2 ;;
  -h | --help) usage 0 ;;
  *) echo "backup.sh: unknown argument: $1" >&2; usage 1 ;;
  esac
done
[[ "$method" =~ ^(auto|bgsave|replica)$ ]] || die "--method must be auto, bgsave or replica"
[[ "$timeout_s" =~ ^[0-9]+$ ]] && ((timeout_s > 0)) || die "--timeout must be a positive integer"
for tool in redis-cli redis-check-rdb; do
  command -v "$tool" >/dev/null || die "$tool not found (Debian package redis-tools)"
done

# --- the URL ---------------------------------------------------------------------------------
scheme="${url%%://*}"
[[ "$scheme" == redis || "$scheme" == redis-cluster ]] ||
  die "unsupported URL scheme in '$url' (redis:// or redis-cluster://)"
rest="${url#*://}"
password=""
if [[ "$rest" == *@* ]]; then
  userinfo="${rest%%@*}"
  rest="${rest#*@}"
  password="${userinfo#*:}" # [user]:password; inboxd uses the password only
fi
rest="${rest%%/*}" # the db number does not matter: an RDB holds every db
[[ -n "$rest" ]] || die "no host:port in '$url'"
IFS=',' read -r -a endpoints <<<"$rest"
if [[ -n "$password" ]]; then
  export REDISCLI_AUTH="$password"
fi

# rcli HOST PORT ARGS...: one command; fails on a connection error or an error reply.
rcli() {
  local host=$1 port=$2 out
  shift 2
  if ! out=$(redis-cli --no-auth-warning -h "$host" -p "$port" "$@" 2>&1); then
    echo "backup.sh: $host:$port: ${out:-redis-cli failed}" >&2
    return 1
  fi
  if [[ "$out" == ERR* || "$out" == WRONGPASS* || "$out" == NOAUTH* || "$out" == NOPERM* ||
    "$out" == *"Connection refused"* || "$out" == LOADING* ]]; then
    echo "backup.sh: $host:$port: $* -> $out" >&2
    return 1
  fi
  printf '%s\n' "$out"
}
# info_field HOST PORT NAME: one field of INFO persistence.
info_field() {
  rcli "$1" "$2" INFO persistence | tr -d '\r' | sed -n "s/^$3://p"
}

split_endpoint() { # "host:port" -> sets ep_host, ep_port ([v6]:port too)
  local ep=$1
  ep_port="${ep##*:}"
  ep_host="${ep%:*}"
  ep_host="${ep_host#[}"
  ep_host="${ep_host%]}"
  [[ -n "$ep_host" && "$ep_port" =~ ^[0-9]+$ ]] || die "bad host:port '$ep' in the URL"
}

is_loopback() { [[ "$1" == 127.* || "$1" == localhost || "$1" == ::1 ]]; }

# The path of the RDB file Redis on HOST PORT writes (CONFIG GET dir + dbfilename), or "".
rdb_path_of() {
  local dir file
  dir=$(rcli "$1" "$2" CONFIG GET dir 2>/dev/null | sed -n 2p) || return 0
  file=$(rcli "$1" "$2" CONFIG GET dbfilename 2>/dev/null | sed -n 2p) || return 0
  [[ -n "$dir" && -n "$file" ]] && printf '%s/%s\n' "$dir" "$file"
}

# snapshot_bgsave HOST PORT TMPFILE
snapshot_bgsave() {
  local host=$1 port=$2 tmp=$3 path saves0 deadline reply
  path=$(rdb_path_of "$host" "$port")
  [[ -n "$path" ]] || die "$host:$port: CONFIG GET dir/dbfilename failed (CONFIG disabled? use --method replica)"
  deadline=$((SECONDS + timeout_s))
  # Our save must start after this call: a save already running took its snapshot earlier, so
  # wait for it to end and start our own ("already in progress" when another one began meanwhile:
  # wait again). BGSAVE SCHEDULE starts it after an AOF rewrite that is running.
  while :; do
    ((SECONDS < deadline)) || die "$host:$port: a save was still running after ${timeout_s} s"
    if [[ "$(info_field "$host" "$port" rdb_bgsave_in_progress)" != 0 ]]; then
      sleep 0.1
      continue
    fi
    saves0=$(info_field "$host" "$port" rdb_saves)
    [[ "$saves0" =~ ^[0-9]+$ ]] || die "$host:$port: INFO persistence has no rdb_saves (Redis < 7?)"
    if reply=$(rcli "$host" "$port" BGSAVE SCHEDULE 2>&1); then
      break
    fi
    [[ "$reply" == *"already in progress"* ]] || die "BGSAVE failed: $reply"
    sleep 0.1
  done
  # Done when one more save has completed and nothing is in progress; a failed save is an error.
  while :; do
    ((SECONDS < deadline)) || die "$host:$port: BGSAVE did not finish within ${timeout_s} s"
    local info saves running status
    info=$(rcli "$host" "$port" INFO persistence | tr -d '\r')
    saves=$(sed -n 's/^rdb_saves://p' <<<"$info")
    running=$(sed -n 's/^rdb_bgsave_in_progress://p' <<<"$info")
    status=$(sed -n 's/^rdb_last_bgsave_status://p' <<<"$info")
    if [[ "$running" == 0 ]]; then
      [[ "$status" == ok ]] || die "$host:$port: BGSAVE failed (rdb_last_bgsave_status:$status; see the Redis log)"
      ((saves > saves0)) && break
    fi
    sleep 0.1
  done
  [[ -r "$path" ]] || die "$host:$port: the RDB file $path is not readable here (remote Redis? use --method replica)"
  # cp opens the file once: should the next save rename a newer file over it meanwhile, this
  # still copies one whole snapshot.
  cp -- "$path" "$tmp" || die "copying $path failed"
}

# snapshot_replica HOST PORT TMPFILE
snapshot_replica() {
  local host=$1 port=$2 tmp=$3 out
  if ! out=$(timeout "$timeout_s" redis-cli --no-auth-warning -h "$host" -p "$port" --rdb "$tmp" 2>&1) ||
    [[ "$out" != *"Transfer finished with success"* ]]; then
    rm -f -- "$tmp"
    die "$host:$port: redis-cli --rdb failed: $(tail -n 2 <<<"$out" | tr '\n' ' ')"
  fi
}

# snapshot HOST PORT DIR: writes DIR/redis-<host>-<port>-<time>.rdb and prints its path.
snapshot() {
  local host=$1 port=$2 dir=$3 how=$method stamp name tmp check
  rcli "$host" "$port" PING >/dev/null || die "$host:$port does not answer PING"
  if [[ "$how" == auto ]]; then
    how=replica
    if is_loopback "$host"; then
      local path
      path=$(rdb_path_of "$host" "$port")
      [[ -n "$path" && -r "$(dirname "$path")" ]] && how=bgsave
    fi
  fi
  stamp=$(date -u +%Y-%m-%dT%H-%M-%S.%3NZ)
  name="redis-${host//[^A-Za-z0-9.-]/_}-$port-$stamp.rdb"
  tmp="$dir/.$name.tmp"
  cleanup+=("$tmp")
  "snapshot_$how" "$host" "$port" "$tmp"
  if ! check=$(redis-check-rdb "$tmp" 2>&1); then
    rm -f -- "$tmp"
    die "$host:$port: the snapshot failed redis-check-rdb: $(grep -A1 'RDB ERROR' <<<"$check" | tail -n1)"
  fi
  sync -- "$tmp" 2>/dev/null || sync
  mv -f -- "$tmp" "$dir/$name"
  echo "backup.sh: $host:$port via $how: $(grep -m1 'keys read' <<<"$check" | sed 's/^\[info\] //')" >&2
  printf '%s\n' "$dir/$name"
}

mkdir -p -- "$dest" || die "cannot create $dest"
dest="$(cd "$dest" && pwd)"

if [[ "$scheme" == redis ]]; then
  ((${#endpoints[@]} == 1)) || die "redis:// takes one host:port (redis-cluster:// for several)"
  split_endpoint "${endpoints[0]}"
  snapshot "$ep_host" "$ep_port" "$dest"
  exit 0
fi

# --- Redis Cluster: one snapshot per master ----------------------------------------------------
nodes=""
for ep in "${endpoints[@]}"; do
  split_endpoint "$ep"
  nodes=$(rcli "$ep_host" "$ep_port" CLUSTER NODES 2>/dev/null) && break
  nodes=""
done
[[ -n "$nodes" ]] || die "no seed of '$url' answered CLUSTER NODES"
# <id> <ip:port@cport[,hostname]> <flags> ...: the masters that are not failing.
mapfile -t masters < <(awk '$3 ~ /master/ && $3 !~ /fail/ { split($2, a, "@"); print a[1] }' <<<"$nodes")
((${#masters[@]} > 0)) || die "CLUSTER NODES lists no healthy master"
cdir="$dest/cluster-$(date -u +%Y-%m-%dT%H-%M-%S.%3NZ)"
cleanup+=("$cdir.tmp")
mkdir -p -- "$cdir.tmp"
printf '%s\n' "$nodes" >"$cdir.tmp/nodes.txt"
for m in "${masters[@]}"; do
  split_endpoint "$m"
  snapshot "$ep_host" "$ep_port" "$cdir.tmp" >/dev/null
done
mv -- "$cdir.tmp" "$cdir"
cleanup=()
printf '%s\n' "$cdir"
