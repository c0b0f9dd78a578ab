#!/usr/bin/env bash
# A local scale-out deployment on this one machine (README "Several nodes"):
#   scripts/cluster.sh up       installs packages, builds inboxd (Release), starts a Redis Cluster
#                               of 6 redis-server (3 masters + 3 replicas, cluster-node-timeout
#                               1000) on 127.0.0.1:7000-7005, 3 inboxd nodes on 127.0.0.1:8081-8083
#                               and HAProxy on 127.0.0.1:8080; returns once GET /readyz through
#                               HAProxy answers 200.
#   scripts/cluster.sh down     stops them all (SIGTERM; data stays in var/cluster/).
#   scripts/cluster.sh status   what runs.
# Pid files: var/cluster/redis-<port>.pid, var/cluster/inboxd-<n>.pid, var/cluster/haproxy.pid;
# logs next to them. Every INBOXD_* variable in the environment is passed to the nodes (set
# INBOXD_ADMIN_TOKEN for the admin API); the cluster secret is generated once into
# var/cluster/secret unless INBOXD_CLUSTER_SECRET is set.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
dir="$root/var/cluster"
redis_ports=(7000 7001 7002 7003 7004 7005)
nodes=(1 2 3)
lb_port=8080

alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_for() { # wait_for <what> <seconds> <command...>
  local what=$1 secs=$2
  shift 2
  for _ in $(seq 1 $((secs * 10))); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "cluster.sh: $what did not come up (logs in $dir)" >&2
  exit 1
}

up() {
  bash scripts/build_release.sh
  command -v haproxy >/dev/null || { apt-get update && apt-get install -y haproxy; }
  build_dir="$root/build/release"
  mkdir -p "$dir"

  for port in "${redis_ports[@]}"; do
    mkdir -p "$dir/redis-$port"
    alive "$dir/redis-$port.pid" && continue
    redis-server --bind 127.0.0.1 --port "$port" --dir "$dir/redis-$port" \
      --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 1000 \
      --appendonly yes --appendfsync everysec \
      --daemonize yes --pidfile "$dir/redis-$port.pid" --logfile "$dir/redis-$port.log"
  done
  for port in "${redis_ports[@]}"; do
    wait_for "redis-server on $port" 10 redis-cli -p "$port" ping
  done
  if ! redis-cli -p 7000 cluster info | grep -q "cluster_known_nodes:6"; then
    echo "cluster.sh: creating the Redis Cluster" >&2
    redis-cli --cluster create $(printf '127.0.0.1:%s ' "${redis_ports[@]}") \
      --cluster-replicas 1 --cluster-yes >"$dir/cluster-create.log"
  fi
  wait_for "the Redis Cluster" 30 bash -c "redis-cli -p 7000 cluster info | grep -q cluster_state:ok"

  local secret="${INBOXD_CLUSTER_SECRET:-}"
  if [[ -z "$secret" ]]; then
    [[ -f "$dir/secret" ]] || (umask 077 && openssl rand -hex 24 >"$dir/secret")
    secret="$(cat "$dir/secret")"
  fi
  for n in "${nodes[@]}"; do
    local port=$((8080 + n)) pidfile="$dir/inboxd-$n.pid"
    alive "$pidfile" && continue
    INBOXD_REDIS_URL="redis-cluster://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002" \
      INBOXD_HTTP_PORT="$port" INBOXD_NODE_ID="n$n" \
      INBOXD_ADVERTISE_URL="http://127.0.0.1:$port" INBOXD_CLUSTER_SECRET="$secret" \
      setsid "$build_dir/inboxd" >>"$dir/inboxd-$n.log" 2>&1 </dev/null &
    echo $! >"$pidfile"
  done
  for n in "${nodes[@]}"; do
    wait_for "inboxd node $n" 30 curl -sf "http://127.0.0.1:$((8080 + n))/readyz"
  done

  # Requests are placed by workspace: X-Workspace-Id (user tokens), the workspace id inside an
  # API key (ibx_<workspaceId>_<secret>, or ibx.<workspaceId>.<keyId>.<secret> made before
  # 2026-12-03) or in an admin path; per-number webhook paths by
  # their number; the rest (webhooks on the shared path) round-robin. The nodes forward what is
  # not theirs.
  cat >"$dir/haproxy.cfg" <<CFG
global
  daemon
  pidfile $dir/haproxy.pid
  maxconn 4096
defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  timeout tunnel 1h
frontend inbox
  bind 127.0.0.1:$lb_port
  default_backend inboxd
backend inboxd
  http-request set-var(txn.ws) req.hdr(x-workspace-id) if { req.hdr(x-workspace-id) -m found }
  http-request set-var(txn.ws) req.hdr(x-api-key),regsub(^ibx_,),regsub(_[0-9a-f]+\$,) if { req.hdr(x-api-key) -m beg ibx_ }
  http-request set-var(txn.ws) req.hdr(x-api-key),field(2,.) if { req.hdr(x-api-key) -m beg ibx. }
  http-request set-var(txn.ws) path,field(5,/) if { path_beg /api/admin/workspaces/ }
  http-request set-var(txn.ws) path,field(5,/) if { path_beg /api/webhook/whatsapp/ }
  balance hash var(txn.ws)
  hash-type consistent
  option httpchk GET /readyz
$(for n in "${nodes[@]}"; do echo "  server n$n 127.0.0.1:$((8080 + n)) check inter 1s fall 2 rise 1"; done)
CFG
  haproxy -c -q -f "$dir/haproxy.cfg"
  if alive "$dir/haproxy.pid"; then
    haproxy -f "$dir/haproxy.cfg" -sf "$(cat "$dir/haproxy.pid")"
  else
    haproxy -f "$dir/haproxy.cfg"
  fi
  wait_for "HAProxy on $lb_port" 30 curl -sf "http://127.0.0.1:$lb_port/readyz"
  echo "cluster.sh: up: http://127.0.0.1:$lb_port (nodes 8081-8083, Redis Cluster 7000-7005)" >&2
}

stop_pid() { # stop_pid <pidfile>: SIGTERM, wait up to 10 s, then SIGKILL; removes the pid file
  local f=$1
  if alive "$f"; then
    local pid
    pid="$(cat "$f")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

down() {
  stop_pid "$dir/haproxy.pid"
  for n in "${nodes[@]}"; do stop_pid "$dir/inboxd-$n.pid"; done
  for port in "${redis_ports[@]}"; do stop_pid "$dir/redis-$port.pid"; done
  echo "cluster.sh: down (data kept in $dir)" >&2
}

status() {
  for port in "${redis_ports[@]}"; do
    if alive "$dir/redis-$port.pid"; then
      echo "redis $port: $(redis-cli -p "$port" role 2>/dev/null | head -1) (pid $(cat "$dir/redis-$port.pid"))"
    else
      echo "redis $port: stopped"
    fi
  done
  for n in "${nodes[@]}"; do
    local port=$((8080 + n))
    if alive "$dir/inboxd-$n.pid"; then
      echo "inboxd n$n $port: $(curl -s "http://127.0.0.1:$port/readyz") (pid $(cat "$dir/inboxd-$n.pid"))"
    else
      echo "inboxd n$n $port: stopped"
    fi
  done
  if alive "$dir/haproxy.pid"; then
    echo "haproxy $lb_port: $(curl -s "http://127.0.0.1:$lb_port/readyz") (pid $(cat "$dir/haproxy.pid"))"
  else
    echo "haproxy $lb_port: stopped"
  fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: scripts/cluster.sh up|down|status" >&2; exit 2 ;;
esac
