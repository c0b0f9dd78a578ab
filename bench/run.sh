#!/usr/bin/env bash
# The benchmark, end to end: builds a Release inboxd and the load generator into build/release,
# starts its own redis-server (AOF on, appendfsync everysec) and inboxd on free ports in a
# temporary directory, provisions workspaces over the admin API, preloads data, runs every scenario
# of bench/README.md, prints the results table and writes bench/results/<date>.json and
# bench/results/latest.json, with inboxd's GET /metrics as it was at the end next to them
# (<date>.metrics.txt, latest.metrics.txt).
#
#   bench/run.sh                      the full benchmark (about 10 minutes, build included)
#   bench/run.sh --only 8,9           only those scenarios (with the preparation they need)
#   bench/run.sh --no-build ...       full mode with the binaries already in build/release (or
#                                     --binary/--loadgen/--fake-cloud-api): no deps.sh, no build
#   bench/run.sh --smoke --binary PATH --loadgen PATH [--fake-cloud-api PATH] [--results-dir DIR]
#                                     a few seconds per scenario at tiny scale, with the given
#                                     binaries (the test command runs it on the ASan build);
#                                     exits non-zero when a scenario gets no successful request
#                                     or a process fails
# Environment: JOBS (build parallelism, default 2); BENCH_KEEP=1 keeps the temporary directory.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

smoke=0
binary=""
loadgen=""
fake=""
results_dir=""
only=""
no_build=0
while (($#)); do
  case "$1" in
    --smoke) smoke=1 ;;
    --binary) binary="$2"; shift ;;
    --loadgen) loadgen="$2"; shift ;;
    --fake-cloud-api) fake="$2"; shift ;;
    --results-dir) results_dir="$2"; shift ;;
    --only) only="$2"; shift ;;
    --no-build) no_build=1 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "bench: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

log() { echo "bench: $*" >&2; }
# want N...: whether any of these scenarios runs (--only, else all of them)
want() {
  [[ -z "$only" ]] && return 0
  local n
  for n in "$@"; do [[ ",$only," == *",$n,"* ]] && return 0; done
  return 1
}
die() { echo "bench: FAILED: $*" >&2; exit 1; }
started_at=$(date +%s)

# --- binaries ------------------------------------------------------------------------------------
if ((smoke)); then
  [[ -n "$binary" && -n "$loadgen" ]] || die "--smoke needs --binary and --loadgen"
  [[ -n "$fake" ]] || fake="$(dirname "$loadgen")/inboxd_fake_cloud_api"
  # Sanitizer builds: the tests' UBSan suppressions (CAF 0.17's headers), unless already set.
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:suppressions=$root/tests/ubsan.supp}"
elif ((no_build)); then
  build_dir="$root/build/release"
  [[ -n "$binary" ]] || binary="$build_dir/inboxd"
  [[ -n "$loadgen" ]] || loadgen="$build_dir/bench/inboxd_loadgen"
  [[ -n "$fake" ]] || fake="$(dirname "$loadgen")/inboxd_fake_cloud_api"
  log "no build: $binary"
else
  bash scripts/deps.sh
  build_dir="$root/build/release"
  log "building Release into $build_dir"
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DINBOXD_TESTS=OFF -DINBOXD_BENCH=ON \
    -DCMAKE_CXX_FLAGS= >/dev/null
  cmake --build "$build_dir" -j "${JOBS:-2}" --target inboxd inboxd_loadgen inboxd_fake_cloud_api >&2
  binary="$build_dir/inboxd"
  loadgen="$build_dir/bench/inboxd_loadgen"
  fake="$build_dir/bench/inboxd_fake_cloud_api"
fi
for b in "$binary" "$loadgen" "$fake"; do
  [[ -x "$b" ]] || die "not an executable: $b"
done
command -v redis-server >/dev/null || die "redis-server not found (bash scripts/deps.sh installs it)"
command -v redis-cli >/dev/null || die "redis-cli not found (bash scripts/deps.sh installs redis-tools)"
command -v curl >/dev/null || die "curl not found"

# --- sizes and settings --------------------------------------------------------------------------
if ((smoke)); then
  dur=2; drain=10
  rate_ingest=300; rate_list=200; rate_phone=200; rate_send=100; rate_mixed=200; rate_stream=100
  rate_batch=30; closed_conns=8
  inbox_convs=500; echo_pool=1000; scale_ws=10; scale_per_post=20; scale_posts=100 # 2,000 conversations
  scale_max_s=120; settle_max=20
  idle_ms=1000
  history_msgs=500; history_threads=10; history_bytes=200000
  media_count=100; media_ws=2; media_max_s=60
  hooks_rate=100; hooks_drain_max=60
else
  dur=10; drain=15
  rate_ingest=10000; rate_list=5000; rate_phone=5000; rate_send=2000; rate_mixed=2000; rate_stream=1000
  rate_batch=500; closed_conns=64
  inbox_convs=10000; echo_pool=30000; scale_ws=100; scale_per_post=50; scale_posts=20000 # 1,000,000
  scale_max_s=300; settle_max=60 # an ingest slower than 300 s is cut there (the facts say how many)
  idle_ms=10000
  history_msgs=10000; history_threads=50; history_bytes=$((3 * 1024 * 1024 - 4096))
  media_count=15000; media_ws=10; media_max_s=300 # the backlog outlasts the 10 s webhook run
  hooks_rate=1000; hooks_drain_max=120 # scenario 10: open-loop rate; bound of the delivery drain
fi
media_bytes=262144       # each media file the fake Cloud API serves (256 KiB)
media_concurrency=4      # per workspace (INBOXD_MEDIA_CONCURRENCY's default): media_ws * 4 at once
admin_token="bench-admin-$RANDOM$RANDOM"
app_secret="bench-secret-$RANDOM$RANDOM"

work="$(mktemp -d "${TMPDIR:-/tmp}/inboxd-bench.XXXXXX")"
[[ -n "$results_dir" ]] || { ((smoke)) && results_dir="$work/results" || results_dir="$root/bench/results"; }
mkdir -p "$results_dir" "$work/redis"
runs="$work/runs.jsonl"
: >"$runs"

redis_pid=""; inboxd_pid=""; fake_pid=""; rx_pid=""
cleanup() {
  local rc=$?
  for p in $inboxd_pid $fake_pid $rx_pid $redis_pid; do
    kill "$p" 2>/dev/null || true
  done
  # Up to 10 s to exit, then SIGKILL: an overloaded process must not keep burning the machine.
  for _ in $(seq 1 100); do
    local any=0
    for p in $inboxd_pid $fake_pid $rx_pid $redis_pid; do kill -0 "$p" 2>/dev/null && any=1; done
    ((any)) || break
    sleep 0.1
  done
  for p in $inboxd_pid $fake_pid $rx_pid $redis_pid; do
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  if ((rc != 0)); then
    for f in "$work/inboxd.log" "$work/redis.log"; do
      [[ -f "$f" ]] && { echo "--- tail of $f" >&2; tail -n 30 "$f" >&2; }
    done
  fi
  if [[ "${BENCH_KEEP:-0}" == 1 ]]; then
    log "kept $work"
  elif ((rc != 0)) || [[ "$results_dir" == "$work"/* ]]; then
    rm -rf "$work/redis" # keep the logs (and smoke results), drop the data
    log "logs kept in $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

# --- processes -----------------------------------------------------------------------------------
redis_port=$("$loadgen" free-port)
redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$work/redis" \
  --appendonly yes --appendfsync everysec --save "" --logfile "$work/redis.log" &
redis_pid=$!
rcli() { redis-cli -h 127.0.0.1 -p "$redis_port" "$@"; }
for _ in $(seq 1 100); do rcli ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
rcli ping 2>/dev/null | grep -q PONG || die "redis-server did not start"
log "redis-server pid $redis_pid on 127.0.0.1:$redis_port (AOF everysec) in $work/redis"

"$fake" "$media_bytes" >"$work/fake.out" 2>"$work/fake.err" &
fake_pid=$!
for _ in $(seq 1 100); do [[ -s "$work/fake.out" ]] && break; sleep 0.1; done
fake_port=$(head -n1 "$work/fake.out")
[[ "$fake_port" =~ ^[0-9]+$ ]] || die "fake Cloud API did not start: $(cat "$work/fake.err")"
log "fake Cloud API pid $fake_pid on 127.0.0.1:$fake_port (plain HTTP)"

port=$("$loadgen" free-port)
export INBOXD_HTTP_ADDR=127.0.0.1 INBOXD_HTTP_PORT="$port"
export INBOXD_REDIS_URL="redis://127.0.0.1:$redis_port/0"
export INBOXD_ADMIN_TOKEN="$admin_token" INBOXD_META_APP_SECRET="$app_secret"
export INBOXD_CONVERSATION_IDLE_MS="$idle_ms"
export INBOXD_SEND_RATE=5000            # the fake Cloud API is not rate limited; keep the outbox moving
export INBOXD_MEDIA_DIR="$work/media" INBOXD_MEDIA_CONCURRENCY="$media_concurrency"
export INBOXD_LOG_LEVEL="${INBOXD_LOG_LEVEL:-info}"
export INBOXD_WEBHOOK_ALLOW_PRIVATE=1   # scenario 10's outgoing webhooks go to receivers on loopback
"$binary" >"$work/inboxd.log" 2>&1 &
inboxd_pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 300); do
  curl -fsS "$base/readyz" >/dev/null 2>&1 && break
  kill -0 "$inboxd_pid" 2>/dev/null || die "inboxd exited at start"
  sleep 0.1
done
curl -fsS "$base/readyz" >/dev/null || die "inboxd not ready"
log "inboxd pid $inboxd_pid on $base ($(basename "$binary"), idle passivation ${idle_ms} ms)"

alive() {
  kill -0 "$inboxd_pid" 2>/dev/null || die "inboxd died (during $1)"
  kill -0 "$redis_pid" 2>/dev/null || die "redis-server died (during $1)"
}

# inboxd's CPU time in clock ticks.
ticks() { awk '{print $14 + $15}' "/proc/$inboxd_pid/stat"; }
# settle LABEL: waits (up to settle_max s) until inboxd uses under 0.15 cores over a second, so
# work left over from one scenario (say, an overload's backlog) does not land in the next one.
settle() {
  local hz a b waited=0
  hz=$(getconf CLK_TCK)
  while ((waited < settle_max)); do
    a=$(ticks); sleep 1; b=$(ticks)
    waited=$((waited + 1))
    (( (b - a) * 100 < 15 * hz )) && break
  done
  ((waited <= 1)) || log "settled for ${waited} s before $1"
}

no_settle=0 # 1: lg does not wait for inboxd to go idle (scenario 6 starts two generators at once)
last_out=""
# lg RECORD(0|1) LABEL ARGS...: one loadgen run against inboxd; RECORD=1 appends it to the
# results. A setup run (0) that fails stops the benchmark; so does a measured run in smoke mode;
# in a full run, a failed measured run is recorded as a row with its error and the rest goes on.
lg() {
  local record=$1 label=$2
  shift 2
  local out
  ((record && !no_settle)) && settle "$label"
  if ! out=$(timeout 900 "$loadgen" run --port "$port" --scenario "$label" --pid "$inboxd_pid" \
    --redis-pid "$redis_pid" --drain "$drain" "$@" 2>"$work/lg.err"); then
    cat "$work/lg.err" >&2
    alive "$label"
    ((record && !smoke)) || die "loadgen failed in $label"
    printf '{"scenario":"%s","ok":0,"errors":null,"firstError":"loadgen: %s"}\n' "$label" \
      "$(tr -d '"\\\n' <"$work/lg.err" | cut -c1-300)" >>"$runs"
    return 0
  fi
  last_out="$out"
  alive "$label"
  if ((record)); then
    echo "$out" >>"$runs"
  fi
  local ok req
  ok=$(grep -oE '"ok":[0-9]+' <<<"$out" | head -n1 | cut -d: -f2)
  req=$(grep -oE '"requests":[0-9]+' <<<"$out" | head -n1 | cut -d: -f2)
  log "$label: $ok/$req ok $(grep -oE '"requestsPerSec":[0-9.]+' <<<"$out") $(grep -oE '"p99":[0-9.]+' <<<"$out" | head -1)"
  if [[ "$ok" == 0 ]]; then
    log "$label: no successful request: $(grep -oE '"firstError":"[^"]*"' <<<"$out")"
    ((record)) || die "$label (setup) failed"
  fi
}

# --- workspaces ----------------------------------------------------------------------------------
provision() { # prefix count pnid_base [send]
  local extra=()
  [[ "${4:-}" == send ]] && extra=(--send-base-url "http://127.0.0.1:$fake_port" --access-token bench-token)
  timeout 300 "$loadgen" provision --port "$port" --admin-token "$admin_token" --prefix "$1" \
    --count "$2" --pnid-base "$3" "${extra[@]}" || die "provisioning $1 failed"
}
line=$(provision ingest 1 100000000000)
read -r ingest_ws ingest_pnid ingest_key <<<"$line"
line=$(provision inbox 1 200000000000 send)
read -r inbox_ws inbox_pnid inbox_key <<<"$line"
line=$(provision history 1 400000000000)
read -r _ history_pnid _ <<<"$line"
log "workspaces: ingest $ingest_ws, inbox $inbox_ws (send -> fake Cloud API)"

# --- preload -------------------------------------------------------------------------------------
if want 2 3 4 5 6; then
t=$(date +%s)
# inbox: one conversation per contact (10 new contacts per POST), then tags/status/mode/read on them
lg 0 "preload inbox" --template webhook --mode closed --connections "$closed_conns" \
  --pnids "$inbox_pnid" --secret "$app_secret" --messages 10 --requests $((inbox_convs / 10)) \
  --run-tag pre-inbox
lg 0 "decorate inbox" --template decorate --mode closed --connections "$closed_conns" \
  --key "$inbox_key" --conversations "$inbox_convs" --requests "$inbox_convs"
# ingest: outbound messages (business-app echoes) whose statuses scenario 2 delivers
lg 0 "preload echoes" --template webhook --mode closed --connections "$closed_conns" \
  --pnids "$ingest_pnid" --secret "$app_secret" --echoes --messages 10 --contacts "$inbox_convs" \
  --requests $((echo_pool / 10)) --run-tag echo
log "preload took $(($(date +%s) - t)) s"
fi

# --- scenarios -----------------------------------------------------------------------------------
wh=(--template webhook --pnids "$ingest_pnid" --secret "$app_secret")
# 1: one text message per POST, every message from a new contact
if want 1; then
lg 1 "1 webhook 1 msg" "${wh[@]}" --mode closed --connections "$closed_conns" --duration "$dur" \
  --contact-offset 10000000 --run-tag s1c
lg 1 "1 webhook 1 msg" "${wh[@]}" --mode open --rate "$rate_ingest" --duration "$dur" \
  --contact-offset 20000000 --run-tag s1o
fi
# 2: 10 messages (existing contacts) + 10 statuses (of the echoes) per POST
if want 2; then
s2=(--messages 10 --statuses 10 --contacts "$inbox_convs" --status-tag echo
  --status-pool "$echo_pool" --status-contacts "$inbox_convs")
lg 1 "2 webhook 10+10" "${wh[@]}" "${s2[@]}" --mode closed --connections "$closed_conns" \
  --duration "$dur" --run-tag s2c
lg 1 "2 webhook 10+10" "${wh[@]}" "${s2[@]}" --mode open --rate "$rate_batch" --duration "$dur" \
  --run-tag s2o
fi
# 3: conversation list pages with mixed filters; 4: contact by phone
want 3 && lg 1 "3 list conversations" --template list --key "$inbox_key" --mode open --rate "$rate_list" \
  --duration "$dur"
want 4 && lg 1 "4 contact by phone" --template by-phone --key "$inbox_key" --contacts "$inbox_convs" \
  --mode open --rate "$rate_phone" --duration "$dur"
# 5: sends (every inbox conversation had an inbound message minutes ago: the window is open)
want 5 && lg 1 "5 send message" --template send --key "$inbox_key" --conversations "$inbox_convs" \
  --mode open --rate "$rate_send" --duration "$dur"
# 6: agents' inbox (80% reads / 20% writes) while customers' messages stream in
if want 6; then
settle "6"
"$loadgen" run --port "$port" --scenario "6 webhooks (background)" --template webhook \
  --pnids "$inbox_pnid" --secret "$app_secret" --contacts "$inbox_convs" --run-tag s6 \
  --mode open --rate "$rate_stream" --duration "$dur" --drain "$drain" \
  --pid "$inboxd_pid" --redis-pid "$redis_pid" >"$work/s6-webhooks.json" &
bg=$!
no_settle=1
lg 1 "6 mixed 80r/20w" --template mixed --key "$inbox_key" --contacts "$inbox_convs" \
  --conversations "$inbox_convs" --mode open --rate "$rate_mixed" --duration "$dur"
no_settle=0
if wait "$bg"; then
  cat "$work/s6-webhooks.json" >>"$runs"
else
  ((!smoke)) || die "background webhooks failed in scenario 6"
  echo '{"scenario":"6 webhooks (background)","ok":0,"errors":null,"firstError":"loadgen failed"}' >>"$runs"
fi
fi

# 8 (before 7, which fills Redis): the business app's past chats, 3 MiB history bodies of
# history_msgs messages in 50 threads (new contacts) each, two connections back to back
want 8 && lg 1 "8 history import" --template history --pnids "$history_pnid" --secret "$app_secret" \
  --messages "$history_msgs" --history-threads "$history_threads" --body-bytes "$history_bytes" \
  --contact-base 4930000000000 --mode closed --connections 2 --duration "$dur" --run-tag s8

# 9 (before 7): media. media_count image webhooks (one per POST, each a new contact, over
# media_ws workspaces) queue as many downloads of media_bytes each from the fake Cloud API (lookup,
# then the file); up to media_ws * media_concurrency run at once. Text webhooks stream in (open
# loop, another workspace) first alone, then once every media is queued, while the backlog
# downloads: the webhook p99 with and without downloads, side by side.
if want 9; then
media_lines=$(provision media "$media_ws" 500000000000 send)
media_pnids=$(awk '{print $2}' <<<"$media_lines" | paste -sd, -)
media_stored() {
  curl -fsS "$base/metrics" | awk '/^inboxd_media_downloads_total\{outcome="stored"\}/ {print $2}'
}
# the same webhooks first without downloads: the baseline of the row below, in the same run
lg 1 "9 webhooks (no download)" --template webhook --pnids "$ingest_pnid" --secret "$app_secret" \
  --contact-offset 70000000 --run-tag s9b --mode open --rate "$rate_stream" --duration "$dur"
media_backlog() { local n; n=$(media_stored); echo $((media_count - ${n:-0} + stored0)); }
settle "9"
stored0=$(media_stored); stored0=${stored0:-0}
t0=$(date +%s%N); c0=$(ticks)
no_settle=1
lg 1 "9 media webhooks" --template webhook --media --pnids "$media_pnids" --secret "$app_secret" \
  --mode closed --connections 8 --requests "$media_count" --duration "$media_max_s" \
  --contact-offset 50000000 --run-tag s9
# every media is queued now: the same webhooks again while the backlog downloads
backlog_start=$(media_backlog)
lg 1 "9 webhooks while media download" --template webhook --pnids "$ingest_pnid" \
  --secret "$app_secret" --contact-offset 60000000 --run-tag s9w --mode open --rate "$rate_stream" \
  --duration "$dur"
backlog_end=$(media_backlog)
no_settle=0
stored=0
for _ in $(seq 1 $((media_max_s * 10))); do
  stored=$(media_stored); stored=$(( ${stored:-0} - stored0 ))
  ((stored >= media_count)) && break
  sleep 0.1
done
t1=$(date +%s%N); c1=$(ticks)
((stored >= media_count)) || log "scenario 9: only $stored of $media_count media stored in ${media_max_s} s"
((!smoke || stored >= media_count)) || die "media downloads did not finish in scenario 9"
hz=$(getconf CLK_TCK)
awk -v n="$stored" -v want="$media_count" -v ns=$((t1 - t0)) -v ticks=$((c1 - c0)) -v hz="$hz" \
  -v bytes="$media_bytes" -v ws="$media_ws" -v conc="$media_concurrency" \
  -v b0="$backlog_start" -v b1="$backlog_end" \
  'BEGIN { s = ns / 1e9; printf "{\"type\":\"facts\",\"scenario\":\"9 media downloads\",\"media\":%d,\"stored\":%d,\"bytesEach\":%d,\"workspaces\":%d,\"concurrencyPerWorkspace\":%d,\"seconds\":%.2f,\"downloadsPerSec\":%.1f,\"inboxdCpuSecondsDuringDownloads\":%.2f,\"backlogAtWebhooksStart\":%d,\"backlogAtWebhooksEnd\":%d}\n", want, n, bytes, ws, conc, s, n / s, ticks / hz, b0, b1 }' >>"$runs"
log "9 media downloads: $stored stored in $(( (t1 - t0) / 1000000 )) ms"
fi

# 10 (before 7): outgoing webhooks. Three fresh workspaces: A without outgoing webhooks, B with 2
# (all four event types, each to a receiver answering 200 `{}` at once), H with 1 to a receiver
# that never answers (both receivers: `inboxd_fake_cloud_api --receivers`). (a)/(b): scenario 1's
# closed loop (1 text message per POST, each from a new contact) into A, then into B, three times
# in turn so the machine's noise falls on both; B's 2 webhooks are created right before each of its
# runs and deleted after it (their pending deliveries dropped), so no backlog of one run lands in
# the next. (c): after the last B run its webhooks stay: the time until both queues are empty
# (bounded by hooks_drain_max), the deliveries that succeeded meanwhile and inboxd's CPU over it.
# (d): open loop at hooks_rate/s into A, then into H (its hanging webhook created just before).
if want 10; then
"$fake" --receivers >"$work/receivers.out" 2>"$work/receivers.err" &
rx_pid=$!
for _ in $(seq 1 100); do [[ -s "$work/receivers.out" ]] && break; sleep 0.1; done
read -r rx_ok_port rx_hang_port <"$work/receivers.out" || true
[[ "${rx_ok_port:-}" =~ ^[0-9]+$ && "${rx_hang_port:-}" =~ ^[0-9]+$ ]] ||
  die "webhook receivers did not start: $(cat "$work/receivers.err")"
log "webhook receivers pid $rx_pid: 200 on 127.0.0.1:$rx_ok_port, hanging on 127.0.0.1:$rx_hang_port"
hooks_lines=$(provision hooks 3 600000000000)
read -r _ hooks_a_pnid _ <<<"$(sed -n 1p <<<"$hooks_lines")"
read -r _ hooks_b_pnid hooks_b_key <<<"$(sed -n 2p <<<"$hooks_lines")"
read -r hooks_h_ws hooks_h_pnid hooks_h_key <<<"$(sed -n 3p <<<"$hooks_lines")"
hook_create() { # KEY URL: prints the new outgoing webhook's id
  local out id
  out=$(curl -fsS --max-time 30 -X POST "$base/api/webhooks" -H "X-API-Key: $1" \
    -H 'Content-Type: application/json' \
    -d "{\"url\":\"$2\",\"events\":[\"message.created\",\"message.updated\",\"conversation.created\",\"conversation.updated\"]}") ||
    die "POST /api/webhooks ($2) failed"
  id=$(grep -oE '"id":"wh_[^"]*"' <<<"$out" | head -n1 | cut -d'"' -f4)
  [[ -n "$id" ]] || die "POST /api/webhooks ($2) answered without an id: $out"
  echo "$id"
}
hook_delete() { # KEY ID
  curl -fsS --max-time 60 -X DELETE "$base/api/webhooks/$2" -H "X-API-Key: $1" >/dev/null ||
    die "DELETE /api/webhooks/$2 failed"
}
# hook_snapshot IDS...: "succeeded retried failed pending missing" from one GET /metrics: the
# deliveries counters, the queue depth summed over these webhooks, how many of them have no series
hook_snapshot() {
  local m
  m=$(curl -fsS --max-time 10 "$base/metrics") || return 1
  awk -v ids=" $* " '
    /^inboxd_outgoing_webhook_deliveries_total\{outcome="succeeded"\}/ { s = $2 }
    /^inboxd_outgoing_webhook_deliveries_total\{outcome="retried"\}/ { r = $2 }
    /^inboxd_outgoing_webhook_deliveries_total\{outcome="failed"\}/ { f = $2 }
    /^inboxd_outgoing_webhook_queue_depth\{/ {
      if (match($1, /endpoint="[^"]*"/)) {
        id = substr($1, RSTART + 10, RLENGTH - 11)
        if (index(ids, " " id " ")) { seen[id] = 1; d += $2 }
      }
    }
    END {
      n = split(ids, a, " "); m = 0
      for (i = 1; i <= n; i++) if (!(a[i] in seen)) m++
      printf "%d %d %d %d %d\n", s, r, f, d, m
    }' <<<"$m"
}
rate_of() { grep -oE '"requestsPerSec":[0-9.]+' <<<"$1" | head -n1 | cut -d: -f2; }
p99_of() { grep -oE '"p99":[0-9.]+' <<<"$1" | head -n1 | cut -d: -f2; }
median3() { printf '%s\n' "$@" | sort -g | sed -n 2p; }
rate_label=$(printf '%d' "$hooks_rate" | sed -E ':a;s/^([0-9]+)([0-9]{3})/\1,\2/;ta')
hz=$(getconf CLK_TCK)
redis_ticks() { awk '{print $14 + $15}' "/proc/$redis_pid/stat"; }
h10=(--template webhook --secret "$app_secret")
closed10=(--mode closed --connections "$closed_conns" --duration "$dur")
# warm-up (not recorded): both workspaces' actors and inboxd's pools, so A's first run is not the
# first load on a fresh process
warm=$((dur < 3 ? dur : 3))
lg 0 "10 warm-up A" "${h10[@]}" --pnids "$hooks_a_pnid" --mode closed --connections "$closed_conns" \
  --duration "$warm" --contact-offset 90000000 --run-tag s10wa
lg 0 "10 warm-up B" "${h10[@]}" --pnids "$hooks_b_pnid" --mode closed --connections "$closed_conns" \
  --duration "$warm" --contact-offset 90000000 --run-tag s10wb
rates_a=(); rates_b=()
ok_url="http://127.0.0.1:$rx_ok_port"
for i in 1 2 3; do
  last_out=""
  lg 1 "10 ingest, no endpoints" "${h10[@]}" --pnids "$hooks_a_pnid" "${closed10[@]}" \
    --contact-offset $((100000000 + i * 10000000)) --run-tag "s10a$i"
  r=$(rate_of "$last_out"); rates_a+=("${r:-0}")
  hook_b1=$(hook_create "$hooks_b_key" "$ok_url/one")
  hook_b2=$(hook_create "$hooks_b_key" "$ok_url/two")
  read -r s_pre _ <<<"$(hook_snapshot "$hook_b1" "$hook_b2" || echo 0)"
  last_out=""
  lg 1 "10 ingest, 2 endpoints" "${h10[@]}" --pnids "$hooks_b_pnid" "${closed10[@]}" \
    --contact-offset $((200000000 + i * 10000000)) --run-tag "s10b$i"
  r=$(rate_of "$last_out"); rates_b+=("${r:-0}")
  ok_b=$(grep -oE '"ok":[0-9]+' <<<"$last_out" | head -n1 | cut -d: -f2)
  ((i == 3)) && break
  hook_delete "$hooks_b_key" "$hook_b1"
  hook_delete "$hooks_b_key" "$hook_b2"
done
# (c) the last run's backlog drains
read -r s0 r0 f0 pending0 missing0 <<<"$(hook_snapshot "$hook_b1" "$hook_b2" || echo 0 0 0 0 2)"
t0=$(date +%s%N); c0=$(ticks); rc0=$(redis_ticks)
deadline=$((t0 + hooks_drain_max * 1000000000))
drained=false
snap="$s0 $r0 $f0 $pending0 $missing0"
while :; do
  read -r _ _ _ pending missing <<<"$snap"
  if [[ "$missing" == 0 && "$pending" == 0 ]]; then drained=true; break; fi
  (($(date +%s%N) < deadline)) || break
  sleep 0.25
  alive "10 drain"
  snap=$(hook_snapshot "$hook_b1" "$hook_b2") || snap="$s0 $r0 $f0 -1 2"
done
t1=$(date +%s%N); c1=$(ticks); rc1=$(redis_ticks)
# the counters once more, a moment later, for the outcomes of the last attempts in flight
sleep 0.2
read -r s1 r1 f1 pending1 _ <<<"$(hook_snapshot "$hook_b1" "$hook_b2" || echo "$s0 $r0 $f0 -1 2")"
delivered=$((s1 - s0))
[[ $drained == true ]] || log "scenario 10: queues not empty after ${hooks_drain_max} s ($pending1 pending)"
((!smoke || s1 > 0)) || die "scenario 10: no outgoing webhook delivery succeeded"
awk -v ns=$((t1 - t0)) -v ticks=$((c1 - c0)) -v rticks=$((rc1 - rc0)) -v hz="$hz" -v n="$delivered" \
  -v q0="$pending0" -v q1="$pending1" -v retried=$((r1 - r0)) -v failed=$((f1 - f0)) \
  -v drained="$drained" -v bound="$hooks_drain_max" -v during=$((s0 - s_pre)) -v posts="${ok_b:-0}" \
  'BEGIN { s = ns / 1e9; cpu = ticks / hz
    printf "{\"type\":\"facts\",\"scenario\":\"10 outgoing webhooks: drain after the last 2-endpoint run\",\"endpoints\":2,\"pendingAtStart\":%d,\"drained\":%s,\"boundSeconds\":%d,\"seconds\":%.2f,\"deliveriesSucceeded\":%d,\"deliveriesRetried\":%d,\"deliveriesFailed\":%d,\"pendingAtEnd\":%d,\"deliveriesPerSec\":%s,\"inboxdCpuSecondsDuringDrain\":%.2f,\"inboxdCpuUsPerDelivery\":%s,\"redisCpuSecondsDuringDrain\":%.2f,\"lastRunPosts\":%d,\"succeededDuringLastRun\":%d,\"deliveriesPerPost\":%s}\n",
      q0, drained, bound, s, n, retried, failed, q1, (s > 0 ? sprintf("%.1f", n / s) : "null"), cpu,
      (n > 0 ? sprintf("%.1f", cpu * 1e6 / n) : "null"), rticks / hz, posts, during,
      (posts > 0 ? sprintf("%.2f", (during + q0) / posts) : "null") }' >>"$runs"
log "10 drain: $delivered deliveries in $(( (t1 - t0) / 1000000 )) ms (drained $drained, $pending0 pending at start)"
hook_delete "$hooks_b_key" "$hook_b1"
hook_delete "$hooks_b_key" "$hook_b2"
# side by side: the three rates of each and the ratio of the medians
med_a=$(median3 "${rates_a[@]}"); med_b=$(median3 "${rates_b[@]}")
awk -v a="${rates_a[*]}" -v b="${rates_b[*]}" -v ma="$med_a" -v mb="$med_b" \
  'BEGIN { gsub(/ /, ",", a); gsub(/ /, ",", b)
    printf "{\"type\":\"facts\",\"scenario\":\"10 outgoing webhooks: ingest side by side (closed loop, a,b,a,b,a,b)\",\"noEndpointsPerSec\":[%s],\"twoEndpointsPerSec\":[%s],\"medianNoEndpoints\":%.1f,\"medianTwoEndpoints\":%.1f,\"ratioPercent\":%s,\"targetPercent\":80}\n",
      a, b, ma, mb, (ma > 0 ? sprintf("%.1f", 100 * mb / ma) : "null") }' >>"$runs"
log "10 side by side: no endpoints ${rates_a[*]} /s, 2 endpoints ${rates_b[*]} /s"
# (d) open loop, without then with a webhook that hangs
last_out=""
lg 1 "10 ingest $rate_label/s, no endpoints" "${h10[@]}" --pnids "$hooks_a_pnid" --mode open \
  --rate "$hooks_rate" --duration "$dur" --contact-offset 300000000 --run-tag s10d0
p99_none=$(p99_of "$last_out")
hook_h=$(hook_create "$hooks_h_key" "http://127.0.0.1:$rx_hang_port/hang")
read -r _ hr0 _ _ _ <<<"$(hook_snapshot "$hook_h" || echo 0 0 0 0 1)"
last_out=""
lg 1 "10 ingest $rate_label/s, hanging endpoint" "${h10[@]}" --pnids "$hooks_h_pnid" --mode open \
  --rate "$hooks_rate" --duration "$dur" --contact-offset 310000000 --run-tag s10dh
p99_hang=$(p99_of "$last_out")
read -r _ hr1 _ hgauge _ <<<"$(hook_snapshot "$hook_h" || echo 0 0 0 -1 1)"
# the gauge is as of the webhook's last queue step (none while its 4 attempts hang): the queue's
# length from Redis too (storage/hook_store.cpp: {ws:<id>}:wq:<webhook>)
hqueued=$(rcli zcard "{ws:$hooks_h_ws}:wq:$hook_h" 2>/dev/null || true)
[[ "$hqueued" =~ ^[0-9]+$ ]] || hqueued=null
hook_delete "$hooks_h_key" "$hook_h"
echo "{\"type\":\"facts\",\"scenario\":\"10 outgoing webhooks: open loop $rate_label/s\",\"p99NoEndpointsMs\":${p99_none:-null},\"p99HangingEndpointMs\":${p99_hang:-null},\"hangingQueuedAfter\":$hqueued,\"hangingQueueGaugeAfter\":$hgauge,\"retriedDuringHangingRun\":$((hr1 - hr0))}" >>"$runs"
fi

# 7: scale: many conversations across many workspaces, then memory and list latency again
if want 7; then
scale_convs=$((scale_posts * scale_per_post))
log "scenario 7: $scale_convs conversations across $scale_ws workspaces"
scale_lines=$(provision scale "$scale_ws" 300000000000)
scale_pnids=$(awk '{print $2}' <<<"$scale_lines" | paste -sd, -)
scale_key0=$(head -n1 <<<"$scale_lines" | awk '{print $3}')
last_out=""
lg 1 "7 scale ingest" --template webhook --pnids "$scale_pnids" --secret "$app_secret" \
  --messages "$scale_per_post" --mode closed --connections "$closed_conns" \
  --requests "$scale_posts" --duration "$scale_max_s" --run-tag s7
scale_convs=$(grep -oE '"items":[0-9]+' <<<"$last_out" | head -n1 | cut -d: -f2)
scale_convs=${scale_convs:-0}
lg 0 "decorate scale-0" --template decorate --mode closed --connections "$closed_conns" \
  --key "$scale_key0" --conversations $((scale_posts * scale_per_post / scale_ws)) \
  --requests $((scale_convs / scale_ws + 1))
wait_s=$(( (idle_ms + 999) / 1000 + 5 ))
log "waiting ${wait_s} s for idle conversation actors to passivate"
sleep "$wait_s"
alive "passivation"
rss=$(awk '/^VmRSS:/ {printf "%.1f", $2/1024}' "/proc/$inboxd_pid/status")
hwm=$(awk '/^VmHWM:/ {printf "%.1f", $2/1024}' "/proc/$inboxd_pid/status")
threads=$(awk '/^Threads:/ {print $2}' "/proc/$inboxd_pid/status")
redis_used=$(rcli info memory | awk -F: '/^used_memory:/ {printf "%.1f", $2/1048576}')
redis_rss=$(rcli info memory | awk -F: '/^used_memory_rss:/ {printf "%.1f", $2/1048576}')
redis_keys=$(rcli dbsize)
live=$(curl -fsS "$base/metrics" | awk '/^inboxd_live_actors / {print $2}')
echo "{\"type\":\"facts\",\"scenario\":\"7 scale (after passivation)\",\"conversations\":$scale_convs,\"workspaces\":$scale_ws,\"inboxdRssMiB\":$rss,\"inboxdPeakRssMiB\":$hwm,\"inboxdThreads\":$threads,\"liveActors\":${live:-null},\"redisUsedMemoryMiB\":$redis_used,\"redisRssMiB\":$redis_rss,\"redisKeys\":$redis_keys}" >>"$runs"
lg 1 "7 list @ scale" --template list --key "$scale_key0" --mode open --rate "$rate_list" \
  --duration "$dur"
fi

# --- shutdown and report -------------------------------------------------------------------------
# inboxd's own counters over the whole run (requests, webhook items, store commits, Redis errors).
curl -fsS "$base/metrics" >"$work/metrics.txt" || die "GET /metrics failed"
kill -TERM "$inboxd_pid"
set +e
wait "$inboxd_pid"
inboxd_rc=$?
set -e
inboxd_pid=""
((inboxd_rc == 0)) || die "inboxd exited with $inboxd_rc on SIGTERM (see $work/inboxd.log)"
kill -TERM "$fake_pid" 2>/dev/null || true
wait "$fake_pid" 2>/dev/null || true
fake_pid=""
log "fake Cloud API: $(tail -n1 "$work/fake.out")"
if [[ -n "$rx_pid" ]]; then
  kill -TERM "$rx_pid" 2>/dev/null || true
  wait "$rx_pid" 2>/dev/null || true
  rx_pid=""
  log "webhook receivers: $(tail -n1 "$work/receivers.out")"
fi

stamp=$(date -u +%Y-%m-%dT%H-%M-%SZ)
cpu_model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
mem_gib=$(awk '/^MemTotal:/ {printf "%.1f", $2/1048576}' /proc/meminfo)
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=false
[[ -n "$(git -C "$root" status --porcelain 2>/dev/null || true)" ]] && dirty=true
elapsed=$(($(date +%s) - started_at))
meta=$(printf '{"date":"%s","mode":"%s","commit":"%s","dirty":%s,"nproc":%s,"cpuModel":"%s","memGiB":%s,"kernel":"%s","binary":"%s","redis":"%s","totalSeconds":%s,"only":"%s","settings":{"INBOXD_HTTP_THREADS":"%s","INBOXD_CONVERSATION_IDLE_MS":%s,"INBOXD_SEND_RATE":%s,"redis":"appendonly yes, appendfsync everysec","durationPerRun":%s,"drain":%s}}' \
  "$stamp" "$( ((smoke)) && echo smoke || echo full)" "$commit" "$dirty" "$(nproc)" "$cpu_model" \
  "$mem_gib" "$(uname -r)" "$binary" "$(redis-server --version | grep -oE 'v=[0-9.]+' | cut -d= -f2)" \
  "$elapsed" "${only:-all}" "${INBOXD_HTTP_THREADS:-2}" "$idle_ms" "$INBOXD_SEND_RATE" "$dur" "$drain")

outs=(--out "$results_dir/$stamp.json")
cp "$work/metrics.txt" "$results_dir/$stamp.metrics.txt"
if [[ -z "$only" ]]; then # a partial run is not the latest full one
  outs+=(--out "$results_dir/latest.json")
  cp "$work/metrics.txt" "$results_dir/latest.metrics.txt"
fi
echo
echo "inboxd benchmark $( ((smoke)) && echo '(smoke: tiny scale, no targets)') — $stamp, $(nproc) x $cpu_model, ${mem_gib} GiB, commit $commit$( [[ $dirty == true ]] && echo ' (dirty)')"
check=()
((smoke)) && check=(--check)
"$loadgen" report --in "$runs" "${outs[@]}" --meta-json "$meta" "${check[@]}" || die "a scenario had no successful request"
echo
log "results: $results_dir/$stamp.json ($stamp.metrics.txt$([[ -z "$only" ]] && echo ", latest.json")); total ${elapsed} s"
