"""ctr-plot as a command: a run still being written, the build's wrapper, the default
output directory, and bad input (exit 2 with the cause). Every config: test_plot_configs.py."""
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


class RunBeingWritten(unittest.TestCase):
    def test_plots_a_running_run(self):
        path = os.path.join(runs.tmpdir(), "live.h5")
        proc = subprocess.Popen([runs.CTR_TRAIN, os.path.join(runs.REPO, "configs/minimal.yaml"), "--seed", "4",
                                 "--out", path, "--set", "train.steps=1000000", "--quiet",
                                 "--max-file-size", "100G"],  # never meant to finish: past the default limit
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
            self.assertIsNone(proc.poll(), "the run should still be going")
            for attempt in range(5):
                # paused while we read, so it takes no CPU from the plotting; a pause in the
                # middle of a flush makes the read fail: let it go on a little and re-open
                # (docs/hdf5-layout.md)
                proc.send_signal(signal.SIGSTOP)
                code, stdout, err = plot("run", path, "--out", out, "--no-movie")
                proc.send_signal(signal.SIGCONT)
                if code == 0:
                    break
                time.sleep(0.05)
            self.assertEqual(code, 0, err)
            with h5py.File(path, "r", locking=False) as f:
                self.assertEqual(f.attrs["status"], "running")
        finally:
            proc.send_signal(signal.SIGCONT)
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
