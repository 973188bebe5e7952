"""Helpers of the ctr-plot tests: find artists by gid, read the file with h5py (not
through ctr.load_run, so the figures are checked against the file itself)."""
import h5py
import numpy as np


def artists(fig, prefix):
    """{gid: artist} of every artist in fig whose gid starts with prefix."""
    out = {}
    for a in fig.findobj(lambda o: (o.get_gid() or "").startswith(prefix)):
        out[a.get_gid()] = a
    return out


def h5(path, name, rows=None):
    with h5py.File(path, "r", locking=False) as f:
        return f[name][()] if rows is None else f[name][:rows]


def snapshot_index(path, step):
    steps = h5(path, "snapshots/step")
    return int(np.flatnonzero(steps == step)[-1])


def sep_aligned_mean_bruteforce(pattern, sep):
    """The [SEP]-aligned mean written as plainly as possible: for each pair of offsets,
    the mean over the sequences that have it."""
    B, T, _ = pattern.shape
    out = np.full((2 * T - 1, 2 * T - 1), np.nan)
    for dq in range(-(T - 1), T):
        for dk in range(-(T - 1), T):
            vals = [pattern[b, sep[b] + dq, sep[b] + dk] for b in range(B)
                    if 0 <= sep[b] + dk <= sep[b] + dq < T]
            if vals:
                out[dq + T - 1, dk + T - 1] = np.mean(vals)
    return out


def texts_outside(fig):
    """What of fig sticks out of the figure once drawn (a cut title, label, tick label,
    legend or colour bar): [] when nothing does. Uses the figure's tight bounding box,
    which counts only what is drawn (not the tick labels outside an axis' limits)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    bbox = fig.get_tightbbox(renderer)   # inches
    w, h = fig.get_size_inches()
    tol = 1 / 72  # one point
    out = []
    if bbox.x0 < -tol or bbox.y0 < -tol or bbox.x1 > w + tol or bbox.y1 > h + tol:
        out.append(("figure content", tuple(round(v, 2) for v in bbox.extents), (0, 0, w, h)))
    return out
