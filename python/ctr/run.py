"""Reading a ctr run file (docs/hdf5-layout.md) into xarray, plain Python and torch."""
import dataclasses
import os
import re

import h5py
import numpy as np
import torch
import xarray as xr
import yaml

from . import model

EMERGENCE_NAMES = ("catch", "tag", "release", "mechanism", "solved")
# The groups every run file has (docs/hdf5-layout.md); a file without one is not a run file.
RUN_GROUPS = ("metrics", "snapshots", "probe")


# ---------------------------------------------------------------------------------
# config: YAML 1.1 loaders (PyYAML) read `1e-8` as a string; YAML 1.2 reads a float.


class _Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2's float syntax (`1e-8`, `5E3`, no dot needed)."""


_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?
                |[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."))
# Resolvers are tried in order and int's comes first, so "12" stays an int.


def parse_config(text):
    """The config YAML of a run file as a nested dict with Python types (ints, floats,
    bools, strings), whatever YAML version its numbers were written for."""
    return yaml.load(text, Loader=_Yaml12Loader)


# ---------------------------------------------------------------------------------
# decoding h5py values


def _py(value):
    """An attribute as plain Python: str for strings (fixed or variable length), bool for
    HDF5 booleans, int/float for scalars, lists for arrays of strings."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "SO":
            return [_py(v) for v in value.tolist()]
        return value
    return value


def _is_scale(ds):
    return bool(h5py.h5ds.is_scale(ds.id))


def _attrs(obj):
    return {k: _py(v) for k, v in obj.attrs.items()}


def _axes(ds):
    """Axis names of a dataset: its dimension scales' names when it has them, else its
    `axes` attribute (format 1 wrote a comma-separated string, some with a note in
    parentheses; format 2 a list of names)."""
    names = []
    for dim in ds.dims:
        names.append(dim.label or (os.path.basename(dim[0].name) if len(dim) else ""))
    if all(names) and len(names) == ds.ndim:
        return names
    axes = _py(ds.attrs.get("axes", ""))
    if isinstance(axes, str):
        axes = [a.strip() for a in re.sub(r"\s*\(.*\)\s*$", "", axes).split(",") if a.strip()]
    if len(axes) != ds.ndim:
        axes = [f"dim_{i}" for i in range(ds.ndim)]
    return axes


def _series_group(group, rows, steps, skip=()):
    """An xarray Dataset of the datasets directly in group whose first axis is a series
    (rows of `steps`), cut to `rows` rows (a run being written may have series one
    flush apart), with `step` as dimension and coordinate."""
    data = {}
    for name, ds in group.items():
        if not isinstance(ds, h5py.Dataset) or name in skip or name == "step" or _is_scale(ds):
            continue  # dimension scales (format 2) become the coordinates
        dims = ["step"] + _axes(ds)[1:]
        data[name] = (dims, ds[:rows])
    return xr.Dataset(data, coords={"step": steps})


def _series_rows(group):
    """Rows every series of group (and its subgroups) has."""
    sizes = []

    def visit(name, obj):
        fixed_scale = isinstance(obj, h5py.Dataset) and _is_scale(obj) and os.path.basename(name) != "step"
        if isinstance(obj, h5py.Dataset) and obj.ndim and not fixed_scale:
            sizes.append(obj.shape[0])
    group.visititems(visit)
    return min(sizes) if sizes else 0


# ---------------------------------------------------------------------------------
# the run


@dataclasses.dataclass
class Run:
    """One run file, read into memory. Fields:

    path        the file
    attrs       root attributes (str, int, float, bool)
    config      the resolved config, a nested dict with Python types
    metrics     xarray Dataset, dim `step`: train_loss, grad_norm, lr, eval_loss, eval_rel_error
    snapshots   xarray Dataset, dims step, batch, pos, head, query, key, d_model, d_head: `output`,
                `blocks.{l}.attn.hook_pattern`, `blocks.{l}.hook_resid_pre` / `_mid` / `_post`
                (and `blocks.{l}.attn.hook_v` / `hook_z` when the file has them)
    params      xarray Dataset, dim step + the tensor's own: every parameter at every snapshot
    mechanism   xarray Dataset, dims step, layer, head(, key / d_model): the per-head metrics
                of docs/metrics.md (`catch`, `tag_separation`, `release`, ...)
    headline    xarray Dataset, dim step: `catch`, `tag_separation`, `tag_lda`, `release`,
                `pair_score`, `probe_rel_error`
    probe       xarray Dataset, dims batch, pos: kind, value, target, weight, sep_pos
    eval        the evaluation set like probe, or None when the file does not store it
                (log.eval_set false)
    train       the training set like probe, or None when the file does not store it
                (log.train_set, off by default)
    checkpoint  {"step": int, "params": {name: torch tensor}} of the latest checkpoint, or None
    verdict     the /verdict attributes (dict), or None for an unfinished run
    emergence   {"catch"|"tag"|"release"|"mechanism"|"solved": {"measured", "first", "held_from", "lost",
                "switches", "held_at_end"}} (see emergence())
    """
    path: str
    attrs: dict
    config: dict
    metrics: xr.Dataset
    snapshots: xr.Dataset
    params: xr.Dataset
    mechanism: xr.Dataset
    headline: xr.Dataset
    probe: xr.Dataset
    eval: object
    train: object
    checkpoint: object
    verdict: object
    emergence: dict

    @property
    def status(self):
        """attrs["status"]: "running", "interrupted", "diverged" or "complete"."""
        return self.attrs.get("status")


def _batch_group(group):
    data = {}
    for name, ds in group.items():
        if isinstance(ds, h5py.Dataset) and not _is_scale(ds):
            data[name] = (_axes(ds), ds[()])
    return xr.Dataset(data)


def load_run(path, activations=True):
    """Reads the run file at path (also one being written: the state of its last flush).

    activations=False skips the per-snapshot activations and parameters (the large
    part of a file): `snapshots` and `params` then hold only the step coordinate.
    """
    # A file that is there but not HDF5 at all is "not a run file" too (ValueError, as
    # for an HDF5 file of something else); a missing file stays FileNotFoundError, and
    # an HDF5 file HDF5 cannot open (truncated, damaged) OSError.
    if os.path.isfile(path) and not h5py.is_hdf5(path):
        raise ValueError(f"{path} is not an HDF5 file, so not a ctr run file")
    with h5py.File(path, "r", locking=False) as f:
        missing = [name for name in RUN_GROUPS if name not in f]
        if "config" not in f.attrs or missing:
            what = ["the config attribute"] if "config" not in f.attrs else []
            what += [f"/{name}" for name in missing]
            raise ValueError(f"{path} is an HDF5 file but not a ctr run file (missing: {', '.join(what)})")
        attrs = _attrs(f)
        config = parse_config(attrs["config"])

        m = f["metrics"]
        rows = _series_rows(m)
        metrics = _series_group(m, rows, m["step"][:rows])

        s = f["snapshots"]
        srows = _series_rows(s)
        steps = s["step"][:srows]
        empty = xr.Dataset(coords={"step": steps})
        snapshots = _series_group(s, srows, steps) if activations else empty
        params = _series_group(s["params"], srows, steps) if activations and "params" in s else empty
        mechanism = _series_group(s["metrics"], srows, steps) if "metrics" in s else empty
        headline = _series_group(s["headline"], srows, steps) if "headline" in s else empty

        probe = _batch_group(f["probe"])
        # A group without sequences (log.eval_set false, fresh training data) stores none.
        evals = _batch_group(f["eval"]) if "kind" in f.get("eval", {}) else None
        train = _batch_group(f["train"]) if "kind" in f.get("train", {}) else None

        checkpoint = None
        if "checkpoint" in f:
            c = f["checkpoint"]
            if "tensors" in c:  # format 2: named tensors beside the flat buffer
                named = {n: torch.from_numpy(c["tensors"][n][()]) for n, _ in model.param_specs(config)}
            else:
                named = model.unflatten(c["params"][()], config)
            checkpoint = {"step": _py(c.attrs["step"]), "params": named}

        verdict = None
        if "verdict" in f:
            verdict = _attrs(f["verdict"])
            for k in ("success", "solved", "mechanism"):
                if k in verdict:
                    verdict[k] = bool(verdict[k])
        stored = _stored_emergence(f)

    run = Run(path=path, attrs=attrs, config=config, metrics=metrics, snapshots=snapshots, params=params,
              mechanism=mechanism, headline=headline, probe=probe, eval=evals, train=train, checkpoint=checkpoint,
              verdict=verdict, emergence={})
    run.emergence = stored if stored is not None else emergence(run)
    return run


def _stored_emergence(f):
    """Emergence as the file records it (format 2: attributes `<name>_emergence`, a word,
    and `<name>_first_step`, `_held_from_step`, `_lost_step`, `_switches`,
    `_held_at_end` of /verdict), or None."""
    if "verdict" not in f or "catch_emergence" not in f["verdict"].attrs:
        return None
    a = _attrs(f["verdict"])
    out = {}
    for name in EMERGENCE_NAMES:
        measured = a[f"{name}_emergence"] != "not measured"
        step = lambda key: a[f"{name}_{key}"] if measured and a[f"{name}_{key}"] >= 0 else None  # noqa: E731
        out[name] = {"measured": measured, "first": step("first_step"), "held_from": step("held_from_step"),
                     "lost": step("lost_step"), "switches": a[f"{name}_switches"] if measured else None,
                     "held_at_end": bool(a[f"{name}_held_at_end"]) if measured else None}
    return out


# ---------------------------------------------------------------------------------
# emergence


def crossings(steps, holds):
    """Emergence of one condition over a series: `holds` a boolean per step (NaN counts
    as not holding). Returns {"measured": True, "first": first step it held or None,
    "held_from": the step from which it held through the last one or None,
    "lost": the step from which it no longer held, having held before, or None,
    "switches": how many times it changed between consecutive steps,
    "held_at_end": bool}; {"measured": False, others None} for an empty series."""
    steps = np.asarray(steps)
    holds = np.asarray(holds)
    if holds.dtype.kind == "f":  # NaN is not holding (a plain cast to bool makes it True)
        holds = np.nan_to_num(holds, nan=0.0)
    holds = holds.astype(bool)
    if steps.size == 0:
        return {"measured": False, "first": None, "held_from": None, "lost": None, "switches": None,
                "held_at_end": None}
    on, off = np.flatnonzero(holds), np.flatnonzero(~holds)
    held_from = lost = None
    if holds[-1]:
        held_from = int(steps[off[-1] + 1]) if off.size else int(steps[0])
    elif on.size:
        lost = int(steps[on[-1] + 1])
    return {"measured": True, "first": int(steps[on[0]]) if on.size else None, "held_from": held_from,
            "lost": lost, "switches": int(np.count_nonzero(holds[1:] != holds[:-1])),
            "held_at_end": bool(holds[-1])}


def emergence(run):
    """When catch, tag, release, the mechanism and solved held over the run, from its
    series (the thresholds are the config's `analysis.*`), as ctr-train computes it
    (docs/metrics.md, "Emergence"): catch, tag (tag_lda; tag_separation in format-1
    files, which lack it), release and mechanism (catch and release at the same
    snapshot) from the snapshot headline, so "not measured" without snapshots; solved
    from /metrics (eval_rel_error < analysis.success_rel_error). The dict of crossings()
    per name."""
    a = run.config["analysis"]
    h = run.headline
    steps = h["step"].values
    out = {}
    tag = "tag_lda" if "tag_lda" in h else "tag_separation"
    holds = {}
    for name, var, thr in (("catch", "catch", a["catch_threshold"]), ("tag", tag, a["tag_threshold"]),
                           ("release", "release", a["release_threshold"])):
        values = h[var].values if var in h else np.zeros(0)
        holds[name] = values >= thr
        out[name] = crossings(steps if values.size else values, holds[name])
    both = holds["catch"] & holds["release"] if holds["catch"].size else holds["catch"]
    out["mechanism"] = crossings(steps if both.size else both, both)
    rel = run.metrics["eval_rel_error"].values
    out["solved"] = crossings(run.metrics["step"].values, rel < a["success_rel_error"])
    return out


# ---------------------------------------------------------------------------------
# parameters and forward


def state_dict(run, step=None):
    """The parameters at a snapshot step as {name: float64 torch tensor} under the
    TransformerLens names and shapes of docs/model.md; step=None: the checkpoint's
    (the latest training state; a finished run's final parameters)."""
    if step is None:
        if run.checkpoint is None:
            raise ValueError(f"{run.path} has no checkpoint")
        return {k: v.clone() for k, v in run.checkpoint["params"].items()}
    if len(run.params.data_vars) == 0:
        raise ValueError(f"{run.path}: no parameter snapshots (loaded with activations=False; "
                         f"state_dict(run) gives the checkpoint's)")
    steps = run.params["step"].values
    idx = np.flatnonzero(steps == step)
    if idx.size == 0:
        if steps.size == 0:
            raise KeyError(f"{run.path} has no snapshot at step {step}: it has no snapshots (log.snapshots: false)")
        near = steps[np.argsort(np.abs(steps - step))[:3]]
        raise KeyError(f"{run.path} has no snapshot at step {step}; nearest: {sorted(int(s) for s in near)}")
    i = int(idx[-1])
    return {name: torch.from_numpy(np.array(run.params[name].values[i], dtype=np.float64))
            for name, _ in model.param_specs(run.config)}


def batch(run, which="probe"):
    """A batch of the run as numpy arrays (kind, value, target, weight, sep_pos):
    which = "probe" (the snapshots' batch), "eval" (the evaluation set) or "train" (the
    training set), the last two when the file stores them."""
    if which not in ("probe", "eval", "train"):
        raise ValueError(f"which: expected 'probe', 'eval' or 'train', got {which!r}")
    ds = getattr(run, which)
    if ds is None:
        raise ValueError(f"{run.path} does not store the {which} set")
    return {k: ds[k].values for k in ds.data_vars}
