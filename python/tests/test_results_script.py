"""scripts/results.py (docs/results.md): the Wilson interval it reports, the way it
rewrites the page's generated blocks without touching the prose around them, and the
whole analysis on tiny sweeps made by the built ctr-sweep."""
import importlib.util
import io
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from contextlib import redirect_stderr, redirect_stdout

import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("results", os.path.join(HERE, "..", "..", "scripts", "results.py"))
results = importlib.util.module_from_spec(spec)
spec.loader.exec_module(results)


class Wilson(unittest.TestCase):
    def test_known_values(self):
        # 16 of 30: 53%, 36-70% (worked by hand from the formula: 0.3614, 0.6977)
        lo, hi = results.wilson(16, 30)
        self.assertAlmostEqual(lo, 0.3614, places=4)
        self.assertAlmostEqual(hi, 0.6977, places=4)

    def test_ends_are_exact(self):
        self.assertEqual(results.wilson(0, 20)[0], 0.0)
        self.assertEqual(results.wilson(20, 20)[1], 1.0)
        self.assertAlmostEqual(results.wilson(20, 20)[0], 0.8389, places=4)


class Blocks(unittest.TestCase):
    def test_replaces_only_the_blocks(self):
        d = tempfile.mkdtemp()
        page_path = os.path.join(d, "results.md")
        with open(page_path, "w") as f:
            f.write("intro 1 of 10\n<!-- BEGIN a -->\nold\nlines\n<!-- END a -->\nmiddle\n"
                    "<!-- BEGIN b -->\n<!-- END b -->\nend\n")
        page = results.Page(d)
        page.put("a", "new A")
        page.put("b", "| x |\n|---|\n| 1 |")
        page.put("c", "no such block")
        err = io.StringIO()
        with redirect_stderr(err):
            page.write()
        self.assertEqual(open(page_path).read(),
                         "intro 1 of 10\n<!-- BEGIN a -->\nnew A\n<!-- END a -->\nmiddle\n"
                         "<!-- BEGIN b -->\n| x |\n|---|\n| 1 |\n<!-- END b -->\nend\n")
        self.assertIn("no block 'c'", err.getvalue())


REPO = os.path.join(HERE, "..", "..")
BUILD = os.environ.get("CTR_BUILD_DIR", os.path.join(REPO, "build"))


def sweep(runs, name, file, *args):
    """A tiny sweep of configs/sweeps/results/FILE.yaml into RUNS/NAME."""
    cmd = [os.path.join(BUILD, "ctr-sweep"), os.path.join(REPO, "configs", "sweeps", "results", file + ".yaml"),
           "--out", os.path.join(runs, name), "--jobs", "2", "--quiet", *args]
    p = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    if p.returncode != 0:
        raise RuntimeError(f"ctr-sweep failed ({p.returncode}): {p.stderr}")


def call(fn, *args):
    out = io.StringIO()
    with redirect_stdout(out):
        fn(*args)
    return out.getvalue().strip()


@unittest.skipUnless(os.path.exists(os.path.join(BUILD, "ctr-sweep")), "needs the built ctr-sweep")
class TinySweeps(unittest.TestCase):
    """Seeds 3..6 of the paper's setting (4 and 5 succeed, 3 and 6 do not; README), a
    [BOS] phase point on seeds 3..5 (all three succeed), seed 4 trained 60 epochs with
    both schedules, seed 3 trained 60 epochs: the planning helpers results.sh calls and
    every block of the page."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ctr-results-")
        cls.runs = os.path.join(cls.tmp, "runs")
        sweep(cls.runs, "paper", "paper", "--seeds", "3..6")
        sweep(cls.runs, "phase-bos", "phase-bos", "--seeds", "3..5")
        sweep(cls.runs, "lasting", "lasting", "--seeds", "4", "--set", "train.epochs=60")
        sweep(cls.runs, "long-failed", "long-failed", "--seeds", "3", "--set", "train.epochs=60")
        with open(os.path.join(cls.runs, "timings.tsv"), "w") as f:
            f.write("paper\t30.0\t53.0\t1.0\t3.5\t4.0\t--seeds 3..6\n"
                    "phase-bos\t10.0\t8.0\t1.0\t4.0\t2.0\t\n")
        cls.docs = os.path.join(cls.tmp, "docs")
        os.makedirs(cls.docs)
        shutil.copy(os.path.join(REPO, "docs", "results.md"), cls.docs)
        argv = sys.argv
        sys.argv = ["results.py", "--runs", cls.runs, "--docs", cls.docs]
        try:
            err = io.StringIO()
            with redirect_stderr(err):
                results.main()
        finally:
            sys.argv = argv
        cls.page = open(os.path.join(cls.docs, "results.md")).read()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, True)

    def block(self, name):
        a = self.page.index(f"<!-- BEGIN {name} -->")
        return self.page[a:self.page.index(f"<!-- END {name} -->", a)]

    def test_seeds_for_the_later_sweeps(self):
        self.assertEqual(call(results.print_seeds, self.runs, "success", 5), "4,5")
        self.assertEqual(call(results.print_seeds, self.runs, "failure", 1), "3")

    def test_plans(self):
        # [BOS] (3/3) beats the paper setting on seeds 3..5 (2/3): the best setting, but
        # alone, so there is nothing to combine.
        self.assertEqual(call(results.plan_region, self.runs), "")
        self.assertEqual(call(results.plan_confirm, self.runs), "--set task.bos=true")

    def test_paper_block_counts_the_index(self):
        idx = pd.read_csv(os.path.join(self.runs, "paper", "index.csv"))
        k = int(idx.success.sum())
        self.assertEqual(k, 2)
        self.assertIn(f"| success (solved and mechanism) | {k}/4 | 50% | 15%-85% |", self.block("paper"))

    def test_phase_block_pairs_the_seeds(self):
        b = self.block("phase")
        self.assertIn("| paper setting, seeds 3..5 | 2/3 |", b)
        self.assertIn("| task.bos=true | 3/3 | 100% | 44%-100% |", b)

    def test_lasting_and_long_failed(self):
        b = self.block("lasting")
        self.assertIn("| constant | 1920 |", b)
        self.assertIn("| cosine | 1920 |", b)
        self.assertIn("(`long-failed`): ", b)

    def test_timings_sum_cpu(self):
        b = self.block("timings")
        self.assertIn("| `paper` | 4 | 1 | 0.5 | 0.9 | 4.0 |", b)
        self.assertIn("| total | 7 |  | 0.7 | 1.1 |  |", b)

    def test_every_block_written_and_figures_exist(self):
        self.assertNotIn("sweep not run_", self.block("paper") + self.block("phase") + self.block("causal"))
        for name in ("paper", "phase", "lasting", "causal"):
            self.assertTrue(os.path.exists(os.path.join(self.docs, "img", f"results-{name}.png")), name)


if __name__ == "__main__":
    unittest.main()
