#!/usr/bin/env bash
# Side by side on the same signed bodies (bench/README.md, "Side by side"): nginx answering 200
# (the HTTP ceiling), the Node peer of ../shared/peers/node-ingest (Fastify + ioredis, 2 workers)
# and inboxd, each fed 1-message Meta webhooks (every message from a new contact) by
# inboxd_loadgen in a closed loop (64 connections, 10 s), ROUNDS times in turn. Reports per run:
# requests/s, p99, CPU microseconds per request of the server (all its processes) and of Redis.
# Each server gets its own fresh redis-server (AOF everysec, as bench/run.sh). inboxd's GET
# /metrics after the runs is written next to --out (<out without .json>.metrics.txt).
#
#   bench/side_by_side.sh [--binary PATH] [--loadgen PATH] [--rounds N] [--duration S] [--out FILE]
#
# Needs nginx, nodejs and npm (installed here from Debian's packages when missing) and the peer's
# npm packages (fastify, ioredis: `npm install` from the npm registry into a temporary copy).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
binary="$root/build/release/inboxd"
loadgen="$root/build/release/bench/inboxd_loadgen"
rounds=3
dur=10
out=""
peer_src="${PEER_DIR:-$root/../shared/peers/node-ingest}"
while (($#)); do
  case "$1" in
    --binary) binary="$2"; shift ;;
    --loadgen) loadgen="$2"; shift ;;
    --rounds) rounds="$2"; shift ;;
    --duration) dur="$2"; shift ;;
    --out) out="$2"; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "side_by_side: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
log() { echo "side_by_side: $*" >&2; }
die() { echo "side_by_side: FAILED: $*" >&2; exit 1; }
[[ -x "$binary" && -x "$loadgen" ]] || die "build first (bench/run.sh builds build/release)"
need=()
command -v nginx >/dev/null || need+=(nginx)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm) # some Node.js builds ship npm themselves
if ((${#need[@]})); then
  apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}" >/dev/null
fi

secret=side-by-side-secret
work=$(mktemp -d /tmp/inboxd-sbs.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  [[ -f "$work/nginx.pid" ]] && kill -KILL "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# CPU ticks (utime + stime) of a process and its descendants.
tree_pids() { local p=$1; echo "$p"; for c in $(pgrep -P "$p" || true); do tree_pids "$c"; done; }
ticks() {
  local sum=0 p
  for p in $(tree_pids "$1"); do
    [[ -r /proc/$p/stat ]] && sum=$((sum + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo "$sum"
}
hz=$(getconf CLK_TCK)

start_redis() { # dir -> sets redis_pid, redis_port (not in a subshell: it owns the process)
  redis_port=$("$loadgen" free-port)
  mkdir -p "$1"
  redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$1" --appendonly yes \
    --appendfsync everysec --save "" --logfile "$1/redis.log" >/dev/null 2>&1 &
  redis_pid=$!
  disown "$redis_pid"
  pids+=("$redis_pid")
  for _ in $(seq 100); do redis-cli -p "$redis_port" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
}
wait_http() { for _ in $(seq 200); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; die "no answer at $1"; }

# --- nginx ---------------------------------------------------------------------------------------
nginx_port=$("$loadgen" free-port)
cat >"$work/nginx.conf" <<NGINX
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx.err;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx-body;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$nginx_port;
    location / { return 200 '{"received":true}'; }
  }
}
NGINX
nginx -c "$work/nginx.conf" -g 'daemon off;' >/dev/null 2>&1 &
nginx_pid=$!
disown "$nginx_pid"
pids+=("$nginx_pid")
wait_http "http://127.0.0.1:$nginx_port/"

# --- the Node peer -------------------------------------------------------------------------------
cp -r "$peer_src" "$work/peer"
(cd "$work/peer" && npm install --no-audit --no-fund --silent >/dev/null 2>&1) || die "npm install of the peer failed"
start_redis "$work/redis-peer"
peer_redis_pid=$redis_pid peer_redis_port=$redis_port
peer_port=$("$loadgen" free-port)
WORKERS=2 PORT=$peer_port REDIS_URL="redis://127.0.0.1:$peer_redis_port/0" APP_SECRET=$secret \
  node "$work/peer/server.js" >"$work/peer.log" 2>&1 &
peer_pid=$!
disown "$peer_pid"
pids+=("$peer_pid")
wait_http "http://127.0.0.1:$peer_port/healthz"

# --- inboxd --------------------------------------------------------------------------------------
start_redis "$work/redis-inboxd"
ib_redis_pid=$redis_pid ib_redis_port=$redis_port
ib_port=$("$loadgen" free-port)
INBOXD_HTTP_PORT=$ib_port INBOXD_REDIS_URL="redis://127.0.0.1:$ib_redis_port/0" \
  INBOXD_ADMIN_TOKEN=sbs-admin INBOXD_META_APP_SECRET=$secret INBOXD_LOG_LEVEL=warn \
  "$binary" >"$work/inboxd.log" 2>&1 &
ib_pid=$!
disown "$ib_pid"
pids+=("$ib_pid")
wait_http "http://127.0.0.1:$ib_port/readyz"
read -r _ pnid _ <<<"$("$loadgen" provision --port "$ib_port" --admin-token sbs-admin --prefix sbs \
  --count 1 --pnid-base 100000000000)"

# --- runs ----------------------------------------------------------------------------------------
results="$work/runs.jsonl"
: >"$results"
run() { # name port server_pid redis_pid round
  local name=$1 port=$2 spid=$3 rpid=$4 round=$5 s0 s1 r0 r1 line ok rps p99
  s0=$(ticks "$spid"); r0=0; [[ -n "$rpid" ]] && r0=$(ticks "$rpid")
  line=$("$loadgen" run --port "$port" --scenario "$name" --template webhook --pnids "$pnid" \
    --secret "$secret" --mode closed --connections 64 --duration "$dur" \
    --contact-offset $((round * 100000000 + RANDOM * 1000)) --run-tag "$name$round" --drain 15)
  s1=$(ticks "$spid"); r1=0; [[ -n "$rpid" ]] && r1=$(ticks "$rpid")
  ok=$(grep -oE '"ok":[0-9]+' <<<"$line" | head -n1 | cut -d: -f2)
  rps=$(grep -oE '"requestsPerSec":[0-9.]+' <<<"$line" | cut -d: -f2)
  p99=$(grep -oE '"p99":[0-9.]+' <<<"$line" | head -n1 | cut -d: -f2)
  awk -v n="$name" -v r="$round" -v ok="$ok" -v rps="$rps" -v p99="$p99" -v s=$((s1 - s0)) \
    -v rd=$((r1 - r0)) -v hz="$hz" 'BEGIN {
      printf "{\"server\":\"%s\",\"round\":%d,\"ok\":%d,\"requestsPerSec\":%.0f,\"p99Ms\":%.2f,\"cpuUsPerRequest\":%.1f,\"redisCpuUsPerRequest\":%.1f}\n",
        n, r, ok, rps, p99, s * 1e6 / hz / ok, rd * 1e6 / hz / ok }' | tee -a "$results" >&2
}
for round in $(seq 1 "$rounds"); do
  run nginx "$nginx_port" "$nginx_pid" "" "$round"
  run peer "$peer_port" "$peer_pid" "$peer_redis_pid" "$round"
  run inboxd "$ib_port" "$ib_pid" "$ib_redis_pid" "$round"
done
curl -fsS "http://127.0.0.1:$ib_port/metrics" >"$work/inboxd.metrics.txt" || die "GET /metrics failed"

# --- medians -------------------------------------------------------------------------------------
median() { # server field
  grep "\"server\":\"$1\"" "$results" | grep -oE "\"$2\":[0-9.]+" | cut -d: -f2 | sort -g |
    awk '{v[NR] = $1} END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
printf '\n%-8s %12s %9s %12s %16s\n' server "req/s" "p99 ms" "CPU us/req" "Redis CPU us/req"
for s in nginx peer inboxd; do
  printf '%-8s %12s %9s %12s %16s\n' "$s" "$(median $s requestsPerSec)" "$(median $s p99Ms)" \
    "$(median $s cpuUsPerRequest)" "$(median $s redisCpuUsPerRequest)"
done
awk -v i="$(median inboxd requestsPerSec)" -v n="$(median nginx requestsPerSec)" \
  -v p="$(median peer requestsPerSec)" -v ic="$(median inboxd cpuUsPerRequest)" \
  -v nc="$(median nginx cpuUsPerRequest)" -v ir="$(median inboxd redisCpuUsPerRequest)" \
  -v pr="$(median peer redisCpuUsPerRequest)" 'BEGIN {
    printf "inboxd/nginx rate %.2fx, inboxd/peer rate %.2fx, inboxd CPU/nginx CPU %.1fx, inboxd Redis CPU/peer Redis CPU %.2fx\n",
      i / n, i / p, ic / nc, ir / pr }'
if [[ -n "$out" ]]; then
  { printf '{"meta":{"date":"%s","commit":"%s","nproc":%s,"cpuModel":"%s","rounds":%s,"durationS":%s,"connections":64},"runs":[' \
      "$(date -u +%FT%TZ)" "$(git rev-parse --short HEAD)" "$(nproc)" \
      "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" "$rounds" "$dur"
    paste -sd, "$results"; echo ']}'; } >"$out"
  cp "$work/inboxd.metrics.txt" "${out%.json}.metrics.txt"
  log "wrote $out and ${out%.json}.metrics.txt"
fi
