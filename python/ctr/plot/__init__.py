"""Figures of ctr runs and sweeps (the `ctr-plot` command; docs/plots.md). Each
function returns a matplotlib Figure built from a `ctr.Run` or a sweep DataFrame.

    import ctr, ctr.plot
    run = ctr.load_run("runs/minimal-seed4.h5")
    ctr.plot.emergence_figure(run).savefig("emergence.png")
"""
from .arrays import principal_axes, residual_plane, sep_aligned_mean, token_groups, wilson
from .choose import events, snapshot_steps
from .cli import main, plot_compare, plot_run, plot_sweep
from .compare import compare_figure
from .movie import Movie, write_movie
from .run_figures import attention_figure, causal_figure, emergence_figure, residual_figure
from .sweep_figures import curves_figure, heatmap_figure, rate_figure, steps_figure

__all__ = ["Movie", "attention_figure", "causal_figure", "compare_figure", "curves_figure", "emergence_figure",
           "events", "heatmap_figure", "main", "plot_compare", "plot_run", "plot_sweep", "principal_axes",
           "rate_figure", "residual_figure", "residual_plane", "sep_aligned_mean", "snapshot_steps",
           "steps_figure", "token_groups", "wilson", "write_movie"]
