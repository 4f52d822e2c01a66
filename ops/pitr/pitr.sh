#!/usr/bin/env bash
# Point-in-time recovery of Tandem's PostgreSQL with pgBackRest: WAL archived continuously into a
# repository, base backups, and a restore to any moment between the oldest backup and the last
# archived WAL. Used on a single PostgreSQL (test/dr/pitr.test.ts) and, with the archive command in
# Patroni's parameters, on the HA cluster (docs/disaster-recovery.md, "Corruption or an accidental delete").
#
#   pitr.sh configure CONF PGDATA PORT SOCKET_DIR REPO [STANZA]
#       write the pgBackRest configuration CONF (repository REPO) and print the postgresql.conf
#       settings that archive WAL into it (PostgreSQL needs a restart to take archive_mode)
#   pitr.sh archive-command CONF [STANZA]      print only the archive_command value
#   pitr.sh stanza CONF [STANZA]     create the stanza and check that archiving works
#   pitr.sh backup CONF [full|diff|incr] [STANZA]   a base backup (default full)
#   pitr.sh info CONF [STANZA]       backups and the archived WAL range
#   pitr.sh restore CONF TIME [STANZA]
#       restore PGDATA (PostgreSQL must be stopped) to TIME, e.g. "2025-03-01 12:34:56.789+00";
#       the next start replays WAL up to TIME and promotes (a new timeline: the later WAL is kept
#       in the repository but no longer followed)
#
# Commands run as the owner of PGDATA (as root: through runuser). Needs Debian's pgbackrest.
set -euo pipefail

die() {
  echo "pitr: $*" >&2
  exit 1
}

command -v pgbackrest >/dev/null 2>&1 || die "pgbackrest is not installed (Debian: apt-get install pgbackrest; scripts/services.sh install)"

# Runs pgBackRest as the owner of the data directory named in the configuration.
as_owner() {
  local conf=$1
  shift
  local pgdata owner
  pgdata=$(sed -n 's/^pg1-path=//p' "$conf" | head -1)
  [ -n "$pgdata" ] || die "$conf: no pg1-path"
  owner=$(stat -c %U "$pgdata")
  if [ "$(id -un)" = "$owner" ]; then
    "$@"
  else
    runuser -u "$owner" -- "$@"
  fi
}

backrest() {
  local conf=$1 stanza=$2
  shift 2
  as_owner "$conf" pgbackrest --config="$conf" --stanza="$stanza" "$@"
}

archive_command() {
  local conf=$1 stanza=${2:-tandem}
  echo "pgbackrest --config=$conf --stanza=$stanza archive-push %p"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  configure)
    [ $# -ge 5 ] || die "usage: pitr.sh configure CONF PGDATA PORT SOCKET_DIR REPO [STANZA]"
    conf=$1 pgdata=$2 port=$3 socket=$4 repo=$5 stanza=${6:-tandem}
    [ -d "$pgdata" ] || die "PGDATA $pgdata: no such directory"
    [[ "$port" =~ ^[0-9]+$ ]] || die "PORT $port: not a port number"
    owner=$(stat -c %U "$pgdata")
    mkdir -p "$repo/log" "$repo/lock"
    chown -R "$owner" "$repo" 2>/dev/null || true
    cat >"$conf" <<CONF
# Written by ops/pitr/pitr.sh configure.
[global]
repo1-path=$repo
# Full backups kept; WAL older than the oldest kept backup is expired with it.
repo1-retention-full=2
start-fast=y
log-level-console=warn
log-level-file=info
log-path=$repo/log
lock-path=$repo/lock

[$stanza]
pg1-path=$pgdata
pg1-port=$port
pg1-socket-path=$socket
CONF
    chmod 0640 "$conf"
    chown "root:$(id -gn "$owner")" "$conf" 2>/dev/null || true
    echo "# postgresql.conf (restart PostgreSQL afterwards):"
    echo "archive_mode = on"
    echo "archive_command = '$(archive_command "$conf" "$stanza")'"
    echo "wal_level = replica"
    ;;
  archive-command)
    [ $# -ge 1 ] || die "usage: pitr.sh archive-command CONF [STANZA]"
    archive_command "$@"
    ;;
  stanza)
    [ $# -ge 1 ] || die "usage: pitr.sh stanza CONF [STANZA]"
    backrest "$1" "${2:-tandem}" stanza-create
    backrest "$1" "${2:-tandem}" check
    ;;
  backup)
    [ $# -ge 1 ] || die "usage: pitr.sh backup CONF [full|diff|incr] [STANZA]"
    type=${2:-full}
    [[ "$type" =~ ^(full|diff|incr)$ ]] || die "backup type $type: expected full, diff or incr"
    backrest "$1" "${3:-tandem}" --type="$type" backup
    ;;
  info)
    [ $# -ge 1 ] || die "usage: pitr.sh info CONF [STANZA]"
    backrest "$1" "${2:-tandem}" info
    ;;
  restore)
    [ $# -ge 2 ] || die "usage: pitr.sh restore CONF TIME [STANZA]"
    conf=$1 target=$2 stanza=${3:-tandem}
    pgdata=$(sed -n 's/^pg1-path=//p' "$conf" | head -1)
    if [ -f "$pgdata/postmaster.pid" ] && kill -0 "$(head -1 "$pgdata/postmaster.pid")" 2>/dev/null; then
      die "PostgreSQL is running on $pgdata (PID $(head -1 "$pgdata/postmaster.pid")): stop it first (with Patroni: stop Patroni on every node)"
    fi
    backrest "$conf" "$stanza" --delta --type=time "--target=$target" --target-action=promote restore
    echo "pitr: restored $pgdata to $target; start PostgreSQL: it replays the archived WAL up to then and promotes"
    ;;
  *)
    sed -n '2,23p' "$0" >&2
    exit 2
    ;;
esac
