"""The figures of a sweep (a ctr-sweep directory, read with ctr.load_sweep): success
rate with its Wilson interval per value of each swept key, the distributions of the
emergence steps, the curves of every seed overlaid, and the rate over two swept keys."""
import itertools

import numpy as np
import pandas as pd

from ..run import load_run
from . import arrays, style
from .run_figures import step_axis
from .style import COLOURS

# the emergence-step columns of the index drawn (those the index has)
STEP_COLUMNS = [("catch_step", "catch"), ("tag_step", "tag"), ("release_step", "release"),
                ("mechanism_step", "mechanism"), ("solved_step", "solved")]


def swept_keys(df):
    """The swept keys: the index columns between `point` and `seed` (docs/sweeps.md)."""
    cols = list(df.columns)
    if "point" in cols and "seed" in cols:
        return cols[cols.index("point") + 1:cols.index("seed")]
    return []


def _sort_values(values):
    """Values of a key in numeric order when they are numbers, else as found."""
    uniq = list(dict.fromkeys(values))
    try:
        return sorted(uniq, key=float)
    except (TypeError, ValueError):
        return uniq


def complete(df):
    """The runs that finished (status complete): the ones with a verdict."""
    return df[df["status"] == "complete"]


def rate_table(df, keys):
    """Success rate of the complete runs grouped by keys (a list; [] for all runs):
    DataFrame with the keys' values, n, successes, rate, lo, hi (Wilson 95%)."""
    done = complete(df)
    if keys:
        g = done.groupby(keys, sort=False)["success"]
        t = pd.DataFrame({"n": g.size(), "successes": g.apply(lambda s: int((s == 1).sum()))}).reset_index()
    else:
        t = pd.DataFrame({"n": [len(done)], "successes": [int((done["success"] == 1).sum())]})
    t["n"], t["successes"] = t["n"].astype(int), t["successes"].astype(int)
    t["rate"] = (t["successes"] / t["n"]).astype(float)
    t["lo"], t["hi"] = arrays.wilson(t["successes"].values, t["n"].values)
    return t


@style.paper
def rate_figure(df, title=""):
    """Success rate with its Wilson 95% interval against the value of each swept key
    (one panel per key, the other keys pooled); one bar for a seeds-only sweep."""
    keys = swept_keys(df) or [None]
    fig = style.figure(min(style.TEXT_WIDTH, 2.4 * len(keys) + 0.6), 2.6)
    axes = np.atleast_1d(fig.subplots(1, len(keys), squeeze=False)[0])
    for ax, key in zip(axes, keys):
        t = rate_table(df, [key] if key else [])
        if key:
            order = _sort_values(t[key].tolist())
            t = t.set_index(key).loc[order].reset_index()
            labels = [str(v) for v in t[key]]
        else:
            labels = ["all runs"]
        x = np.arange(len(t))
        err = np.clip(np.vstack([t["rate"] - t["lo"], t["hi"] - t["rate"]]), 0, None)  # rounding at 0 and 1
        bars = ax.errorbar(x, t["rate"].to_numpy(float), yerr=err, fmt="o", color=COLOURS["success"], capsize=3)
        bars.lines[0].set_gid(f"rate:{key or 'all'}")
        bars.lines[2][0].set_gid(f"interval:{key or 'all'}")
        for xi, (k, n) in enumerate(zip(t["successes"], t["n"])):
            ax.annotate(f"{k}/{n}", (xi, 1.02), ha="center", va="bottom", fontsize=6, annotation_clip=False)
        ax.set_xticks(x, labels, rotation=30 if max(map(len, labels)) > 5 else 0)
        ax.set_xlim(-0.5, len(t) - 0.5)
        ax.set_ylim(0, 1.1)
        ax.set_xlabel(key or "")
        ax.set_ylabel("success rate (Wilson 95%)")
        ax.set_label(f"rate:{key or 'all'}")
    fig.suptitle(style.wrap(f"{title}success rate per swept value" if title else "success rate per swept value",
                            fig.get_figwidth()))
    return fig


@style.paper
def steps_figure(df, title=""):
    """Distributions of the emergence steps (catch, tag, release, solved: the index's
    `*_step`, the step from which each held to the end) of the complete runs that
    reached them, one panel each, runs as dots per grid point, median as a bar."""
    done = complete(df)
    keys = swept_keys(df)
    points = list(dict.fromkeys(done.sort_values(keys)["point"])) if keys else ["all"]
    # ticks: the swept values of each point (the keys are named in the x label)
    ticks = [", ".join(str(v) for v in done[done["point"] == p].iloc[0][keys]) if keys else "all runs"
             for p in points]
    fig = style.figure(style.TEXT_WIDTH, 2.4 + 0.06 * max(map(len, ticks)))
    columns = [(c, n) for c, n in STEP_COLUMNS if c in done.columns]
    axes = np.atleast_1d(fig.subplots(1, len(columns), sharey=True, squeeze=False)[0])
    rng = np.random.default_rng(0)  # jitter only; fixed so figures are reproducible
    for ax, (col, name) in zip(axes, columns):
        for xi, p in enumerate(points):
            rows = done[done["point"] == p] if keys else done
            steps = rows[col].values if col in rows else np.zeros(0)
            reached = steps[steps >= 0]
            x = xi + rng.uniform(-0.15, 0.15, reached.size)
            ax.scatter(x, reached, s=8, color=COLOURS.get(name, "#CC79A7"), alpha=0.8, linewidths=0, gid=f"steps:{col}:{p}")
            if reached.size:
                ax.hlines(np.median(reached), xi - 0.3, xi + 0.3, color="black", lw=1.2, gid=f"median:{col}:{p}")
            ax.annotate(f"{reached.size}/{steps.size}", (xi, 1.0), xycoords=("data", "axes fraction"),
                        ha="center", va="bottom", fontsize=6)
        ax.set_xticks(range(len(points)), ticks, rotation=90 if len(points) > 1 and max(map(len, ticks)) > 4 else 0)
        ax.set_xlim(-0.6, len(points) - 0.4)
        ax.set_title(f"{name}: step it held from\n", fontsize=8)
    axes[0].set_ylabel("step")
    if keys:
        fig.supxlabel("grid point: " + ", ".join(keys), fontsize=8)
    fig.suptitle(style.wrap((title or "") + "emergence steps (runs that reached them / complete runs)",
                            style.TEXT_WIDTH))
    return fig


@style.paper
def curves_figure(df, title="", runs=None):
    """Relative error and catch against step for every complete run, successes and
    failures in two colours. runs: {path: ctr.Run} already loaded (default: loads them
    without activations)."""
    done = complete(df)
    fig = style.figure(style.TEXT_WIDTH, 3.6)
    ax_err, ax_catch = fig.subplots(2, 1, sharex=True)
    max_step = 0
    for _, row in done.iterrows():
        run = (runs or {}).get(row["path"]) or load_run(row["path"], activations=False)
        ok = row["success"] == 1
        colour = COLOURS["success" if ok else "failure"]
        m, h = run.metrics, run.headline
        ax_err.plot(m["step"].values, m["eval_rel_error"].values, color=colour, alpha=0.5, lw=0.8,
                    gid=f"curve:eval_rel_error:{row['path']}")
        if "catch" in h:
            ax_catch.plot(h["step"].values, h["catch"].values, color=colour, alpha=0.5, lw=0.8,
                          gid=f"curve:catch:{row['path']}")
        max_step = max(max_step, int(m["step"].values[-1]))
    ax_err.set_yscale("log")
    ax_err.set_ylabel("relative error")
    ax_catch.set_ylabel("catch")
    ax_catch.set_ylim(-0.03, 1.03)
    ax_catch.set_xlabel("step")
    for ax in (ax_err, ax_catch):
        step_axis(ax, max_step)
    from matplotlib.lines import Line2D
    n_ok = int((done["success"] == 1).sum())
    ax_err.legend(handles=[Line2D([], [], color=COLOURS["success"], label=f"success ({n_ok})"),
                           Line2D([], [], color=COLOURS["failure"], label=f"failure ({len(done) - n_ok})")],
                  loc="lower left")
    fig.suptitle(style.wrap((title or "") + "every complete run: error and catch over training", style.TEXT_WIDTH))
    return fig


@style.paper
def heatmap_figure(df, title=""):
    """Success rate over each pair of swept keys (others pooled), cells annotated
    successes/runs. None for fewer than two swept keys."""
    keys = swept_keys(df)
    pairs = list(itertools.combinations(keys, 2))
    if not pairs:
        return None
    fig = style.figure(min(style.TEXT_WIDTH, 3.2 * len(pairs) + 0.8), 3.0)
    axes = np.atleast_1d(fig.subplots(1, len(pairs), squeeze=False)[0])
    im = None
    for ax, (kx, ky) in zip(axes, pairs):
        t = rate_table(df, [kx, ky])
        xs, ys = _sort_values(t[kx].tolist()), _sort_values(t[ky].tolist())
        grid = np.full((len(ys), len(xs)), np.nan)
        for _, r in t.iterrows():
            i, j = ys.index(r[ky]), xs.index(r[kx])
            grid[i, j] = r["rate"]
            ax.text(j, i, f"{int(r['successes'])}/{int(r['n'])}", ha="center", va="center", fontsize=6,
                    color="white" if r["rate"] < 0.5 else "black")
        im = ax.imshow(grid, vmin=0, vmax=1, cmap=style.CMAP_RATE, origin="lower", aspect="auto",
                       gid=f"heatmap:{kx}:{ky}")
        ax.set_xticks(range(len(xs)), [str(v) for v in xs])
        ax.set_yticks(range(len(ys)), [str(v) for v in ys])
        ax.set_xlabel(kx)
        ax.set_ylabel(ky)
        ax.set_label(f"heatmap:{kx}:{ky}")
    fig.colorbar(im, ax=axes, label="success rate", shrink=0.9)
    fig.suptitle(style.wrap((title or "") + "success rate over two swept keys", fig.get_figwidth()))
    return fig
