"""ctr-plot run on every config in configs/ (also the 0-step Theorem 7.1 run) and on a
run with log.snapshots false: every figure is written."""
import glob
import os
import tempfile
import unittest

import h5py
from PIL import Image

import runs
from test_plot_cli import RUN_FIGURES, assert_image, plot


class EveryConfig(unittest.TestCase):
    def test_every_config_plots(self):
        for config in sorted(glob.glob(os.path.join(runs.REPO, "configs", "*.yaml"))):
            name = os.path.splitext(os.path.basename(config))[0]
            with self.subTest(config=name):
                steps = None if name == "theorem71" else 30  # theorem71: its own 0 steps
                path = runs.make_run(os.path.relpath(config, runs.REPO), 1, steps, name=f"cfg-{name}")
                out = tempfile.mkdtemp(dir=runs.tmpdir())
                code, stdout, err = plot("run", path, "--out", out, "--no-movie")
                self.assertEqual(code, 0, err)
                for fig in RUN_FIGURES:
                    assert_image(self, os.path.join(out, f"cfg-{name}-{fig}.png"))
                self.assertEqual(len(stdout.split()), len(RUN_FIGURES))

    def test_theorem71_zero_steps_with_movie(self):
        path = runs.make_run("configs/theorem71.yaml", 0, None, name="thm")
        with h5py.File(path, "r") as f:
            self.assertEqual(list(f["snapshots/step"][:]), [0])
        out = tempfile.mkdtemp(dir=runs.tmpdir())
        code, stdout, err = plot("run", path, "--out", out, "--format", "svg")
        self.assertEqual(code, 0, err)
        for fig in RUN_FIGURES:
            assert_image(self, os.path.join(out, f"thm-{fig}.svg"), "svg")
        with Image.open(os.path.join(out, "thm-movie.gif")) as gif:
            self.assertEqual(gif.n_frames, 1)

    def test_no_snapshots(self):
        path = runs.make_run("configs/minimal.yaml", 4, 100, sets=("log.snapshots=false",), name="nosnap")
        out = tempfile.mkdtemp(dir=runs.tmpdir())
        code, stdout, err = plot("run", path, "--out", out)
        self.assertEqual(code, 0, err)
        self.assertEqual(sorted(os.listdir(out)), ["nosnap-causal.png", "nosnap-emergence.png"])
        self.assertIn("no snapshots (log.snapshots: false)", err)
