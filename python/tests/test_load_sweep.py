"""load_sweep: a sweep directory's index as a pandas DataFrame."""
import os
import unittest

import runs
import ctr


class LoadSweep(unittest.TestCase):
    def test_missing_index_says_what_to_do(self):
        with self.assertRaisesRegex(FileNotFoundError, r"no sweep index.*ctr-sweep collect"):
            ctr.load_sweep(runs.tmpdir())

    def test_paths_become_absolute(self):
        d = os.path.join(runs.tmpdir(), "sweep-by-hand")
        os.makedirs(d, exist_ok=True)
        run = runs.make_run(*runs.SOLVING[:3])
        with open(os.path.join(d, "index.csv"), "w") as f:
            f.write("seed,path,success\n4,%s,true\n" % os.path.relpath(run, d))
        df = ctr.load_sweep(d)
        self.assertEqual(list(df.columns), ["seed", "path", "success"])
        self.assertEqual(df.path[0], run)
        self.assertIs(bool(df.success[0]), True)
        self.assertEqual(ctr.load_run(df.path[0]).attrs["seed"], 4)


if __name__ == "__main__":
    unittest.main()
