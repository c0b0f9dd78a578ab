#!/usr/bin/env bash
# The Debian package (cmake/package.cmake, packaging/), checked without booting systemd:
#  1. cpack -G DEB packages THIS build tree's binary (in CI the sanitizer build: a Release tree
#     would cost minutes of compiling; the package machinery, unit and env file are the same, only
#     the binary and so the computed Depends differ - packaging/build_deb.sh makes the Release one);
#  2. dpkg-deb: file name, control fields, Depends (a package for every library the binary
#     links), conffiles, maintainer scripts, the exact file list with modes;
#  3. dpkg -x into a temp root; the env file (format; every setting of README's table and of
#     `inboxd --help` listed) and the unit (`systemd-analyze verify --root`, which resolves
#     ExecStart= inside the root; `systemd-analyze security --offline` exposure under a threshold);
#  4. the extracted binary with the env file's settings (port, Redis and the state directory moved
#     into the temp root) against a real redis-server: /readyz, an admin request, the media store
#     created under the state directory, SIGTERM exits 0;
#  5. postinst/prerm/postrm with stub deb-systemd-helper/-invoke and systemctl.
# Usage: package_test.sh <build dir> <source dir> <expected version> <cpack>
set -euo pipefail

build_dir="$1"
source_dir="$2"
version="$3"
cpack="$4"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/inboxd-package-XXXXXX")"
redis_pid=""
inboxd_pid=""
cleanup() {
  local rc=$?
  local pid
  for pid in $inboxd_pid $redis_pid; do
    kill -KILL "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  if ((rc == 0)); then
    rm -rf "$tmp"
  else
    echo "package_test: FAILED; files kept in $tmp" >&2
  fi
}
trap cleanup EXIT

fail() {
  echo "package_test: FAIL: $*" >&2
  exit 1
}
step() { echo "package_test: $*"; }
started=$SECONDS

# --- 1. Build the package ----------------------------------------------------------------------
arch="$(dpkg --print-architecture)"
deb_name="inboxd_${version}_${arch}.deb"
step "cpack -G DEB (this build tree's binary)"
"$cpack" -G DEB --config "$build_dir/CPackConfig.cmake" -B "$tmp/out" >"$tmp/cpack.log" 2>&1 ||
  {
    cat "$tmp/cpack.log" >&2
    fail "cpack failed"
  }
debs=("$tmp"/out/*.deb)
((${#debs[@]} == 1)) || fail "expected one .deb, got: ${debs[*]}"
[[ "$(basename "${debs[0]}")" == "$deb_name" ]] || fail "file name $(basename "${debs[0]}"), expected $deb_name"
deb="${debs[0]}"
step "built $deb_name ($(stat -c %s "$deb") bytes, $((SECONDS - started)) s)"

# --- 2. Control fields, conffiles, scripts, file list --------------------------------------------
field() { dpkg-deb -f "$deb" "$1"; }
[[ "$(field Package)" == inboxd ]] || fail "Package: $(field Package)"
[[ "$(field Version)" == "$version" ]] || fail "Version: $(field Version), expected $version"
[[ "$(field Architecture)" == "$arch" ]] || fail "Architecture: $(field Architecture)"
[[ "$(field Recommends)" == redis-server ]] || fail "Recommends: $(field Recommends)"
[[ -n "$(field Maintainer)" && -n "$(field Description)" ]] || fail "no Maintainer or Description"
depends="$(field Depends)"
# Every package name in Depends, one per line.
dep_names="$(tr ',|' '\n' <<<"$depends" | sed -E 's/\(.*\)//; s/[[:space:]]//g' | grep -v '^$')"

mkdir "$tmp/control"
dpkg-deb -e "$deb" "$tmp/control"
[[ "$(cat "$tmp/control/conffiles")" == "/etc/inboxd/inboxd.env" ]] ||
  fail "conffiles: $(cat "$tmp/control/conffiles")"
for s in postinst prerm postrm; do
  [[ -x "$tmp/control/$s" ]] || fail "no executable $s in the control archive"
  sh -n "$tmp/control/$s" || fail "$s: syntax error"
done

# The exact file list (directories aside), with modes and owners.
dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {print $1, $2, $6}' | sort >"$tmp/files"
sort >"$tmp/files.expected" <<'EOF'
-rw-r----- root/root ./etc/inboxd/inboxd.env
-rw-r--r-- root/root ./lib/systemd/system/inboxd.service
-rwxr-xr-x root/root ./usr/bin/inboxd
-rw-r--r-- root/root ./usr/share/doc/inboxd/README.md
-rw-r--r-- root/root ./usr/share/doc/inboxd/copyright
EOF
diff -u "$tmp/files.expected" "$tmp/files" || fail "file list differs (- expected, + got)"

# --- 3. Extract; the env file and the unit ------------------------------------------------------
root="$tmp/root"
dpkg -x "$deb" "$root"
bin="$root/usr/bin/inboxd"
env_file="$root/etc/inboxd/inboxd.env"
unit="$root/lib/systemd/system/inboxd.service"

# Depends names the package of every library the binary needs (its NEEDED entries, resolved the
# way the loader does, looked up in dpkg's database; /lib and /usr/lib are one under usrmerge).
while read -r lib path; do
  [[ "$path" == /* ]] || fail "ldd cannot resolve $lib: $path"
  owner=""
  for p in "$path" "$(readlink -f "$path")" "${path#/usr}" "/usr${path#/usr}"; do
    owner="$(dpkg -S "$p" 2>/dev/null | head -1 | cut -d: -f1)" && [[ -n "$owner" ]] && break
  done
  [[ -n "$owner" ]] || fail "no Debian package owns $path ($lib)"
  # The owner by name, or a virtual package it provides (libspdlog1.10 provides libspdlog1.10-fmt9,
  # the name its shlibs file gives dpkg-shlibdeps).
  found=""
  for name in "$owner" $(dpkg-query -W -f='${Provides}' "$owner" | tr ',' '\n' | sed -E 's/\(.*\)//'); do
    grep -qx "$name" <<<"$dep_names" && found=1
  done
  [[ -n "$found" ]] || fail "Depends ($depends) lacks $owner, which has $lib"
done < <(ldd "$bin" | awk '$2 == "=>" {print $1, $3}' |
  grep -F -f <(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'))
for must in libcaf-core libhiredis libssl3; do
  grep -q "^$must" <<<"$dep_names" || fail "Depends ($depends) lacks $must"
done
step "Depends: $depends"

# The env file: only comments, blank lines and VARIABLE=value (no quotes or spaces: systemd's
# EnvironmentFile= and a shell read those alike); every setting listed.
while IFS= read -r line; do
  [[ -z "$line" || "$line" == \#* || "$line" =~ ^INBOXD_[A-Z0-9_]+=[^[:space:]\"\']*$ ]] ||
    fail "inboxd.env: unexpected line: $line"
done <"$env_file"
settings_readme="$(grep -o '^| INBOXD_[A-Z0-9_]*' "$source_dir/README.md" | cut -c3-)"
settings_help="$("$bin" --help | grep -o '(INBOXD_[A-Z0-9_]*)' | tr -d '()')"
[[ -n "$settings_readme" && -n "$settings_help" ]] || fail "no settings found in README.md or --help"
for v in $settings_readme $settings_help; do
  grep -Eq "^#?$v=" "$env_file" || fail "inboxd.env does not list $v"
done
for v in INBOXD_ADMIN_TOKEN INBOXD_JWT_SECRET INBOXD_META_APP_SECRET INBOXD_META_VERIFY_TOKEN INBOXD_KAPSO_WEBHOOK_SECRET; do
  grep -qx "$v=" "$env_file" || fail "inboxd.env: expected the secret $v= present and empty"
done

unit_value() { sed -n "s/^$1=//p" "$unit" | tail -1; }
for kv in Type=simple ExecStart=/usr/bin/inboxd EnvironmentFile=/etc/inboxd/inboxd.env \
  Restart=on-failure DynamicUser=yes StateDirectory=inboxd NoNewPrivileges=yes \
  ProtectSystem=strict ProtectHome=yes PrivateTmp=yes PrivateDevices=yes KillSignal=SIGTERM \
  "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX"; do
  grep -qx "$kv" "$unit" || fail "inboxd.service: no line $kv"
done
grep -Eq '^Wants=.*redis-server\.service' "$unit" || fail "inboxd.service: redis-server.service not wanted"
grep -q '^Requires=' "$unit" && fail "inboxd.service: Requires= (Redis may be elsewhere)"
# Under ProtectSystem=strict the service writes only to its state directory: the media store
# (the only place inboxd writes, with its tmp/) must be inside it.
media_dir="$(sed -n 's/^INBOXD_MEDIA_DIR=//p' "$env_file")"
[[ "$media_dir" == "/var/lib/$(unit_value StateDirectory)/"* ]] ||
  fail "INBOXD_MEDIA_DIR=$media_dir is outside the state directory (ProtectSystem=strict)"
# Enough descriptors for the connection limit, time for the 5 s drain.
nofile="$(unit_value LimitNOFILE)"
max_conn="$(sed -n 's/^#\?INBOXD_HTTP_MAX_CONNECTIONS=//p' "$env_file")"
((nofile >= max_conn + 1000)) || fail "LimitNOFILE=$nofile is not above INBOXD_HTTP_MAX_CONNECTIONS=$max_conn"
stop_s="$(unit_value TimeoutStopSec | tr -d s)"
((stop_s > 5)) || fail "TimeoutStopSec=$stop_s does not leave the 5 s drain"

# systemd-analyze resolves units and ExecStart= inside --root: the root gets the host's units
# (sysinit.target, network-online.target, ...) next to ours. Any output (unknown keys are only
# warnings) fails the test.
cp -rn /lib/systemd/system/. "$root/lib/systemd/system/"
verify_out="$(systemd-analyze verify --root="$root" inboxd.service 2>&1)" ||
  fail "systemd-analyze verify: $verify_out"
[[ -z "$verify_out" ]] || fail "systemd-analyze verify warns: $verify_out"
security="$(systemd-analyze security --offline=true --root="$root" --threshold=25 inboxd.service 2>&1)" ||
  fail "systemd-analyze security: exposure over 2.5 (threshold 25, in tenths): $(tail -1 <<<"$security")"
step "systemd-analyze verify: clean; $(grep -o 'Overall exposure level.*' <<<"$security")"

# --- 4. Run the extracted binary ---------------------------------------------------------------
# A port below the ephemeral range, reserved among parallel tests by an flock on a file named
# after it (as tests/support/redis_server.cpp does); redis-server must then answer as itself.
ephemeral_low="$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range)"
((ephemeral_low > 11000)) || ephemeral_low=32768
mkdir -p "${TMPDIR:-/tmp}/inboxd-test-ports" "$tmp/redis"
redis_port=""
for attempt in $(seq 1 20); do
  port=$((10000 + (RANDOM * 32768 + RANDOM) % (ephemeral_low - 10000)))
  exec {lock_fd}>"${TMPDIR:-/tmp}/inboxd-test-ports/$port"
  if ! flock -n "$lock_fd"; then
    exec {lock_fd}>&-
    continue
  fi
  redis-server --port "$port" --bind 127.0.0.1 --dir "$tmp/redis" --save '' --appendonly no \
    --daemonize no --logfile "$tmp/redis/redis.log" &
  redis_pid=$!
  for _ in $(seq 1 100); do
    if redis-cli -p "$port" info server 2>/dev/null | grep -q "^process_id:$redis_pid"; then
      redis_port=$port
      break
    fi
    kill -0 "$redis_pid" 2>/dev/null || break
    sleep 0.1
  done
  [[ -n "$redis_port" ]] && break
  kill -KILL "$redis_pid" 2>/dev/null || true
  wait "$redis_pid" 2>/dev/null || true
  redis_pid=""
  exec {lock_fd}>&-
done
[[ -n "$redis_port" ]] || fail "redis-server did not start (attempt $attempt): $(tail -5 "$tmp/redis/redis.log")"

# The service's environment: the env file's assignments, then what systemd would differ in here:
# a free port, the test's Redis, the state directory inside the temp root, an admin token.
mapfile -t env_vars < <(grep -E '^INBOXD_[A-Z0-9_]+=' "$env_file")
state_dir="$root/var/lib/inboxd"
mkdir -p "$state_dir"
admin_token="package-test-admin"
passthrough=()
for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
  [[ -n "${!v:-}" ]] && passthrough+=("$v=${!v}")
done
(cd "$state_dir" && exec env -i PATH=/usr/bin:/bin "${passthrough[@]}" "${env_vars[@]}" \
  INBOXD_HTTP_PORT=0 INBOXD_REDIS_URL="redis://127.0.0.1:$redis_port/0" \
  INBOXD_MEDIA_DIR="$root$media_dir" INBOXD_ADMIN_TOKEN="$admin_token" \
  "$bin") >"$tmp/inboxd.log" 2>&1 &
inboxd_pid=$!
http_port=""
for _ in $(seq 1 600); do
  http_port="$(sed -n 's/.*inboxd listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/inboxd.log" | head -1)"
  [[ -n "$http_port" ]] && break
  kill -0 "$inboxd_pid" 2>/dev/null || fail "inboxd exited at start: $(tail -20 "$tmp/inboxd.log")"
  sleep 0.1
done
[[ -n "$http_port" ]] || fail "inboxd did not listen within 60 s: $(tail -20 "$tmp/inboxd.log")"

base="http://127.0.0.1:$http_port"
ready=""
for _ in $(seq 1 300); do
  if [[ "$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz")" == 200 ]]; then
    ready=1
    break
  fi
  sleep 0.1
done
[[ -n "$ready" ]] || fail "/readyz did not answer 200 within 30 s: $(tail -20 "$tmp/inboxd.log")"
created="$(curl -s -w '\n%{http_code}' -X POST "$base/api/admin/workspaces" \
  -H "Authorization: Bearer $admin_token" -H 'Content-Type: application/json' \
  -d '{"name":"Package","slug":"package","phoneNumberId":"1122334455667"}')"
[[ "$(tail -1 <<<"$created")" == 201 ]] || fail "POST /api/admin/workspaces: $created"
ws_id="$(head -1 <<<"$created" | grep -o '"id":"ws_[^"]*"' | cut -d'"' -f4)"
[[ -n "$ws_id" ]] || fail "no workspace id in: $created"
got="$(curl -s -w '\n%{http_code}' "$base/api/admin/workspaces/$ws_id" -H "Authorization: Bearer $admin_token")"
[[ "$(tail -1 <<<"$got")" == 200 && "$got" == *'"slug":"package"'* ]] || fail "GET workspace: $got"
[[ -d "$root$media_dir/tmp" ]] || fail "the media store $root$media_dir/tmp was not created"

stop_started=$SECONDS
kill -TERM "$inboxd_pid"
stopped=""
for _ in $(seq 1 600); do
  kill -0 "$inboxd_pid" 2>/dev/null || {
    stopped=1
    break
  }
  sleep 0.1
done
[[ -n "$stopped" ]] || fail "inboxd still runs 60 s after SIGTERM"
code=0
wait "$inboxd_pid" || code=$?
inboxd_pid=""
((code == 0)) || fail "inboxd exited $code after SIGTERM: $(tail -20 "$tmp/inboxd.log")"
step "extracted binary: /readyz 200, workspace created, media store in the state directory, SIGTERM -> exit 0 ($((SECONDS - stop_started)) s)"

# --- 5. Maintainer scripts against stubs -------------------------------------------------------
mkdir "$tmp/stubs"
for s in deb-systemd-helper deb-systemd-invoke systemctl; do
  printf '#!/bin/sh\necho "%s $*" >>"%s"\n' "$s" "$tmp/calls" >"$tmp/stubs/$s"
  chmod +x "$tmp/stubs/$s"
done
PATH="$tmp/stubs:$PATH" sh -e "$tmp/control/postinst" configure || fail "postinst configure failed"
for c in "deb-systemd-helper unmask inboxd.service" "deb-systemd-helper --quiet was-enabled inboxd.service" \
  "deb-systemd-helper enable inboxd.service"; do
  grep -qxF "$c" "$tmp/calls" || fail "postinst configure (first install) did not run: $c"
done
PATH="$tmp/stubs:$PATH" sh -e "$tmp/control/prerm" remove || fail "prerm remove failed"
PATH="$tmp/stubs:$PATH" sh -e "$tmp/control/postrm" remove || fail "postrm remove failed"
PATH="$tmp/stubs:$PATH" sh -e "$tmp/control/postrm" purge || fail "postrm purge failed"
grep -qxF "deb-systemd-helper purge inboxd.service" "$tmp/calls" || fail "postrm purge did not purge the unit's state"

step "passed in $((SECONDS - started)) s"
