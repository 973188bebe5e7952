#!/usr/bin/env python3
"""The step benchmark of bench/bench_step.cpp in PyTorch, for comparison.

Times zero-grad + forward + backward of the same model (tools/make_fixtures.py's
independent PyTorch build of it), on the same two configs, in float64 and float32, on
the CPU, with torch's default thread count or --threads. Median of 7 repeats after a
warm-up. Usage: /usr/bin/python3 tools/bench_torch.py [--threads N]
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402

CONFIGS = {
    "minimal": dict(mf.BASE, seq_len=16, batch=256),
    "larger": dict(mf.BASE, seq_len=64, batch=64, n_layers=2, n_heads=4, d_model=64, d_head=16, d_mlp=256,
                   act="gelu", norm="layernorm", attn_scale="inv_sqrt_d_head"),
}


def bench(c, dtype):
    torch.set_default_dtype(dtype)
    rng = np.random.default_rng(1)
    P = {k: v.detach().to(dtype).requires_grad_(True) for k, v in mf.draw_params(c, rng).items()}
    batch = mf.draw_batch(c, c["batch"], rng)
    np_dtype = np.float64 if dtype == torch.float64 else np.float32
    batch = {k: (v.astype(np_dtype) if v.dtype == np.float64 else v) for k, v in batch.items()}

    def step():
        for p in P.values():
            p.grad = None
        loss, _, _ = mf.forward(c, P, batch)
        loss.backward()

    t0 = time.perf_counter()
    n = 0
    while n < 3 or time.perf_counter() - t0 < 0.3:
        step()
        n += 1
    per = (time.perf_counter() - t0) / n
    reps = max(1, int(0.5 / per))
    times = []
    for _ in range(7):
        t = time.perf_counter()
        for _ in range(reps):
            step()
        times.append((time.perf_counter() - t) / reps)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for name, c in CONFIGS.items():
        for dtype in (torch.float64, torch.float32):
            s = bench(c, dtype)
            print(f"{name:8s} {str(dtype):14s} {s * 1e6:12.1f} us/step {1 / s:10.1f} steps/s")


if __name__ == "__main__":
    main()
