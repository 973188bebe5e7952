"""Sizes, fonts and colours of every ctr-plot figure: a paper's text width (7 in) or
column (3.4 in), 8 pt text, constrained layout so titles and colour bars are never cut."""
import functools
import textwrap

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402

TEXT_WIDTH = 7.0    # inches: a two-column paper's text width
COLUMN_WIDTH = 3.4  # one column
DPI = 200           # PNG resolution

RC = {
    "font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "legend.fontsize": 7,
    "xtick.labelsize": 7, "ytick.labelsize": 7, "figure.titlesize": 9,
    "axes.spines.top": False, "axes.spines.right": False, "lines.linewidth": 1.2,
    "savefig.dpi": DPI, "image.cmap": "viridis",
}

# One colour per quantity, used by every figure (Okabe-Ito, readable in grey and by
# colour-blind readers).
COLOURS = {"catch": "#0072B2", "tag": "#009E73", "release": "#E69F00", "solved": "#000000", "mechanism": "#CC79A7",
           "loss": "#555555", "before": "#56B4E9", "after": "#D55E00", "sep": "#CC0000",
           "bos": "#000000", "success": "#0072B2", "failure": "#D55E00"}
CMAP_ATTENTION = "viridis"
CMAP_RATE = "cividis"


def figure(width, height):
    """A figure of width x height inches with constrained layout (call inside paper())."""
    return plt.figure(figsize=(width, height), layout="constrained")


def paper(fn):
    """Decorator: fn draws its figure in the paper style (rcParams are read when artists
    are made, so the whole drawing happens inside the context)."""
    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with plt.rc_context(RC):
            return fn(*args, **kwargs)
    return wrapped


def wrap(text, width_in, fontsize=9):
    """text broken into lines that fit width_in inches at fontsize (a title is never cut)."""
    chars = max(20, int(width_in * 72 / (0.55 * fontsize)))
    return "\n".join(textwrap.fill(line, chars) for line in str(text).splitlines() or [""])
