"""Every ```python snippet of docs/analysis.md, docs/hdf5-layout.md and docs/plots.md runs, as
printed, on a real run of `ctr-train configs/minimal.yaml --seed 4` standing in for
runs/minimal-seed4.h5."""
import os
import re
import subprocess
import sys
import tempfile
import unittest

import runs

DOCS = [os.path.join(runs.REPO, "docs", name) for name in ("analysis.md", "hdf5-layout.md", "plots.md")]


def snippets(doc=DOCS[0]):
    with open(doc) as f:
        text = f.read()
    return re.findall(r"^```python\n(.*?)^```", text, re.S | re.M)


class DocSnippets(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(dir=runs.tmpdir())
        os.makedirs(os.path.join(cls.dir, "runs"))
        os.symlink(runs.make_run(seed=4, steps=None), os.path.join(cls.dir, "runs", "minimal-seed4.h5"))
        os.symlink(os.path.join(runs.REPO, "python"), os.path.join(cls.dir, "python"))

    def test_there_are_snippets(self):
        self.assertGreaterEqual(len(snippets(DOCS[0])), 5)
        self.assertGreaterEqual(len(snippets(DOCS[1])), 5)
        self.assertGreaterEqual(len(snippets(DOCS[2])), 1)

    def test_snippets_run(self):
        for doc in DOCS:
            for i, code in enumerate(snippets(doc)):
                with self.subTest(doc=os.path.basename(doc), snippet=i, first_line=code.splitlines()[0]):
                    r = subprocess.run([sys.executable, "-c", code], cwd=self.dir, capture_output=True, text=True,
                                       env=dict(os.environ, MPLBACKEND="Agg"))
                    self.assertEqual(r.returncode, 0, f"snippet {i} of {doc} failed:\n{code}\n{r.stderr}")
        # the figures the recipes save
        for png in ("attention-around-catch.png", "resid-over-training.png", "attention-seq3.pdf"):
            self.assertGreater(os.path.getsize(os.path.join(self.dir, png)), 1000)


if __name__ == "__main__":
    unittest.main()
