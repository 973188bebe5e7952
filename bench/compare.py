#!/usr/bin/env python3
"""ctr against PyTorch (bench/torch_ctr.py), side by side: the two alternate within
every repetition, each case is repeated, and the medians and their ratio are printed.

  /usr/bin/python3 bench/compare.py [--build build] [--repeats 3] [--sweep-runs 20] [--only CASE ...]

Cases (all one thread: OMP_NUM_THREADS=1, torch.set_num_threads(1)):
  run      the minimal 50-epoch run, whole process wall time: `ctr-train
           configs/minimal.yaml` with default logging (run file, snapshots,
           checkpoints, evaluations, verdict) against `torch_ctr.py train` (training and
           the same evaluations, no file)
  larger   the larger model's step (zero grads + forward + backward), float64 and
           float32: bench_step / bench_step_f32 --only larger against torch_ctr.py step
  minimal  the minimal model's step, likewise, float64
  logging  ctr-train with default logging against --set log.snapshots=false
           (CPU time, user + system, of the whole process): the cost of the snapshots
  sweep    runs per minute of `ctr-sweep` over --sweep-runs seeds of the minimal config
           (default logging) at 1 and 2 jobs, if the build has ctr-sweep; no PyTorch peer
The machine is shared: wall times move with the load of the other core; the ratios of
alternating runs move less. Needs a Release build with the benchmarks (the default).
"""
import argparse
import os
import re
import resource
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
LARGER = os.path.join(HERE, "larger.yaml")


def env():
    e = dict(os.environ)
    e["OMP_NUM_THREADS"] = "1"
    return e


def timed(cmd):
    """(wall seconds, CPU seconds of the child, stdout) of one run; exits on failure."""
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


def row(name, unit, a, b, a_name="ctr", b_name="torch"):
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"{name:34s} {a_name} {ma:12.3f} {unit:8s} {b_name} {mb:12.3f} {unit:8s} ratio {mb / ma:7.1f}x"
          f"   ({len(a)} runs each; {a_name} {min(a):.3f}-{max(a):.3f}, {b_name} {min(b):.3f}-{max(b):.3f})",
          flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sweep-runs", type=int, default=20, help="runs per sweep in the sweep case")
    ap.add_argument("--only", nargs="*", default=["run", "larger", "minimal", "logging", "sweep"])
    args = ap.parse_args()
    b = os.path.abspath(args.build)
    train_bin, step64, step32 = (os.path.join(b, "ctr-train"), os.path.join(b, "bench", "bench_step"),
                                 os.path.join(b, "bench", "bench_step_f32"))
    for f in (train_bin, step64, step32):
        if not os.path.exists(f):
            sys.exit(f"compare.py: {f} not found: build with the benchmarks first (README)")
    info = subprocess.run([step64, "--only", "minimal", "--repeats", "1", "--steps", "1", "--warmup", "1"],
                          capture_output=True, text=True, env=env()).stdout.splitlines()[0]
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; {info}")
    R = args.repeats
    tmp = tempfile.mkdtemp(prefix="ctr-compare-")
    out = os.path.join(tmp, "run.h5")
    ctr_run = [train_bin, MINIMAL, "--out", out, "--overwrite"]

    if "run" in args.only:
        c, t = [], []
        for r in range(R):
            c.append(timed(ctr_run)[0])
            t.append(timed(TORCH + ["train", MINIMAL])[0])
        row("minimal run, whole process", "s", c, t)

    if "larger" in args.only:
        for dtype, binary in (("float64", step64), ("float32", step32)):
            c, t = [], []
            for r in range(R):
                c.append(us_per_step(timed([binary, "--only", "larger", "--repeats", "3"])[2]) / 1e3)
                t.append(us_per_step(timed(TORCH + ["step", LARGER, "--dtype", dtype, "--repeats", "3"])[2]) / 1e3)
            row(f"larger step, {dtype}", "ms", c, t)

    if "minimal" in args.only:
        c, t = [], []
        for r in range(R):
            c.append(us_per_step(timed([step64, "--only", "minimal", "--repeats", "3"])[2]))
            t.append(us_per_step(timed(TORCH + ["step", MINIMAL, "--repeats", "3"])[2]))
        row("minimal step, float64", "us", c, t)

    if "logging" in args.only:
        full, bare = [], []
        for r in range(R):
            full.append(timed(ctr_run)[1])
            bare.append(timed(ctr_run + ["--set", "log.snapshots=false"])[1])
        mf, mb = statistics.median(full), statistics.median(bare)
        print(f"{'logging overhead (CPU s)':34s} default {mf:.3f} s, log.snapshots=false {mb:.3f} s: "
              f"+{(mf / mb - 1) * 100:.0f}%  ({R} runs each)", flush=True)

    if "sweep" in args.only:
        sweep_bin = os.path.join(b, "ctr-sweep")
        if not os.path.exists(sweep_bin):
            print("sweep: skipped, this build has no ctr-sweep", flush=True)
        else:
            n = args.sweep_runs
            plan = os.path.join(tmp, "sweep.yaml")
            with open(plan, "w") as f:
                f.write(f"config: {MINIMAL}\nseeds: 0..{n - 1}\n")
            for jobs in (1, 2):
                walls = []
                for r in range(R):
                    d = os.path.join(tmp, f"sweep-{jobs}-{r}")
                    walls.append(timed([sweep_bin, plan, "--out", d, "--jobs", str(jobs), "--quiet"])[0])
                w = statistics.median(walls)
                print(f"{'sweep of ' + str(n) + ' minimal runs, ' + str(jobs) + ' job(s)':34s} {w:.2f} s: "
                      f"{n / w * 60:.0f} runs/min, 1,000 runs in {1000 * w / n:.0f} s  ({R} sweeps, "
                      f"{min(walls):.2f}-{max(walls):.2f} s)", flush=True)

if __name__ == "__main__":
    main()
