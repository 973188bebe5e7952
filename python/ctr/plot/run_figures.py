"""The figures of one run (docs/plots.md): emergence curves, attention patterns (one
probe sequence and the [SEP]-aligned mean), the residual stream, the causal tests.
Each function takes a `ctr.Run` and returns a matplotlib Figure; every drawn series
carries a gid naming what it is (tests compare the artists' data with the file)."""
import os

import matplotlib.pyplot as plt
import numpy as np

from . import arrays, choose, style
from .style import COLOURS

# (key, source, y label, log y, threshold key in analysis.*)
CURVES = [
    ("eval_loss", "metrics", "eval loss (MSE)", True, None),
    ("eval_rel_error", "metrics", "relative error", True, "success_rel_error"),
    ("catch", "headline", "catch", False, "catch_threshold"),
    ("release", "headline", "release", False, "release_threshold"),
    ("tag_separation", "headline", "tag separation d'", False, "tag_threshold"),
]
EVENT_STYLE = {"first": "-", "held_from": "--", "lost": ":"}


def run_name(run):
    return os.path.splitext(os.path.basename(run.path))[0]


def run_title(run):
    """The run's name and its verdict summary, or its status when it has no verdict."""
    if run.verdict and run.verdict.get("summary"):
        return f"{run_name(run)}: {run.verdict['summary']}"
    return f"{run_name(run)}: {run.attrs.get('status', 'unknown status')}, no verdict yet"


def curve_specs(run):
    """CURVES plus `tag_lda` (the direction-free tag measure, which the tag threshold
    applies to) when the file has it, and any further tag measure of the snapshot
    headline, each on its own axis."""
    specs = list(CURVES)
    for name in run.headline.data_vars:
        if name == "tag_lda":
            specs.append((name, "headline", "tag LDA d'", False, "tag_threshold"))
        elif name.startswith("tag") and name != "tag_separation":
            specs.append((name, "headline", name.replace("_", " "), False, None))
    return specs


def step_axis(ax, max_step):
    """A log step axis that still shows step 0 (linear between 0 and 1)."""
    if max_step <= 0:
        ax.set_xlim(-1, 1)
        ax.set_xticks([0])
        return
    ax.set_xscale("symlog", linthresh=1, linscale=0.3)
    ax.set_xlim(0, max_step * 1.05)


def mark_events(ax, run, with_labels=False):
    """Vertical lines at the emergence events: first held (solid), held from (dashed),
    lost (dotted), in the quantity's colour."""
    handles = []
    for name, e in run.emergence.items():
        if not e or not e.get("measured"):
            continue
        for key, ls in EVENT_STYLE.items():
            step = e.get(key)
            if step is None or (key == "held_from" and step == e.get("first")):
                continue
            word = {"first": "first", "held_from": "held from", "lost": "lost"}[key]
            line = ax.axvline(step, color=COLOURS.get(name, "#CC79A7"), ls=ls, lw=0.9, alpha=0.8,
                              label=f"{name} {word} {step}", gid=f"event:{name}:{key}")
            handles.append(line)
    return handles


@style.paper
def emergence_figure(run):
    """Eval loss, relative error, catch, release and the tag measure against step (log
    step axis), each on its own axis, thresholds as grey lines, emergence events marked."""
    specs = curve_specs(run)
    fig = style.figure(style.TEXT_WIDTH, 1.05 * len(specs) + 0.9)
    axes = fig.subplots(len(specs), 1, sharex=True)
    a = run.config["analysis"]
    steps_all = [int(run.metrics["step"].values[-1])] if run.metrics.sizes.get("step") else [0]
    if run.headline.sizes.get("step"):
        steps_all.append(int(run.headline["step"].values[-1]))
    max_step = max(steps_all)
    legend_handles = []
    for ax, (key, source, label, logy, thr) in zip(axes, specs):
        ds = run.metrics if source == "metrics" else run.headline
        ax.set_label(key)
        ax.set_ylabel(label)
        if key in ds and ds.sizes.get("step", 0):
            x, y = ds["step"].values, ds[key].values
            ax.plot(x, y, color=COLOURS.get(key.split("_")[0], COLOURS["loss"]), marker="." if x.size < 30 else None,
                    ms=3, gid=f"curve:{key}")
            if logy and np.any(np.isfinite(y) & (y > 0)):
                ax.set_yscale("log")
        else:
            why = "log.snapshots is false" if source == "headline" else "no rows yet"
            ax.text(0.5, 0.5, f"not measured ({why})", transform=ax.transAxes, ha="center", va="center",
                    color="0.4")
        if thr is not None and ax.lines:
            ax.axhline(a[thr], color="0.6", lw=0.8, ls="-.", gid=f"threshold:{key}")
        if key in ("catch", "release"):
            ax.set_ylim(-0.03, 1.03)
        legend_handles = mark_events(ax, run) or legend_handles
        step_axis(ax, max_step)
    axes[-1].set_xlabel("step")
    if legend_handles:
        axes[0].legend(handles=legend_handles, ncol=min(4, len(legend_handles)), loc="lower left",
                       bbox_to_anchor=(0, 1.02), fontsize=6, frameon=False, borderaxespad=0)
    fig.suptitle(style.wrap(run_title(run), style.TEXT_WIDTH))
    return fig


def _heads(run):
    m = run.config["model"]
    return [(l, h) for l in range(m["n_layers"]) for h in range(m["n_heads"])]


def _panel_size(ncols, rows, width=style.TEXT_WIDTH, extra_w=0.9, max_panel=1.5):
    panel = min(max_panel, (width - extra_w) / max(ncols, 1))
    return ncols * panel + extra_w, rows * panel + 0.8


def _mark_tokens(ax, positions, T):
    """[SEP] and [BOS] ticks (in their colours) on both axes of a [query, key] image."""
    ticks = sorted(positions)
    labels = [positions[t] for t in ticks]
    for setter, lab_setter, getter in ((ax.set_xticks, ax.set_xticklabels, ax.get_xticklabels),
                                       (ax.set_yticks, ax.set_yticklabels, ax.get_yticklabels)):
        setter(ticks)
        lab_setter(labels)
        for t in getter():
            t.set_color(COLOURS["sep"] if t.get_text() == "[SEP]" else COLOURS["bos"])
    ax.tick_params(axis="x", labelrotation=90)


def _column_title(step, label):
    return f"step {step}" + (f"\n{label}" if label else "\n ")


@style.paper
def attention_figure(run, steps=None, seq=0, mean=False):
    """Attention patterns of every layer and head (rows) at the chosen snapshots
    (columns): on probe sequence `seq`, or with mean=True the [SEP]-aligned mean over the
    probe batch (axes are offsets from [SEP]). One colour bar, 0..1."""
    steps = steps if steps is not None else choose.snapshot_steps(run)
    heads = _heads(run)
    T = run.config["task"]["seq_len"]
    w, h = _panel_size(len(steps), len(heads))
    fig = style.figure(w, h)
    axes = np.atleast_2d(fig.subplots(len(heads), len(steps), squeeze=False))
    sep_pos = run.probe["sep_pos"].values
    kind = run.probe["kind"].values
    cmap = plt.get_cmap(style.CMAP_ATTENTION).copy()
    cmap.set_bad("0.85")
    step_values = run.snapshots["step"].values
    im = None
    for col, (step, label) in enumerate(steps):
        i = int(np.flatnonzero(step_values == step)[-1])
        for row, (l, hd) in enumerate(heads):
            ax = axes[row, col]
            pat = run.snapshots[f"blocks.{l}.attn.hook_pattern"].values[i]  # (batch, head, query, key)
            if mean:
                data, offsets = arrays.sep_aligned_mean(pat[:, hd], sep_pos)
                im = ax.imshow(data, vmin=0, vmax=1, cmap=cmap, interpolation="nearest",
                               extent=(offsets[0] - 0.5, offsets[-1] + 0.5, offsets[-1] + 0.5, offsets[0] - 0.5))
                ticks = [offsets[0], 0, offsets[-1]]
                ax.set_xticks(ticks, [str(offsets[0]), "[SEP]", f"+{offsets[-1]}"])
                ax.set_yticks(ticks, [str(offsets[0]), "[SEP]", f"+{offsets[-1]}"])
                ax.get_xticklabels()[1].set_color(COLOURS["sep"])
                ax.get_yticklabels()[1].set_color(COLOURS["sep"])
                ax.tick_params(axis="x", labelrotation=90)
            else:
                data = pat[seq, hd]
                im = ax.imshow(data, vmin=0, vmax=1, cmap=cmap, interpolation="nearest")
                marks = {int(sep_pos[seq]): "[SEP]"}
                for p in np.flatnonzero(kind[seq] == arrays.K_BOS):
                    marks[int(p)] = "[BOS]"
                _mark_tokens(ax, marks, T)
            im.set_gid(f"attention:{l}:{hd}:{step}")
            if row == 0:
                ax.set_title(_column_title(step, label))
            if col == 0:
                ax.set_ylabel(f"L{l} H{hd}\nquery" + (" offset" if mean else ""))
            if row == len(heads) - 1:
                ax.set_xlabel("key" + (" offset" if mean else ""))
    fig.colorbar(im, ax=axes, shrink=0.9, label="attention weight", aspect=30)
    what = ("[SEP]-aligned mean over the probe batch" if mean
            else f"probe sequence {seq} ([SEP] at position {int(sep_pos[seq])})")
    fig.suptitle(style.wrap(f"{run_name(run)}: attention, {what}", w))
    return fig


def residual_layers(run):
    """The residual stream datasets drawn: the stream after each layer."""
    return [f"blocks.{l}.hook_resid_post" for l in range(run.config["model"]["n_layers"])]


def groups_of(run):
    return arrays.token_groups(run.probe["kind"].values, run.probe["sep_pos"].values)


GROUPS = [("before", "numbers before [SEP]", "o", 6), ("after", "numbers after [SEP] (tagged)", "o", 6),
          ("sep", "[SEP]", "X", 30), ("bos", "[BOS]", "s", 22)]


def draw_residual(ax, coords, groups):
    """Scatter of the token groups; returns {group: PathCollection}."""
    out = {}
    for g, label, marker, size in GROUPS:
        mask = groups[g]
        if not mask.any():
            continue
        out[g] = ax.scatter(coords[mask][:, 0], coords[mask][:, 1], s=size, marker=marker, color=COLOURS[g],
                            label=label, linewidths=0, alpha=0.85 if g in ("before", "after") else 1.0, zorder=3)
    return out


@style.paper
def residual_figure(run, steps=None):
    """The probe batch in the residual stream after each layer (rows) at the chosen
    snapshots (columns): the plane itself when d_model is 2, else the top two principal
    components of that panel's tokens. Numbers before and after [SEP], [SEP] and [BOS]
    in distinct colours: the tag shows as the after-[SEP] numbers moving apart."""
    steps = steps if steps is not None else choose.snapshot_steps(run)
    names = residual_layers(run)
    w, h = _panel_size(len(steps), len(names), extra_w=0.6)
    w = max(w, style.COLUMN_WIDTH)
    present = [g for g, *_ in GROUPS if groups_of(run)[g].any()]
    ncol = len(present) if w >= 5.5 else 1   # the legend in one row when it fits, else a column
    legend_h = 0.16 * -(-len(present) // ncol) + 0.1
    fig = style.figure(w, h + legend_h)
    axes = np.atleast_2d(fig.subplots(len(names), len(steps), squeeze=False))
    groups = groups_of(run)
    step_values = run.snapshots["step"].values
    handles = {}
    for col, (step, label) in enumerate(steps):
        i = int(np.flatnonzero(step_values == step)[-1])
        for row, name in enumerate(names):
            ax = axes[row, col]
            coords, (xl, yl), _ = arrays.residual_plane(run.snapshots[name].values[i])
            for g, artist in draw_residual(ax, coords, groups).items():
                artist.set_gid(f"resid:{name}:{step}:{g}")
                handles[g] = artist
            ax.set_xlabel(xl, fontsize=6)
            ax.set_ylabel((f"after layer {row}\n" if col == 0 else "") + yl, fontsize=6)
            ax.tick_params(labelsize=5)
            if row == 0:
                ax.set_title(_column_title(step, label))
    fig.legend(handles=list(handles.values()), loc="lower center", ncol=ncol, frameon=False,
               bbox_to_anchor=(0.5, 0.0))
    fig.get_layout_engine().set(rect=(0, legend_h / (h + legend_h), 1, 1 - legend_h / (h + legend_h)))
    d = run.config["model"]["d_model"]
    how = "the residual plane" if d == 2 else f"top two principal components of the {d}-d residual"
    fig.suptitle(style.wrap(f"{run_name(run)}: probe tokens in the residual stream ({how})", w))
    return fig


CAUSAL = [("clean_loss", "clean"), ("catch_ablated_loss", "catch ablated"), ("tag_ablated_loss", "tag ablated")]


def one_layer(run):
    """Whether run's verdict is a one-layer model's: no catch head (causal_layer -1), so
    no causal tests (docs/metrics.md)."""
    return bool(run.verdict) and int(run.verdict.get("causal_layer", 0)) < 0


@style.paper
def causal_figure(run):
    """Probe loss of the final model, clean and with the catch or the tag ablated (the
    verdict's causal tests, docs/metrics.md), log scale. None without a verdict, and for a
    one-layer model (no catch head: no tests, the losses are NaN)."""
    v = run.verdict
    if not v or "clean_loss" not in v or one_layer(run):
        return None
    fig = style.figure(style.COLUMN_WIDTH, 2.6)
    ax = fig.subplots()
    values = np.array([float(v[k]) for k, _ in CAUSAL])
    colours = [COLOURS["solved"], COLOURS["catch"], COLOURS["tag"]]
    bars = ax.bar([lab for _, lab in CAUSAL], values, color=colours, gid="causal")
    for b, val in zip(bars, values):
        ax.annotate(f"{val:.3g}", (b.get_x() + b.get_width() / 2, val), ha="center", va="bottom", fontsize=7,
                    xytext=(0, 1), textcoords="offset points")
    if np.all(values > 0):
        ax.set_yscale("log")
        ax.set_ylim(values.min() / 3, values.max() * 4)
    ax.set_ylabel("probe loss (MSE)")
    where = ""
    if v.get("causal_layer", -1) >= 0:
        where = f" (catching head L{v['causal_layer']}H{v['causal_head']})"
    fig.suptitle(style.wrap(f"{run_name(run)}: causal tests{where}", style.COLUMN_WIDTH))
    return fig
