#!/usr/bin/env bash
# Stops the single-node Slurm cluster scripts/slurm-up.sh started ($CTR_SLURM_DIR, default
# /tmp/ctr-slurm): slurmd, slurmctld, then munged, each by the pid in its pid file, with
# SIGTERM and, after 10 s, SIGKILL. Jobs still running are killed with slurmd.
# Idempotent: nothing running is not an error. --purge also removes the directory.
set -euo pipefail

dir=${CTR_SLURM_DIR:-/tmp/ctr-slurm}
purge=0
[ "${1:-}" = "--purge" ] && purge=1

stop() {  # stop NAME: the daemon whose pid is in $dir/NAME.pid
  local pidfile=$dir/$1.pid pid
  [ -s "$pidfile" ] || { rm -f "$pidfile"; return 0; }
  pid=$(cat "$pidfile")
  # Only a process of that name: a stale pid file must not kill an unrelated process.
  if kill -0 "$pid" 2>/dev/null && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "slurm-down: $1 ($pid) ignored SIGTERM for 10 s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$pidfile"
}

# Jobs first, so none outlives its slurmd; scancel fails harmlessly when nothing answers.
if [ -s "$dir/slurmctld.pid" ] && command -v scancel >/dev/null; then
  SLURM_CONF=$dir/slurm.conf timeout 5 scancel --quiet --full --user root >/dev/null 2>&1 || true
fi
stop slurmd
stop slurmctld
stop munged
# Daemons of this directory whose pid file is gone (a start that was itself killed, or
# a pid file overwritten by a failed start): found by the paths on their command line.
for pattern in "slurmd .*$dir/slurm.conf" "slurmctld .*$dir/slurm.conf" "munged --socket=$dir/munge/"; do
  pkill -TERM -f -- "$pattern" 2>/dev/null || true
done
[ $purge -eq 1 ] && rm -rf "$dir"
echo "slurm-down: stopped (directory $dir$([ $purge -eq 1 ] && echo ' removed'))" >&2
