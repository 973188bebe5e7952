"""forward: the PyTorch reference reproduces what ctr-train logged."""
import os
import subprocess
import tempfile
import unittest

import h5py
import numpy as np
import torch

import runs
import ctr


def catch_ablation(layer, head, sep_pos):
    """docs/metrics.md, "Causal tests": queries after [SEP] stop attending to [SEP], the
    rest of each row renormalised."""
    def hook(pattern):  # (B, H, query, key)
        p = pattern.clone()
        B, _, T, _ = p.shape
        for b in range(B):
            s = int(sep_pos[b])
            for i in range(s + 1, T):
                row = p[b, head, i]
                rest = row[: i + 1].sum() - row[s]
                row[s] = 0
                if rest > 0:
                    row[: i + 1] /= rest
                else:
                    row[: i + 1] = 1.0 / i
                    row[s] = 0
        return p
    return {f"blocks.{layer}.attn.hook_pattern": hook}


class ReproducesLoggedRun(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.r = ctr.load_run(runs.make_run(*runs.SOLVING[:3]))

    def check_snapshot(self, r, step):
        out, cache = ctr.forward(ctr.state_dict(r, step), r.probe, r.config)
        snap = r.snapshots.sel(step=step)
        # snapshots store activations as float32: agreement to float32 rounding
        np.testing.assert_allclose(out.numpy(), snap["output"].values, rtol=1e-5, atol=1e-6)
        for l in range(r.config["model"]["n_layers"]):
            for hook in ("attn.hook_pattern", "hook_resid_pre", "hook_resid_post") + (
                    ("hook_resid_mid",) if r.config["model"]["d_mlp"] > 0 else ()):
                name = f"blocks.{l}.{hook}"
                np.testing.assert_allclose(cache[name].numpy(), snap[name].values, rtol=1e-5, atol=2e-6,
                                           err_msg=f"{name} at step {step}")
            for hook in ("attn.hook_v", "attn.hook_z"):
                name = f"blocks.{l}.{hook}"
                if name in snap:
                    np.testing.assert_allclose(cache[name].numpy(), snap[name].values, rtol=1e-5, atol=2e-6)
        return out, cache

    def test_patterns_and_outputs_at_snapshots(self):
        steps = self.r.snapshots["step"].values
        for step in [steps[0], 100, self.r.emergence["catch"]["first"], steps[-1]]:
            self.check_snapshot(self.r, int(step))

    def test_mechanism_metrics_from_the_patterns(self):
        # catch (docs/metrics.md) recomputed from the reference forward's pattern
        step = int(self.r.snapshots["step"].values[-1])
        _, cache = ctr.forward(ctr.state_dict(self.r, step), self.r.probe, self.r.config)
        sep = self.r.probe["sep_pos"].values
        A = cache["blocks.0.attn.hook_pattern"][:, 0].numpy()
        T = A.shape[-1]
        vals = [A[b, i, s] for b, s in enumerate(sep) for i in range(s + 1, T)]
        logged = float(self.r.mechanism["catch"].sel(step=step)[0, 0])
        self.assertAlmostEqual(np.mean(vals), logged, delta=1e-6)
        self.assertGreater(logged, 0.9)

    def test_final_loss_and_causal_tests_match_the_verdict(self):
        v = self.r.verdict
        sd = ctr.state_dict(self.r)
        out, cache = ctr.forward(sd, self.r.probe, self.r.config)
        clean = float(ctr.loss(out, self.r.probe))
        self.assertAlmostEqual(clean / v["clean_loss"], 1.0, delta=1e-9)
        # the catch ablation, as an intervention through a hook
        sep = self.r.probe["sep_pos"].values
        out_c, _ = ctr.forward(sd, self.r.probe, self.r.config,
                               hooks=catch_ablation(v["causal_layer"], v["causal_head"], sep))
        self.assertAlmostEqual(float(ctr.loss(out_c, self.r.probe)) / v["catch_ablated_loss"], 1.0, delta=1e-9)
        # the tag ablation: project the tag direction out of layer 0's output
        step = int(self.r.mechanism["step"].values[-1])
        tag = torch.tensor(self.r.mechanism["tag"].sel(step=step).values[v["causal_layer"], v["causal_head"]])
        u = tag / tag.norm()
        out_t, _ = ctr.forward(sd, self.r.probe, self.r.config,
                               hooks={f"blocks.{v['causal_layer']}.hook_resid_post": lambda r: r - (r @ u)[..., None] * u})
        self.assertAlmostEqual(float(ctr.loss(out_t, self.r.probe)) / v["tag_ablated_loss"], 1.0, delta=1e-9)
        self.assertGreater(v["catch_ablated_loss"], 100 * clean)

    def test_probe_rel_error_headline(self):
        step = int(self.r.headline["step"].values[-1])
        out, _ = ctr.forward(ctr.state_dict(self.r, step), self.r.probe, self.r.config)
        w, t = self.r.probe["weight"].values, self.r.probe["target"].values
        mse = float(ctr.loss(out, self.r.probe)) / w.sum()
        tbar = (w * t).sum() / w.sum()
        rel = mse / ((w * (t - tbar) ** 2).sum() / w.sum())
        self.assertAlmostEqual(rel / float(self.r.headline["probe_rel_error"].sel(step=step)), 1.0, delta=1e-9)


class OtherArchitectures(ReproducesLoggedRun):
    """LayerNorm + MLP, two heads, [BOS], learned positions, biases, QK-norm: every
    code path of the reference forward against a real run."""
    @classmethod
    def setUpClass(cls):
        cls.r = ctr.load_run(runs.make_run(
            "configs/layernorm_mlp.yaml", seed=1, steps=120,
            sets=("model.n_heads=2", "task.bos=true", "model.positions=learned", "model.attn_bias=true",
                  "model.qk_norm=true", "task.supervise=after_sep")))

    def test_patterns_and_outputs_at_snapshots(self):
        for step in self.r.snapshots["step"].values[[0, 10, -1]]:
            self.check_snapshot(self.r, int(step))

    test_mechanism_metrics_from_the_patterns = None
    test_final_loss_and_causal_tests_match_the_verdict = None


class FixturesStayPinned(unittest.TestCase):
    """tools/make_fixtures.py builds the C++ fixtures with this package's model: its
    output must still be the data/ files the C++ tests check against."""
    def test_regenerated_fixtures_equal_data(self):
        with tempfile.TemporaryDirectory() as d:
            subprocess.run(["/usr/bin/python3", os.path.join(runs.REPO, "tools", "make_fixtures.py"), "--out", d],
                           check=True, stdout=subprocess.DEVNULL)
            for name in ("minimal", "full", "rms_relu_sin"):
                with h5py.File(os.path.join(d, f"fixture_{name}.h5")) as a, \
                        h5py.File(os.path.join(runs.REPO, "data", f"fixture_{name}.h5")) as b:
                    na, nb = [], []
                    a.visit(na.append)
                    b.visit(nb.append)
                    self.assertEqual(sorted(na), sorted(nb))
                    for k in na:
                        if isinstance(a[k], h5py.Dataset):
                            np.testing.assert_array_equal(a[k][()], b[k][()], err_msg=f"{name}: {k}")


if __name__ == "__main__":
    unittest.main()
