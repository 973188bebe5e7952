"""scripts/results.py (docs/results.md): the Wilson interval it reports and the way it
rewrites the page's generated blocks without touching the prose around them."""
import importlib.util
import io
import os
import tempfile
import unittest
from contextlib import redirect_stderr

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


if __name__ == "__main__":
    unittest.main()
