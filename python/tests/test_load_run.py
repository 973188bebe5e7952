"""load_run: the run file as xarray Datasets, typed config, verdict and emergence."""
import unittest

import h5py
import numpy as np
import torch
import yaml

import runs
import ctr


class LoadRun(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.path = runs.make_run(*runs.SOLVING[:3])
        cls.r = ctr.load_run(cls.path)

    def test_metrics_are_indexed_by_step(self):
        m = self.r.metrics
        self.assertEqual(m["eval_rel_error"].dims, ("step",))
        with h5py.File(self.path, "r") as f:
            np.testing.assert_array_equal(m["step"].values, f["metrics/step"][:])
            np.testing.assert_array_equal(m["eval_loss"].values, f["metrics/eval_loss"][:])
        self.assertEqual(list(m["step"].values[:3]), [0, 50, 100])
        self.assertEqual(int(m["step"].values[-1]), 700)
        # selection by step, as a researcher would
        self.assertEqual(float(m.eval_loss.sel(step=100)), float(m.eval_loss.values[2]))

    def test_snapshots_have_named_dimensions(self):
        s = self.r.snapshots
        cfg = self.r.config
        B, T = cfg["task"]["probe_size"], cfg["task"]["seq_len"]
        p = s["blocks.0.attn.hook_pattern"]
        self.assertEqual(p.dims, ("step", "batch", "head", "query", "key"))
        self.assertEqual(p.shape[1:], (B, 1, T, T))
        self.assertEqual(s["blocks.1.hook_resid_post"].dims, ("step", "batch", "pos", "d_model"))
        self.assertEqual(s["output"].dims, ("step", "batch", "pos"))
        # rows of every attention pattern sum to 1
        np.testing.assert_allclose(p.sum("key").values, 1.0, rtol=1e-5)
        self.assertEqual(self.r.params["blocks.0.attn.W_Q"].dims, ("step", "head", "d_model", "d_head"))
        self.assertEqual(self.r.mechanism["catch"].dims, ("step", "layer", "head"))
        self.assertEqual(self.r.mechanism["sink_alpha"].dims, ("step", "layer", "head", "key"))
        self.assertEqual(self.r.headline["catch"].dims, ("step",))
        self.assertEqual(self.r.probe["kind"].dims, ("batch", "pos"))
        np.testing.assert_array_equal(s["step"].values, self.r.headline["step"].values)

    def test_config_has_python_types(self):
        cfg = self.r.config
        self.assertIsInstance(cfg["train"]["eps"], float)
        self.assertEqual(cfg["train"]["eps"], 1e-8)
        self.assertIsInstance(cfg["train"]["lr"], float)
        self.assertIsInstance(cfg["train"]["steps"], int)
        self.assertEqual(cfg["train"]["steps"], 700)
        self.assertIs(cfg["model"]["qk_norm"], False)
        self.assertEqual(cfg["model"]["norm"], "none")
        self.assertEqual(cfg["seed"], 4)
        # what the user does with it: an optimizer from the recorded hyperparameters
        t = cfg["train"]
        torch.optim.AdamW([torch.zeros(1)], lr=t["lr"], betas=(t["beta1"], t["beta2"]), eps=t["eps"],
                          weight_decay=t["weight_decay"])

    def test_config_reads_the_same_with_pyyaml(self):
        # the file's YAML is written so that a YAML 1.1 loader gets the same types
        plain = yaml.safe_load(self.r.attrs["config"])
        self.assertEqual(plain, self.r.config)

        def types(d):
            return {k: types(v) if isinstance(v, dict) else type(v) for k, v in d.items()}
        self.assertEqual(types(plain), types(self.r.config))
        self.assertIsInstance(plain["train"]["eps"], float)
        self.assertIsInstance(plain["model"]["init_tag_scale"], float)

    def test_parse_config_reads_yaml12_floats(self):
        self.assertEqual(ctr.parse_config("a: 1e-8\nb: 12\nc: 0.5\nd: 5E3\ne: abc\nf: true\n"),
                         {"a": 1e-8, "b": 12, "c": 0.5, "d": 5000.0, "e": "abc", "f": True})
        # PyYAML alone (YAML 1.1) would not: the reason parse_config exists
        self.assertEqual(yaml.safe_load("a: 1e-8")["a"], "1e-8")

    def test_attrs_and_verdict_are_plain_python(self):
        a = self.r.attrs
        self.assertEqual(a["status"], "complete")
        self.assertEqual(self.r.status, "complete")
        self.assertIsInstance(a["ctr_version"], str)
        self.assertEqual(a["seed"], 4)
        v = self.r.verdict
        self.assertIs(v["success"], True)
        self.assertIs(v["solved"], True)
        self.assertIsInstance(v["summary"], str)
        self.assertTrue(v["summary"].startswith("success"))
        self.assertLess(v["rel_error"], 0.01)

    def test_emergence_of_a_solving_run(self):
        e = self.r.emergence
        self.assertEqual(set(e), {"catch", "tag", "release", "mechanism", "solved"})
        rel = self.r.metrics.eval_rel_error
        below = rel["step"].values[rel.values < 0.01]
        self.assertEqual(e["solved"]["first"], int(below[0]))
        # what the file records is what the package computes from the series
        self.assertEqual(e, ctr.emergence(self.r))
        self.assertEqual(self.r.verdict["catch_emergence"], "held")
        self.assertIn("mechanism formed at step", self.r.verdict["summary"])
        for name in ("catch", "tag", "release", "mechanism", "solved"):
            self.assertTrue(e[name]["measured"])
            self.assertTrue(e[name]["held_at_end"], name)
            self.assertGreaterEqual(e[name]["held_from"], e[name]["first"])
            self.assertGreaterEqual(e[name]["switches"], 1)
            self.assertTrue(400 <= e[name]["first"] <= 700, (name, e[name]))
        catch = self.r.headline["catch"]
        self.assertGreaterEqual(float(catch.sel(step=e["catch"]["held_from"])), 0.9)

    def test_state_dict_at_snapshots_and_checkpoint(self):
        names = [n for n, _ in ctr.param_specs(self.r.config)]
        final = ctr.state_dict(self.r)
        self.assertEqual(list(final), names)
        self.assertEqual(self.r.checkpoint["step"], 700)
        at_end = ctr.state_dict(self.r, 700)
        for n in names:
            self.assertEqual(at_end[n].dtype, torch.float64)
            self.assertTrue(torch.equal(final[n], at_end[n]), n)
        self.assertEqual(tuple(final["blocks.0.attn.W_Q"].shape), (1, 2, 2))
        self.assertEqual(tuple(final["blocks.1.attn.W_O"].shape), (1, 2, 2))
        self.assertFalse(torch.equal(ctr.state_dict(self.r, 0)["blocks.0.attn.W_Q"], final["blocks.0.attn.W_Q"]))
        with self.assertRaisesRegex(KeyError, "no snapshot at step 99999"):
            ctr.state_dict(self.r, 99999)

    def test_activations_false_keeps_the_small_parts(self):
        light = ctr.load_run(self.path, activations=False)
        self.assertEqual(len(light.snapshots.data_vars), 0)
        self.assertEqual(len(light.params.data_vars), 0)
        np.testing.assert_array_equal(light.headline["catch"].values, self.r.headline["catch"].values)
        self.assertEqual(light.emergence, self.r.emergence)

    def test_not_a_run_file(self):
        path = runs.tmpdir() + "/other.h5"
        with h5py.File(path, "w") as f:
            f["x"] = 1
        with self.assertRaisesRegex(ValueError, "not a ctr run file"):
            ctr.load_run(path)
        # not HDF5 at all, or empty: also "not a run file", ValueError (docs/analysis.md)
        for name, content in (("text.h5", b"hello\n"), ("empty.h5", b"")):
            with open(runs.tmpdir() + "/" + name, "wb") as f:
                f.write(content)
            with self.subTest(name=name), self.assertRaisesRegex(ValueError, "not a ctr run file"):
                ctr.load_run(runs.tmpdir() + "/" + name)
        # the config attribute and /metrics alone do not make a run file
        with h5py.File(path, "w") as f:
            f.attrs["config"] = "seed: 0\n"
            f.create_group("metrics")
        with self.assertRaisesRegex(ValueError, "not a ctr run file.*/snapshots, /probe"):
            ctr.load_run(path)
        with self.assertRaises(FileNotFoundError):
            ctr.load_run(runs.tmpdir() + "/no-such-run.h5")

    def test_state_dict_without_parameter_snapshots(self):
        light = ctr.load_run(self.path, activations=False)
        step = int(self.r.params.step.values[1])
        with self.assertRaisesRegex(ValueError, "no parameter snapshots"):
            ctr.state_dict(light, step)
        final = ctr.state_dict(light)  # the checkpoint is still there
        self.assertTrue(torch.equal(final["unembed.W_U"], ctr.state_dict(self.r)["unembed.W_U"]))


class WithoutSnapshots(unittest.TestCase):
    def test_solved_is_measured_from_metrics(self):
        run = ctr.load_run(runs.make_run(*runs.SOLVING[:3], sets=("log.snapshots=false",)))
        self.assertEqual(run.snapshots.sizes.get("step", 0), 0)
        e = run.emergence
        for name in ("catch", "tag", "release", "mechanism"):
            self.assertFalse(e[name]["measured"], name)
            self.assertEqual(run.verdict[f"{name}_emergence"], "not measured")
            self.assertIsNone(e[name]["first"])
        self.assertTrue(e["solved"]["measured"])
        self.assertTrue(e["solved"]["held_at_end"])
        # same training as with snapshots, so the same step
        with_snaps = ctr.load_run(runs.make_run(*runs.SOLVING[:3]), activations=False)
        self.assertEqual(e["solved"], with_snaps.emergence["solved"])


class Crossings(unittest.TestCase):
    def test_never_formed_lost_and_regained(self):
        steps = [0, 10, 20, 30, 40, 50]
        self.assertEqual(ctr.crossings(steps, [0, 0, 0, 0, 0, 0]),
                         {"measured": True, "first": None, "held_from": None, "lost": None, "switches": 0,
                          "held_at_end": False})
        self.assertEqual(ctr.crossings(steps, [0, 1, 1, 0, 1, 1]),
                         {"measured": True, "first": 10, "held_from": 40, "lost": None, "switches": 3,
                          "held_at_end": True})
        self.assertEqual(ctr.crossings(steps, [0, 1, 0, 1, 1, 0]),
                         {"measured": True, "first": 10, "held_from": None, "lost": 50, "switches": 4,
                          "held_at_end": False})
        self.assertEqual(ctr.crossings(steps, [1, 1, 1, 1, 1, 1]),
                         {"measured": True, "first": 0, "held_from": 0, "lost": None, "switches": 0,
                          "held_at_end": True})
        self.assertEqual(ctr.crossings([], [])["measured"], False)
        self.assertEqual(ctr.crossings([0, 1], [np.nan >= 1, True])["first"], 1)
        # a float series: NaN does not hold (a plain cast to bool would make it hold)
        self.assertEqual(ctr.crossings([0, 1, 2], [np.nan, 1.0, np.nan]),
                         {"measured": True, "first": 1, "held_from": None, "lost": 2, "switches": 2,
                          "held_at_end": False})


if __name__ == "__main__":
    unittest.main()


class OpensInXarrayAsItIs(unittest.TestCase):
    """Format 2: every group opens with xarray's h5netcdf engine and no options."""
    @classmethod
    def setUpClass(cls):
        cls.path = runs.make_run(*runs.SOLVING[:3])
        cls.r = ctr.load_run(cls.path)

    def test_every_group_opens_with_named_dimensions(self):
        import xarray as xr
        for group in ("metrics", "snapshots", "snapshots/params", "snapshots/metrics", "snapshots/headline",
                      "probe", "eval", "checkpoint", "checkpoint/tensors"):
            with self.subTest(group=group), xr.open_dataset(self.path, group=group, engine="h5netcdf") as ds:
                self.assertGreater(len(ds.data_vars), 0)
                self.assertFalse(any(d.startswith("phony_dim") for d in ds.dims), ds.dims)
                if group.startswith("snapshots") or group == "metrics":
                    self.assertIn("step", ds.coords)
                    want = self.r.metrics if group == "metrics" else self.r.headline
                    np.testing.assert_array_equal(ds["step"].values, want["step"].values)
        with xr.open_dataset(self.path, group="snapshots", engine="h5netcdf") as ds:
            self.assertEqual(ds["blocks.0.attn.hook_pattern"].dims, ("step", "batch", "head", "query", "key"))
            self.assertEqual(ds["blocks.0.attn.hook_z"].dims, ("step", "batch", "pos", "head", "d_head"))

    def test_attributes_are_str_and_bool(self):
        with h5py.File(self.path, "r") as f:
            self.assertIsInstance(f.attrs["status"], str)
            self.assertIsInstance(f.attrs["config"], str)
            self.assertIsInstance(f["verdict"].attrs["summary"], str)
            self.assertIsInstance(f["verdict"].attrs["success"], np.bool_)
            self.assertEqual(list(f["snapshots/output"].attrs["axes"]), ["step", "batch", "pos"])
            self.assertEqual(f["probe/kind"].attrs["note"], "token kind: 0 number, 1 [SEP], 2 [BOS]")

    def test_provenance(self):
        a = self.r.attrs
        self.assertIn("--seed 4", a["command_line"])
        self.assertIn("--set train.steps=700", a["command_line"])
        self.assertTrue(a["config_file"].endswith("configs/minimal.yaml"))
        self.assertEqual(yaml.safe_load(a["overrides"]), {"seed": 4, "train.steps": 700})
        self.assertEqual(a["sessions"], 1)
        self.assertGreater(a["wall_time"], 0)
        for k in ("host", "started", "ended", "compiler", "eigen_version", "hdf5_version", "boost_version"):
            self.assertTrue(a[k], k)

    def test_eval_set_reproduces_the_metrics(self):
        # the final parameters on the stored evaluation set give the last metrics row
        out, _ = ctr.forward(ctr.state_dict(self.r), self.r.eval, self.r.config)
        loss = float(ctr.loss(out, self.r.eval))
        last = self.r.metrics.isel(step=-1)
        self.assertAlmostEqual(loss / float(last.eval_loss), 1.0, delta=1e-12)
        with h5py.File(self.path, "r") as f:
            baseline = f["eval"].attrs["baseline_mse"]
        self.assertAlmostEqual(loss / baseline / float(last.eval_rel_error), 1.0, delta=1e-12)
        self.assertEqual(self.r.eval.sizes["batch"], self.r.config["task"]["eval_size"])

    def test_sets_are_none_unless_stored(self):
        self.assertIsNone(self.r.train)  # log.train_set is off by default
        path = runs.make_run("configs/minimal.yaml", 4, 2, ("log.eval_set=false", "log.train_set=true"))
        r = ctr.load_run(path)
        self.assertIsNone(r.eval)
        with self.assertRaisesRegex(ValueError, "does not store the eval set"):
            ctr.batch(r, "eval")
        self.assertEqual(dict(r.train.sizes), {"batch": 8192, "pos": 16})
        b = ctr.batch(r, "train")
        np.testing.assert_array_equal(b["kind"][np.arange(8192), b["sep_pos"]], 1)
        # The mean supervised training target is the baseline's prediction (docs/hdf5-layout.md).
        with h5py.File(self.path, "r") as f:
            baseline = f["eval"].attrs["baseline_mse"]
        mean = b["target"][b["weight"] > 0].mean()
        ev = self.r.eval
        w = ev.weight.values
        self.assertAlmostEqual(float((w * (ev.target.values - mean) ** 2).sum() / w.sum()) / baseline, 1.0, delta=1e-12)
