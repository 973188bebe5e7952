"""ctr-plot sweep and compare: the figures draw the sweep index and the runs' files.

The sweep is a tiny grid of real runs (the 0-step Theorem 7.1 construction over
model.init_tag_scale x task.seq_len, two seeds each: fast, and with both outcomes),
run by ctr-sweep when the build has it; without it, the same runs are made by
ctr-train and indexed here with the columns docs/sweeps.md documents."""
import contextlib
import io
import math
import os
import shutil
import subprocess
import tempfile
import unittest

import h5py
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import runs
from plot_checks import artists, h5, texts_outside

import ctr
import ctr.plot

BUILD = os.environ.get("CTR_BUILD_DIR", os.path.join(runs.REPO, "build"))
SCALES, LENGTHS, SEEDS = (1.0, 10.0), (8, 16), (0, 1)


def wilson(k, n, z=1.959964):
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def make_sweep(directory):
    """The sweep, by ctr-sweep when the build has it (returns "ctr-sweep"), else by
    synthetic_sweep (returns "synthetic")."""
    exe = os.path.join(BUILD, "ctr-sweep")
    if not os.path.exists(exe):
        os.makedirs(directory, exist_ok=True)
        synthetic_sweep(directory)
        return "synthetic"
    spec = os.path.join(os.path.dirname(directory), "tiny-sweep.yaml")
    with open(spec, "w") as f:
        f.write(f"config: {os.path.join(runs.REPO, 'configs', 'theorem71.yaml')}\n"
                f"grid:\n  model.init_tag_scale: [{', '.join(f'{v:.1f}' for v in SCALES)}]\n"
                f"  task.seq_len: [{', '.join(map(str, LENGTHS))}]\n"
                f"seeds: {SEEDS[0]}..{SEEDS[-1]}\n")
    p = subprocess.run([exe, spec, "--out", directory, "--jobs", "1", "--quiet"], capture_output=True, text=True,
                       env=dict(os.environ, OMP_NUM_THREADS="1"))
    if p.returncode != 0:
        raise RuntimeError(f"ctr-sweep failed ({p.returncode}): {p.stderr}")
    return "ctr-sweep"


def synthetic_sweep(directory):
    """Runs of the grid and an index.csv with the documented columns."""
    rows = []
    for scale in SCALES:
        for length in LENGTHS:
            point = f"model.init_tag_scale={scale:g},task.seq_len={length}"
            for seed in SEEDS:
                rel = os.path.join("runs", f"s{scale:g}-T{length}-seed{seed}.h5")
                path = os.path.join(directory, rel)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                subprocess.run([runs.CTR_TRAIN, os.path.join(runs.REPO, "configs/theorem71.yaml"), "--seed",
                                str(seed), "--out", path, "--quiet", "--set", f"model.init_tag_scale={scale}",
                                "--set", f"task.seq_len={length}"], check=True, stdout=subprocess.DEVNULL)
                with h5py.File(path, "r") as f:
                    v = {k: (x.decode() if isinstance(x, bytes) else x) for k, x in f["verdict"].attrs.items()}
                    status = f.attrs["status"]
                    status = status.decode() if isinstance(status, bytes) else status
                row = {"point": point, "model.init_tag_scale": scale, "task.seq_len": length, "seed": seed,
                       "path": rel, "status": status}
                for k in ("success", "solved", "mechanism", "rel_error", "catch", "release", "tag_separation",
                          "catch_step", "tag_step", "release_step", "solved_step"):
                    row[k] = v.get(k, -1)
                rows.append(row)
    pd.DataFrame(rows).to_csv(os.path.join(directory, "index.csv"), index=False)


class Sweep(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = os.path.join(tempfile.mkdtemp(dir=runs.tmpdir(), prefix="sweep-"), "tiny")
        cls.made_by = make_sweep(cls.dir)
        cls.df = ctr.load_sweep(cls.dir)

    @classmethod
    def tearDownClass(cls):
        plt.close("all")

    def test_both_outcomes_present(self):
        self.assertEqual(len(self.df), 8)
        self.assertEqual(set(self.df["success"]), {0, 1})  # else the figures test little
        self.assertEqual(ctr.plot.sweep_figures.swept_keys(self.df), ["model.init_tag_scale", "task.seq_len"])

    def test_rate_and_wilson_interval_per_swept_value(self):
        fig = ctr.plot.rate_figure(self.df)
        for key, values in (("model.init_tag_scale", SCALES), ("task.seq_len", LENGTHS)):
            line = artists(fig, f"rate:{key}")[f"rate:{key}"]
            segments = artists(fig, f"interval:{key}")[f"interval:{key}"]
            want_rate, want_lo, want_hi = [], [], []
            for v in values:
                rows = self.df[self.df[key] == v]
                k, n = int((rows["success"] == 1).sum()), len(rows)
                lo, hi = wilson(k, n)
                want_rate.append(k / n)
                want_lo.append(lo)
                want_hi.append(hi)
            np.testing.assert_allclose(line.get_ydata(), want_rate)
            ends = np.array([seg[:, 1] for seg in segments.get_segments()])
            np.testing.assert_allclose(ends[:, 0], want_lo, atol=1e-12)
            np.testing.assert_allclose(ends[:, 1], want_hi, atol=1e-12)

    def test_emergence_step_distributions(self):
        fig = ctr.plot.steps_figure(self.df)
        dots = artists(fig, "steps:")
        for point in set(self.df["point"]):
            rows = self.df[self.df["point"] == point]
            for col in ("catch_step", "solved_step"):
                want = sorted(s for s in rows[col] if s >= 0)
                got = sorted(dots[f"steps:{col}:{point}"].get_offsets()[:, 1])
                self.assertEqual(got, want)

    def test_curves_are_the_runs_files_in_two_colours(self):
        fig = ctr.plot.curves_figure(self.df)
        curves = artists(fig, "curve:")
        colours = {}
        for _, row in self.df.iterrows():
            line = curves[f"curve:eval_rel_error:{row['path']}"]
            np.testing.assert_array_equal(line.get_ydata(), h5(row["path"], "metrics/eval_rel_error"))
            np.testing.assert_array_equal(curves[f"curve:catch:{row['path']}"].get_ydata(),
                                          h5(row["path"], "snapshots/headline/catch"))
            colours.setdefault(row["success"], set()).add(line.get_color())
        self.assertEqual(len(colours[0]), 1)
        self.assertEqual(len(colours[1]), 1)
        self.assertNotEqual(colours[0], colours[1])

    def test_rate_heatmap_over_two_keys(self):
        fig = ctr.plot.heatmap_figure(self.df)
        im = artists(fig, "heatmap:")["heatmap:model.init_tag_scale:task.seq_len"]
        grid = im.get_array()
        for i, length in enumerate(LENGTHS):
            for j, scale in enumerate(SCALES):
                rows = self.df[(self.df["model.init_tag_scale"] == scale) & (self.df["task.seq_len"] == length)]
                self.assertEqual(grid[i, j], (rows["success"] == 1).mean())

    def test_no_text_is_cut(self):
        for f in (ctr.plot.rate_figure, ctr.plot.steps_figure, ctr.plot.curves_figure, ctr.plot.heatmap_figure):
            with self.subTest(figure=f.__name__):
                self.assertEqual(texts_outside(f(self.df)), [])

    def test_command_writes_every_figure(self):
        out = tempfile.mkdtemp(dir=runs.tmpdir())
        self.assertEqual(ctr.plot.main(["sweep", self.dir, "--out", out]), 0)
        self.assertEqual(sorted(os.listdir(out)),
                         ["sweep-curves.png", "sweep-heatmap.png", "sweep-rate.png", "sweep-steps.png"])

    def test_a_missing_run_file_is_refused_naming_it(self):
        # the index alone, away from its run files: exit 2 naming the file (docs/plots.md)
        moved = tempfile.mkdtemp(dir=runs.tmpdir())
        shutil.copy(os.path.join(self.dir, "index.csv"), moved)
        first = ctr.load_sweep(moved).query("status == 'complete'")["path"].iloc[0]
        with contextlib.redirect_stderr(io.StringIO()) as err, contextlib.redirect_stdout(io.StringIO()):
            code = ctr.plot.main(["sweep", moved])
        self.assertEqual(code, 2, err.getvalue())
        self.assertIn(f"{first}: no such file", err.getvalue())
        # without the curves no run file is opened
        with contextlib.redirect_stdout(io.StringIO()):
            self.assertEqual(ctr.plot.main(["sweep", moved, "--no-curves"]), 0)


class Compare(unittest.TestCase):
    def test_runs_on_shared_axes(self):
        paths = [runs.make_run("configs/minimal.yaml", s, 40) for s in (0, 4)]
        fig = ctr.plot.compare_figure([ctr.load_run(p) for p in paths])
        curves = artists(fig, "curve:")
        for n, p in enumerate(paths):
            np.testing.assert_array_equal(curves[f"curve:eval_rel_error:{n}"].get_ydata(),
                                          h5(p, "metrics/eval_rel_error"))
            np.testing.assert_array_equal(curves[f"curve:catch:{n}"].get_xdata(), h5(p, "snapshots/step"))
            np.testing.assert_array_equal(curves[f"curve:catch:{n}"].get_ydata(), h5(p, "snapshots/headline/catch"))
        self.assertIs(curves["curve:catch:0"].axes, curves["curve:catch:1"].axes)
        out = tempfile.mkdtemp(dir=runs.tmpdir())
        self.assertEqual(ctr.plot.main(["compare", *paths, "--out", out, "--name", "two"]), 0)
        self.assertTrue(os.path.exists(os.path.join(out, "two.png")))
        plt.close("all")
