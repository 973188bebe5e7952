#!/usr/bin/env python3
"""One picture of a run: error and catch / tag / release over training, and the
attention patterns of both layers on one probe sequence at a few snapshots.

Usage: /usr/bin/python3 tools/plot_run.py RUN.h5 [--out RUN.png] [--seq 0]
Needs Debian's python3-h5py and python3-matplotlib (scripts/python-deps.sh).
"""
import argparse

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run")
    ap.add_argument("--out", help="PNG to write (default: RUN with .png)")
    ap.add_argument("--seq", type=int, default=0, help="probe sequence whose attention is drawn")
    args = ap.parse_args()
    out = args.out or args.run.rsplit(".", 1)[0] + ".png"

    with h5py.File(args.run, "r", locking=False) as f:
        m = f["metrics"]
        steps, rel = m["step"][:], m["eval_rel_error"][:]
        snaps = f["snapshots"]
        s_steps = snaps["step"][:]
        head = snaps["headline"]
        catch, release, tag = head["catch"][:], head["release"][:], head["tag_separation"][:]
        layers = sorted(int(k.split(".")[1]) for k in snaps if k.endswith("attn.hook_pattern"))
        picks = sorted(set(np.linspace(0, len(s_steps) - 1, 4).round().astype(int)))
        patterns = {l: snaps[f"blocks.{l}.attn.hook_pattern"] for l in layers}
        sep = int(f["probe/sep_pos"][args.seq])
        summary = f["verdict"].attrs["summary"] if "verdict" in f else f.attrs["status"]
        title = f"{args.run}: {summary.decode() if isinstance(summary, bytes) else summary}"

        fig = plt.figure(figsize=(4 * len(picks), 4 + 3 * len(layers)), constrained_layout=True)
        grid = fig.add_gridspec(1 + len(layers), len(picks))
        ax = fig.add_subplot(grid[0, :])
        ax.semilogy(steps, rel, color="black", label="eval relative error")
        ax.set_xlabel("step")
        ax.set_ylabel("relative error")
        ax2 = ax.twinx()
        ax2.plot(s_steps, catch, label="catch", color="tab:blue")
        ax2.plot(s_steps, release, label="release", color="tab:orange")
        ax2.plot(s_steps, np.clip(tag / 20, 0, 1), label="tag separation / 20", color="tab:green", alpha=0.6)
        ax2.set_ylim(0, 1.05)
        ax2.set_ylabel("attention mass")
        lines = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
        labels = ax.get_legend_handles_labels()[1] + ax2.get_legend_handles_labels()[1]
        ax.legend(lines, labels, loc="center right")
        ax.set_title(title, fontsize=9)
        for row, l in enumerate(layers, start=1):
            for col, i in enumerate(picks):
                a = fig.add_subplot(grid[row, col])
                a.imshow(patterns[l][i, args.seq, 0], vmin=0, vmax=1, cmap="viridis")
                a.axvline(sep, color="white", lw=0.5, ls=":")
                a.set_title(f"layer {l}, head 0, step {s_steps[i]}", fontsize=9)
                a.set_xlabel("key")
                a.set_ylabel("query")
    fig.savefig(out, dpi=80)
    print(out)


if __name__ == "__main__":
    main()
