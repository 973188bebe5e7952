#!/usr/bin/env bash
# Starts a single-node Slurm cluster on this machine (Debian 12's slurm-wlm and munge, as
# root): munged, slurmctld and slurmd, with their config, keys, state, spool, logs and
# sockets in one directory, $CTR_SLURM_DIR (default /tmp/ctr-slurm). Nothing under /etc
# is touched, so it neither needs nor disturbs a system Slurm; point the clients at it with
#     export SLURM_CONF=$CTR_SLURM_DIR/slurm.conf
# which this script prints as its last line (eval "$(scripts/slurm-up.sh)" does both).
# Idempotent: when the cluster already answers, it only prints that line.
# Stop it with scripts/slurm-down.sh. Ports: $CTR_SLURM_PORT (slurmctld, default 6817)
# and the next one (slurmd).
set -euo pipefail

dir=${CTR_SLURM_DIR:-/tmp/ctr-slurm}
port=${CTR_SLURM_PORT:-6817}
conf=$dir/slurm.conf

say() { echo "slurm-up: $*" >&2; }
die() { say "error: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (slurmd starts jobs as their users); try: sudo $0"
for b in munged slurmctld slurmd scontrol sinfo; do
  command -v "$b" >/dev/null || die "$b not found; install Debian's slurm-wlm and munge (scripts/setup.sh does)"
done

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

export SLURM_CONF=$conf
if alive "$dir/munged.pid" && alive "$dir/slurmctld.pid" && alive "$dir/slurmd.pid" &&
   scontrol ping >/dev/null 2>&1; then
  say "already running (config $conf)"
  echo "export SLURM_CONF=$conf"
  exit 0
fi
# Partly up (a crash, a killed script): stop what is left and start afresh.
if [ -f "$dir/slurmctld.pid" ] || [ -f "$dir/slurmd.pid" ] || [ -f "$dir/munged.pid" ]; then
  CTR_SLURM_DIR=$dir "$(dirname "$0")/slurm-down.sh" >/dev/null
fi

# munged refuses directories that others can write to; everything here is root's alone.
mkdir -p "$dir"
chmod 0755 "$dir"
# The socket's directory must be searchable by all (job steps of every user talk to it),
# the key's readable by root alone.
mkdir -p "$dir/state" "$dir/spool" "$dir/munge" "$dir/munge-key"
chmod 0755 "$dir/munge"
chmod 0700 "$dir/munge-key"
# A key of this cluster's own, so a system munge key (or its absence) does not matter.
if [ ! -s "$dir/munge-key/munge.key" ]; then
  dd if=/dev/urandom of="$dir/munge-key/munge.key" bs=1024 count=1 status=none
  chmod 0400 "$dir/munge-key/munge.key"
fi

host=$(hostname -s)
cpus=$(nproc)
cat >"$conf" <<EOF
# Written by ctr's scripts/slurm-up.sh: a single-node cluster on localhost.
ClusterName=ctr
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/slurmd-%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
PlugStackConfig=$dir/plugstack.conf
# No cgroups: these plugins work in containers and on machines without systemd.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
MinJobAge=300
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
: >"$dir/plugstack.conf"

munged --socket="$dir/munge/munge.socket" --key-file="$dir/munge-key/munge.key" \
       --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" --seed-file="$dir/munge-key/munged.seed" ||
  die "munged did not start; see $dir/munged.log"
# -c: a fresh cluster, with no jobs left over from an earlier one.
slurmctld -c -f "$conf" || die "slurmctld did not start; see $dir/slurmctld.log"
slurmd -c -f "$conf" -N "$host" || die "slurmd did not start; see $dir/slurmd.log"

for _ in $(seq 1 60); do
  state=$(sinfo -h -n "$host" -o %T 2>/dev/null || true)
  case $state in
    idle*|mix*|alloc*) say "up: node $host ($cpus CPUs), partition local, config $conf"
                       echo "export SLURM_CONF=$conf"
                       exit 0 ;;
  esac
  sleep 0.5
done
die "the node did not become idle within 30 s (state '${state:-none}'); logs: $dir/slurmctld.log, $dir/slurmd.log"
