#!/usr/bin/env bash
# Scale-out on this machine (bench/README.md, "Scale-out"): for 1, 2 and 3 inboxd nodes (Release)
# behind HAProxy on one Redis Cluster of 3 masters, webhook throughput and the CPU microseconds per
# webhook summed over every inboxd node, with the webhooks routed (per-number paths, HAProxy hashes
# the number: the node it picks takes the workspace's lease) and unrouted (the shared path,
# round-robin: the nodes forward what is not theirs). Then, with the most nodes, the latency a
# forward adds (the same webhooks posted straight to the owner and to another node) and the
# takeover time after kill -9 of a workspace's owner (webhooks through HAProxy until one is 200).
#
#   bench/scale_out.sh [--nodes "1 2 3"] [--rounds 3] [--duration 10] [--workspaces 12]
#                      [--http-threads N] [--rate R]
#                      [--modes "routed shared"] [--connections 64] [--per-node]
#                      [--pin] [--standalone] [--side-by-side] [--out FILE]
#
# Each node count gets a fresh Redis Cluster (AOF everysec, no replicas), nodes and HAProxy on free
# ports in a temporary directory; the load generator feeds 1-message Meta webhooks (every message
# from a new contact) over 64 connections in a closed loop (or at --rate R per second, open loop),
# ROUNDS times per mode; --per-node multiplies the connections (and the rate) by the node count.
# --side-by-side: one deployment of the most nodes with one HAProxy per
# node count, the counts taking turns round by round (before each, webhooks until the leases have
# followed them to where that HAProxy routes). Prints the medians; --out writes the runs as JSON.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
binary="$root/build/release/inboxd"
loadgen="$root/build/release/bench/inboxd_loadgen"
node_counts="1 2 3"
rounds=3
dur=10
nws=12
lease_ms=5000
out=""
http_threads=2
rate=0
modes="routed shared"
conns=64
per_node=0
pin_nodes="" pin_rest=""
standalone=0
side_by_side=0
while (($#)); do
  case "$1" in
    --nodes) node_counts="$2"; shift ;;
    --rounds) rounds="$2"; shift ;;
    --duration) dur="$2"; shift ;;
    --workspaces) nws="$2"; shift ;;
    --http-threads) http_threads="$2"; shift ;;
    --rate) rate="$2"; shift ;;
    --modes) modes="$2"; shift ;;
    --connections) conns="$2"; shift ;;
    --per-node) per_node=1 ;;
    --side-by-side) side_by_side=1 ;;
    --pin) pin_nodes="taskset -c 0" pin_rest="taskset -c 1" ;;
    --standalone) standalone=1 ;;
    --out) out="$2"; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "scale_out: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
log() { echo "scale_out: $*" >&2; }
die() { echo "scale_out: FAILED: $*" >&2; exit 1; }
[[ -x "$binary" && -x "$loadgen" ]] || die "build first (bench/run.sh builds build/release)"
command -v haproxy >/dev/null || { apt-get update >/dev/null && apt-get install -y haproxy >/dev/null; }

secret=scale-out-secret
admin=scale-out-admin
csecret=scale-out-cluster-secret-0123456789
work=$(mktemp -d /tmp/inboxd-scale.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  for f in "$work"/haproxy-*.pid; do [[ -f $f ]] && kill -KILL "$(cat "$f")" 2>/dev/null; done
  [[ -n "${SCALE_OUT_KEEP:-}" ]] && cp -r "$work" "$SCALE_OUT_KEEP"; rm -rf "$work"
}
trap cleanup EXIT
hz=$(getconf CLK_TCK)
ticks() { # CPU ticks (utime + stime) summed over the given pids
  local sum=0 p
  for p in "$@"; do
    [[ -r /proc/$p/stat ]] && sum=$((sum + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo "$sum"
}
wait_for() { # seconds command...
  local secs=$1
  shift
  for _ in $(seq 1 $((secs * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}
forwarded() { # forwards answered, summed over the nodes
  local sum=0 port v
  for port in "${node_ports[@]}"; do
    v=$(curl -fsS "http://127.0.0.1:$port/metrics" |
      awk '/^inboxd_forwarded_requests_total\{outcome="answered"\}/ {print $2}')
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}

cluster_port() { # a free port whose cluster bus port (+10000) is free as well
  local p
  while true; do
    p=$("$loadgen" free-port)
    ((p < 55000)) || continue
    (echo >"/dev/tcp/127.0.0.1/$((p + 10000))") 2>/dev/null || { echo "$p"; return; }
  done
}

# --- one deployment ------------------------------------------------------------------------------
up() { # nodes
  local n=$1 i port
  local d="$work/n$n"
  mkdir -p "$d"
  redis_ports=() redis_pids=() node_ports=() node_pids=()
  for i in 1 2 3; do
    port=$(cluster_port)
    mkdir -p "$d/redis-$port"
    $pin_rest redis-server --bind 127.0.0.1 --port "$port" --dir "$d/redis-$port" --cluster-enabled yes \
      --cluster-config-file nodes.conf --cluster-node-timeout 1000 --appendonly yes \
      --appendfsync everysec --save "" --logfile "$d/redis-$port.log" >/dev/null 2>&1 &
    redis_pids+=($!) redis_ports+=("$port")
    pids+=($!)
    disown $!
  done
  for port in "${redis_ports[@]}"; do
    wait_for 10 redis-cli -p "$port" ping || die "redis-server on $port: $(tail -n 5 "$d/redis-$port.log" 2>&1)"
  done
  redis-cli --cluster create $(printf '127.0.0.1:%s ' "${redis_ports[@]}") --cluster-replicas 0 \
    --cluster-yes >"$d/cluster-create.log" 2>&1 || die "redis-cli --cluster create"
  wait_for 30 bash -c "redis-cli -p ${redis_ports[0]} cluster info | grep -q cluster_state:ok" ||
    die "the Redis Cluster"
  local seeds
  seeds=$(printf '127.0.0.1:%s,' "${redis_ports[@]}")
  export INBOXD_REDIS_URL="redis-cluster://${seeds%,}"
  ws_ids=() pnids=()
  if ((standalone)); then
    # Nodes without scale-out settings: each loads every workspace when it starts, so they are
    # created first, through a node started for that alone.
    port=$("$loadgen" free-port)
    INBOXD_HTTP_PORT="$port" INBOXD_ADMIN_TOKEN=$admin INBOXD_LOG_LEVEL=warn "$binary" \
      >"$d/inboxd-0.log" 2>&1 &
    local p0=$!
    wait_for 30 curl -sf "http://127.0.0.1:$port/readyz" || die "inboxd on $port"
    create_workspaces "$n" "$port"
    kill -TERM "$p0"
    wait "$p0" || true
  fi
  for i in $(seq 1 "$n"); do
    port=$("$loadgen" free-port)
    local scale=(INBOXD_NODE_ID="n$i" INBOXD_ADVERTISE_URL="http://127.0.0.1:$port"
      INBOXD_CLUSTER_SECRET="$csecret")
    ((standalone)) && scale=()
    env "${scale[@]}" INBOXD_HTTP_PORT="$port" \
      INBOXD_LEASE_MS=$lease_ms INBOXD_ADMIN_TOKEN=$admin INBOXD_META_APP_SECRET=$secret \
      INBOXD_HTTP_THREADS=$http_threads \
      INBOXD_LOG_LEVEL=${SCALE_OUT_LOG_LEVEL:-warn} $pin_nodes "$binary" >"$d/inboxd-$i.log" 2>&1 &
    node_pids+=($!) node_ports+=("$port")
    pids+=($!)
    disown $!
  done
  for port in "${node_ports[@]}"; do
    wait_for 30 curl -sf "http://127.0.0.1:$port/readyz" || die "inboxd on $port"
  done
  lb_ports=() lb_pids=()
  for i in $(seq 1 "$n"); do
    if ((side_by_side || i == n)); then lb_up "$i"; fi
  done
  lb_port=${lb_ports[$n]} lb_pid=${lb_pids[$n]}
  # Workspaces only (no API keys: a key's creation is a workspace request, and would place the
  # lease on the node HAProxy hashes the workspace id to); the warm-up webhooks place the leases.
  ((standalone)) || create_workspaces "$n" "$lb_port"
}

lb_up() { # k: HAProxy in front of the first k nodes -> lb_ports[k], lb_pids[k]
  local k=$1 d="$work/n${#node_ports[@]}" port
  port=$("$loadgen" free-port)
  cat >"$d/haproxy-$k.cfg" <<CFG
global
  daemon
  pidfile $work/haproxy-$k.pid
  maxconn 4096
defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
frontend inbox
  bind 127.0.0.1:$port
  default_backend inboxd
backend inboxd
  http-request set-var(txn.ws) path,field(5,/) if { path_beg /api/webhook/whatsapp/ }
  balance hash var(txn.ws)
  hash-type consistent
  option httpchk GET /readyz
$(for i in $(seq 1 "$k"); do echo "  server n$i 127.0.0.1:${node_ports[$((i - 1))]} check inter 1s fall 2 rise 1"; done)
CFG
  $pin_rest haproxy -f "$d/haproxy-$k.cfg" || die "haproxy"
  lb_ports[$k]=$port lb_pids[$k]=$(cat "$work/haproxy-$k.pid")
  wait_for 30 curl -sf "http://127.0.0.1:$port/readyz" || die "HAProxy"
}

create_workspaces() { # nodes port
  local n=$1 i2 w
  for i2 in $(seq 1 "$nws"); do
    w=$(curl -fsS -X POST "http://127.0.0.1:$2/api/admin/workspaces" \
      -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
      -d "{\"name\":\"so$n-$i2\",\"slug\":\"so$n-$i2\",\"phoneNumberId\":\"$((200000000000 + n * 1000 + i2))\"}") ||
      die "creating workspace $i2"
    ws_ids+=("$(sed -E 's/.*"id":"([^"]+)".*/\1/' <<<"$w")")
    pnids+=("$((200000000000 + n * 1000 + i2))")
  done
}

down() {
  kill -TERM "${lb_pids[@]}" "${node_pids[@]}" 2>/dev/null || true
  sleep 1
  kill -KILL "${lb_pids[@]}" "${node_pids[@]}" "${redis_pids[@]}" 2>/dev/null || true
  rm -f "$work"/haproxy-*.pid
  sleep 0.5
}

results="$work/runs.jsonl"
: >"$results"
run() { # nodes mode(routed|shared) round
  local n=$1 mode=$2 round=$3 s0 s1 r0 r1 h0 h1 f0 f1 line ok rps p50 p99 flag=""
  [[ $mode == routed ]] && flag=--per-number-path
  local load="--mode closed"
  ((rate > 0)) && load="--mode open --rate $((per_node ? rate * n : rate))"
  # The first n nodes, behind the HAProxy that balances over them (with --side-by-side the
  # others run idle; their CPU is not counted).
  local active=("${node_pids[@]:0:n}") lbp=${lb_pids[$n]}
  f0=$(forwarded)
  s0=$(ticks "${active[@]}"); r0=$(ticks "${redis_pids[@]}"); h0=$(ticks "$lbp")
  line=$($pin_rest "$loadgen" run --port "${lb_ports[$n]}" --scenario "$mode-$n" --template webhook \
    --pnids "$(IFS=,; echo "${pnids[*]}")" $flag --secret $secret $load --connections $((per_node ? conns * n : conns)) \
    --duration "$dur" --contact-offset $((n * 1000000000 + round * 10000000 + ${#mode} * 1000000)) \
    --run-tag "so$n$mode$round" --drain 15)
  s1=$(ticks "${active[@]}"); r1=$(ticks "${redis_pids[@]}"); h1=$(ticks "$lbp")
  f1=$(forwarded)
  ok=$(grep -oE '"ok":[0-9]+' <<<"$line" | head -n1 | cut -d: -f2)
  rps=$(grep -oE '"requestsPerSec":[0-9.]+' <<<"$line" | cut -d: -f2)
  p50=$(grep -oE '"p50":[0-9.]+' <<<"$line" | head -n1 | cut -d: -f2)
  p99=$(grep -oE '"p99":[0-9.]+' <<<"$line" | head -n1 | cut -d: -f2)
  [[ ${ok:-0} -gt 0 ]] || die "no webhook answered 200 ($line)"
  awk -v n="$n" -v m="$mode" -v r="$round" -v ok="$ok" -v rps="$rps" -v p50="$p50" -v p99="$p99" \
    -v s=$((s1 - s0)) -v rd=$((r1 - r0)) -v h=$((h1 - h0)) -v f=$((f1 - f0)) -v hz="$hz" 'BEGIN {
      printf "{\"nodes\":%d,\"mode\":\"%s\",\"round\":%d,\"ok\":%d,\"requestsPerSec\":%.0f,\"p50Ms\":%.2f,\"p99Ms\":%.2f,\"cpuUsPerWebhook\":%.1f,\"redisCpuUsPerWebhook\":%.1f,\"haproxyCpuUsPerWebhook\":%.1f,\"forwardedShare\":%.3f}\n",
        n, m, r, ok, rps, p50, p99, s * 1e6 / hz / ok, rd * 1e6 / hz / ok, h * 1e6 / hz / ok, f / ok }' |
    tee -a "$results" >&2
}

owner_port() { # workspace id -> the port of its lease holder
  local v
  v=$(redis-cli -c -p "${redis_ports[0]}" GET "{ws:$1}:owner")
  v=${v##*|}
  echo "${v##*:}"
}

latency() { # port pnid tag offset -> "p50 p99" of 5 s of 200 webhooks/s to that node
  local line
  line=$("$loadgen" run --port "$1" --scenario "lat-$3" --template webhook --pnids "$2" \
    --per-number-path --secret $secret --mode open --rate 200 --duration 5 --connections 16 \
    --contact-offset "$4" --run-tag "lat$3$4" --drain 10)
  echo "$(grep -oE '"p50":[0-9.]+' <<<"$line" | head -n1 | cut -d: -f2)" \
    "$(grep -oE '"p99":[0-9.]+' <<<"$line" | head -n1 | cut -d: -f2)"
}

takeover() { # pnid ws -> seconds from kill -9 of the owner to the next 200 through HAProxy
  local pnid=$1 ws=$2 port victim i t0 t1 code body sig
  port=$(owner_port "$ws")
  for i in "${!node_ports[@]}"; do [[ ${node_ports[$i]} == "$port" ]] && victim=${node_pids[$i]}; done
  [[ -n ${victim:-} ]] || die "no owner found for $ws"
  kill -KILL "$victim"
  t0=$(date +%s%N)
  for i in $(seq 1 600); do
    body='{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"'$pnid'"},"contacts":[{"profile":{"name":"T"},"wa_id":"5511970000001"}],"messages":[{"from":"5511970000001","id":"wamid.takeover.'$i'","timestamp":"1763647391","type":"text","text":{"body":"t"}}]}}]}]}'
    sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac $secret | sed 's/^.* //')
    code=$(curl -s -o /dev/null -w '%{http_code}' -m 2 -X POST \
      "http://127.0.0.1:$lb_port/api/webhook/whatsapp/$pnid" -H 'Content-Type: application/json' \
      -H "X-Hub-Signature-256: sha256=$sig" --data-binary "$body" || true)
    if [[ $code == 200 ]]; then
      t1=$(date +%s%N)
      awk -v d=$((t1 - t0)) 'BEGIN { printf "%.2f\n", d / 1e9 }'
      return 0
    fi
    sleep 0.05
  done
  die "no 200 within 30 s of the kill"
}

extra="$work/extra.jsonl"
: >"$extra"
last=""
warm() { # n: webhooks through the HAProxy of n nodes until every lease sits where it routes
  local n=$1 i
  for i in 1 2 3 4 5; do
    "$loadgen" run --port "${lb_ports[$n]}" --scenario warm --template webhook \
      --pnids "$(IFS=,; echo "${pnids[*]}")" --per-number-path --secret $secret --mode open \
      --rate 500 --connections 16 --duration 3 --contact-offset $((n * 1000000000 + 900000000 + i * 100000)) \
      --run-tag "warm$n.$i.$RANDOM" --drain 10 >/dev/null
    f0=$(forwarded)
    "$loadgen" run --port "${lb_ports[$n]}" --scenario warm --template webhook \
      --pnids "$(IFS=,; echo "${pnids[*]}")" --per-number-path --secret $secret --mode open \
      --rate 500 --connections 16 --duration 1 --contact-offset $((n * 1000000000 + 900000000 + i * 100000 + 50000)) \
      --run-tag "warm$n.$i.$RANDOM" --drain 10 >/dev/null
    if (($(forwarded) == f0)); then break; fi
  done
  log "$n node(s): leases per node port: $(for w in "${ws_ids[@]}"; do owner_port "$w"; done | sort | uniq -c | tr -s ' \n' ' ')"
}

measure_forward_and_takeover() { # n
  local n=$1 own other p t dp50 dp99 fp50 fp99 lat_pid
  own=$(owner_port "${ws_ids[0]}")
  other=""
  for p in "${node_ports[@]:0:n}"; do [[ $p != "$own" ]] && other=$p; done
  # Both at once: the owner keeps getting as many webhooks straight as through the other node,
  # so the lease does not follow the forwarded ones (README "Several nodes") mid-measurement.
  latency "$own" "${pnids[0]}" direct $((n * 1000000000 + 950000000)) >"$work/lat-direct" &
  lat_pid=$!
  read -r fp50 fp99 < <(latency "$other" "${pnids[0]}" forwarded $((n * 1000000000 + 960000000)))
  wait "$lat_pid"
  read -r dp50 dp99 <"$work/lat-direct"
  [[ $(owner_port "${ws_ids[0]}") == "$own" ]] || die "the lease moved during the latency runs"
  t=$(takeover "${pnids[0]}" "${ws_ids[0]}")
  printf '{"nodes":%d,"directP50Ms":%s,"directP99Ms":%s,"forwardedP50Ms":%s,"forwardedP99Ms":%s,"takeoverS":%s,"leaseMs":%d}\n' \
    "$n" "$dp50" "$dp99" "$fp50" "$fp99" "$t" $lease_ms | tee -a "$extra" >&2
}

extra="$work/extra.jsonl"
: >"$extra"
if ((side_by_side)); then
  # One deployment of the most nodes, one HAProxy per node count: the counts take turns round by
  # round, so a slow minute of this shared machine falls on all of them alike.
  last=${node_counts##* }
  log "$last nodes, side by side"
  up "$last"
  for round in $(seq 1 "$rounds"); do
    for n in $node_counts; do
      warm "$n"
      for m in $modes; do run "$n" "$m" "$round"; done
    done
  done
  if ((last > 1)); then measure_forward_and_takeover "$last"; fi
  down
else
  for n in $node_counts; do
    log "$n node(s)"
    up "$n"
    warm "$n"
    for round in $(seq 1 "$rounds"); do
      for m in $modes; do run "$n" "$m" "$round"; done
    done
    if ((n > 1 && !standalone)); then measure_forward_and_takeover "$n"; fi
    down
  done
fi

# --- medians -------------------------------------------------------------------------------------
median() { # nodes mode field
  grep "\"nodes\":$1,\"mode\":\"$2\"" "$results" | grep -oE "\"$3\":[0-9.]+" | cut -d: -f2 | sort -g |
    awk '{v[NR] = $1} END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
first=${node_counts%% *}
printf '\n%-6s %-7s %10s %8s %8s %14s %14s %12s %10s\n' nodes mode "webhooks/s" "p50 ms" "p99 ms" \
  "inboxd us/wh" "vs 1st routed" "Redis us/wh" "forwarded"
base=$(median "$first" routed cpuUsPerWebhook)
for n in $node_counts; do
  for m in $modes; do
    c=$(median "$n" $m cpuUsPerWebhook)
    printf '%-6s %-7s %10s %8s %8s %14s %14s %12s %10s\n' "$n" $m "$(median "$n" $m requestsPerSec)" \
      "$(median "$n" $m p50Ms)" "$(median "$n" $m p99Ms)" "$c" \
      "$(awk -v c="$c" -v b="$base" 'BEGIN { printf "%.2fx", c / b }')" \
      "$(median "$n" $m redisCpuUsPerWebhook)" "$(median "$n" $m forwardedShare)"
  done
done
cat "$extra"
if [[ -n "$out" ]]; then
  { printf '{"meta":{"date":"%s","commit":"%s","nproc":%s,"cpuModel":"%s","rounds":%s,"durationS":%s,"connections":%s,"connectionsPerNode":%s,"workspaces":%s,"redis":"cluster of 3 masters, AOF everysec","leaseMs":%s,"httpThreads":%s,"rate":%s,"sideBySide":%s},"runs":[' \
      "$(date -u +%FT%TZ)" "$(git rev-parse --short HEAD)" "$(nproc)" \
      "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" "$rounds" "$dur" "$conns" \
      "$([[ $per_node == 1 ]] && echo true || echo false)" "$nws" \
      $lease_ms "$http_threads" "$rate" "$([[ $side_by_side == 1 ]] && echo true || echo false)"
    paste -sd, "$results"; printf '],"forwardAndTakeover":['; paste -sd, "$extra"; echo ']}'; } >"$out"
  log "wrote $out"
fi
