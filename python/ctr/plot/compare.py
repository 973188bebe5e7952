"""Several runs' emergence curves on shared axes."""
import matplotlib.pyplot as plt

from . import style
from .run_figures import CURVES, run_name, step_axis


@style.paper
def compare_figure(runs, labels=None):
    """Eval loss, relative error, catch, release and tag separation of several runs
    (ctr.Run objects), one colour per run, one axis per quantity, shared step axis."""
    labels = labels or [run_name(r) for r in runs]
    fig = style.figure(style.TEXT_WIDTH, 1.05 * len(CURVES) + 1.0)
    axes = fig.subplots(len(CURVES), 1, sharex=True)
    colours = plt.get_cmap("tab10").colors
    max_step = 0
    for n, (run, label) in enumerate(zip(runs, labels)):
        colour = colours[n % len(colours)]
        for ax, (key, source, ylabel, logy, _) in zip(axes, CURVES):
            ds = run.metrics if source == "metrics" else run.headline
            if key in ds and ds.sizes.get("step", 0):
                ax.plot(ds["step"].values, ds[key].values, color=colour, lw=1, label=label,
                        marker="." if ds.sizes["step"] < 30 else None, ms=3, gid=f"curve:{key}:{n}")
                max_step = max(max_step, int(ds["step"].values[-1]))
    for ax, (key, source, ylabel, logy, _) in zip(axes, CURVES):
        ax.set_ylabel(ylabel)
        ax.set_label(key)
        if logy and ax.lines:
            ax.set_yscale("log")
        if key in ("catch", "release"):
            ax.set_ylim(-0.03, 1.03)
    for ax in axes:
        step_axis(ax, max_step)
    axes[-1].set_xlabel("step")
    axes[0].legend(ncol=min(3, len(runs)), fontsize=6, loc="upper right")
    fig.suptitle(style.wrap("emergence curves: " + ", ".join(labels), style.TEXT_WIDTH))
    return fig
