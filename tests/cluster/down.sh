#!/usr/bin/env bash
# Stop what tests/cluster/up.sh started, by pid (slurmd, slurmctld, slurmdbd, MariaDB, munged).
set -uo pipefail
DIR="${LABSPEC_CLUSTER_DIR:-/tmp/labspec-cluster}"
stop() {
  local pidfile=$1 pid
  [ -f "$pidfile" ] || return 0
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}
for f in "$DIR"/run/slurmd-*.pid; do stop "$f"; done
stop "$DIR/run/slurmctld.pid"
stop "$DIR/run/slurmdbd.pid"
stop "$DIR/run/mariadb.pid"
stop "$DIR/run/munged.pid"
echo "cluster: down" >&2
