"""ctr-plot as a command: every figure of every config in configs/ is written (also the
0-step Theorem 7.1 run, a run with log.snapshots false and a run still being written),
and bad input gives exit 2 with the cause."""
import glob
import io
import os
import signal
import subprocess
import tempfile
import time
import unittest
from contextlib import redirect_stderr, redirect_stdout

import h5py
from PIL import Image

import runs
import ctr.plot

BUILD = os.environ.get("CTR_BUILD_DIR", os.path.join(runs.REPO, "build"))
CTR_PLOT = os.path.join(BUILD, "ctr-plot")
RUN_FIGURES = ["emergence", "attention", "attention-mean", "residual", "causal"]


def plot(*args):
    """ctr.plot.main in this process (no interpreter start-up): (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = ctr.plot.main(list(args))
        except SystemExit as e:
            code = e.code
    return code, out.getvalue(), err.getvalue()


def assert_image(test, path, fmt="png"):
    test.assertTrue(os.path.exists(path), path)
    if fmt == "png":
        with Image.open(path) as im:
            test.assertEqual(im.format, "PNG")
            w, h = im.size
            test.assertGreater(w, 300)
            test.assertGreater(h, 200)


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


class RunBeingWritten(unittest.TestCase):
    def test_plots_a_running_run(self):
        path = os.path.join(runs.tmpdir(), "live.h5")
        proc = subprocess.Popen([runs.CTR_TRAIN, os.path.join(runs.REPO, "configs/minimal.yaml"), "--seed", "4",
                                 "--out", path, "--set", "train.steps=1000000", "--quiet"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=dict(os.environ, OMP_NUM_THREADS="1"))
        try:
            deadline = time.time() + 60
            while time.time() < deadline:  # until a few metrics rows are flushed
                try:
                    with h5py.File(path, "r", locking=False) as f:
                        if f["metrics/step"].shape[0] >= 3:
                            break
                except (OSError, KeyError):
                    pass
                time.sleep(0.1)
            out = tempfile.mkdtemp(dir=runs.tmpdir())
            for attempt in range(5):  # a read overlapping a flush can fail: re-open (docs/hdf5-layout.md)
                code, stdout, err = plot("run", path, "--out", out, "--no-movie")
                if code == 0:
                    break
            self.assertEqual(code, 0, err)
            self.assertIsNone(proc.poll(), "the run should still be going")
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
        for fig in RUN_FIGURES[:-1]:
            assert_image(self, os.path.join(out, f"live-{fig}.png"))
        self.assertFalse(os.path.exists(os.path.join(out, "live-causal.png")))
        self.assertIn("no verdict yet (status running)", err)


class Command(unittest.TestCase):
    def test_wrapper_runs_with_debians_python(self):
        self.assertTrue(os.access(CTR_PLOT, os.X_OK), CTR_PLOT)
        path = runs.make_run("configs/minimal.yaml", 4, 30, name="cmd")
        out = tempfile.mkdtemp(dir=runs.tmpdir())
        p = subprocess.run([CTR_PLOT, "run", path, "--out", out, "--no-movie", "--format", "pdf"],
                           capture_output=True, text=True, cwd="/")
        self.assertEqual(p.returncode, 0, p.stderr)
        for fig in RUN_FIGURES:
            self.assertTrue(os.path.exists(os.path.join(out, f"cmd-{fig}.pdf")), fig)
        help_ = subprocess.run([CTR_PLOT, "--help"], capture_output=True, text=True)
        self.assertEqual(help_.returncode, 0)
        for word in ("run", "sweep", "compare"):
            self.assertIn(word, help_.stdout)

    def test_default_out_is_the_run_files_directory(self):
        src = runs.make_run("configs/minimal.yaml", 4, 30, name="cmd")
        d = tempfile.mkdtemp(dir=runs.tmpdir())
        path = os.path.join(d, "here.h5")
        os.link(src, path)
        code, stdout, err = plot("run", path, "--no-movie")
        self.assertEqual(code, 0, err)
        self.assertTrue(os.path.exists(os.path.join(d, "here-emergence.png")))

    def test_bad_input_exits_2_naming_the_cause(self):
        code, _, err = plot("run", "/nonexistent/run.h5")
        self.assertEqual(code, 2)
        self.assertIn("/nonexistent/run.h5: no such file", err)
        notrun = os.path.join(runs.tmpdir(), "not-a-run.h5")
        with h5py.File(notrun, "w") as f:
            f["x"] = 1
        code, _, err = plot("run", notrun)
        self.assertEqual(code, 2)
        self.assertIn("not a ctr run file", err)
        text = os.path.join(runs.tmpdir(), "text.h5")
        with open(text, "w") as f:
            f.write("hello")
        code, _, err = plot("run", text)
        self.assertEqual(code, 2)
        self.assertIn("cannot read it as a ctr run file", err)
        path = runs.make_run("configs/minimal.yaml", 4, 30, name="cmd")
        code, _, err = plot("run", path, "--seq", "99")
        self.assertEqual(code, 2)
        self.assertIn("--seq 99: the probe batch has sequences 0..15", err)
        code, _, err = plot("run", path, "--format", "jpg")
        self.assertEqual(code, 2)
        self.assertIn("invalid choice: 'jpg'", err)
        code, _, err = plot("sweep", runs.tmpdir())
        self.assertEqual(code, 2)
        self.assertIn("index.csv", err)
