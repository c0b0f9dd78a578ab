#!/usr/bin/env bash
# What a Redis crash loses, and what each fsync policy costs (README "Backups and durability";
# bench/README.md "Redis crash loss"). For appendfsync everysec and always, in turn, ROUNDS times
# (so the machine's noise falls on both), each time on a fresh redis-server started as
# scripts/run.sh starts it (AOF on, default RDB save points) and a fresh Release inboxd:
#
#  1. ingest rate: inboxd_crash_load, closed loop, 64 connections, DURATION s of 1-message Meta
#     webhooks (every message from a new contact, as scenario 1): webhooks acknowledged per
#     second, and CPU microseconds per acknowledged webhook of inboxd and of redis-server;
#  2. crash: the same load again; after KILL_AT s, kill -9 of redis-server, which is started again
#     at once on the same data directory with the same settings (inboxd keeps running and
#     reconnects); when the load ends, every webhook that was answered 200 is looked up in Redis
#     ({ws:<id>}:m:<msgId>, the message's key): "lost" = acknowledged but not stored.
#
# kill -9 ends the process only: what Redis had write()-n to the AOF is in the kernel's page cache
# and survives. Only an OS crash or power loss also loses what was not yet fsync-ed (everysec:
# about the last second); that is not what this measures (see the README).
#
#   bench/redis_crash.sh [--binary PATH] [--crash-load PATH] [--loadgen PATH] [--rounds N]
#                        [--duration S] [--kill-at S] [--connections C] [--out FILE]
#
# Needs build/release (cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release
# -DINBOXD_TESTS=OFF -DINBOXD_BENCH=ON; ninja -C build/release inboxd inboxd_loadgen
# inboxd_crash_load). Results: one JSON file (default bench/results/redis-crash-<UTC time>.json)
# with every run and the medians per policy; the table goes to stdout.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
binary="$root/build/release/inboxd"
crash_load="$root/build/release/bench/inboxd_crash_load"
loadgen="$root/build/release/bench/inboxd_loadgen"
rounds=3
dur=10
kill_at=5
conns=64
out="$root/bench/results/redis-crash-$(date -u +%Y-%m-%dT%H-%M-%SZ).json"
while (($#)); do
  case "$1" in
  --binary) binary="$2"; shift ;;
  --crash-load) crash_load="$2"; shift ;;
  --loadgen) loadgen="$2"; shift ;;
  --rounds) rounds="$2"; shift ;;
  --duration) dur="$2"; shift ;;
  --kill-at) kill_at="$2"; shift ;;
  --connections) conns="$2"; shift ;;
  --out) out="$2"; shift ;;
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "redis_crash: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
log() { echo "redis_crash: $*" >&2; }
die() { echo "redis_crash: FAILED: $*" >&2; exit 1; }
for f in "$binary" "$crash_load" "$loadgen"; do
  [[ -x "$f" ]] || die "$f missing: build build/release first (see --help)"
done
command -v redis-server >/dev/null || die "redis-server missing (bash scripts/deps.sh)"

admin_token=crash-admin
secret=crash-secret
work=$(mktemp -d /tmp/inboxd-redis-crash.XXXXXX)
redis_pid=""
inboxd_pid=""
cleanup() {
  [[ -n "$inboxd_pid" ]] && kill -KILL "$inboxd_pid" 2>/dev/null || true
  [[ -n "$redis_pid" ]] && kill -KILL "$redis_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

hz=$(getconf CLK_TCK)
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# start_redis DIR POLICY: as scripts/run.sh (but in the foreground of this script, to own the pid).
start_redis() {
  redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$1" --appendonly yes \
    --appendfsync "$2" --logfile "$1/redis.log" >/dev/null 2>&1 &
  redis_pid=$!
  for _ in $(seq 300); do
    [[ "$(redis-cli -p "$redis_port" ping 2>/dev/null)" == PONG ]] && return 0
    kill -0 "$redis_pid" 2>/dev/null || die "redis-server exited; see $1/redis.log"
    sleep 0.01
  done
  die "redis-server did not answer PING within 3 s"
}
stop_all() {
  kill -TERM "$inboxd_pid" 2>/dev/null || true
  wait "$inboxd_pid" 2>/dev/null || true
  kill -KILL "$redis_pid" 2>/dev/null || true
  wait "$redis_pid" 2>/dev/null || true
  inboxd_pid=""
  redis_pid=""
}

runs="$work/runs.jsonl"
: >"$runs"
for round in $(seq 1 "$rounds"); do
  for policy in everysec always; do
    dir="$work/$round-$policy"
    mkdir -p "$dir/redis"
    redis_port=$("$loadgen" free-port)
    start_redis "$dir/redis" "$policy"
    port=$("$loadgen" free-port)
    INBOXD_REDIS_URL="redis://127.0.0.1:$redis_port/0" INBOXD_HTTP_PORT=$port \
      INBOXD_ADMIN_TOKEN=$admin_token INBOXD_META_APP_SECRET=$secret \
      "$binary" >"$dir/inboxd.log" 2>&1 &
    inboxd_pid=$!
    for _ in $(seq 300); do
      curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
      kill -0 "$inboxd_pid" 2>/dev/null || die "inboxd exited; see $dir/inboxd.log"
      sleep 0.1
    done
    read -r ws pnid _ < <("$loadgen" provision --port "$port" --admin-token "$admin_token" \
      --count 1 --prefix "crash$round$policy" --pnid-base 700000000000) || die "provisioning failed"
    lg=(--port "$port" --pnid "$pnid" --secret "$secret" --duration "$dur" --connections "$conns")

    # 1. the ingest rate, without a kill
    i0=$(ticks "$inboxd_pid") r0=$(ticks "$redis_pid")
    rate=$("$crash_load" "${lg[@]}" --tag "rate$round" --contact-offset 0)
    i1=$(ticks "$inboxd_pid") r1=$(ticks "$redis_pid")

    # 2. kill -9 of redis-server mid-load, restarted at once on the same data
    "$crash_load" "${lg[@]}" --tag "crash$round" --contact-offset 50000000 \
      --acked "$dir/acked.txt" >"$dir/crash.json" &
    load_pid=$!
    sleep "$kill_at"
    kill -KILL "$redis_pid"
    wait "$redis_pid" 2>/dev/null || true
    t=$(date +%s%N)
    start_redis "$dir/redis" "$policy"
    restart_ms=$((($(date +%s%N) - t) / 1000000))
    wait "$load_pid" || die "inboxd_crash_load failed"
    acked=$(wc -l <"$dir/acked.txt")
    missing=$(sed "s/^/EXISTS {ws:$ws}:m:/" "$dir/acked.txt" | redis-cli -p "$redis_port" |
      grep -c '^0$' || true)
    stored=$(redis-cli -p "$redis_port" --scan --pattern "{ws:$ws}:m:*" | wc -l)
    kill -0 "$inboxd_pid" 2>/dev/null || die "inboxd died; see $dir/inboxd.log"
    stop_all

    python3 - "$policy" "$round" "$rate" "$((i1 - i0))" "$((r1 - r0))" "$hz" "$(cat "$dir/crash.json")" \
      "$acked" "$missing" "$stored" "$restart_ms" >>"$runs" <<'EOF'
import json, sys
policy, rnd, rate, iticks, rticks, hz, crash, acked, missing, stored, restart_ms = sys.argv[1:]
rate, crash, hz = json.loads(rate), json.loads(crash), int(hz)
ok = max(rate["ok"], 1)
print(json.dumps({
    "policy": policy, "round": int(rnd),
    "rate": {"okPerSec": round(rate["okPerSec"], 1), "requests": rate["requests"],
             "statuses": rate["statuses"], "transportErrors": rate["transportErrors"],
             "inboxdCpuUsPerWebhook": round(int(iticks) / hz * 1e6 / ok, 1),
             "redisCpuUsPerWebhook": round(int(rticks) / hz * 1e6 / ok, 1)},
    "crash": {"acknowledged": int(acked), "lost": int(missing),
              # every message of the run (both runs' messages are in the workspace)
              "messagesStoredAfter": int(stored), "requests": crash["requests"],
              "statuses": crash["statuses"], "transportErrors": crash["transportErrors"],
              "longestAckGapS": round(crash["longestAckGapS"], 2),
              "redisRestartMs": int(restart_ms), "okPerSec": round(crash["okPerSec"], 1)}}))
EOF
    log "$(tail -n1 "$runs")"
  done
done

mkdir -p "$(dirname "$out")"
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$([[ -n "$(git -C "$root" status --porcelain 2>/dev/null)" ]] && echo true || echo false)
python3 - "$runs" "$out" "$commit" "$dirty" "$rounds" "$dur" "$kill_at" "$conns" \
  "$(redis-server --version | grep -oE 'v=[0-9.]+' | cut -d= -f2)" "$(nproc)" \
  "$(lscpu | sed -n 's/^Model name: *//p' | head -n1)" "$(df -T /tmp | awk 'NR==2 { print $2 }')" <<'EOF'
import json, statistics, sys, datetime
runs_path, out, commit, dirty, rounds, dur, kill_at, conns, redis, cpus, model, fs = sys.argv[1:]
runs = [json.loads(l) for l in open(runs_path) if l.strip()]
med = {}
for p in ("everysec", "always"):
    rs = [r for r in runs if r["policy"] == p]
    m = lambda f: statistics.median(f(r) for r in rs)
    med[p] = {"okPerSec": m(lambda r: r["rate"]["okPerSec"]),
              "inboxdCpuUsPerWebhook": m(lambda r: r["rate"]["inboxdCpuUsPerWebhook"]),
              "redisCpuUsPerWebhook": m(lambda r: r["rate"]["redisCpuUsPerWebhook"]),
              "acknowledgedInCrashRun": m(lambda r: r["crash"]["acknowledged"]),
              "lostPerRun": [r["crash"]["lost"] for r in rs],
              "longestAckGapS": m(lambda r: r["crash"]["longestAckGapS"]),
              "redisRestartMs": m(lambda r: r["crash"]["redisRestartMs"])}
doc = {"meta": {"date": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
                "commit": commit, "uncommittedChanges": dirty == "true",
                "machine": f"{cpus} vCPU {model}, data on {fs}", "redis": redis,
                "settings": {"rounds": int(rounds), "durationS": float(dur),
                             "killAtS": float(kill_at), "connections": int(conns),
                             "load": "inboxd_crash_load closed loop, 1 text message per POST, each from a new contact",
                             "redis": "appendonly yes, default save points (as scripts/run.sh)",
                             "inboxd": "Release, default settings"}},
       "runs": runs, "medians": med}
json.dump(doc, open(out, "w"), indent=1)
print(f"{'appendfsync':<12}{'webhooks/s':>12}{'inboxd us/wh':>14}{'redis us/wh':>13}{'acked in crash run':>20}{'lost (each run)':>18}{'ack gap s':>11}")
for p, v in med.items():
    print(f"{p:<12}{v['okPerSec']:>12.0f}{v['inboxdCpuUsPerWebhook']:>14.1f}{v['redisCpuUsPerWebhook']:>13.1f}"
          f"{v['acknowledgedInCrashRun']:>20.0f}{','.join(map(str, v['lostPerRun'])):>18}{v['longestAckGapS']:>11.2f}")
print(f"(medians of {rounds} runs each; written to {out})")
EOF
