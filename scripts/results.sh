#!/usr/bin/env bash
# Reruns every sweep behind docs/results.md, then regenerates its tables and figures
# from the sweep indexes (scripts/results.py).
#
#   scripts/results.sh                 # the sizes docs/results.md reports
#   scripts/results.sh --full          # the full versions: 1,000 paper seeds, 100 seeds a phase point,
#                                      # 20 successful seeds trained longer
#   scripts/results.sh --analysis-only # tables and figures from the sweeps already run
#
# Sweep files: configs/sweeps/results/*.yaml. Run directories go to results/ (gitignored;
# CTR_RESULTS_DIR overrides). Running it again continues: complete runs are skipped, so a
# larger --paper-seeds only runs the new seeds. Every sweep runs under `nice -n 19`.
# Options: --jobs N (default 2), --paper-seeds A..B, --lasting N (successful paper seeds
# trained longer). Environment: CTR_SWEEP (default build/ctr-sweep), PYTHON (default
# /usr/bin/python3).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${CTR_RESULTS_DIR:-results}
SWEEP=${CTR_SWEEP:-build/ctr-sweep}
PYTHON=${PYTHON:-/usr/bin/python3}
JOBS=2
PAPER_SEEDS=0..99
LASTING=3
MORE=()         # --full: more seeds for the phase, formation, region and unused sweeps
ANALYSIS_ONLY=0
while [ $# -gt 0 ]; do
    case "$1" in
        --full) PAPER_SEEDS=0..999; LASTING=20; MORE=(--seeds 0..99) ;;
        --jobs) JOBS=$2; shift ;;
        --paper-seeds) PAPER_SEEDS=$2; shift ;;
        --lasting) LASTING=$2; shift ;;
        --analysis-only) ANALYSIS_ONLY=1 ;;
        *) echo "results.sh: unknown option '$1' (see the comment at the top of scripts/results.sh)" >&2; exit 2 ;;
    esac
    shift
done

mkdir -p "$OUT"
T0=$(date +%s)

# run_sweep NAME [ctr-sweep options]: one sweep into $OUT/NAME; its wall time goes to
# $OUT/timings.tsv (name, seconds, arguments).
run_sweep() {
    local name=$1; shift
    local t0; t0=$(date +%s)
    nice -n 19 "$SWEEP" "configs/sweeps/results/$name.yaml" --out "$OUT/$name" --jobs "$JOBS" "$@"
    printf '%s\t%s\t%s\n' "$name" "$(( $(date +%s) - t0 ))" "$*" >> "$OUT/timings.tsv"
}

if [ "$ANALYSIS_ONLY" = 0 ]; then
    if [ ! -x "$SWEEP" ]; then
        echo "results.sh: $SWEEP not found: build first (scripts/setup.sh), or set CTR_SWEEP" >&2
        exit 2
    fi
    run_sweep paper --seeds "$PAPER_SEEDS"
    for f in configs/sweeps/results/phase-*.yaml configs/sweeps/results/region-*.yaml; do
        run_sweep "$(basename "$f" .yaml)" "${MORE[@]}"
    done
    run_sweep formation "${MORE[@]}"
    # The first $LASTING seeds that succeeded in the paper sweep, trained longer with a
    # decaying rate (their constant-rate runs are in region-long).
    seeds=$("$PYTHON" -c '
import sys, pandas as pd
df = pd.read_csv(sys.argv[1])
print(",".join(str(s) for s in df[df.success == 1].seed.head(int(sys.argv[2]))))' "$OUT/paper/index.csv" "$LASTING")
    run_sweep lasting --seeds "$seeds"
    for f in configs/sweeps/results/unused-*.yaml; do
        run_sweep "$(basename "$f" .yaml)" "${MORE[@]}"
    done
fi

"$PYTHON" scripts/results.py --runs "$OUT" --docs docs
echo "results.sh: done in $(( $(date +%s) - T0 )) s" >&2
