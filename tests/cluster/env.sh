# source tests/cluster/env.sh: point SLURM's commands (and labspec) at the test cluster.
export SLURM_CONF="${LABSPEC_CLUSTER_DIR:-/tmp/labspec-cluster}/etc/slurm.conf"
