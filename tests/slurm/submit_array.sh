#!/usr/bin/env bash
# The Slurm path for real: starts the single-node cluster of scripts/slurm-up.sh (unless
# one is up already), submits a small sweep as a 3-task job array through
# `ctr-sweep submit`, waits for the array and its collect job, and checks that the index
# equals the one a local `ctr-sweep` of the same sweep writes (wall times aside).
# Needs root (slurmd runs jobs as their users); exits 77 (ctest: skipped) otherwise.
# Usage: submit_array.sh SOURCE_DIR BINARY_DIR
set -euo pipefail
src=$1
bin=$2
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIPPED: the Slurm test starts munged, slurmctld and slurmd and must run as root"
  exit 77
fi

export CTR_SLURM_DIR=${CTR_SLURM_DIR:-/tmp/ctr-slurm}
# One run of this test at a time per cluster directory: a second one (another build
# tree's ctest) would use the cluster the first one started, whose slurm-down at its
# end cancels the second one's jobs.
exec 9>"$CTR_SLURM_DIR.test-lock"
flock 9
started=0
SLURM_CONF=$CTR_SLURM_DIR/slurm.conf scontrol ping >/dev/null 2>&1 || started=1
work=$(mktemp -d /tmp/ctr_test_slurm.XXXXXX)
cleanup() {
  cd /
  rm -rf "$work"
  if [ $started -eq 1 ]; then "$src/scripts/slurm-down.sh" || true; fi
}
trap cleanup EXIT
eval "$("$src/scripts/slurm-up.sh")"

cat >"$work/tiny.yaml" <<YAML
config: $src/configs/minimal.yaml
set:
  train.steps: 40
  task.train_size: 256
  train.batch_size: 64
  task.eval_size: 64
  task.probe_size: 4
  train.eval_every: 10
  log.checkpoint_every: 20
grid:
  train.lr: [0.05, 0.01]
seeds: 0..3
YAML

cd "$work"
out=$("$bin/ctr-sweep" submit tiny.yaml --array 3 --out "$work/cluster")
echo "$out"
array=$(sed -n 's/^array job \([0-9]*\) .*/\1/p' <<<"$out")
collect=$(sed -n 's/.*collect job \([0-9]*\);.*/\1/p' <<<"$out")
[ -n "$array" ] && [ -n "$collect" ] || { echo "FAIL: no job ids in the submit output"; exit 1; }

for _ in $(seq 1 240); do
  [ -z "$(squeue -h -j "$array,$collect" 2>/dev/null)" ] && break
  sleep 0.5
done
if [ -n "$(squeue -h -j "$array,$collect" 2>/dev/null)" ]; then
  echo "FAIL: jobs still queued or running after 120 s:"; squeue; exit 1
fi
# Every array task and the collect job completed (the controller keeps finished jobs
# for MinJobAge = 300 s).
states=$(scontrol -o show job "$array" | grep -o 'JobState=[A-Z_]*' | sort | uniq -c)
echo "array tasks: $states"
[ "$(scontrol -o show job "$array" | grep -c 'JobState=COMPLETED')" -eq 3 ] || { echo "FAIL: not every task completed"; cat "$work"/cluster/slurm/*.out; exit 1; }
scontrol -o show job "$collect" | grep -q 'JobState=COMPLETED' || { echo "FAIL: the collect job did not complete"; cat "$work"/cluster/slurm/*.out; exit 1; }
[ -s "$work/cluster/index.csv" ] || { echo "FAIL: no index after the collect job"; exit 1; }

"$bin/ctr-sweep" tiny.yaml --out "$work/local" --quiet

# The two indexes, without the wall_s column.
/usr/bin/python3 - "$work/cluster/index.csv" "$work/local/index.csv" <<'PY'
import csv, sys
def rows(path):
    with open(path, newline="") as f:
        return [{k: v for k, v in r.items() if k != "wall_s"} for r in csv.DictReader(f)]
a, b = rows(sys.argv[1]), rows(sys.argv[2])
assert len(a) == 8, f"expected 8 runs, got {len(a)}"
assert all(r["status"] == "complete" for r in a), [r["status"] for r in a]
assert a == b, "the cluster's index differs from the local one"
print("index: 8 runs, equal to the local sweep's")
PY
cmp "$work/cluster/points.csv" "$work/local/points.csv"
echo "PASS"
