#!/usr/bin/env bash
# A real highly available Tandem on this machine's loopback: etcd x3, PostgreSQL 15 x3 managed by
# Patroni, HAProxy (PostgreSQL -> the Patroni primary, HTTP -> the ready Tandem replicas), N
# `tandem server` replicas and M `tandem agent` processes. Everything lives under one state dir.
#
#   cluster.sh up       start it all (refuses when it is already up); data is kept between runs
#   cluster.sh status   each part with its PID and health; exit 1 unless all are healthy
#   cluster.sh down     stop exactly the PIDs recorded by `up` (SIGTERM, SIGKILL after a grace)
#   cluster.sh down --purge   ... and delete the state dir
#
# Environment:
#   TANDEM_CLUSTER_DIR        state dir (default: .tandem-cluster in the repository)
#   TANDEM_CLUSTER_BASE_PORT  first of 30 consecutive ports (default 25400; must stay below 32768)
#   TANDEM_CLUSTER_SERVERS    Tandem server replicas (default 3, at most 9; 0 = the database only)
#   TANDEM_CLUSTER_AGENTS     Tandem agents (default 3)
#   TANDEM_CLUSTER_FSYNC      PostgreSQL fsync, on or off (default on; applies when the cluster is created)
#   TANDEM_CLUSTER_GRACE      seconds between SIGTERM and SIGKILL in `down` (default 10)
#   TANDEM_CLI                the tandem CLI script (default: dist/src/cli/main.js, built by `npx tsc -p .`)
#
# Ports (base B): etcd clients B..B+2, etcd peers B+3..B+5, PostgreSQL B+6..B+8, Patroni REST
# B+9..B+11, HAProxy PostgreSQL B+12, HTTP B+13, stats B+14, Tandem servers B+20.. . They are
# written to <state dir>/ports.env for scripts and tests.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
STATE=$(realpath -m "${TANDEM_CLUSTER_DIR:-$REPO/.tandem-cluster}")
RUN=$STATE/run
LOGS=$STATE/logs
PG_BIN=/usr/lib/postgresql/15/bin
TANDEM_CLI=${TANDEM_CLI:-$REPO/dist/src/cli/main.js}
SERVERS=${TANDEM_CLUSTER_SERVERS:-3}
AGENTS=${TANDEM_CLUSTER_AGENTS:-3}
GRACE=${TANDEM_CLUSTER_GRACE:-10}
FSYNC=${TANDEM_CLUSTER_FSYNC:-on}

die() {
  echo "cluster: $*" >&2
  exit 1
}

log() { echo "cluster: $*"; }

# ---------------------------------------------------------------------------------------------
# Ports

load_ports() {
  local base
  if [ -f "$STATE/ports.env" ]; then
    base=$(sed -n 's/^BASE_PORT=//p' "$STATE/ports.env")
    if [ -n "${TANDEM_CLUSTER_BASE_PORT:-}" ] && [ "$TANDEM_CLUSTER_BASE_PORT" != "$base" ]; then
      die "$STATE was created with base port $base, not $TANDEM_CLUSTER_BASE_PORT: use that, or \`$0 down --purge\` first"
    fi
  else
    base=${TANDEM_CLUSTER_BASE_PORT:-25400}
  fi
  [[ "$base" =~ ^[0-9]+$ ]] && [ "$base" -ge 1024 ] && [ $((base + 29)) -lt 32768 ] ||
    die "TANDEM_CLUSTER_BASE_PORT=$base: need 1024..32738 (ports from 32768 up are the ephemeral range)"
  [[ "$SERVERS" =~ ^[0-9]$ ]] || die "TANDEM_CLUSTER_SERVERS=$SERVERS: need 0..9"
  [[ "$AGENTS" =~ ^[0-9]+$ ]] || die "TANDEM_CLUSTER_AGENTS=$AGENTS: need a number"
  [ "$SERVERS" -gt 0 ] || [ "$AGENTS" -eq 0 ] || die "TANDEM_CLUSTER_AGENTS=$AGENTS with no servers: agents need a server"
  BASE_PORT=$base
  ETCD_CLIENT=("$base" $((base + 1)) $((base + 2)))
  ETCD_PEER=($((base + 3)) $((base + 4)) $((base + 5)))
  PG_PORT=($((base + 6)) $((base + 7)) $((base + 8)))
  REST_PORT=($((base + 9)) $((base + 10)) $((base + 11)))
  HAPROXY_PG_PORT=$((base + 12))
  HAPROXY_HTTP_PORT=$((base + 13))
  HAPROXY_STATS_PORT=$((base + 14))
  TANDEM_PORT=()
  for ((i = 0; i < SERVERS; i++)); do TANDEM_PORT+=($((base + 20 + i))); done
  DATABASE_URL="postgresql://postgres@127.0.0.1:$HAPROXY_PG_PORT/tandem"
  TANDEM_URL="http://127.0.0.1:$HAPROXY_HTTP_PORT"
}

join_by() {
  local sep=$1
  shift
  local IFS=$sep
  echo "$*"
}

write_ports_env() {
  cat >"$STATE/ports.env" <<EOF
# Written by ops/cluster/cluster.sh up; KEY=VALUE lines, comma-separated lists.
BASE_PORT=$BASE_PORT
STATE_DIR=$STATE
ETCD_CLIENT_PORTS=$(join_by , "${ETCD_CLIENT[@]}")
ETCD_PEER_PORTS=$(join_by , "${ETCD_PEER[@]}")
POSTGRES_PORTS=$(join_by , "${PG_PORT[@]}")
PATRONI_REST_PORTS=$(join_by , "${REST_PORT[@]}")
HAPROXY_PG_PORT=$HAPROXY_PG_PORT
HAPROXY_HTTP_PORT=$HAPROXY_HTTP_PORT
HAPROXY_STATS_PORT=$HAPROXY_STATS_PORT
TANDEM_PORTS=$(join_by , "${TANDEM_PORT[@]}")
TANDEM_SERVERS=$SERVERS
TANDEM_AGENTS=$AGENTS
DATABASE_URL=$DATABASE_URL
TANDEM_URL=$TANDEM_URL
ADMIN_TOKEN_FILE=$STATE/admin.token
EOF
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# ---------------------------------------------------------------------------------------------
# Processes: every daemon gets a pid file; a PID counts as ours only while its command line names
# the state dir (a PID reused by an unrelated process is never signalled).

ours() {
  local pid=$1
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$STATE/"
}

pid_of() {
  [ -f "$RUN/$1.pid" ] && cat "$RUN/$1.pid"
}

running() {
  local pid
  pid=$(pid_of "$1") || return 1
  ours "$pid"
}

# start NAME [VAR=VALUE...] CMD...: detached, in its own session, logged to logs/NAME.log.
start() {
  local name=$1
  shift
  (cd "$STATE" && exec setsid env "$@" </dev/null >>"$LOGS/$name.log" 2>&1) &
  echo $! >"$RUN/$name.pid"
}

# PostgreSQL refuses to run as root: as root, Patroni (and the postmasters it starts) run as postgres.
as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then
    echo setpriv --reuid=postgres --regid=postgres --init-groups
  fi
}

# wait_for WHAT SECONDS CMD...: polls CMD every 0.2 s.
wait_for() {
  local what=$1 seconds=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      echo "cluster: timed out after ${seconds}s waiting for $what" >&2
      return 1
    fi
    sleep 0.2
  done
}

http_ok() {
  curl -sf -o /dev/null --max-time 1 "$1"
}

# Stops a group of pid files together: SIGTERM to all, then SIGKILL to those left after the grace.
stop_group() {
  local names=("$@") pids=() name pid
  for name in "${names[@]}"; do
    pid=$(pid_of "$name") || continue
    if ours "$pid"; then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
      log "stopping $name (pid $pid)"
    fi
  done
  local deadline=$((SECONDS + GRACE))
  while [ ${#pids[@]} -gt 0 ] && [ $SECONDS -lt $deadline ]; do
    local left=()
    for pid in "${pids[@]}"; do ours "$pid" && left+=("$pid"); done
    pids=("${left[@]+"${left[@]}"}")
    [ ${#pids[@]} -gt 0 ] && sleep 0.2
  done
  for pid in "${pids[@]+"${pids[@]}"}"; do
    if ours "$pid"; then
      log "pid $pid did not stop within ${GRACE}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  for name in "${names[@]}"; do rm -f "$RUN/$name.pid"; done
}

# Patroni starts PostgreSQL detached from itself: a postmaster left behind by a killed Patroni is
# stopped by the PID in its own postmaster.pid (immediate shutdown: SIGQUIT).
stop_postmasters() {
  local i pid
  for i in 1 2 3; do
    pid=$(head -1 "$STATE/pg$i/data/postmaster.pid" 2>/dev/null) || continue
    if ours "$pid"; then
      log "stopping the postmaster of pg$i (pid $pid)"
      kill -QUIT "$pid" 2>/dev/null || true
      local deadline=$((SECONDS + GRACE))
      while ours "$pid" && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
      ours "$pid" && kill -KILL "$pid" 2>/dev/null || true
    fi
  done
}

# Every pid file present, in start order, whatever the counts of this invocation say.
recorded() {
  local prefix
  for prefix in etcd patroni haproxy server agent; do
    ls "$RUN" 2>/dev/null | sed -n "s/^\($prefix[0-9]*\)\.pid$/\1/p" | sort -V
  done
}

# ---------------------------------------------------------------------------------------------
# up

require() {
  local missing=()
  local -A need=(
    [etcd]=etcd-server [etcdctl]=etcd-client [/usr/bin/patroni]=patroni [haproxy]=haproxy
    [$PG_BIN/postgres]=postgresql [psql]=postgresql-client [curl]=curl [setpriv]=util-linux
  )
  local bin
  for bin in "${!need[@]}"; do
    case "$bin" in
      /*) [ -x "$bin" ] ;;
      *) command -v "$bin" >/dev/null 2>&1 ;;
    esac || missing+=("$bin (Debian package ${need[$bin]})")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    local IFS=';' list
    list="${missing[*]}"
    die "missing ${list//;/, }. Install them with: sudo $REPO/scripts/services.sh install"
  fi
  if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
    die "running as root needs the postgres user (Debian package postgresql): $REPO/scripts/services.sh install"
  fi
  command -v node >/dev/null 2>&1 || die "node is not on PATH"
  [ -f "$TANDEM_CLI" ] || die "$TANDEM_CLI not found: build Tandem first (npx tsc -p . in $REPO), or set TANDEM_CLI"
}

# render TEMPLATE OUT KEY=VALUE...: replaces @KEY@ (values may span lines).
render() {
  local text pair
  text=$(<"$1")
  for pair in "${@:3}"; do
    text=${text//@${pair%%=*}@/${pair#*=}}
  done
  if [[ "$text" =~ @[A-Z_]+@ ]]; then die "$1: no value for ${BASH_REMATCH[0]}"; fi
  printf '%s\n' "$text" >"$2"
}

start_etcd() {
  local i cluster=()
  for i in 1 2 3; do cluster+=("etcd$i=http://127.0.0.1:${ETCD_PEER[i - 1]}"); done
  for i in 1 2 3; do
    mkdir -p "$STATE/etcd$i"
    start "etcd$i" etcd --name "etcd$i" --data-dir "$STATE/etcd$i/data" \
      --listen-client-urls "http://127.0.0.1:${ETCD_CLIENT[i - 1]}" \
      --advertise-client-urls "http://127.0.0.1:${ETCD_CLIENT[i - 1]}" \
      --listen-peer-urls "http://127.0.0.1:${ETCD_PEER[i - 1]}" \
      --initial-advertise-peer-urls "http://127.0.0.1:${ETCD_PEER[i - 1]}" \
      --initial-cluster "$(join_by , "${cluster[@]}")" --initial-cluster-state new \
      --initial-cluster-token tandem-local
  done
  for i in 1 2 3; do
    wait_for "etcd$i (logs/etcd$i.log)" 30 http_ok "http://127.0.0.1:${ETCD_CLIENT[i - 1]}/health"
  done
  log "etcd up on ports $(join_by , "${ETCD_CLIENT[@]}")"
}

primary_rest_port() {
  local port
  for port in "${REST_PORT[@]}"; do
    http_ok "http://127.0.0.1:$port/primary" && echo "$port" && return 0
  done
  return 1
}

sync_standby_named() {
  curl -sf --max-time 1 "http://127.0.0.1:${REST_PORT[0]}/cluster" | grep -q '"role": "sync_standby"'
}

start_patroni() {
  local i etcd_hosts=() user=()
  for i in 1 2 3; do etcd_hosts+=("127.0.0.1:${ETCD_CLIENT[i - 1]}"); done
  read -r -a user <<<"$(as_postgres)"
  for i in 1 2 3; do
    local node_dir=$STATE/pg$i
    mkdir -p "$node_dir"
    chmod 700 "$node_dir"
    [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$node_dir"
    render "$HERE/patroni.yml.in" "$STATE/patroni$i.yml" \
      NAME="pg$i" REST_PORT="${REST_PORT[i - 1]}" PG_PORT="${PG_PORT[i - 1]}" \
      ETCD_HOSTS="$(join_by , "${etcd_hosts[@]}")" DATA_DIR="$node_dir/data" NODE_DIR="$node_dir" FSYNC="$FSYNC"
    # Patroni is a Debian Python tool: its shebang names /usr/bin/python3, never a pyenv python3.
    start "patroni$i" HOME="$node_dir" "${user[@]+"${user[@]}"}" /usr/bin/patroni "$STATE/patroni$i.yml"
  done
  wait_for "a Patroni primary (logs/patroni*.log)" 90 primary_rest_port
  for i in 1 2 3; do
    wait_for "Patroni node pg$i running PostgreSQL (logs/patroni$i.log)" 90 http_ok "http://127.0.0.1:${REST_PORT[i - 1]}/health"
  done
  # In synchronous mode only a synchronous standby may be promoted: until Patroni names one, a
  # crashed primary would be restarted in place rather than failed over.
  wait_for "Patroni to name a synchronous standby (logs/patroni*.log)" 60 sync_standby_named
  log "Patroni up: primary behind REST port $(primary_rest_port), PostgreSQL on ports $(join_by , "${PG_PORT[@]}")"
}

# haproxy_up_count PROXY N: exactly N servers of PROXY are UP (stats CSV: pxname, svname, ..., status is field 18).
haproxy_up_count() {
  local up
  up=$(curl -sf --max-time 1 "http://127.0.0.1:$HAPROXY_STATS_PORT/;csv" |
    awk -F, -v px="$1" '$1 == px && $2 != "FRONTEND" && $2 != "BACKEND" && $18 ~ /^UP/' | wc -l)
  [ "$up" -eq "$2" ]
}

start_haproxy() {
  local i pg_servers=() tandem_servers=()
  for i in 1 2 3; do
    pg_servers+=("    server pg$i 127.0.0.1:${PG_PORT[i - 1]} check port ${REST_PORT[i - 1]}")
  done
  for ((i = 1; i <= SERVERS; i++)); do
    tandem_servers+=("    server server$i 127.0.0.1:${TANDEM_PORT[i - 1]} check")
  done
  render "$HERE/haproxy.cfg.in" "$STATE/haproxy.cfg" \
    HAPROXY_PG_PORT="$HAPROXY_PG_PORT" HAPROXY_HTTP_PORT="$HAPROXY_HTTP_PORT" HAPROXY_STATS_PORT="$HAPROXY_STATS_PORT" \
    PG_SERVERS="$(printf '%s\n' "${pg_servers[@]}")" TANDEM_SERVERS="$(printf '%s\n' "${tandem_servers[@]}")"
  haproxy -c -q -f "$STATE/haproxy.cfg" || die "$STATE/haproxy.cfg is not valid (haproxy -c)"
  start haproxy haproxy -db -f "$STATE/haproxy.cfg"
  # HAProxy counts every server up until its checks say otherwise: wait until only the primary is.
  wait_for "HAProxy routing PostgreSQL to the primary only (logs/haproxy.log)" 30 haproxy_up_count postgres 1
  if [ -z "$(psql -X "postgresql://postgres@127.0.0.1:$HAPROXY_PG_PORT/postgres" -Atc "select 1 from pg_database where datname = 'tandem'")" ]; then
    psql -X -q "postgresql://postgres@127.0.0.1:$HAPROXY_PG_PORT/postgres" -c 'create database tandem'
  fi
  log "HAProxy up: PostgreSQL on $HAPROXY_PG_PORT, HTTP on $HAPROXY_HTTP_PORT, stats on http://127.0.0.1:$HAPROXY_STATS_PORT/"
}

start_server() {
  local i=$1
  mkdir -p "$STATE/server$i"
  start "server$i" node "$TANDEM_CLI" server --data-dir "$STATE/server$i" --listen 127.0.0.1 --port "${TANDEM_PORT[i - 1]}" \
    --database-url "$DATABASE_URL" --artifacts-url "$STATE/artifacts" --external-url "$TANDEM_URL" \
    --master-key-file "$STATE/master.key"
}

start_servers() {
  local i
  [ "$SERVERS" -gt 0 ] || return 0
  mkdir -p "$STATE/artifacts"
  # Every replica needs the one master key of secrets at rest; it never goes into the database.
  [ -f "$STATE/master.key" ] || (umask 077 && head -c 32 /dev/urandom | base64 >"$STATE/master.key")
  # The first replica on a new database creates the one admin token; the others find it there.
  start_server 1
  wait_for "Tandem server1 ready (logs/server1.log)" 60 http_ok "http://127.0.0.1:${TANDEM_PORT[0]}/readyz"
  if [ ! -f "$STATE/admin.token" ]; then
    [ -f "$STATE/server1/admin.token" ] || die "server1 created no admin token and $STATE/admin.token is missing"
    install -m 600 "$STATE/server1/admin.token" "$STATE/admin.token"
  fi
  for ((i = 2; i <= SERVERS; i++)); do start_server "$i"; done
  for ((i = 2; i <= SERVERS; i++)); do
    wait_for "Tandem server$i ready (logs/server$i.log)" 60 http_ok "http://127.0.0.1:${TANDEM_PORT[i - 1]}/readyz"
  done
  wait_for "Tandem through HAProxy ($TANDEM_URL/readyz)" 30 http_ok "$TANDEM_URL/readyz"
  log "Tandem servers up on ports $(join_by , "${TANDEM_PORT[@]}"), load-balanced at $TANDEM_URL"
}

# online_agents: the names of the agents the servers have heard from within a lease.
online_agents() {
  curl -sf --max-time 2 -H "authorization: Bearer $(cat "$STATE/admin.token")" "$TANDEM_URL/api/v1/agents" |
    grep -o '"name":"[^"]*",[^}]*"online":true' | sed 's/^"name":"\([^"]*\)".*/\1/'
}

agents_online() {
  local online i
  online=$(online_agents) || return 1
  for ((i = 1; i <= AGENTS; i++)); do
    grep -qx "agent$i" <<<"$online" || return 1
  done
}

start_agents() {
  local i token
  [ "$AGENTS" -gt 0 ] || return 0
  token=$(cat "$STATE/admin.token")
  for ((i = 1; i <= AGENTS; i++)); do
    mkdir -p "$STATE/agent$i"
    # The token goes by environment, not argv, so `ps` does not show it.
    start "agent$i" TANDEM_TOKEN="$token" node "$TANDEM_CLI" agent --server "$TANDEM_URL" --name "agent$i" \
      --work-dir "$STATE/agent$i"
  done
  wait_for "$AGENTS agent(s) online (logs/agent*.log)" 60 agents_online
  log "$AGENTS agent(s) online"
}

cmd_up() {
  require
  load_ports
  local name
  for name in $(recorded); do
    running "$name" && die "already up in $STATE ($name is running as pid $(pid_of "$name")): \`$0 status\`, or \`$0 down\` first"
  done
  local port
  for port in "${ETCD_CLIENT[@]}" "${ETCD_PEER[@]}" "${PG_PORT[@]}" "${REST_PORT[@]}" \
    "$HAPROXY_PG_PORT" "$HAPROXY_HTTP_PORT" "$HAPROXY_STATS_PORT" "${TANDEM_PORT[@]}"; do
    port_in_use "$port" && die "port $port is in use: pick other ports with TANDEM_CLUSTER_BASE_PORT (a new state dir)"
  done
  mkdir -p "$STATE" "$RUN" "$LOGS"
  # PostgreSQL runs as postgres and must reach its data dir under here.
  chmod 755 "$STATE"
  echo '*' >"$STATE/.gitignore"
  write_ports_env
  # A failed or interrupted start leaves nothing running behind.
  trap 'echo "cluster: up failed; logs in $LOGS; stopping what was started" >&2; cmd_down' EXIT
  start_etcd
  start_patroni
  start_haproxy
  start_servers
  start_agents
  trap - EXIT
  log "up: $TANDEM_URL (admin token in $STATE/admin.token; ports in $STATE/ports.env)"
}

# ---------------------------------------------------------------------------------------------
# status, down

health() {
  local name=$1 n=${1//[!0-9]/}
  case "$name" in
    etcd*) http_ok "http://127.0.0.1:${ETCD_CLIENT[n - 1]}/health" && echo healthy || echo unhealthy ;;
    patroni*)
      local rest=http://127.0.0.1:${REST_PORT[n - 1]} pm
      pm=$(head -1 "$STATE/pg$n/data/postmaster.pid" 2>/dev/null || echo '?')
      if http_ok "$rest/primary"; then echo "primary (postgres pid $pm, port ${PG_PORT[n - 1]})"
      elif http_ok "$rest/replica"; then echo "replica (postgres pid $pm, port ${PG_PORT[n - 1]})"
      else echo "unhealthy (PostgreSQL not running)"; fi
      ;;
    haproxy) http_ok "http://127.0.0.1:$HAPROXY_STATS_PORT/" && echo healthy || echo unhealthy ;;
    server*) http_ok "http://127.0.0.1:$((BASE_PORT + 19 + n))/readyz" && echo ready || echo "not ready (/readyz)" ;;
    agent*) online_agents 2>/dev/null | grep -qx "$name" && echo online || echo "not online (GET /api/v1/agents)" ;;
  esac
}

cmd_status() {
  [ -f "$STATE/ports.env" ] || die "no cluster in $STATE"
  load_ports
  local name pid bad=0 state
  printf '%-10s %-8s %s\n' PART PID HEALTH
  for name in $(recorded); do
    pid=$(pid_of "$name")
    if ours "$pid"; then
      state=$(health "$name")
      case "$state" in unhealthy* | not*) bad=1 ;; esac
    else
      state=stopped
      bad=1
    fi
    printf '%-10s %-8s %s\n' "$name" "$pid" "$state"
  done
  [ -n "$(recorded)" ] || { echo "(nothing running)"; bad=1; }
  if running haproxy; then echo "Tandem: $TANDEM_URL  PostgreSQL: $DATABASE_URL"; fi
  return $bad
}

cmd_down() {
  local name
  trap - EXIT
  [ -d "$STATE" ] || { log "no cluster in $STATE"; return 0; }
  # Clients first, the database's coordination last: Patroni needs etcd to hand over cleanly.
  stop_group $(recorded | grep '^agent' || true)
  stop_group $(recorded | grep '^server' || true)
  stop_group $(recorded | grep '^haproxy' || true)
  stop_group $(recorded | grep '^patroni' || true)
  stop_postmasters
  # One member at a time: members stopped together wait seconds for each other's leadership transfer.
  for name in $(recorded | grep '^etcd' || true); do stop_group "$name"; done
  log "down"
  if [ "${1:-}" = --purge ]; then
    # Only a directory this script made (TANDEM_CLUSTER_DIR could name any directory).
    [ -f "$STATE/ports.env" ] || die "$STATE has no ports.env: not a cluster state dir, not removing it"
    rm -rf "$STATE"
    log "removed $STATE"
  fi
}

case "${1:-}" in
  up) cmd_up ;;
  status) cmd_status ;;
  down)
    [ -z "${2:-}" ] || [ "$2" = --purge ] || die "usage: $0 down [--purge]"
    cmd_down "${2:-}"
    ;;
  *)
    echo "usage: $0 up|status|down [--purge]" >&2
    exit 2
    ;;
esac
