#!/usr/bin/env python3
"""ctr against PyTorch (bench/torch_ctr.py), side by side, and ctr-sweep's throughput:
the programs compared alternate within every repetition, each case is repeated, and
the medians, ranges and ratios are printed with the machine's load.

  /usr/bin/python3 bench/compare.py [--build build] [--repeats 5] [--sweep-runs 20] [--only CASE ...]

Cases (all one thread per process: OMP_NUM_THREADS=1, torch.set_num_threads(1)):
  run      the minimal 50-epoch run, whole process: `ctr-train configs/minimal.yaml`
           with default logging (run file, snapshots, checkpoints, evaluations, verdict,
           causal tests) against `torch_ctr.py train` (training and the same
           evaluations, no file); wall and CPU time (user + system)
  larger   the larger model's step (zero grads + forward + backward), float64 and
           float32: bench_step / bench_step_f32 --only larger against torch_ctr.py step
  minimal  the minimal model's step, likewise, float64
  logging  CPU time of ctr-train with default logging, with a sweep run's logging
           (the sweep defaults, docs/sweeps.md) and with log.snapshots=false, alternating:
           what the snapshots and checkpoints cost
  sweep    `ctr-sweep configs/sweeps/paper-seeds.yaml --seeds 0..N-1` (the paper's
           config with the sweep's log defaults) at --jobs 1 and 2, alternating: wall
           time, runs per minute, CPU time per run, and the 1,000-seed sweep's wall time
           at that pace; no PyTorch peer
The machine is shared: wall times move with the load of the other core; CPU times and
the ratios of alternating runs move less. Needs a Release build with the benchmarks
(the default) and, for the larger case, bench_step_f32 (-DCTR_BUILD_BENCH_F32=ON).
Exits 1 if a program fails.
"""
import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY = "/usr/bin/python3"
TORCH = [PY, os.path.join(HERE, "torch_ctr.py")]
MINIMAL = os.path.join(ROOT, "configs", "minimal.yaml")
PAPER_SWEEP = os.path.join(ROOT, "configs", "sweeps", "paper-seeds.yaml")
LARGER = os.path.join(HERE, "larger.yaml")
# The log settings every ctr-sweep run gets by default (src/run/sweep_spec.cpp).
SWEEP_LOG = ["log.snapshot_dense=0", "log.snapshot_per_decade=0", "log.snapshot_every=200",
             "log.eval_set=false", "log.checkpoint_every=1000"]


def env():
    e = dict(os.environ)
    e["OMP_NUM_THREADS"] = "1"
    return e


def timed(cmd):
    """(wall seconds, CPU seconds user + system of the child and its children, stdout)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env())
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        sys.exit(f"compare.py: {' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}{p.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, p.stdout


def us_per_step(out):
    m = re.search(r"([0-9.]+) us/step", out)
    if not m:
        sys.exit(f"compare.py: no us/step in:\n{out}")
    return float(m.group(1))


def load():
    return os.getloadavg()[0]


def spread(v):
    return f"{statistics.median(v):.3f} [{min(v):.3f}-{max(v):.3f}]"


def row(name, unit, a, b, a_name="ctr", b_name="torch", loads=None):
    ma, mb = statistics.median(a), statistics.median(b)
    lt = f", load {min(loads):.1f}-{max(loads):.1f}" if loads else ""
    print(f"{name:36s} {a_name} {spread(a)} {unit}  {b_name} {spread(b)} {unit}  ratio {mb / ma:.1f}x"
          f"  ({len(a)} each{lt})", flush=True)


def machine(step64):
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = subprocess.run([step64, "--only", "minimal", "--repeats", "1", "--steps", "1", "--warmup", "1"],
                          capture_output=True, text=True, env=env()).stdout.splitlines()
    return f"{os.cpu_count()} cores, {model}; {info[0] if info else ''}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--sweep-runs", type=int, default=20, help="runs per sweep in the sweep case")
    ap.add_argument("--only", nargs="*", default=["run", "larger", "minimal", "logging", "sweep"],
                    choices=["run", "larger", "minimal", "logging", "sweep"])
    args = ap.parse_args()
    b = os.path.abspath(args.build)
    train_bin, sweep_bin = os.path.join(b, "ctr-train"), os.path.join(b, "ctr-sweep")
    step64, step32 = os.path.join(b, "bench", "bench_step"), os.path.join(b, "bench", "bench_step_f32")
    for f in (train_bin, sweep_bin, step64):
        if not os.path.exists(f):
            sys.exit(f"compare.py: {f} not found: build with the benchmarks first (README)")
    if "larger" in args.only and not os.path.exists(step32):
        sys.exit(f"compare.py: {step32} not found: the larger case needs it; configure with "
                 f"cmake -S {ROOT} -B {b} -DCTR_BUILD_BENCH_F32=ON and build, or leave out larger (--only ...)")
    print(f"machine: {machine(step64)}; load {load():.1f}", flush=True)
    R = args.repeats
    tmp = tempfile.mkdtemp(prefix="ctr-compare-")
    out = os.path.join(tmp, "run.h5")
    ctr_run = [train_bin, MINIMAL, "--out", out, "--overwrite", "--quiet"]

    try:
        if "run" in args.only:
            cw, cc, tw, tc, loads = [], [], [], [], []
            for r in range(R):
                loads.append(load())
                w, c, _ = timed(ctr_run)
                cw.append(w)
                cc.append(c)
                w, c, _ = timed(TORCH + ["train", MINIMAL])
                tw.append(w)
                tc.append(c)
            row("minimal run, whole process, wall", "s", cw, tw, loads=loads)
            row("minimal run, whole process, CPU", "s", cc, tc)

        if "larger" in args.only:
            for dtype, binary in (("float64", step64), ("float32", step32)):
                c, t, loads = [], [], []
                for r in range(R):
                    loads.append(load())
                    c.append(us_per_step(timed([binary, "--only", "larger", "--repeats", "3"])[2]) / 1e3)
                    t.append(us_per_step(timed(TORCH + ["step", LARGER, "--dtype", dtype, "--repeats", "3"])[2]) / 1e3)
                row(f"larger step, {dtype}", "ms", c, t, loads=loads)

        if "minimal" in args.only:
            c, t, loads = [], [], []
            for r in range(R):
                loads.append(load())
                c.append(us_per_step(timed([step64, "--only", "minimal", "--repeats", "3"])[2]))
                t.append(us_per_step(timed(TORCH + ["step", MINIMAL, "--repeats", "3"])[2]))
            row("minimal step, float64", "us", c, t, loads=loads)

        if "logging" in args.only:
            sweep_log = [a for kv in SWEEP_LOG for a in ("--set", kv)]
            variants = (("default logging", []), ("a sweep run's logging", sweep_log),
                        ("log.snapshots=false", ["--set", "log.snapshots=false"]))
            cpu = {name: [] for name, _ in variants}
            loads = []
            for r in range(R):
                loads.append(load())
                for name, extra in variants:
                    cpu[name].append(timed(ctr_run + extra)[1])
            bare = statistics.median(cpu["log.snapshots=false"])
            for name, _ in variants:
                m = statistics.median(cpu[name])
                print(f"{'logging: ' + name + ', CPU':36s} {spread(cpu[name])} s  {(m / bare - 1) * 100:+.0f}% "
                      f"against log.snapshots=false  ({R} each, load {min(loads):.1f}-{max(loads):.1f})", flush=True)

        if "sweep" in args.only:
            n = args.sweep_runs
            walls, cpus, loads = {1: [], 2: []}, {1: [], 2: []}, []
            for r in range(R):
                loads.append(load())
                for jobs in (1, 2):
                    d = os.path.join(tmp, f"sweep-{jobs}-{r}")
                    w, c, _ = timed([sweep_bin, PAPER_SWEEP, "--seeds", f"0..{n - 1}", "--out", d,
                                     "--jobs", str(jobs), "--quiet"])
                    walls[jobs].append(w)
                    cpus[jobs].append(c / n)
                    shutil.rmtree(d)
            for jobs in (1, 2):
                w = statistics.median(walls[jobs])
                print(f"{'sweep of ' + str(n) + ' paper runs, --jobs ' + str(jobs):36s} wall {spread(walls[jobs])} s: "
                      f"{n / w * 60:.0f} runs/min, 1,000 runs in {1000 * w / n:.0f} s; CPU per run "
                      f"{spread(cpus[jobs])} s  ({R} sweeps, load {min(loads):.1f}-{max(loads):.1f})", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"load at the end {load():.1f}", flush=True)


if __name__ == "__main__":
    main()
