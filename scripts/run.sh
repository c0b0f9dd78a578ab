#!/usr/bin/env bash
# Installs dependencies, builds inboxd (Release) into build/release and runs it in the foreground.
#
# Without INBOXD_REDIS_URL a local redis-server is started (or reused) on 127.0.0.1:6379
# (INBOXD_LOCAL_REDIS_PORT to change), data under var/redis/ (AOF on, appendfsync everysec),
# daemonized with var/redis/redis.pid; it keeps running after inboxd exits.
# Every INBOXD_* variable in the environment is passed on; extra arguments go to inboxd
# (e.g. scripts/run.sh --http-port 9000).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash scripts/build_release.sh
build_dir="$root/build/release"

if [[ -z "${INBOXD_REDIS_URL:-}" ]]; then
  port="${INBOXD_LOCAL_REDIS_PORT:-6379}"
  redis_dir="$root/var/redis"
  pidfile="$redis_dir/redis.pid"
  mkdir -p "$redis_dir"
  ping() { redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; }

  if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null && ping; then
    echo "run.sh: reusing redis-server (pid $(cat "$pidfile")) on 127.0.0.1:$port" >&2
  elif ping; then
    echo "run.sh: a Redis already answers on 127.0.0.1:$port (not started by this script); using it" >&2
  else
    echo "run.sh: starting redis-server on 127.0.0.1:$port, data in $redis_dir" >&2
    redis-server --bind 127.0.0.1 --port "$port" --dir "$redis_dir" \
      --appendonly yes --appendfsync everysec \
      --daemonize yes --pidfile "$pidfile" --logfile "$redis_dir/redis.log"
    for _ in $(seq 1 100); do
      ping && break
      sleep 0.1
    done
    if ! ping; then
      echo "run.sh: redis-server did not come up; see $redis_dir/redis.log" >&2
      exit 1
    fi
  fi
  export INBOXD_REDIS_URL="redis://127.0.0.1:$port/0"
fi

if [[ -z "${INBOXD_ADMIN_TOKEN:-}" ]]; then
  echo "run.sh: hint: INBOXD_ADMIN_TOKEN is not set, so the admin API (/api/admin/*) is disabled;" >&2
  echo "run.sh:       e.g. INBOXD_ADMIN_TOKEN=\$(openssl rand -hex 24) scripts/run.sh" >&2
fi

echo "run.sh: starting $build_dir/inboxd" >&2
exec "$build_dir/inboxd" "$@"
