"""The arrays the figures draw, computed from a run (no matplotlib here): what the
tests compare the drawn artists against, and what a user can reuse."""
import numpy as np

K_NUMBER, K_SEP, K_BOS = 0, 1, 2


def sep_aligned_mean(pattern, sep_pos):
    """The [SEP]-aligned mean of attention patterns: pattern [batch, query, key] (one
    head), sep_pos [batch]. Queries and keys are indexed by their offset from [SEP]
    (offset 0 is [SEP]); each cell is the mean over the sequences that have that
    (query, key) pair with key <= query. Returns (mean [2T-1, 2T-1] with NaN where no
    sequence has the pair, offsets [2T-1] = -(T-1) .. T-1)."""
    pattern = np.asarray(pattern, dtype=np.float64)
    B, T, _ = pattern.shape
    total = np.zeros((2 * T - 1, 2 * T - 1))
    count = np.zeros_like(total)
    q, k = np.meshgrid(np.arange(T), np.arange(T), indexing="ij")
    keep = k <= q
    for b, s in enumerate(np.asarray(sep_pos, dtype=np.int64)):
        np.add.at(total, (q[keep] - s + T - 1, k[keep] - s + T - 1), pattern[b][keep])
        np.add.at(count, (q[keep] - s + T - 1, k[keep] - s + T - 1), 1)
    mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return mean, np.arange(-(T - 1), T)


def token_groups(kind, sep_pos):
    """Boolean masks [batch, pos] of the probe tokens by role: `before` (numbers before
    [SEP]), `after` (numbers after [SEP]: the ones the mechanism tags), `sep`, `bos`."""
    kind = np.asarray(kind)
    pos = np.arange(kind.shape[1])[None, :]
    after_sep = pos > np.asarray(sep_pos)[:, None]
    return {"before": (kind == K_NUMBER) & ~after_sep, "after": (kind == K_NUMBER) & after_sep,
            "sep": kind == K_SEP, "bos": kind == K_BOS}


def principal_axes(points, reference=None):
    """Top two principal directions of points [n, d] (centred on their mean), each signed
    so that its largest-magnitude component is positive, or, given reference (the
    previous [2, d] basis, e.g. the last movie frame), so that it points the same way.
    Returns (basis [2, d], mean [d], share of variance of each direction [2])."""
    points = np.asarray(points, dtype=np.float64)
    mean = points.mean(0)
    _, s, vt = np.linalg.svd(points - mean, full_matrices=False)
    basis = vt[:2].copy()
    if basis.shape[0] < 2:  # a single point or d = 1: pad
        basis = np.vstack([basis, np.zeros((2 - basis.shape[0], points.shape[1]))])
    for i in range(2):
        if reference is not None:
            if basis[i] @ reference[i] < 0:
                basis[i] = -basis[i]
        elif basis[i][np.argmax(np.abs(basis[i]))] < 0:
            basis[i] = -basis[i]
    var = s ** 2
    share = var[:2] / var.sum() if var.sum() > 0 else np.zeros(2)
    return basis, mean, np.pad(share, (0, 2 - share.size))


def residual_plane(resid, reference=None):
    """The 2-D picture of a residual stream resid [batch, pos, d_model]: the plane itself
    when d_model is 2, else the projection on its top two principal components (over
    all tokens of the batch). Returns (coords [batch, pos, 2], axis labels, basis or None)."""
    resid = np.asarray(resid, dtype=np.float64)
    d = resid.shape[-1]
    if d == 2:
        return resid, ("residual dim 0", "residual dim 1"), None
    if d == 1:
        return np.concatenate([resid, np.zeros_like(resid)], -1), ("residual dim 0", ""), None
    flat = resid.reshape(-1, d)
    basis, mean, share = principal_axes(flat, reference)
    coords = ((flat - mean) @ basis.T).reshape(resid.shape[:-1] + (2,))
    return coords, (f"PC1 ({share[0]:.0%})", f"PC2 ({share[1]:.0%})"), basis


def wilson(k, n, z=1.959964):
    """Wilson score interval (95% by default) for k successes in n trials: (lo, hi);
    NaN for n = 0."""
    k, n = np.asarray(k, dtype=np.float64), np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        den = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / den
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return centre - half, centre + half
