#!/usr/bin/env python3
"""The ctr training run in PyTorch, written for speed: the peer bench/compare.py times
ctr against.

Same task (numbers and one [SEP], target the mean of the numbers after [SEP], loss on
the last position), same model (embedding x * w_num + b_num / e_sep, pre-norm blocks of
causal softmax attention and an optional MLP, scalar readout), same AdamW
(torch.optim.AdamW, foreach) and constant learning rate, same sizes, read from a ctr
YAML config. Written for speed, not for clarity: Q, K and V of all heads from one
matmul, attention as batched matmuls over (batch, head) with an additive causal mask,
no Python loop over heads or positions, and, like ctr's loss-only forward, the last
block computes only the last query (the only one the loss reads). Its random streams
are its own: the numbers differ from ctr's, the work does not.

  torch_ctr.py train CONFIG.yaml [--seed S] [--threads N] [--dtype float64|float32]
      the whole run: epochs of shuffled batches, an evaluation on the held-out set at
      step 0, every train.eval_every steps and at the end; prints the training time and final loss.
  torch_ctr.py step CONFIG.yaml [--batch B] [--dtype ...] [--repeats R] [--threads N]
      zero grads + forward + backward on one batch, as bench/bench_step.cpp times it;
      prints the median us/step of R repeats after a warm-up.
"""
import argparse
import math
import statistics
import sys
import time

import torch
import yaml

NORM_EPS = 1e-5


def load_config(path, sets=()):
    with open(path) as f:
        cfg = yaml.safe_load(f)
    for s in sets:  # section.key=value, as ctr-train --set
        key, value = s.split("=", 1)
        section, name = key.split(".", 1)
        cfg[section][name] = yaml.safe_load(value)
    m, t = cfg["model"], cfg["task"]
    unsupported = []
    if m["positions"] != "none":
        unsupported.append("model.positions")
    if m["qk_norm"]:
        unsupported.append("model.qk_norm")
    if t["bos"]:
        unsupported.append("task.bos")
    if t["supervise"] != "last":
        unsupported.append("task.supervise")
    if cfg["train"]["optimizer"] != "adamw" or cfg["train"]["schedule"] != "constant":
        unsupported.append("train.optimizer/schedule")
    if unsupported:
        sys.exit(f"torch_ctr.py: not implemented here: {', '.join(unsupported)} (only what the benchmarks use)")
    return cfg


def make_data(task, n, gen, dtype):
    """n sequences: is_num, is_sep (n, T, 1), value (n, T, 1), target (n)."""
    T = task["seq_len"]
    lo, hi = task["min_before_sep"], T - 1 - task["min_after_sep"]
    sep = torch.randint(lo, hi + 1, (n,), generator=gen)
    pos = torch.arange(T)
    is_sep = (pos[None, :] == sep[:, None])
    if task["numbers"] == "normal":
        value = torch.randn(n, T, generator=gen, dtype=torch.float64)
    else:
        value = torch.rand(n, T, generator=gen, dtype=torch.float64) * 2 - 1
    value = torch.where(is_sep, torch.zeros_like(value), value)
    after = pos[None, :] > sep[:, None]
    target = (value * after).sum(1) / after.sum(1)
    f = lambda x: x.to(dtype)  # noqa: E731
    return f(~is_sep)[..., None], f(is_sep)[..., None], f(value)[..., None], f(target)


def init_params(m, gen, dtype):
    """PyTorch-style uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) init; Q, K, V of all heads
    fused into one (D, 3 H Dh) matrix, W_O as (H Dh, D)."""
    D, H, Dh, M = m["d_model"], m["n_heads"], m["d_head"], m["d_mlp"]

    def u(shape, fan_in):
        b = 1 / math.sqrt(fan_in)
        return (torch.rand(*shape, generator=gen, dtype=torch.float64) * 2 - 1) * b

    P = {"w_num": u((D,), 1), "b_num": u((D,), 1), "e_sep": u((D,), 1)}
    norm = m["norm"] != "none"
    for l in range(m["n_layers"]):
        p = f"{l}."
        if norm:
            P[p + "ln1_w"] = torch.ones(D, dtype=torch.float64)
            if m["norm"] == "layernorm":
                P[p + "ln1_b"] = torch.zeros(D, dtype=torch.float64)
        P[p + "W_QKV"] = u((D, 3 * H * Dh), D)
        P[p + "W_O"] = u((H * Dh, D), H * Dh)
        if m["attn_bias"]:
            P[p + "b_QKV"] = torch.zeros(3 * H * Dh, dtype=torch.float64)
            P[p + "b_O"] = torch.zeros(D, dtype=torch.float64)
        if M > 0:
            if norm:
                P[p + "ln2_w"] = torch.ones(D, dtype=torch.float64)
                if m["norm"] == "layernorm":
                    P[p + "ln2_b"] = torch.zeros(D, dtype=torch.float64)
            P[p + "W_in"] = u((D, M), D)
            P[p + "b_in"] = u((M,), D)
            P[p + "W_out"] = u((M, D), M)
            P[p + "b_out"] = u((D,), M)
    if norm:
        P["lnf_w"] = torch.ones(D, dtype=torch.float64)
        if m["norm"] == "layernorm":
            P["lnf_b"] = torch.zeros(D, dtype=torch.float64)
    P["W_U"] = u((D, 1), D)
    P["b_U"] = u((1,), D)
    return {k: v.to(dtype).requires_grad_(True) for k, v in P.items()}


def make_forward(m, T, dtype):
    D, H, Dh, M = m["d_model"], m["n_heads"], m["d_head"], m["d_mlp"]
    L = m["n_layers"]
    scale = 1 / math.sqrt(Dh) if m["attn_scale"] == "inv_sqrt_d_head" else 1.0
    mask = torch.full((T, T), float("-inf"), dtype=dtype).triu(1)  # additive causal mask
    act = torch.nn.functional.gelu if m["act"] == "gelu" else torch.relu

    def norm(x, P, name):
        if m["norm"] == "layernorm":
            return torch.nn.functional.layer_norm(x, (D,), P[name + "_w"], P[name + "_b"], NORM_EPS)
        if m["norm"] == "rmsnorm":
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + NORM_EPS) * P[name + "_w"]
        return x

    def forward(P, is_num, is_sep, value):
        """The prediction at the last position of each sequence (B)."""
        B = value.shape[0]
        x = is_num * (value * P["w_num"] + P["b_num"]) + is_sep * P["e_sep"]  # (B, T, D)
        for l in range(L):
            p = f"{l}."
            last = l == L - 1
            h = norm(x, P, p + "ln1")
            qkv = h @ P[p + "W_QKV"]                                             # (B, T, 3 H Dh)
            if m["attn_bias"]:
                qkv = qkv + P[p + "b_QKV"]
            q, k, v = qkv.view(B, T, 3, H, Dh).permute(2, 0, 3, 1, 4)           # each (B, H, T, Dh)
            if last:  # the loss reads the last position only
                q = q[:, :, -1:, :]
                att = torch.softmax((q @ k.transpose(-1, -2)) * scale, dim=-1)   # (B, H, 1, T)
                x = x[:, -1:, :]
            else:
                att = torch.softmax((q @ k.transpose(-1, -2)) * scale + mask, dim=-1)  # (B, H, T, T)
            z = (att @ v).transpose(1, 2).reshape(B, -1, H * Dh)                 # (B, T', H Dh)
            attn_out = z @ P[p + "W_O"]
            if m["attn_bias"]:
                attn_out = attn_out + P[p + "b_O"]
            x = x + attn_out
            if M > 0:
                x = x + act(norm(x, P, p + "ln2") @ P[p + "W_in"] + P[p + "b_in"]) @ P[p + "W_out"] + P[p + "b_out"]
        x = norm(x, P, "lnf")
        return (x[:, -1, :] @ P["W_U"])[:, 0] + P["b_U"][0]

    return forward


def train(args):
    cfg = load_config(args.config, args.set)
    m, t, tr = cfg["model"], cfg["task"], cfg["train"]
    dtype = getattr(torch, args.dtype)
    seed = cfg["seed"] if args.seed is None else args.seed
    gen = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    train_set = make_data(t, t["train_size"], gen, dtype)
    eval_set = make_data(t, t["eval_size"], gen, dtype)
    P = init_params(m, gen, dtype)
    forward = make_forward(m, t["seq_len"], dtype)
    opt = torch.optim.AdamW(list(P.values()), lr=tr["lr"], betas=(tr["beta1"], tr["beta2"]), eps=tr["eps"],
                            weight_decay=tr["weight_decay"], foreach=True)
    n, bs = t["train_size"], tr["batch_size"]
    steps_per_epoch = n // bs
    total = tr["steps"] if tr["steps"] > 0 else tr["epochs"] * steps_per_epoch

    def evaluate():
        with torch.no_grad():
            return torch.mean((forward(P, *eval_set[:3]) - eval_set[3]) ** 2).item()

    eval_loss, evals, step = evaluate(), 1, 0  # at step 0 too, as ctr
    while step < total:
        perm = torch.randperm(n, generator=gen)
        for s in range(steps_per_epoch):
            if step == total:
                break
            idx = perm[s * bs:(s + 1) * bs]
            batch = [a[idx] for a in train_set]
            loss = torch.mean((forward(P, *batch[:3]) - batch[3]) ** 2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if step % tr["eval_every"] == 0:
                eval_loss = evaluate()
                evals += 1
    if step % tr["eval_every"] != 0:
        eval_loss = evaluate()
        evals += 1
    seconds = time.perf_counter() - t0
    print(f"torch_ctr train: {step} steps, {evals} evaluations in {seconds:.3f} s "
          f"({step / seconds:.0f} steps/s); eval loss {eval_loss:.4g}; {args.dtype}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")


def bench_step(args):
    cfg = load_config(args.config, args.set)
    m, t = cfg["model"], cfg["task"]
    dtype = getattr(torch, args.dtype)
    gen = torch.Generator().manual_seed(1)
    B = args.batch or cfg["train"]["batch_size"]
    is_num, is_sep, value, target = make_data(t, B, gen, dtype)
    P = init_params(m, gen, dtype)
    forward = make_forward(m, t["seq_len"], dtype)

    def step():
        for p in P.values():
            p.grad = None
        loss = torch.mean((forward(P, is_num, is_sep, value) - target) ** 2)
        loss.backward()

    t0, k = time.perf_counter(), 0
    while k < 3 or time.perf_counter() - t0 < 0.3:
        step()
        k += 1
    reps = max(1, int(args.seconds / ((time.perf_counter() - t0) / k)))
    times = []
    for _ in range(args.repeats):
        t1 = time.perf_counter()
        for _ in range(reps):
            step()
        times.append((time.perf_counter() - t1) / reps * 1e6)
    print(f"torch_ctr step: {statistics.median(times):.1f} us/step (median of {args.repeats} x {reps} steps; "
          f"min {min(times):.1f}, max {max(times):.1f}); B={B} T={t['seq_len']} {args.dtype}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("train", "step"):
        s = sub.add_parser(name)
        s.add_argument("config")
        s.add_argument("--set", action="append", default=[], help="section.key=value, as ctr-train --set")
        s.add_argument("--dtype", choices=["float64", "float32"], default="float64")
        s.add_argument("--threads", type=int, default=1)
        if name == "train":
            s.add_argument("--seed", type=int)
        else:
            s.add_argument("--batch", type=int, default=0)
            s.add_argument("--repeats", type=int, default=7)
            s.add_argument("--seconds", type=float, default=0.3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    (train if args.cmd == "train" else bench_step)(args)


if __name__ == "__main__":
    main()
