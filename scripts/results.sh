#!/usr/bin/env bash
# Reruns every sweep behind docs/results.md, then regenerates its tables and figures
# from the sweep indexes (scripts/results.py).
#
#   scripts/results.sh                 # every sweep at the size docs/results.md reports (= --full)
#   scripts/results.sh --analysis-only # tables and figures from the sweeps already run
#
# Sizes (about 2,700 runs of the paper's size; docs/results.md, "How this page was made",
# gives the time it took): the paper's setting over seeds 0..999; 14 one-factor phase
# points over seeds 0..49; the combinations of up to three settings that raised the rate
# (region-1, region-2, ...; 50 seeds each) and the best setting again on the fresh seeds
# 1000..1099 (region-confirm); the first 40 successful paper seeds with a snapshot every
# 10 steps (formation); the first 20 successful seeds trained 4 times longer at the
# constant rate and with a cosine decay (lasting); the first 10 failed seeds trained 4 times
# longer (long-failed); 30 seeds of configs/layernorm_mlp.yaml (unused-layernorm_mlp).
#
# Sweep files: configs/sweeps/results/*.yaml. Sweep directories go to results/ (gitignored;
# CTR_RESULTS_DIR overrides). Running it again continues: complete runs are skipped. Each
# sweep runs under `nice -n 15` (CTR_NICE overrides) and appends its wall, user and system
# seconds and the 1-minute load average before and after to $CTR_RESULTS_DIR/timings.tsv.
# Options: --jobs N (default 2), --paper-seeds A..B, --formation N, --lasting N, --failed N
# (how many successful or failed paper seeds those sweeps take), --analysis-only, --full
# (the default sizes; accepted for older command lines). Environment: CTR_SWEEP (default
# build/ctr-sweep), PYTHON (default /usr/bin/python3).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${CTR_RESULTS_DIR:-results}
SWEEP=${CTR_SWEEP:-build/ctr-sweep}
PYTHON=${PYTHON:-/usr/bin/python3}
NICE=${CTR_NICE:-15}
JOBS=2
PAPER_SEEDS=0..999
FORMATION=40
LASTING=20
FAILED=10
CONFIRM_SEEDS=1000..1099
ANALYSIS_ONLY=0
while [ $# -gt 0 ]; do
    case "$1" in
        --full) ;;
        --jobs) JOBS=$2; shift ;;
        --paper-seeds) PAPER_SEEDS=$2; shift ;;
        --formation) FORMATION=$2; shift ;;
        --lasting) LASTING=$2; shift ;;
        --failed) FAILED=$2; shift ;;
        --analysis-only) ANALYSIS_ONLY=1 ;;
        *) echo "results.sh: unknown option '$1' (see the comment at the top of scripts/results.sh)" >&2; exit 2 ;;
    esac
    shift
done

mkdir -p "$OUT"
T0=$(date +%s)

# run_sweep DIR FILE [ctr-sweep options]: one sweep into $OUT/DIR; its wall, user and
# system seconds and the load average go to $OUT/timings.tsv.
run_sweep() {
    local name=$1 file=$2; shift 2
    local l0 tf; l0=$(cut -d' ' -f1 /proc/loadavg); tf=$(mktemp)
    local TIMEFORMAT='%R %U %S'
    { time nice -n "$NICE" "$SWEEP" "configs/sweeps/results/$file.yaml" --out "$OUT/$name" --jobs "$JOBS" --quiet "$@" </dev/null 2>&3 ; } 3>&2 2>"$tf"
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$(tr ' ' '\t' < "$tf")" "$l0" "$(cut -d' ' -f1 /proc/loadavg)" "$*" >> "$OUT/timings.tsv"
    rm -f "$tf"
}

# seeds_of KIND N: the first N successful (KIND=success) or failed paper seeds, comma-separated.
seeds_of() { "$PYTHON" scripts/results.py --runs "$OUT" --print-seeds "$1" "$2"; }

if [ "$ANALYSIS_ONLY" = 0 ]; then
    if [ ! -x "$SWEEP" ]; then
        echo "results.sh: $SWEEP not found: build first (scripts/setup.sh), or set CTR_SWEEP" >&2
        exit 2
    fi
    run_sweep paper paper --seeds "$PAPER_SEEDS"
    for f in configs/sweeps/results/phase-*.yaml; do
        run_sweep "$(basename "$f" .yaml)" "$(basename "$f" .yaml)"
    done
    run_sweep formation formation --seeds "$(seeds_of success "$FORMATION")"
    run_sweep lasting lasting --seeds "$(seeds_of success "$LASTING")"
    # Combinations of the one-factor settings that raised the rate: one line of --set
    # options per combination (none when fewer than two settings helped).
    n=0
    while read -r -a sets; do
        [ ${#sets[@]} -gt 0 ] || continue
        n=$((n + 1))
        run_sweep "region-$n" region "${sets[@]}"
    done < <("$PYTHON" scripts/results.py --runs "$OUT" --plan-region)
    # The best setting found (combination or single factor) again, on seeds no one chose it by.
    best=()
    read -r -a best < <("$PYTHON" scripts/results.py --runs "$OUT" --plan-confirm) || true
    if [ ${#best[@]} -gt 0 ]; then
        run_sweep region-confirm region "${best[@]}" --seeds "$CONFIRM_SEEDS"
    fi
    run_sweep long-failed long-failed --seeds "$(seeds_of failure "$FAILED")"
    for f in configs/sweeps/results/unused-*.yaml; do
        run_sweep "$(basename "$f" .yaml)" "$(basename "$f" .yaml)"
    done
fi

"$PYTHON" scripts/results.py --runs "$OUT" --docs docs
echo "results.sh: done in $(( $(date +%s) - T0 )) s" >&2
