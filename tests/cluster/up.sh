#!/usr/bin/env bash
# Bring up a real two-node SLURM cluster (22.05, Debian 12) on this one machine, with
# accounting (MariaDB + slurmdbd) so that sacct, and submitit's polling, see real states.
#
#   tests/cluster/up.sh            # idempotent: returns at once when the cluster is up
#   source tests/cluster/env.sh    # SLURM_CONF for sbatch/squeue/sacct/labspec
#   tests/cluster/down.sh          # stops what up.sh started, by pid
#
# Everything lives under $LABSPEC_CLUSTER_DIR (default /tmp/labspec-cluster). Needs root
# (the daemons run as root here, as in the test setup the issue describes). Fails loudly,
# with the daemon logs, when something does not come up.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
DIR="${LABSPEC_CLUSTER_DIR:-/tmp/labspec-cluster}"
CLUSTER=labspec
HOST="$(hostname -s)"
DB_PORT="${LABSPEC_CLUSTER_DB_PORT:-16306}"
DBD_PORT="${LABSPEC_CLUSTER_DBD_PORT:-16819}"
CTLD_PORT="${LABSPEC_CLUSTER_CTLD_PORT:-16817}"
export SLURM_CONF="$DIR/etc/slurm.conf"

log() { echo "cluster: $*" >&2; }
die() {
  echo "cluster: FAILED: $*" >&2
  for f in "$DIR"/log/*.log /var/log/munge/munged.log; do
    [ -f "$f" ] || continue
    echo "----- $f (last 30 lines)" >&2
    tail -n 30 "$f" >&2
  done
  exit 1
}
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local secs=$1 what=$2; shift 2
  for _ in $(seq 1 $((secs * 4))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.25
  done
  die "$what did not come up within ${secs}s"
}
nodes_idle() {
  [ "$(sinfo -h -N -o '%N %T' 2>/dev/null | grep -cE '^n[12] (idle|mixed|allocated)')" = 2 ]
}

[ "$(id -u)" = 0 ] || { echo "cluster: needs root (daemons, munge key)" >&2; exit 2; }

if alive "$DIR/run/slurmctld.pid" && alive "$DIR/run/slurmd-n1.pid" && alive "$DIR/run/slurmd-n2.pid" \
    && nodes_idle; then
  log "already up ($DIR)"
  exit 0
fi

missing=()
for bin in munged slurmctld slurmd slurmdbd mariadbd sacctmgr sinfo; do
  command -v "$bin" >/dev/null || missing+=("$bin")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing slurm-wlm slurmdbd mariadb-server munge (missing: ${missing[*]})"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null || die "apt-get update failed"
  apt-get install -y -q slurm-wlm slurmdbd mariadb-server munge >/dev/null || die "apt-get install failed"
fi

mkdir -p "$DIR"/{etc,log,run,state,spool,mysql}
chmod 755 "$DIR"

# --- munge ----------------------------------------------------------------------
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  log "starting munged"
  [ -s /etc/munge/munge.key ] || { mungekey --create --force 2>/dev/null || \
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 2>/dev/null; }
  chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  runuser -u munge -- /usr/sbin/munged || die "munged did not start"
  wait_for 10 munged bash -c 'munge -n | unmunge'
fi
cp /run/munge/munged.pid "$DIR/run/munged.pid" 2>/dev/null || true

# --- MariaDB for accounting ---------------------------------------------------------
if ! alive "$DIR/run/mariadb.pid"; then
  log "starting MariaDB on 127.0.0.1:$DB_PORT"
  if [ ! -d "$DIR/mysql/mysql" ]; then
    mariadb-install-db --no-defaults --datadir="$DIR/mysql" --user=root --auth-root-authentication-method=normal \
      >"$DIR/log/mariadb-install.log" 2>&1 || die "mariadb-install-db failed"
  fi
  mariadbd --no-defaults --datadir="$DIR/mysql" --user=root --bind-address=127.0.0.1 --port="$DB_PORT" \
    --socket="$DIR/run/mysql.sock" --pid-file="$DIR/run/mariadb.pid" --log-error="$DIR/log/mariadb.log" \
    --skip-name-resolve --innodb-buffer-pool-size=64M --innodb-log-file-size=32M >/dev/null 2>&1 &
  wait_for 60 MariaDB mariadb --no-defaults -uroot --socket="$DIR/run/mysql.sock" -e 'select 1'
  mariadb --no-defaults -uroot --socket="$DIR/run/mysql.sock" <<SQL || die "creating the accounting database failed"
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
FLUSH PRIVILEGES;
SQL
fi

# --- configuration ----------------------------------------------------------------
sed -e "s|@DIR@|$DIR|g" -e "s|@HOST@|$HOST|g" -e "s|@CLUSTER@|$CLUSTER|g" \
    -e "s|@DBD_PORT@|$DBD_PORT|g" -e "s|@CTLD_PORT@|$CTLD_PORT|g" \
    "$HERE/slurm.conf.in" > "$DIR/etc/slurm.conf"
sed -e "s|@DIR@|$DIR|g" -e "s|@DB_PORT@|$DB_PORT|g" -e "s|@DBD_PORT@|$DBD_PORT|g" \
    "$HERE/slurmdbd.conf.in" > "$DIR/etc/slurmdbd.conf"
chmod 600 "$DIR/etc/slurmdbd.conf"

# --- slurmdbd, then the cluster in accounting -------------------------------------
if ! alive "$DIR/run/slurmdbd.pid"; then
  log "starting slurmdbd on port $DBD_PORT"
  slurmdbd || die "slurmdbd did not start"  # reads slurmdbd.conf beside $SLURM_CONF
  wait_for 60 slurmdbd sacctmgr -n list cluster
fi
if ! sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER"; then
  sacctmgr -i add cluster "$CLUSTER" >/dev/null || die "sacctmgr add cluster failed"
fi

# --- slurmctld and two slurmd ------------------------------------------------------
if ! alive "$DIR/run/slurmctld.pid"; then
  log "starting slurmctld on port $CTLD_PORT"
  slurmctld -f "$DIR/etc/slurm.conf" || die "slurmctld did not start"
  wait_for 30 slurmctld scontrol ping
fi
for node in n1 n2; do
  if ! alive "$DIR/run/slurmd-$node.pid"; then
    log "starting slurmd $node"
    mkdir -p "$DIR/spool/$node"
    slurmd -N "$node" -f "$DIR/etc/slurm.conf" || die "slurmd $node did not start"
  fi
done
scontrol update nodename=n1,n2 state=resume >/dev/null 2>&1 || true
wait_for 60 "nodes n1 and n2 (idle in sinfo)" nodes_idle
log "up: $(sinfo -h -o '%P %D %T' | tr '\n' ' ')(SLURM_CONF=$SLURM_CONF)"
