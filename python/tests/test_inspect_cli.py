"""ctr-inspect over many files, --json and --csv, read back with json and pandas and
checked against load_run of the same files."""
import io
import json
import os
import subprocess
import unittest

import pandas as pd

import runs
import ctr

INSPECT = os.path.join(os.path.dirname(runs.CTR_TRAIN), "ctr-inspect")


def inspect(*args):
    return subprocess.run([INSPECT, *args], capture_output=True, text=True)


class InspectManyFiles(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.solved = runs.make_run(*runs.SOLVING[:3])
        cls.stalled = runs.make_run(seed=0, steps=300)
        cls.blind = runs.make_run(*runs.SOLVING[:3], sets=("log.snapshots=false",))
        cls.paths = [cls.solved, cls.stalled, cls.blind]

    def test_json_matches_the_files(self):
        r = inspect("--json", *self.paths)
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = json.loads(r.stdout)
        self.assertEqual([row["path"] for row in rows], self.paths)
        for row, path in zip(rows, self.paths):
            run = ctr.load_run(path, activations=False)
            self.assertIsNone(row["error"])
            self.assertEqual(row["status"], "complete")
            self.assertEqual(row["seed"], str(run.attrs["seed"]))
            self.assertEqual(row["success"], run.verdict["success"])
            self.assertEqual(row["eval_rel_error"], float(run.metrics.eval_rel_error[-1]))
            self.assertEqual(row["tag_lda"], run.verdict["tag_lda"])
            for name, e in run.emergence.items():
                self.assertEqual(row[f"{name}_first_step"], e["first"], name)
                self.assertEqual(row[f"{name}_held_from_step"], e["held_from"], name)
                self.assertEqual(row[f"{name}_switches"], e["switches"], name)
        solved, stalled, blind = rows
        self.assertEqual(solved["mechanism_emergence"], "held")
        self.assertEqual(stalled["catch_emergence"], "never")
        self.assertEqual(blind["catch_emergence"], "not measured")
        self.assertEqual(blind["solved_emergence"], "held")

    def test_csv_has_the_same_rows(self):
        r = inspect("--csv", *self.paths)
        self.assertEqual(r.returncode, 0, r.stderr)
        df = pd.read_csv(io.StringIO(r.stdout), float_precision="round_trip")
        rows = json.loads(inspect("--json", *self.paths).stdout)
        self.assertEqual(list(df.columns), list(rows[0]))
        self.assertEqual(len(df), 3)
        for i, row in enumerate(rows):
            self.assertEqual(df.success[i], row["success"])
            self.assertEqual(df.eval_rel_error[i], row["eval_rel_error"])
            self.assertEqual(df.summary[i], row["summary"])
            self.assertEqual(df.command_line[i], row["command_line"])

    def test_a_bad_file_is_reported_and_the_others_printed(self):
        missing = os.path.join(runs.tmpdir(), "missing.h5")
        r = inspect("--json", self.solved, missing)
        self.assertEqual(r.returncode, 2)
        self.assertIn("does not exist", r.stderr)
        rows = json.loads(r.stdout)
        self.assertIsNone(rows[0]["error"])
        self.assertIn("does not exist", rows[1]["error"])
        self.assertIsNone(rows[1]["status"])

    def test_quiet_prints_one_line_per_run(self):
        r = inspect("--quiet", *self.paths)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 3)
        self.assertTrue(lines[0].startswith(self.solved + ": complete; success"))
        self.assertIn("stalled before catch", lines[1])
        self.assertIn("mechanism not measured", lines[2])

    def test_text_and_help(self):
        r = inspect(*self.paths[:2])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.count("verdict: "), 2)
        self.assertIn("emergence: catch held from step", r.stdout)
        self.assertIn("emergence: catch never", r.stdout)
        h = inspect("--help")
        self.assertEqual(h.returncode, 0)
        for words in ("--json", "--csv", "--quiet", "Exit status", "held / lost / never / not measured"):
            self.assertIn(words, h.stdout)
        self.assertEqual(inspect("--json", "--csv", self.solved).returncode, 2)


if __name__ == "__main__":
    unittest.main()
