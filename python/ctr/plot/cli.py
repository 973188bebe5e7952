"""ctr-plot: the figures of a run, of a sweep, and of several runs compared
(docs/plots.md). Exit codes: 0 done, 1 a figure could not be written (I/O), 2 bad
flags or an input that is not a readable run file / sweep directory."""
import argparse
import os
import sys

import matplotlib.pyplot as plt

from ..run import load_run
from ..sweep import load_sweep
from . import compare, movie, run_figures, style, sweep_figures
from .choose import snapshot_steps

EXIT_IO, EXIT_INPUT = 1, 2
FORMATS = ("png", "svg", "pdf")


class InputError(Exception):
    """An input ctr-plot cannot use (exit 2)."""


def _save(fig, path, written):
    if fig is None:
        return
    fig.savefig(path, dpi=style.DPI)
    plt.close(fig)
    written.append(path)
    print(path, flush=True)


def _open_run(path, activations=True):
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    try:
        return load_run(path, activations=activations)
    except (OSError, ValueError, KeyError) as e:
        raise InputError(f"{path}: cannot read it as a ctr run file: {e}") from e


def plot_run(path, out=None, fmt="png", seq=0, movie_on=True, fps=8):
    """Writes the figures of one run; returns the paths written."""
    run = _open_run(path)
    out = out or os.path.dirname(os.path.abspath(path))
    os.makedirs(out, exist_ok=True)
    stem = os.path.join(out, run_figures.run_name(run))
    B = run.probe.sizes.get("batch", 0)
    if not 0 <= seq < B:
        raise InputError(f"--seq {seq}: the probe batch has sequences 0..{B - 1}")
    written = []
    _save(run_figures.emergence_figure(run), f"{stem}-emergence.{fmt}", written)
    steps = snapshot_steps(run)
    if steps:
        _save(run_figures.attention_figure(run, steps, seq=seq), f"{stem}-attention.{fmt}", written)
        _save(run_figures.attention_figure(run, steps, mean=True), f"{stem}-attention-mean.{fmt}", written)
        _save(run_figures.residual_figure(run, steps), f"{stem}-residual.{fmt}", written)
    else:
        print(f"{path}: no snapshots (log.snapshots: false): no attention, residual or movie figures",
              file=sys.stderr)
    causal = run_figures.causal_figure(run)
    if causal is None and run_figures.one_layer(run):
        print(f"{path}: one layer, so no catch head and no causal tests: no causal-test figure", file=sys.stderr)
    elif causal is None:
        print(f"{path}: no verdict yet (status {run.attrs.get('status')}): no causal-test figure", file=sys.stderr)
    _save(causal, f"{stem}-causal.{fmt}", written)
    if movie_on and steps:
        for p in movie.write_movie(run, f"{stem}-movie.gif", f"{stem}-movie.mp4", seq=seq, fps=fps):
            written.append(p)
            print(p, flush=True)
    return written


def plot_sweep(directory, out=None, fmt="png", curves=True):
    """Writes the figures of a sweep directory; returns the paths written."""
    try:
        df = load_sweep(directory)
    except FileNotFoundError as e:
        raise InputError(str(e)) from e
    for col in ("status", "success", "path"):
        if col not in df.columns:
            raise InputError(f"{directory}: index.csv has no `{col}` column (docs/sweeps.md lists the columns)")
    if not len(sweep_figures.complete(df)):
        raise InputError(f"{directory}: no complete runs in the sweep yet (statuses: "
                         f"{', '.join(sorted(set(map(str, df['status']))))})")
    out = out or (directory if os.path.isdir(directory) else os.path.dirname(os.path.abspath(directory)))
    os.makedirs(out, exist_ok=True)
    stem = os.path.join(out, "sweep")
    written = []
    _save(sweep_figures.rate_figure(df), f"{stem}-rate.{fmt}", written)
    _save(sweep_figures.steps_figure(df), f"{stem}-steps.{fmt}", written)
    if curves:
        # Read before drawing, so that a run file that is missing or unreadable is an
        # input error naming it (exit 2), not a failure to write (exit 1).
        runs = {p: _open_run(p, activations=False) for p in sweep_figures.complete(df)["path"]}
        _save(sweep_figures.curves_figure(df, runs=runs), f"{stem}-curves.{fmt}", written)
    _save(sweep_figures.heatmap_figure(df), f"{stem}-heatmap.{fmt}", written)
    return written


def plot_compare(paths, out=None, fmt="png", name="compare"):
    runs = [_open_run(p, activations=False) for p in paths]
    out = out or "."
    os.makedirs(out, exist_ok=True)
    written = []
    _save(compare.compare_figure(runs), os.path.join(out, f"{name}.{fmt}"), written)
    return written


def parser():
    ap = argparse.ArgumentParser(prog="ctr-plot", description="Figures of ctr runs and sweeps (docs/plots.md).")
    sub = ap.add_subparsers(dest="command", required=True, metavar="run|sweep|compare")

    def common(p, out_help):
        p.add_argument("--out", metavar="DIR", help=out_help)
        p.add_argument("--format", choices=FORMATS, default="png", help="figure file format (default png)")

    r = sub.add_parser("run", help="the figures and the movie of one run",
                       description="Emergence curves, attention (one probe sequence and the [SEP]-aligned mean), "
                                   "residual stream, causal tests and a movie of one run file.")
    r.add_argument("run", metavar="RUN.h5")
    common(r, "directory for the figures (default: the run file's directory)")
    r.add_argument("--seq", type=int, default=0, help="probe sequence drawn in the attention figure and movie (default 0)")
    r.add_argument("--no-movie", action="store_true", help="skip the movie (GIF / MP4)")
    r.add_argument("--fps", type=int, default=8, help="movie frames (snapshots) per second (default 8)")

    s = sub.add_parser("sweep", help="the figures of a ctr-sweep directory",
                       description="Success rate with Wilson intervals, emergence-step distributions, "
                                   "curves of every run, rate heatmap of a ctr-sweep directory (its index.csv).")
    s.add_argument("dir", metavar="DIR")
    common(s, "directory for the figures (default: DIR)")
    s.add_argument("--no-curves", action="store_true", help="skip the figure that reads every run file")

    c = sub.add_parser("compare", help="emergence curves of several runs on shared axes")
    c.add_argument("runs", metavar="RUN.h5", nargs="+")
    common(c, "directory for the figure (default: the current directory)")
    c.add_argument("--name", default="compare", help="file name of the figure, without extension (default compare)")
    return ap


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        if args.command == "run":
            if args.fps <= 0:
                raise InputError(f"--fps {args.fps}: expected a positive number of frames per second")
            plot_run(args.run, args.out, args.format, args.seq, not args.no_movie, args.fps)
        elif args.command == "sweep":
            plot_sweep(args.dir, args.out, args.format, not args.no_curves)
        else:
            plot_compare(args.runs, args.out, args.format, args.name)
    except InputError as e:
        print(f"ctr-plot: error: {e}", file=sys.stderr)
        return EXIT_INPUT
    except OSError as e:
        print(f"ctr-plot: error: cannot write the figures: {e}", file=sys.stderr)
        return EXIT_IO
    return 0
