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
while (($#)); do
  case "$1" in
    --smoke) smoke=1 ;;
    --binary) binary="$2"; shift ;;
    --loadgen) loadgen="$2"; shift ;;
    --fake-cloud-api) fake="$2"; shift ;;
    --results-dir) results_dir="$2"; shift ;;
    --only) only="$2"; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
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
else
  dur=10; drain=15
  rate_ingest=10000; rate_list=5000; rate_phone=5000; rate_send=2000; rate_mixed=2000; rate_stream=1000
  rate_batch=500; closed_conns=64
  inbox_convs=10000; echo_pool=30000; scale_ws=100; scale_per_post=50; scale_posts=20000 # 1,000,000
  scale_max_s=300; settle_max=60 # an ingest slower than 300 s is cut there (the facts say how many)
  idle_ms=10000
  history_msgs=10000; history_threads=50; history_bytes=$((3 * 1024 * 1024 - 4096))
  media_count=15000; media_ws=10; media_max_s=300 # the backlog outlasts the 10 s webhook run
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

redis_pid=""; inboxd_pid=""; fake_pid=""
cleanup() {
  local rc=$?
  for p in $inboxd_pid $fake_pid $redis_pid; do
    kill "$p" 2>/dev/null || true
  done
  # Up to 10 s to exit, then SIGKILL: an overloaded process must not keep burning the machine.
  for _ in $(seq 1 100); do
    local any=0
    for p in $inboxd_pid $fake_pid $redis_pid; do kill -0 "$p" 2>/dev/null && any=1; done
    ((any)) || break
    sleep 0.1
  done
  for p in $inboxd_pid $fake_pid $redis_pid; do
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
