#!/usr/bin/python3
"""Tables and figures of docs/results.md from the sweeps scripts/results.sh ran.

    /usr/bin/python3 scripts/results.py --runs results --docs docs

Reads every sweep's index (DIR/index.csv, DIR/points.csv) and, where a claim needs the
series, its run files (python/ctr: load_sweep, load_run, emergence). Writes
docs/img/results-*.png, copies the small CSV summaries to docs/results/, and replaces the
generated blocks of docs/results.md (between `<!-- BEGIN name -->` and `<!-- END name -->`).
A sweep that was not run leaves its block saying so.
"""
import argparse
import glob
import itertools
import math
import os
import re
import shutil
import sys

import h5py
import matplotlib
import numpy as np
import pandas as pd
import yaml

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import ctr  # noqa: E402

Z = 1.959963984540054
# Loss-drop thresholds on the evaluation relative error (docs/results.md, "How it forms"):
# the stall sits near 0.5, so the plateau starts when the error first falls below 0.6 and
# the drop is the first step below 0.25, half the plateau.
PLATEAU_ENTER, DROP_BELOW = 0.6, 0.25


def wilson(k, n):
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    d = 1 + Z * Z / n
    c = (p + Z * Z / (2 * n)) / d
    h = Z / d * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    return (0.0 if k == 0 else c - h), (1.0 if k == n else c + h)


def pct(x):
    if x != x:
        return "-"
    return f"{100 * x:.1f}%" if 0 < x < 0.01 else f"{100 * x:.0f}%"


def rate_cells(k, n):
    lo, hi = wilson(k, n)
    return f"{k}/{n}", pct(k / n if n else float("nan")), f"{pct(lo)}-{pct(hi)}"


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def q3(xs):
    xs = np.asarray([x for x in xs if x is not None and x == x], dtype=float)
    if xs.size == 0:
        return "-"
    a, b, c = np.percentile(xs, [25, 50, 75])
    return f"{b:.0f} ({a:.0f}-{c:.0f})"


class Page:
    """The generated blocks of docs/results.md."""

    def __init__(self, docs):
        self.docs = docs
        self.blocks = {}
        os.makedirs(os.path.join(docs, "img"), exist_ok=True)
        os.makedirs(os.path.join(docs, "results"), exist_ok=True)

    def put(self, name, text):
        self.blocks[name] = text.strip("\n")

    def fig(self, fig, name):
        path = os.path.join(self.docs, "img", f"results-{name}.png")
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        return f"![{name}](img/results-{name}.png)"

    def write(self):
        path = os.path.join(self.docs, "results.md")
        text = open(path).read()
        for name, body in self.blocks.items():
            pat = re.compile(rf"(<!-- BEGIN {re.escape(name)} -->\n).*?(<!-- END {re.escape(name)} -->)", re.S)
            if not pat.search(text):
                print(f"results.py: docs/results.md has no block '{name}'", file=sys.stderr)
                continue
            text = pat.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)
        open(path, "w").write(text)


def sweep(runs, name):
    d = os.path.join(runs, name)
    if not os.path.exists(os.path.join(d, "index.csv")):
        return None
    df = ctr.load_sweep(d)
    return df[df.status == "complete"].copy()


def fmt_value(v):
    """A config value as --set takes it (pandas reads true as True)."""
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    return str(v)


def fixed_settings(runs, name):
    """The config keys a sweep directory fixes with `set` (its sweep.yaml), log.* aside."""
    path = os.path.join(runs, name, "sweep.yaml")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        y = yaml.safe_load(f)
    return {k: fmt_value(v) for k, v in (y.get("set") or {}).items() if not k.startswith("log.")}


def settings(runs, name, df):
    """(setting dict, runs) for every point of a sweep: its grid values plus what the sweep
    fixes beyond its sweep file's base (e.g. region-N's --set)."""
    fixed = fixed_settings(runs, name)
    keys = [c for c in df.columns if "." in c]
    out = []
    for point, g in df.groupby("point", sort=False):
        st = dict(fixed)
        st.update({kk: fmt_value(g[kk].iloc[0]) for kk in keys})
        out.append((st, g))
    return out


def label_of(st):
    return ", ".join(f"{k}={v}" for k, v in st.items()) or "base"


# ---------------------------------------------------------------------------------------
# What scripts/results.sh runs next, from what has run.


def print_seeds(runs, kind, count):
    """The first `count` successful (kind 'success') or failed paper seeds, comma-separated."""
    df = sweep(runs, "paper")
    if df is None:
        sys.exit("results.py: the paper sweep has not run")
    df = df.sort_values("seed")
    pick = df[df.success == (1 if kind == "success" else 0)].seed.head(count)
    print(",".join(str(int(x)) for x in pick))


def phase_points(runs):
    """(rate, successes, complete, setting, sweep) of every phase point, and the paper
    sweep's rate on the phase sweeps' seeds."""
    pts, seeds = [], set()
    for d in sorted(glob.glob(os.path.join(runs, "phase-*"))):
        name = os.path.basename(d)
        df = sweep(runs, name)
        if df is None or df.empty:
            continue
        seeds |= set(df.seed)
        for st, g in settings(runs, name, df):
            pts.append((g.success.mean(), int(g.success.sum()), len(g), st, name))
    base = sweep(runs, "paper")
    base = base[base.seed.isin(seeds)] if base is not None else None
    return pts, (base.success.mean() if base is not None and len(base) else float("nan"))


def plan_region(runs, most=3):
    """Combinations of the one-factor settings whose rate beat the paper setting's on the
    same seeds: the best `most` settings on disjoint keys, every subset of two or more."""
    pts, base = phase_points(runs)
    chosen = []
    for rate, _, _, st, _ in sorted(pts, key=lambda p: -p[0]):
        if not rate > base or len(chosen) == most:
            break
        if all(not (set(st) & set(c)) for c in chosen):
            chosen.append(st)
    for size in range(2, len(chosen) + 1):
        for combo in itertools.combinations(chosen, size):
            merged = {}
            for c in combo:
                merged.update(c)
            print(" ".join(f"--set {k}={v}" for k, v in merged.items()))


def plan_confirm(runs):
    """The setting with the highest rate among the phase points and region-N sweeps, if it
    beats the paper setting; printed as --set options."""
    pts, base = phase_points(runs)
    for d in sorted(glob.glob(os.path.join(runs, "region-*"))):
        name = os.path.basename(d)
        df = sweep(runs, name)
        if name == "region-confirm" or df is None or df.empty:
            continue
        for st, g in settings(runs, name, df):
            pts.append((g.success.mean(), int(g.success.sum()), len(g), st, name))
    if not pts:
        return
    rate, _, _, st, _ = max(pts, key=lambda p: p[0])
    if rate > base:
        print(" ".join(f"--set {k}={v}" for k, v in st.items()))


def copy_csv(runs, name, page, which="points.csv"):
    src = os.path.join(runs, name, which)
    if os.path.exists(src):
        shutil.copy(src, os.path.join(page.docs, "results", f"{name}-{which}"))


# ---------------------------------------------------------------------------------------


def paper(runs, page):
    df = sweep(runs, "paper")
    if df is None or df.empty:
        page.put("paper", "_paper sweep not run_")
        return None
    copy_csv(runs, "paper", page, "index.csv")
    copy_csv(runs, "paper", page)
    n, k = len(df), int(df.success.sum())
    lo, hi = wilson(k, n)
    p = k / n
    at_most_4 = sum(math.comb(10, j) * p**j * (1 - p) ** (10 - j) for j in range(5))
    solved, mech = df.solved == 1, df.mechanism == 1
    fails = df[df.success == 0]
    seeds = df.seed.min(), df.seed.max()
    first10 = df[df.seed < 10]
    rows = [
        ["success (solved and mechanism)", *rate_cells(k, n)],
        ["solved without the mechanism", *rate_cells(int((solved & ~mech).sum()), n)],
        ["mechanism without solving", *rate_cells(int((~solved & mech).sum()), n)],
        ["neither", *rate_cells(int((~solved & ~mech).sum()), n)],
    ]
    txt = md_table(["outcome", "runs", "rate", "95% interval (Wilson)"], rows)
    txt += (f"\n\nSeeds {seeds[0]}..{seeds[1]} ({n} complete runs). Final relative error of the "
            f"failures: median {fails.rel_error.median():.3f} (quartiles {fails.rel_error.quantile(.25):.3f}-"
            f"{fails.rel_error.quantile(.75):.3f}); of the successes: median "
            f"{df[df.success == 1].rel_error.median():.1e}. Seeds 0-9 alone: "
            f"{int(first10.success.sum())} of {len(first10)}. With a true rate of {p:.3f}, a batch of 10 seeds "
            f"gives at most 4 successes with probability {at_most_4:.2f}.")
    d10 = df.assign(batch=df.seed // 10).groupby("batch").success.agg(["sum", "size"])
    d10 = d10[d10["size"] == 10]
    if len(d10):
        counts = d10["sum"].value_counts().sort_index()
        txt += (f" Over the {len(d10)} disjoint batches of 10 consecutive seeds, "
                f"{int((d10['sum'] <= 4).sum())} have at most 4 successes; successes per batch: "
                + ", ".join(f"{int(c)} in {int(v)} batches" for c, v in counts.items()) + ".")
    page.put("paper", txt)

    fig, ax = plt.subplots(1, 2, figsize=(10, 3.4))
    bins = np.linspace(-7, 0.5, 40)
    le = np.log10(df.rel_error.clip(lower=1e-7))
    ax[0].hist([le[df.success == 1], le[df.success == 0]], bins=bins, stacked=True, label=["success", "failure"])
    ax[0].set_xlabel("log10 final relative error")
    ax[0].set_ylabel("runs")
    ax[0].legend()
    ax[0].set_title(f"paper setting, {n} seeds")
    d = df.sort_values("seed")
    cum = np.cumsum(d.success.values)
    m = np.arange(1, len(d) + 1)
    los, his = zip(*[wilson(int(c), int(j)) for c, j in zip(cum, m)])
    ax[1].fill_between(m, los, his, alpha=0.3, label="Wilson 95%")
    ax[1].plot(m, cum / m, label="success rate over the first N seeds")
    ax[1].axhline(0.4, color="k", ls="--", lw=1, label="paper: at most 4 of 10")
    ax[1].set_xlabel("seeds")
    ax[1].set_ylim(0, 1)
    ax[1].legend(fontsize=8)
    page.put("paper-fig", page.fig(fig, "paper"))
    return df


def phase(runs, page, paper_df):
    """One row per point of the phase sweeps, the region combinations and their
    confirmation on fresh seeds, with the paper setting on the same seeds on top."""
    rows, plot = [], []
    seed_sets = []
    names = sorted(os.path.basename(d) for d in glob.glob(os.path.join(runs, "phase-*")))
    names += sorted((os.path.basename(d) for d in glob.glob(os.path.join(runs, "region-*"))),
                    key=lambda n: (n == "region-confirm", n))
    for name in names:
        df = sweep(runs, name)
        if df is None or df.empty:
            continue
        copy_csv(runs, name, page)
        seeds = sorted(int(x) for x in df.seed.unique())
        if seeds not in seed_sets:
            seed_sets.append(seeds)
        for st, g in settings(runs, name, df):
            label = label_of(st) + (f" (seeds {seeds[0]}..{seeds[-1]})" if name == "region-confirm" else "")
            rows.append(row_of(label, g, name))
            plot.append((label, g))
    n_base = 0
    if paper_df is not None:
        for seeds in sorted(seed_sets, key=len, reverse=True):
            b = paper_df[paper_df.seed.isin(seeds)]
            if b.empty:
                continue
            label = f"paper setting, seeds {min(seeds)}..{max(seeds)}"
            rows.insert(n_base, row_of(label, b, "paper"))
            plot.insert(n_base, (label, b))
            n_base += 1
        rows.insert(n_base, row_of(f"paper setting, all {len(paper_df)} seeds", paper_df, "paper"))
        plot.insert(n_base, (f"paper setting, all {len(paper_df)} seeds", paper_df))
        n_base += 1
    if not rows:
        page.put("phase", "_phase sweeps not run_")
        return
    page.put("phase", md_table(["setting", "successes", "rate", "95% interval", "solved", "catch >= 0.9",
                                "sink unused", "sweep"], rows))
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(plot) + 1))
    for i, (label, g) in enumerate(plot):
        n, k = len(g), int(g.success.sum())
        lo, hi = wilson(k, n)
        ax.errorbar([k / n], [i], xerr=[[k / n - lo], [hi - k / n]], fmt="o", color="C0" if i >= n_base else "k")
    ax.set_yticks(range(len(plot)))
    ax.set_yticklabels([p[0] for p in plot], fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0.95, color="g", ls=":", lw=1)
    ax.set_xlim(0, 1)
    ax.set_xlabel("success rate (Wilson 95%)")
    page.put("phase-fig", page.fig(fig, "phase"))


def row_of(setting, g, name):
    n = len(g)
    catch = g["catch"] >= 0.9
    unused = catch & (g.success == 0)
    return [setting, *rate_cells(int(g.success.sum()), n), f"{int(g.solved.sum())}/{n}", f"{int(catch.sum())}/{n}",
            f"{int(unused.sum())}/{n}", f"`{name}`"]


# ---------------------------------------------------------------------------------------


def formation(runs, page):
    """Order and spacing of catch, tag, release and the loss drop over the successful runs:
    from the formation sweep (a snapshot and an evaluation every 10 steps) and from the
    paper sweep (every 100 and 50 steps)."""
    parts, fig_curves = [], None
    for name, what in (("formation", "a snapshot and an evaluation every 10 steps"),
                       ("paper", "a snapshot every 200 steps, the sweep default; an evaluation every 50")):
        df = sweep(runs, name)
        if df is None or df.empty:
            parts.append(f"_`{name}` sweep not run_")
            continue
        if name == "formation":
            copy_csv(runs, name, page, "index.csv")
        f, curves = formation_steps(df)
        f.to_csv(os.path.join(page.docs, "results", f"{name}-formation-steps.csv"), index=False)
        parts.append(formation_table(f, f"`{name}` sweep ({what})"))
        if fig_curves is None and curves:
            fig_curves = (name, curves)
    page.put("formation", "\n\n".join(parts))
    if fig_curves is None:
        return
    name, curves = fig_curves
    fig, ax = plt.subplots(1, 3, figsize=(13, 3.4))
    for st, c, rl, tg, ms, mv, c0 in curves:
        ax[0].plot(st - c0, c, color="C0", alpha=0.4, lw=0.8)
        ax[0].plot(st - c0, rl, color="C1", alpha=0.4, lw=0.8)
        ax[1].plot(st - c0, np.clip(tg, -2, 20), color="C2", alpha=0.4, lw=0.8)
        ax[2].semilogy(ms - c0, mv, color="C3", alpha=0.4, lw=0.8)
    ax[0].plot([], [], color="C0", label="catch")
    ax[0].plot([], [], color="C1", label="release")
    ax[0].legend(fontsize=8)
    ax[0].set_title(f"`{name}` sweep, {len(curves)} successful runs", fontsize=9)
    ax[1].set_title("tag_lda (clipped to [-2, 20]; threshold 5)", fontsize=9)
    ax[2].set_title("evaluation relative error", fontsize=9)
    for a in ax:
        a.set_xlim(-600, 300)
        a.set_xlabel("steps from the first snapshot with catch >= 0.9")
    page.put("formation-fig", page.fig(fig, "formation"))


def formation_steps(df):
    recs, curves = [], []
    for _, r in df.iterrows():
        run = ctr.load_run(r.path, activations=False)
        e = run.emergence
        rel = run.metrics.eval_rel_error
        steps, vals = rel.step.values, rel.values
        enter = steps[np.argmax(vals < PLATEAU_ENTER)] if (vals < PLATEAU_ENTER).any() else None
        drop = steps[np.argmax(vals < DROP_BELOW)] if (vals < DROP_BELOW).any() else None
        recs.append(dict(seed=r.seed, success=r.success, catch=e["catch"]["first"], tag=e["tag"]["first"],
                         release=e["release"]["first"], solved=e["solved"]["first"], loss_drop=drop, enter=enter,
                         switches=e["catch"]["switches"]))
        if r.success == 1:
            tag = run.headline.tag_lda if "tag_lda" in run.headline else run.headline.tag_separation
            curves.append((run.headline.step.values, run.headline.catch.values, run.headline.release.values,
                           tag.values, steps, vals, e["catch"]["first"]))
    return pd.DataFrame(recs), curves


def formation_table(f, label):
    s = f[f.success == 1].copy()
    n = len(s)
    if n == 0:
        return f"{label}: no successful run."
    rows = [[name, q3(s[name]), q3(s[name] - s["catch"])] for name in ["catch", "tag", "release", "loss_drop", "solved"]]
    rows.append(["plateau (below 0.6 until the drop)", q3(s["loss_drop"] - s["enter"]), ""])
    txt = f"{label}: {n} successful of {len(f)} runs.\n\n"
    txt += md_table(["event (first step)", "step: median (quartiles)", "minus catch step: median (quartiles)"], rows)

    def frac(cond):
        return f"{int(cond.sum())}/{n}"
    order = [
        ("catch before release", s.catch < s.release), ("catch at the same snapshot as release", s.catch == s.release),
        ("release before catch", s.release < s.catch), ("tag before catch", s.tag < s.catch),
        ("tag at the same snapshot as catch", s.tag == s.catch), ("loss drop (< 0.25) before catch", s["loss_drop"] < s["catch"]),
        ("solved (< 0.01) after catch and release", s.solved > np.maximum(s.catch, s.release)),
        ("catch crossed 0.9 more than once", s.switches > 1),
    ]
    txt += "\n\n" + md_table(["order across the successful runs", "runs"], [[a, frac(b)] for a, b in order])
    fails = f[f.success == 0]
    if len(fails):
        txt += (f"\n\nFailed runs: {int(fails['loss_drop'].notna().sum())} of {len(fails)} ever fell below 0.25; "
                f"{int(fails.catch.notna().sum())} had catch >= 0.9 at some snapshot.")
    return txt


def init_predictors(runs, page, paper_df):
    """Does anything at step 0 (or early) tell the successful seeds from the rest? AUC of
    each scalar, Mann-Whitney, with the Hanley-McNeil standard error."""
    if paper_df is None:
        page.put("init", "_paper sweep not run_")
        return
    feats = []
    for _, r in paper_df.iterrows():
        with h5py.File(r.path, "r", locking=False) as f:
            s = f["snapshots"]
            steps = s["step"][:]
            p = {k: s["params"][k][0] for k in ("blocks.0.attn.W_Q", "blocks.0.attn.W_K", "embed.b_num",
                                                 "embed.e_sep", "embed.w_num", "unembed.W_U")}
            hl = {k: s["headline"][k][:] for k in ("catch", "release", "tag_separation", "probe_rel_error")}
        i1 = 1 if len(steps) > 1 else None          # the first snapshot after step 0
        wq, wk = p["blocks.0.attn.W_Q"][0], p["blocks.0.attn.W_K"][0]
        q = p["embed.b_num"] @ wq
        gap = q @ (p["embed.e_sep"] @ wk) - q @ (p["embed.b_num"] @ wk)
        feats.append({
            "success": r.success,
            "catch at step 0": hl["catch"][0],
            "release at step 0": hl["release"][0],
            "tag separation at step 0": hl["tag_separation"][0],
            "probe rel. error at step 0": hl["probe_rel_error"][0],
            "layer-0 logit of [SEP] minus number (x=0 query), step 0": gap,
            "norm of e_sep": np.linalg.norm(p["embed.e_sep"]),
            "norm of w_num": np.linalg.norm(p["embed.w_num"]),
            "norm of W_U": np.linalg.norm(p["unembed.W_U"]),
            f"catch at step {steps[1] if i1 else '-'} (not init)": hl["catch"][i1] if i1 else np.nan,
            f"release at step {steps[1] if i1 else '-'} (not init)": hl["release"][i1] if i1 else np.nan,
        })
    f = pd.DataFrame(feats)
    y = f.success.values == 1
    rows = []
    for c in f.columns[1:]:
        x = f[c].values
        ok = ~np.isnan(x)
        a, b = x[ok & y], x[ok & ~y]
        if len(a) == 0 or len(b) == 0:
            continue
        ranks = pd.Series(np.concatenate([a, b])).rank().values
        auc = (ranks[:len(a)].sum() - len(a) * (len(a) + 1) / 2) / (len(a) * len(b))
        q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
        se = math.sqrt((auc * (1 - auc) + (len(a) - 1) * (q1 - auc * auc) + (len(b) - 1) * (q2 - auc * auc))
                       / (len(a) * len(b)))
        rows.append([c, f"{np.median(a):.3g}", f"{np.median(b):.3g}", f"{auc:.2f}",
                     f"{max(0, auc - Z * se):.2f}-{min(1, auc + Z * se):.2f}"])
    page.put("init", f"Over the {len(f)} runs of `paper` ({int(y.sum())} successes):\n\n" +
             md_table(["quantity", "median, successes", "median, failures", "AUC", "95% interval"], rows))


# ---------------------------------------------------------------------------------------


def became(r):
    """What a run that ends without the mechanism turned into (final values)."""
    if r.catch >= 0.9 and r.release < 0.9:
        return "sink without release"
    if r.catch >= 0.9 and r.release >= 0.9:
        return "mechanism, error above 0.01"
    if r.rel_error < 0.01:
        return "solved without the mechanism"
    if r.rel_error >= 0.3:
        return "back on the plateau (error >= 0.3)"
    return "partial (error 0.01-0.3, no mechanism)"


def lasting(runs, page, paper_df):
    """Successful paper seeds trained 4 times longer at the constant rate and with a cosine
    decay (the lasting sweep), and failed ones trained as long (long-failed)."""
    las, fail = sweep(runs, "lasting"), sweep(runs, "long-failed")
    if las is None or las.empty:
        page.put("lasting", "_lasting sweep not run_")
        return
    copy_csv(runs, "lasting", page, "index.csv")
    recs, series = [], {}
    for r in las.rename(columns={"train.schedule": "schedule"}).itertuples():
        sched = r.schedule
        run = ctr.load_run(r.path, activations=False)
        e = run.emergence
        h, rel = run.headline, run.metrics.eval_rel_error
        ok1600 = None
        if 1600 in h.step.values and 1600 in rel.step.values:
            ok1600 = (float(rel.sel(step=1600)) < 0.01 and float(h.catch.sel(step=1600)) >= 0.9
                      and float(h.release.sel(step=1600)) >= 0.9)
        mech_lost = e["mechanism"]["lost"] if "mechanism" in e else None
        recs.append(dict(seed=r.seed, schedule=sched, success=r.success, rel_error=r.rel_error, catch=r.catch,
                         release=r.release, solved_lost=e["solved"]["lost"], switches=e["solved"]["switches"],
                         mech_lost=mech_lost, mech_switches=e["mechanism"]["switches"],
                         ok1600=ok1600, steps=int(rel.step.values[-1])))
        series[(r.seed, sched)] = (h.step.values, h.catch.values, h.release.values, rel.step.values, rel.values)
    f = pd.DataFrame(recs).sort_values(["schedule", "seed"])
    f.to_csv(os.path.join(page.docs, "results", "lasting-runs.csv"), index=False)
    rows = []
    for sched, g in f.groupby("schedule"):
        n, k = len(g), int(g.success.sum())
        rows.append([sched, f"{g.steps.max()}", *rate_cells(k, n), f"{int(g.ok1600.sum())}/{n}",
                     f"{int((g.switches > 1).sum())}/{n}", f"{int((g.mech_switches > 1).sum())}/{n}"])
    txt = (f"Seeds {', '.join(str(x) for x in sorted(f.seed.unique()))} (successful in `paper`).\n\n"
           + md_table(["schedule", "steps", "success at the end", "rate", "95% interval", "success at step 1,600",
                       "solved switched more than once", "mechanism switched more than once"], rows))
    lost = f[f.success == 0]
    if len(lost):
        txt += "\n\nRuns that end without success (final values):\n\n" + md_table(
            ["schedule", "seed", "rel_error", "catch", "release", "became", "solved lost at step", "solved switches"],
            [[r.schedule, r.seed, f"{r.rel_error:.3g}", f"{r.catch:.3f}", f"{r.release:.3f}", became(r),
              "-" if r.solved_lost is None or r.solved_lost != r.solved_lost else int(r.solved_lost), r.switches]
             for r in lost.itertuples()])
    if fail is not None and not fail.empty:
        copy_csv(runs, "long-failed", page, "index.csv")
        late = [(r.seed, r.solved_step) for r in fail.itertuples() if r.success == 1]
        n_long = int(ctr.load_run(fail.path.iloc[0], activations=False).metrics.step.values[-1])
        txt += (f"\n\nSeeds that failed at 1,600 steps, trained on to {n_long} steps at the constant rate "
                f"(`long-failed`): {len(late)} of {len(fail)} succeed at the end"
                + (" (seed: solved for good from step " + ", ".join(f"{a}: {b}" for a, b in late) + ")" if late else "")
                + ". The others end: " + ", ".join(
                    f"{k} {v}" for k, v in fail[fail.success == 0].apply(became, axis=1).value_counts().items()) + ".")
    page.put("lasting", txt)

    fig, ax = plt.subplots(2, 2, figsize=(12, 6), sharex=True)
    for (seed, sched), (st, c, rl, ms, mv) in sorted(series.items()):
        j = 0 if sched == "constant" else 1
        ax[0, j].semilogy(ms, mv, lw=0.6, alpha=0.6)
        ax[1, j].plot(st, c, lw=0.6, alpha=0.6)
        ax[0, j].set_title(f"{sched} schedule: evaluation relative error", fontsize=9)
        ax[1, j].set_title("catch", fontsize=9)
        ax[1, j].set_xlabel("step")
    page.put("lasting-fig", page.fig(fig, "lasting"))


def causal(runs, page, paper_df):
    if paper_df is None:
        page.put("causal", "_paper sweep not run_")
        return
    rows = []
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.4))
    for label, g in (("successes", paper_df[paper_df.success == 1]), ("failures", paper_df[paper_df.success == 0])):
        ci = g.catch_ablated_loss - g.clean_loss
        ti = g.tag_ablated_loss - g.clean_loss
        rows.append([label, len(g), q3s(g.clean_loss), q3s(ci), q3s(ti), q3s(ci / g.clean_loss),
                     f"{int((ci > 10 * g.clean_loss).sum())}/{len(g)}", f"{int((ti > 10 * g.clean_loss).sum())}/{len(g)}"])
        ax[0].hist(np.log10(ci.clip(lower=1e-8)), bins=40, alpha=0.6, label=label)
        ax[1].hist(np.log10(ti.clip(lower=1e-8)), bins=40, alpha=0.6, label=label)
    ax[0].set_xlabel("log10 loss increase, catch ablated")
    ax[1].set_xlabel("log10 loss increase, tag ablated")
    ax[0].legend()
    others = []
    for d in sorted(glob.glob(os.path.join(runs, "*"))):
        name = os.path.basename(d)
        df = sweep(runs, name)
        if df is None or df.empty or name in ("paper", "formation"):
            continue      # formation repeats paper runs
        g = df[(df.success == 1) & df.clean_loss.notna()]
        if len(g):
            others.append(g)
    if others:
        g = pd.concat(others)
        ci = g.catch_ablated_loss - g.clean_loss
        ti = g.tag_ablated_loss - g.clean_loss
        rows.append(["successes of every other sweep", len(g), q3s(g.clean_loss), q3s(ci), q3s(ti),
                     q3s(ci / g.clean_loss), f"{int((ci > 10 * g.clean_loss).sum())}/{len(g)}",
                     f"{int((ti > 10 * g.clean_loss).sum())}/{len(g)}"])
    txt = (f"The `paper` sweep ({len(paper_df)} runs) and the successful runs of every other sweep but "
           f"`formation` (which repeats paper runs), probe loss; medians with quartiles.\n\n")
    txt += md_table(["runs", "n", "clean loss", "increase without catch", "increase without the tag",
                     "catch increase / clean loss", "catch increase > 10x clean", "tag increase > 10x clean"], rows)
    ok = paper_df[paper_df.success == 1]
    if len(ok):
        rc = (ok.catch_ablated_loss - ok.clean_loss) / ok.clean_loss
        rt = (ok.tag_ablated_loss - ok.clean_loss) / ok.clean_loss
        txt += (f"\n\nSmallest increase over the clean loss among the {len(ok)} successful `paper` runs: "
                f"{rc.min():.3g} times without the catch, {rt.min():.3g} times without the tag; removing the "
                f"catch hurts more than removing the tag in {int((rc > rt).sum())} of them.")
    page.put("causal", txt)
    page.put("causal-fig", page.fig(fig, "causal"))


def q3s(x):
    a, b, c = np.percentile(np.asarray(x, dtype=float), [25, 50, 75])
    return f"{b:.3g} ({a:.3g}-{c:.3g})"


def unused(runs, page):
    rows = []
    for d in sorted(glob.glob(os.path.join(runs, "*"))):
        name = os.path.basename(d)
        df = sweep(runs, name)
        if df is None or df.empty or name in ("lasting", "formation", "long-failed"):
            continue
        for st, g in settings(runs, name, df):
            setting = label_of(st)
            catch = g["catch"] >= 0.9
            un = catch & (g.success == 0)
            rel = g[un].release
            rows.append([f"`{name}`", setting, len(g), int(catch.sum()), int(un.sum()),
                         int((un & (g.release < 0.9)).sum()), int((un & (g.release >= 0.9)).sum()),
                         f"{rel.median():.2f}" if len(rel) else "-"])
        if name.startswith("unused"):
            copy_csv(runs, name, page, "index.csv")
    page.put("unused", md_table(["sweep", "point", "runs", "catch >= 0.9", "of those, not a success",
                                 "... with release < 0.9", "... with release >= 0.9 (not solved)",
                                 "median release of the unused"], rows))


def timings(runs, page):
    """The time of every sweep invocation scripts/results.sh logged: wall, user and system
    seconds, 1-minute load average before and after."""
    path = os.path.join(runs, "timings.tsv")
    if not os.path.exists(path):
        page.put("timings", "_no timings recorded_")
        return
    t = pd.read_csv(path, sep="\t", names=["sweep", "wall", "user", "sys", "load0", "load1", "args"]).fillna("")
    shutil.copy(path, os.path.join(page.docs, "results", "timings.tsv"))
    # A sweep started again continues where it stopped: its time is the sum of its invocations.
    g = t.groupby("sweep", sort=False).agg(wall=("wall", "sum"), user=("user", "sum"), sys=("sys", "sum"),
                                           load0=("load0", "max"), load1=("load1", "max"), calls=("args", "size"))
    runs_of = {}
    for name in g.index:
        df = sweep(runs, name)
        runs_of[name] = 0 if df is None else len(df)
    rows = [[f"`{name}`", runs_of[name], int(r.calls), f"{r.wall / 60:.1f}", f"{(r.user + r.sys) / 60:.1f}",
             f"{max(r.load0, r.load1):.1f}"] for name, r in g.iterrows()]
    cpu = g.user.sum() + g.sys.sum()
    rows.append(["total", sum(runs_of.values()), "", f"{g.wall.sum() / 60:.1f}", f"{cpu / 60:.1f}", ""])
    page.put("timings", md_table(["sweep", "complete runs", "invocations", "wall minutes", "CPU minutes (user+sys)",
                                  "highest 1-min load seen"], rows)
             + f"\n\nCPU time over 2 cores: {cpu / 120:.1f} minutes, the wall time of the sweeps on an idle "
               "2-core machine if every core were busy with a run all the time.")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", default="results")
    ap.add_argument("--docs", default="docs")
    ap.add_argument("--print-seeds", nargs=2, metavar=("success|failure", "N"),
                    help="print the first N successful or failed paper seeds and exit")
    ap.add_argument("--plan-region", action="store_true",
                    help="print the --set options of each region combination and exit")
    ap.add_argument("--plan-confirm", action="store_true",
                    help="print the --set options of the best setting found and exit")
    a = ap.parse_args()
    if a.print_seeds:
        if a.print_seeds[0] not in ("success", "failure"):
            ap.error("--print-seeds: expected success or failure")
        return print_seeds(a.runs, a.print_seeds[0], int(a.print_seeds[1]))
    if a.plan_region:
        return plan_region(a.runs)
    if a.plan_confirm:
        return plan_confirm(a.runs)
    page = Page(a.docs)
    p = paper(a.runs, page)
    phase(a.runs, page, p)
    formation(a.runs, page)
    init_predictors(a.runs, page, p)
    lasting(a.runs, page, p)
    causal(a.runs, page, p)
    unused(a.runs, page)
    timings(a.runs, page)
    page.write()


if __name__ == "__main__":
    main()
