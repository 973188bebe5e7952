"""ctr-plot run: every figure is written, and what it draws is the run file's data
(the artists' arrays are compared with the datasets read by h5py)."""
import os
import unittest

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

import runs
from plot_checks import artists, h5, sep_aligned_mean_bruteforce, snapshot_index, texts_outside

import ctr
import ctr.plot

# Seed 4 of the paper's config: catch, tag, release and solved all appear between
# steps 500 and 600, so 650 steps hold the whole story.
STEPS = 650


class EmergenceFigure(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.path = runs.make_run("configs/minimal.yaml", 4, STEPS)
        cls.r = ctr.load_run(cls.path)
        cls.fig = ctr.plot.emergence_figure(cls.r)

    @classmethod
    def tearDownClass(cls):
        plt.close("all")

    def test_curves_are_the_files_series(self):
        curves = artists(self.fig, "curve:")
        for key, x, y in (("eval_loss", "metrics/step", "metrics/eval_loss"),
                          ("eval_rel_error", "metrics/step", "metrics/eval_rel_error"),
                          ("catch", "snapshots/step", "snapshots/headline/catch"),
                          ("release", "snapshots/step", "snapshots/headline/release"),
                          ("tag_separation", "snapshots/step", "snapshots/headline/tag_separation")):
            line = curves[f"curve:{key}"]
            np.testing.assert_array_equal(line.get_xdata(), h5(self.path, x), err_msg=key)
            np.testing.assert_array_equal(line.get_ydata(), h5(self.path, y), err_msg=key)

    def test_each_quantity_has_its_own_labelled_axis(self):
        labels = {ax.get_label(): ax.get_ylabel() for ax in self.fig.axes}
        for key in ("eval_loss", "eval_rel_error", "catch", "release", "tag_separation"):
            self.assertIn(key, labels)
            self.assertTrue(labels[key])
        curves = artists(self.fig, "curve:")
        for ax in self.fig.axes:  # one series per axis
            self.assertEqual(len([l for l in ax.lines if l.get_gid() in curves]), 1, ax.get_label())

    def test_emergence_steps_are_marked(self):
        events = artists(self.fig, "event:")
        for name in ("catch", "tag", "release", "solved"):
            first = self.r.emergence[name]["first"]
            self.assertIsNotNone(first, name)
            self.assertTrue(500 <= first <= 650, (name, first))
            line = events[f"event:{name}:first"]
            self.assertEqual(list(line.get_xdata()), [first, first])

    def test_thresholds_are_the_configs(self):
        t = artists(self.fig, "threshold:")
        a = self.r.config["analysis"]
        self.assertEqual(t["threshold:catch"].get_ydata()[0], a["catch_threshold"])
        self.assertEqual(t["threshold:eval_rel_error"].get_ydata()[0], a["success_rel_error"])
        self.assertEqual(t["threshold:tag_separation"].get_ydata()[0], a["tag_threshold"])

    def test_no_text_is_cut(self):
        self.assertEqual(texts_outside(self.fig), [])
        self.assertIn("success", self.fig._suptitle.get_text())  # the verdict summary, wrapped


class NothingCut(unittest.TestCase):
    def test_every_run_figure_keeps_its_texts_inside(self):
        for config, steps in (("configs/minimal.yaml", STEPS), ("configs/theorem71.yaml", None),
                              ("configs/wide.yaml", 40)):
            r = ctr.load_run(runs.make_run(config, 4, steps))
            for name, fig in (("attention", ctr.plot.attention_figure(r)),
                              ("mean", ctr.plot.attention_figure(r, mean=True)),
                              ("residual", ctr.plot.residual_figure(r)), ("causal", ctr.plot.causal_figure(r)),
                              ("emergence", ctr.plot.emergence_figure(r))):
                with self.subTest(config=config, figure=name):
                    self.assertEqual(texts_outside(fig), [])
                plt.close(fig)


class Snapshots(unittest.TestCase):
    def test_choice_brackets_the_emergence(self):
        run = ctr.load_run(runs.make_run("configs/minimal.yaml", 4, STEPS))
        chosen = ctr.plot.snapshot_steps(run)
        steps = [s for s, _ in chosen]
        all_steps = run.snapshots.step.values
        events = [s for s, _ in ctr.plot.events(run)]
        self.assertEqual(steps[0], all_steps[0])
        self.assertEqual(steps[-1], all_steps[-1])
        self.assertLessEqual(len(steps), 7)
        self.assertTrue(any(s < min(events) for s in steps[1:]), chosen)       # before
        self.assertTrue(any(min(events) <= s <= max(events) for s in steps), chosen)  # during
        self.assertTrue(any(max(events) < s < all_steps[-1] for s in steps), chosen)  # after
        labels = " ".join(lab for _, lab in chosen)
        for word in ("start", "before", "catch", "release", "after", "end"):
            self.assertIn(word, labels)


class AttentionAndResidual(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.path = runs.make_run("configs/minimal.yaml", 4, STEPS)
        cls.r = ctr.load_run(cls.path)
        cls.steps = ctr.plot.snapshot_steps(cls.r)
        cls.kind, cls.sep = h5(cls.path, "probe/kind"), h5(cls.path, "probe/sep_pos")

    @classmethod
    def tearDownClass(cls):
        plt.close("all")

    def test_sequence_patterns_are_the_files(self):
        seq = 3
        fig = ctr.plot.attention_figure(self.r, self.steps, seq=seq)
        images = artists(fig, "attention:")
        self.assertEqual(len(images), 2 * len(self.steps))
        for step, _ in self.steps:
            i = snapshot_index(self.path, step)
            for l in range(2):
                want = h5(self.path, f"snapshots/blocks.{l}.attn.hook_pattern")[i, seq, 0]
                np.testing.assert_array_equal(images[f"attention:{l}:0:{step}"].get_array(), want)
        # [SEP] is marked on both axes, at its position in this sequence
        ax = images[f"attention:0:0:{self.steps[0][0]}"].axes
        self.assertEqual(list(ax.get_xticks()), [self.sep[seq]])
        self.assertEqual(ax.get_xticklabels()[0].get_text(), "[SEP]")
        self.assertEqual(len(fig.axes), 2 * len(self.steps) + 1)  # + the colour bar

    def test_mean_patterns_are_sep_aligned_means_of_the_file(self):
        fig = ctr.plot.attention_figure(self.r, self.steps, mean=True)
        images = artists(fig, "attention:")
        for step in (self.steps[0][0], self.steps[-1][0]):
            i = snapshot_index(self.path, step)
            for l in range(2):
                pattern = h5(self.path, f"snapshots/blocks.{l}.attn.hook_pattern")[i, :, 0]
                want = sep_aligned_mean_bruteforce(pattern.astype(np.float64), self.sep)
                got = np.ma.filled(images[f"attention:{l}:0:{step}"].get_array().astype(np.float64), np.nan)
                np.testing.assert_allclose(got, want, rtol=1e-12, equal_nan=True)
        # once caught, the queries after [SEP] attend to it: offset 0 column near 1
        T = pattern.shape[-1]
        got = images[f"attention:0:0:{self.steps[-1][0]}"].get_array()
        self.assertGreater(np.nanmean(np.ma.filled(got, np.nan)[T:, T - 1]), 0.9)

    def test_residual_points_are_the_files(self):
        fig = ctr.plot.residual_figure(self.r, self.steps)
        pts = artists(fig, "resid:")
        pos = np.arange(self.kind.shape[1])[None, :]
        masks = {"before": (self.kind == 0) & (pos <= self.sep[:, None]),
                 "after": (self.kind == 0) & (pos > self.sep[:, None]), "sep": self.kind == 1}
        for step, _ in self.steps:
            i = snapshot_index(self.path, step)
            for l in range(2):
                name = f"blocks.{l}.hook_resid_post"
                resid = h5(self.path, f"snapshots/{name}")[i]
                for g, mask in masks.items():  # d_model 2: the plane itself
                    np.testing.assert_array_equal(pts[f"resid:{name}:{step}:{g}"].get_offsets(), resid[mask])
        self.assertNotIn(f"resid:blocks.0.hook_resid_post:{self.steps[0][0]}:bos", pts)  # no [BOS] here

    def test_causal_bars_are_the_verdicts(self):
        fig = ctr.plot.causal_figure(self.r)
        bars = [p.get_height() for p in fig.axes[0].patches]
        import h5py
        with h5py.File(self.path, "r") as f:
            want = [float(f["verdict"].attrs[k]) for k in ("clean_loss", "catch_ablated_loss", "tag_ablated_loss")]
        self.assertEqual(bars, want)


class OneLayerRun(unittest.TestCase):
    """One layer: no catch head, no causal tests (NaN in the verdict), so no causal figure."""

    def test_no_causal_figure(self):
        path = runs.make_run("configs/minimal.yaml", 0, 20, sets=("model.n_layers=1",))
        import h5py
        with h5py.File(path, "r") as f:
            self.assertEqual(int(f["verdict"].attrs["causal_layer"]), -1)
            self.assertTrue(np.isnan(float(f["verdict"].attrs["clean_loss"])))
        self.assertIsNone(ctr.plot.causal_figure(ctr.load_run(path)))


class WideRun(unittest.TestCase):
    """d_model 8, two heads: principal components of the residual, a row per head."""

    def test_pca_projection_and_heads(self):
        path = runs.make_run("configs/wide.yaml", 0, 60)
        run = ctr.load_run(path)
        steps = ctr.plot.snapshot_steps(run)
        att = artists(ctr.plot.attention_figure(run, steps), "attention:")
        self.assertEqual(len(att), 4 * len(steps))  # 2 layers x 2 heads
        i = snapshot_index(path, steps[-1][0])
        want = h5(path, "snapshots/blocks.1.attn.hook_pattern")[i, 0, 1]
        np.testing.assert_array_equal(att[f"attention:1:1:{steps[-1][0]}"].get_array(), want)

        pts = artists(ctr.plot.residual_figure(run, steps), "resid:")
        resid = h5(path, "snapshots/blocks.0.hook_resid_post")[i].astype(np.float64)   # (batch, pos, 8)
        flat = resid.reshape(-1, 8)
        centred = flat - flat.mean(0)
        _, s, vt = np.linalg.svd(centred, full_matrices=False)
        proj = (centred @ vt[:2].T).reshape(resid.shape[:2] + (2,))
        kind, sep = h5(path, "probe/kind"), h5(path, "probe/sep_pos")
        after = (kind == 0) & (np.arange(kind.shape[1])[None, :] > sep[:, None])
        got = pts[f"resid:blocks.0.hook_resid_post:{steps[-1][0]}:after"].get_offsets()
        # the same plane up to the sign of each component
        for c in range(2):
            self.assertTrue(np.allclose(got[:, c], proj[after][:, c], atol=1e-9)
                            or np.allclose(got[:, c], -proj[after][:, c], atol=1e-9))
        ax = pts[f"resid:blocks.0.hook_resid_post:{steps[-1][0]}:after"].axes
        self.assertIn(f"PC1 ({(s[0] ** 2 / (s ** 2).sum()):.0%})", ax.get_xlabel())
        plt.close("all")


class MovieFrames(unittest.TestCase):
    def test_frames_show_each_snapshot(self):
        path = runs.make_run("configs/minimal.yaml", 4, 24)
        run = ctr.load_run(path)
        out = os.path.join(runs.tmpdir(), "movie")
        os.makedirs(out, exist_ok=True)
        written = ctr.plot.write_movie(run, os.path.join(out, "m.gif"), os.path.join(out, "m.mp4"))
        n = len(h5(path, "snapshots/step"))
        with Image.open(written[0]) as gif:
            self.assertEqual(gif.n_frames, n)
        import shutil
        if shutil.which("ffmpeg"):
            self.assertEqual(written[1], os.path.join(out, "m.mp4"))
            self.assertGreater(os.path.getsize(written[1]), 1000)
            # One MP4 frame per snapshot, as in the GIF (ffprobe ships with ffmpeg).
            import subprocess
            frames = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                                     "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", written[1]],
                                    capture_output=True, text=True, check=True).stdout.strip()
            self.assertEqual(int(frames), n)
        m = ctr.plot.Movie(run, seq=2)
        i = n // 2
        m.frame(i)
        step = int(h5(path, "snapshots/step")[i])
        np.testing.assert_array_equal(artists(m.fig, "attention:1:0")["attention:1:0"].get_array(),
                                      h5(path, "snapshots/blocks.1.attn.hook_pattern")[i, 2, 0])
        kind, sep = h5(path, "probe/kind"), h5(path, "probe/sep_pos")
        after = (kind == 0) & (np.arange(kind.shape[1])[None, :] > sep[:, None])
        np.testing.assert_array_equal(
            artists(m.fig, "resid:blocks.1.hook_resid_post:after")["resid:blocks.1.hook_resid_post:after"].get_offsets(),
            h5(path, "snapshots/blocks.1.hook_resid_post")[i][after])
        self.assertEqual(list(artists(m.fig, "cursor")["cursor"].get_xdata()), [step, step])
        err = h5(path, "snapshots/headline/probe_rel_error")[i]
        self.assertIn(f"\nstep {step} ", m.title.get_text())
        self.assertIn(f"probe rel. error {err:.3g}", m.title.get_text())
        plt.close("all")
