#!/usr/bin/env python3
"""Reference fixtures for the C++ model, computed independently in PyTorch (float64).

The model is rebuilt here from its definition (docs/model.md, src/model/transformer.hpp),
not from C++ numbers: weights and a small batch of the averaging task are drawn with
numpy from a fixed seed, the forward pass is the package's PyTorch model
(python/ctr/model.py, torch ops) and the gradients come from torch autograd.
tests/test_pytorch_fixtures.cpp loads the result and checks the C++ forward and
backward against it.

Usage (the system python, which has torch and h5py):
    /usr/bin/python3 tools/make_fixtures.py [--out data]

Each data/fixture_<name>.h5 holds
    attributes      the config: n_layers n_heads d_model d_head d_mlp act norm qk_norm
                    attn_scale attn_bias positions bos supervise seq_len (+ seed, notes)
    inputs/         kind (int32 [B,T], 0 number 1 [SEP] 2 [BOS]), value, target, weight
                    ([B,T] float64), sep_pos (int32 [B])
    params/<name>   every parameter under its C++ (TransformerLens) name and row-major shape
    grads/<name>    d loss / d parameter, same names and shapes
    acts/<hook>     activations under TransformerLens hook names: blocks.{l}.hook_resid_pre,
                    .hook_resid_mid, .hook_resid_post [B,T,D], .attn.hook_pattern [B,H,T,T],
                    .attn.hook_q/_k/_v/_z [B,T,H,Dh], .hook_attn_out, .hook_mlp_out [B,T,D],
                    ln_final.hook_normalized [B,T,D] (with a norm)
    output          [B,T] the prediction at every position
    loss            scalar: sum(weight * (output - target)^2)
Strings are stored as fixed-length ASCII attributes and booleans as int32 0/1 so the
HDF5 C API reads them without variable-length types.
"""
import argparse
import math
import os
import sys

import h5py
import numpy as np
import torch

# The model itself lives in the Python package (python/ctr/model.py), shared with the
# analysis API, so that it is written once.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from ctr.model import K_BOS, K_SEP, K_NUMBER, forward, loss, param_specs  # noqa: E402

torch.set_default_dtype(torch.float64)

# ---------------------------------------------------------------------------------
# configs

BASE = dict(n_layers=2, n_heads=1, d_model=2, d_head=2, d_mlp=0, act="gelu", norm="none",
            qk_norm=False, attn_scale="none", attn_bias=False, positions="none",
            bos=False, supervise="last", seq_len=8, numbers="normal",
            min_before_sep=1, min_after_sep=1)

FIXTURES = {
    # the paper's model: 2 layers, 1 head, d_model 2, attention only, no norm, no scaling
    "minimal": dict(BASE, seed=11, batch=4),
    "full": dict(BASE, seed=12, batch=4, n_layers=3, n_heads=2, d_model=4, d_head=3, d_mlp=6,
                 act="gelu", norm="layernorm", qk_norm=True, attn_bias=True,
                 positions="learned", bos=True, supervise="after_sep"),
    "rms_relu_sin": dict(BASE, seed=13, batch=4, n_layers=2, n_heads=2, d_model=4, d_head=4,
                         d_mlp=5, act="relu", norm="rmsnorm", attn_scale="inv_sqrt_d_head",
                         positions="sinusoidal", supervise="after_sep", numbers="uniform"),
}


# ---------------------------------------------------------------------------------
# parameters


def draw_params(c, rng):
    """PyTorch-default-like init, then a jitter so that gains differ from 1, biases from 0
    and every term of the forward pass shows in the gradients."""
    out = {}
    for name, shape in param_specs(c):
        leaf = name.rsplit(".", 1)[-1]
        fan_in = {"W_Q": c["d_model"], "W_K": c["d_model"], "W_V": c["d_model"],
                  "W_in": c["d_model"], "W_U": c["d_model"], "W_O": c["d_head"],
                  "W_out": c["d_mlp"]}.get(leaf)
        if fan_in:
            b = 1.0 / math.sqrt(fan_in)
            a = rng.uniform(-b, b, size=shape)
        elif name.startswith("embed.") or name.startswith("pos_embed."):
            a = rng.normal(0.0, 1.0, size=shape)
        elif leaf == "w":
            a = np.ones(shape)
        else:
            a = np.zeros(shape)
        a = a + rng.normal(0.0, 0.3, size=shape)
        out[name] = torch.tensor(a, dtype=torch.float64, requires_grad=True)
    return out


# ---------------------------------------------------------------------------------
# the task: numbers and one [SEP]; the target after [SEP] is the running mean


def draw_batch(c, B, rng):
    T = c["seq_len"]
    first_number = 1 if c["bos"] else 0
    sep_lo, sep_hi = first_number + c["min_before_sep"], T - 1 - c["min_after_sep"]
    kind = np.zeros((B, T), np.int32)
    value = np.zeros((B, T))
    target = np.zeros((B, T))
    supervised = np.zeros((B, T), bool)
    sep_pos = np.zeros(B, np.int32)
    for b in range(B):
        s = int(rng.integers(sep_lo, sep_hi + 1))
        sep_pos[b] = s
        if c["bos"]:
            kind[b, 0] = K_BOS
        kind[b, s] = K_SEP
        total = 0.0
        for t in range(first_number, T):
            if t == s:
                continue
            x = rng.normal() if c["numbers"] == "normal" else rng.uniform(-1.0, 1.0)
            value[b, t] = x
            if t > s:
                total += x
                target[b, t] = total / (t - s)
                supervised[b, t] = c["supervise"] == "after_sep" or t == T - 1
    weight = supervised / supervised.sum()
    return dict(kind=kind, value=value, target=target, weight=weight, sep_pos=sep_pos)


# ---------------------------------------------------------------------------------


CONFIG_KEYS = ["n_layers", "n_heads", "d_model", "d_head", "d_mlp", "act", "norm", "qk_norm",
               "attn_scale", "attn_bias", "positions", "bos", "supervise", "seq_len", "numbers",
               "min_before_sep", "min_after_sep"]


def write_fixture(path, name, c):
    rng = np.random.default_rng(c["seed"])
    P = draw_params(c, rng)
    batch = draw_batch(c, c["batch"], rng)
    output, acts = forward(P, batch, c)
    acts.pop("hook_embed")  # the C++ side has no such activation to compare
    total = loss(output, batch)
    total.backward()
    # sanity: every parameter gets a gradient, and a non-zero one
    for n, t in P.items():
        assert t.grad is not None and torch.any(t.grad != 0), f"{name}: {n} has no gradient"
    # sanity: no pre-activation of a ReLU sits at its kink
    for n, a in acts.items():
        if n.endswith("mlp.hook_pre"):
            assert a.abs().min() > 1e-6, f"{name}: {n} too close to 0"

    with h5py.File(path, "w") as f:
        for k in CONFIG_KEYS:
            v = c[k]
            if isinstance(v, bool):
                f.attrs[k] = np.int32(v)
            elif isinstance(v, int):
                f.attrs[k] = np.int32(v)
            else:
                f.attrs[k] = np.bytes_(v)
        f.attrs["name"] = np.bytes_(name)
        f.attrs["seed"] = np.int32(c["seed"])
        f.attrs["batch"] = np.int32(c["batch"])
        f.attrs["generator"] = np.bytes_(
            f"tools/make_fixtures.py, torch {torch.__version__}, numpy {np.__version__}, float64")
        gi = f.create_group("inputs")
        for k in ["kind", "value", "target", "weight", "sep_pos"]:
            gi.create_dataset(k, data=batch[k])
        gp, gg = f.create_group("params"), f.create_group("grads")
        for n, shape in param_specs(c):
            assert tuple(P[n].shape) == shape
            gp.create_dataset(n, data=P[n].detach().numpy())
            gg.create_dataset(n, data=P[n].grad.numpy())
        ga = f.create_group("acts")
        for n, a in acts.items():
            ga.create_dataset(n, data=a.detach().numpy())
        f.create_dataset("output", data=output.detach().numpy())
        f.create_dataset("loss", data=np.float64(total.item()))
    return total.item()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name, c in FIXTURES.items():
        path = os.path.join(args.out, f"fixture_{name}.h5")
        loss = write_fixture(path, name, c)
        print(f"{os.path.normpath(path)}: loss {loss:.12g}")


if __name__ == "__main__":
    main()
