"""The ctr transformer in PyTorch (float64), written from its definition (docs/model.md),
not from the C++ code: the reference the C++ model is checked against
(tools/make_fixtures.py) and the forward pass the analysis recipes run.

Parameters are a dict of tensors under the C++ (TransformerLens) names and shapes:
`blocks.{l}.attn.W_Q` [n_heads, d_model, d_head], `blocks.{l}.attn.W_O`
[n_heads, d_head, d_model], `unembed.W_U` [d_model], ... (`param_specs`).
"""
import math

import numpy as np
import torch

NORM_EPS = 1e-5
K_NUMBER, K_SEP, K_BOS = 0, 1, 2

# The model keys of a run's config (`model:` plus the task keys the model depends on).
MODEL_KEYS = ["n_layers", "n_heads", "d_model", "d_head", "d_mlp", "act", "norm", "qk_norm",
              "attn_scale", "attn_bias", "positions"]
TASK_KEYS = ["bos", "seq_len"]


def model_config(config):
    """The flat model description forward() needs, from a run's nested config
    (`{"model": {...}, "task": {...}}`, as `load_run` gives it) or an already flat dict."""
    if "model" in config and isinstance(config["model"], dict):
        flat = {k: config["model"][k] for k in MODEL_KEYS}
        flat.update({k: config["task"][k] for k in TASK_KEYS})
        return flat
    return config


def param_specs(config):
    """[(name, shape)] of every parameter tensor, in the C++ ParamLayout order (the order
    of the flat checkpoint buffer)."""
    c = model_config(config)
    D, H, Dh, M, T = c["d_model"], c["n_heads"], c["d_head"], c["d_mlp"], c["seq_len"]
    norm = c["norm"] != "none"
    norm_bias = c["norm"] == "layernorm"
    s = [("embed.w_num", (D,)), ("embed.b_num", (D,)), ("embed.e_sep", (D,))]
    if c["bos"]:
        s.append(("embed.e_bos", (D,)))
    if c["positions"] == "learned":
        s.append(("pos_embed.W_pos", (T, D)))
    for l in range(c["n_layers"]):
        p = f"blocks.{l}."
        if norm:
            s.append((p + "ln1.w", (D,)))
        if norm_bias:
            s.append((p + "ln1.b", (D,)))
        s += [(p + "attn.W_Q", (H, D, Dh)), (p + "attn.W_K", (H, D, Dh)),
              (p + "attn.W_V", (H, D, Dh)), (p + "attn.W_O", (H, Dh, D))]
        if c["attn_bias"]:
            s += [(p + "attn.b_Q", (H, Dh)), (p + "attn.b_K", (H, Dh)),
                  (p + "attn.b_V", (H, Dh)), (p + "attn.b_O", (D,))]
        if c["qk_norm"]:
            s += [(p + "attn.q_norm.w", (Dh,)), (p + "attn.k_norm.w", (Dh,))]
        if M > 0:
            if norm:
                s.append((p + "ln2.w", (D,)))
            if norm_bias:
                s.append((p + "ln2.b", (D,)))
            s += [(p + "mlp.W_in", (D, M)), (p + "mlp.b_in", (M,)),
                  (p + "mlp.W_out", (M, D)), (p + "mlp.b_out", (D,))]
    if norm:
        s.append(("ln_final.w", (D,)))
    if norm_bias:
        s.append(("ln_final.b", (D,)))
    s += [("unembed.W_U", (D,)), ("unembed.b_U", (1,))]
    return s


def unflatten(flat, config):
    """Named float64 tensors from a flat parameter buffer in ParamLayout order."""
    flat = torch.as_tensor(np.asarray(flat), dtype=torch.float64)
    out, offset = {}, 0
    for name, shape in param_specs(config):
        size = math.prod(shape)
        out[name] = flat[offset:offset + size].reshape(shape).clone()
        offset += size
    if offset != flat.numel():
        raise ValueError(f"flat parameter buffer has {flat.numel()} values, the config's layout {offset}")
    return out


def sinusoid(T, D):
    pe = np.zeros((T, D))
    for t in range(T):
        for d in range(D):
            freq = 10000.0 ** (-(d - d % 2) / D)
            pe[t, d] = math.sin(t * freq) if d % 2 == 0 else math.cos(t * freq)
    return torch.tensor(pe)


def norm(x, w, b, rms):
    m = 0.0 if rms else x.mean(-1, keepdim=True)
    var = ((x - m) ** 2).mean(-1, keepdim=True)
    y = (x - m) / torch.sqrt(var + NORM_EPS) * w
    return y + b if b is not None else y


def _as_tensor(a, dtype):
    if hasattr(a, "values") and not callable(a.values):  # an xarray DataArray
        a = a.values
    return torch.as_tensor(np.asarray(a) if not torch.is_tensor(a) else a, dtype=dtype)


def forward(state_dict, batch, config, hooks=None):
    """The model on a batch, in float64. Returns (output [batch, pos], cache).

    batch: a mapping with `kind` [batch, pos] (0 number, 1 [SEP], 2 [BOS]) and `value`
    [batch, pos] (numpy, torch or xarray; `load_run(...).probe` is one).
    config: a run's config (`load_run(...).config`) or the flat dict of model_config():
    the `model` keys plus `bos` and `seq_len` of `task`.
    hooks: {hook name: fn(tensor) -> tensor or None}; each is called where the cache
    entry of that name is made, and a returned tensor replaces the activation for
    everything downstream (an intervention). Cache names (TransformerLens):
    hook_embed, blocks.{l}.hook_resid_pre / hook_resid_mid / hook_resid_post [B, T, D],
    blocks.{l}.attn.hook_q / hook_k / hook_v / hook_z [B, T, H, d_head],
    blocks.{l}.attn.hook_pattern [B, H, query, key], blocks.{l}.hook_attn_out [B, T, D],
    blocks.{l}.mlp.hook_pre / hook_post [B, T, d_mlp] and blocks.{l}.hook_mlp_out (MLP),
    ln_final.hook_normalized (with a norm).
    """
    c = model_config(config)
    P = {k: _as_tensor(v, torch.float64) for k, v in state_dict.items()}
    hooks = hooks or {}
    kind = _as_tensor(batch["kind"], torch.int64)
    value = _as_tensor(batch["value"], torch.float64)
    B, T = kind.shape
    D = c["d_model"]
    has_norm, rms = c["norm"] != "none", c["norm"] == "rmsnorm"
    scale = 1.0 / math.sqrt(c["d_head"]) if c["attn_scale"] == "inv_sqrt_d_head" else 1.0
    cache = {}

    def hook(name, x):
        if name in hooks:
            y = hooks[name](x)
            if y is not None:
                x = y
        cache[name] = x
        return x

    num = value[..., None] * P["embed.w_num"] + P["embed.b_num"]            # (B, T, D)
    sep = P["embed.e_sep"].expand(B, T, D)
    bos = P["embed.e_bos"].expand(B, T, D) if c["bos"] else torch.zeros(B, T, D, dtype=torch.float64)
    k3 = kind[..., None].expand(B, T, D)
    x = torch.where(k3 == K_NUMBER, num, torch.where(k3 == K_SEP, sep, bos))
    if c["positions"] == "learned":
        x = x + P["pos_embed.W_pos"][:T]
    elif c["positions"] == "sinusoidal":
        x = x + sinusoid(T, D)
    resid = hook("hook_embed", x)

    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for l in range(c["n_layers"]):
        p = f"blocks.{l}."
        g = lambda n: P.get(p + n)  # noqa: E731
        resid = hook(p + "hook_resid_pre", resid)
        h = norm(resid, g("ln1.w"), g("ln1.b"), rms) if has_norm else resid
        q = torch.einsum("btd,hde->bthe", h, g("attn.W_Q"))               # (B, T, H, Dh)
        k = torch.einsum("btd,hde->bthe", h, g("attn.W_K"))
        v = torch.einsum("btd,hde->bthe", h, g("attn.W_V"))
        if c["attn_bias"]:
            q, k, v = q + g("attn.b_Q"), k + g("attn.b_K"), v + g("attn.b_V")
        if c["qk_norm"]:  # RMSNorm over d_head of every (position, head), gain shared by heads
            q = norm(q, g("attn.q_norm.w"), None, True)
            k = norm(k, g("attn.k_norm.w"), None, True)
        q = hook(p + "attn.hook_q", q)
        k = hook(p + "attn.hook_k", k)
        v = hook(p + "attn.hook_v", v)
        logits = torch.einsum("bihe,bjhe->bhij", q, k) * scale              # (B, H, T, T)
        logits = logits.masked_fill(~causal, float("-inf"))
        pattern = hook(p + "attn.hook_pattern", torch.softmax(logits, dim=-1))
        z = hook(p + "attn.hook_z", torch.einsum("bhij,bjhe->bihe", pattern, v))
        attn_out = torch.einsum("bthe,hed->btd", z, g("attn.W_O"))
        if c["attn_bias"]:
            attn_out = attn_out + g("attn.b_O")
        attn_out = hook(p + "hook_attn_out", attn_out)
        resid = hook(p + "hook_resid_mid", resid + attn_out)
        if c["d_mlp"] > 0:
            h2 = norm(resid, g("ln2.w"), g("ln2.b"), rms) if has_norm else resid
            pre = hook(p + "mlp.hook_pre", h2 @ g("mlp.W_in") + g("mlp.b_in"))
            post = torch.nn.functional.gelu(pre) if c["act"] == "gelu" else torch.relu(pre)
            post = hook(p + "mlp.hook_post", post)
            mlp_out = hook(p + "hook_mlp_out", post @ g("mlp.W_out") + g("mlp.b_out"))
            resid = resid + mlp_out
        resid = hook(p + "hook_resid_post", resid)
    if has_norm:
        resid = hook("ln_final.hook_normalized", norm(resid, P["ln_final.w"], P.get("ln_final.b"), rms))
    output = resid @ P["unembed.W_U"] + P["unembed.b_U"][0]               # (B, T)
    return output, cache


def loss(output, batch):
    """The training loss of an output: sum over positions of weight * (output - target)^2
    (the batch's weights are 1 / its number of supervised positions)."""
    target = _as_tensor(batch["target"], torch.float64)
    weight = _as_tensor(batch["weight"], torch.float64)
    return (weight * (output - target) ** 2).sum()
