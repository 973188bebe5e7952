"""A movie of a run: the attention of every layer and head on one probe sequence and the
residual stream after every layer, at every snapshot, with the step and the current
error in the frame and a cursor on the error curve. GIF through Pillow; MP4 through
ffmpeg when it is installed."""
import shutil
import subprocess

import numpy as np
from PIL import Image

from . import arrays, style
from .run_figures import GROUPS, _heads, _mark_tokens, residual_layers, run_name, step_axis
from .style import COLOURS


class Movie:
    """The movie's figure; frame(i) draws snapshot i (its artists then hold that
    snapshot's data, which the tests check) and returns it as an RGB array."""

    @style.paper
    def __init__(self, run, seq=0, dpi=90):
        self.run, self.seq, self.dpi = run, seq, dpi
        self.steps = run.snapshots["step"].values
        if self.steps.size == 0:
            raise ValueError(f"{run.path} has no snapshots (log.snapshots is false): nothing to animate")
        self.heads = _heads(run)
        self.names = residual_layers(run)
        ncols = max(len(self.heads), len(self.names))
        self.fig = style.figure(min(style.TEXT_WIDTH, max(5.0, 1.9 * ncols + 1.2)), 5.4)
        grid = self.fig.add_gridspec(3, ncols, height_ratios=[1, 1, 0.55])
        self.groups = arrays.token_groups(run.probe["kind"].values, run.probe["sep_pos"].values)
        sep = int(run.probe["sep_pos"].values[seq])
        marks = {sep: "[SEP]"}
        for p in np.flatnonzero(run.probe["kind"].values[seq] == arrays.K_BOS):
            marks[int(p)] = "[BOS]"
        T = run.config["task"]["seq_len"]
        self.images = []
        for c, (l, h) in enumerate(self.heads):
            ax = self.fig.add_subplot(grid[0, c])
            im = ax.imshow(np.zeros((T, T)), vmin=0, vmax=1, cmap=style.CMAP_ATTENTION, interpolation="nearest")
            im.set_gid(f"attention:{l}:{h}")
            _mark_tokens(ax, marks, T)
            ax.set_title(f"attention L{l} H{h}")
            ax.set_xlabel("key")
            ax.set_ylabel("query")
            self.images.append(im)
        self.fig.colorbar(self.images[-1], ax=self.fig.axes, shrink=0.9, label="attention weight", aspect=20)
        self.resid_axes, self.scatters, self.bases = [], [], [None] * len(self.names)
        for c, name in enumerate(self.names):
            ax = self.fig.add_subplot(grid[1, c])
            sc = {}
            for g, label, marker, size in GROUPS:
                if self.groups[g].any():
                    sc[g] = ax.scatter(np.zeros(self.groups[g].sum()), np.zeros(self.groups[g].sum()), s=size,
                                       marker=marker, color=COLOURS[g], label=label, linewidths=0, zorder=3,
                                       gid=f"resid:{name}:{g}")
            ax.set_title(f"residual after layer {c}")
            self.resid_axes.append(ax)
            self.scatters.append(sc)
        self.resid_axes[0].legend(fontsize=5, loc="best", markerscale=0.8)
        self.curve_ax = self.fig.add_subplot(grid[2, :])
        h = run.headline
        key = "probe_rel_error" if "probe_rel_error" in h else None
        if key:
            self.error = h[key].values
            self.curve_ax.plot(self.steps, self.error, color=COLOURS["solved"], gid="curve:probe_rel_error")
            if np.any(self.error > 0):
                self.curve_ax.set_yscale("log")
        else:
            self.error = np.full(self.steps.size, np.nan)
        self.curve_ax.set_ylabel("probe rel. error")
        self.curve_ax.set_xlabel("step")
        step_axis(self.curve_ax, int(self.steps[-1]))
        self.cursor = self.curve_ax.axvline(self.steps[0], color=COLOURS["sep"], lw=1, gid="cursor")
        self.title = self.fig.suptitle("")
        # lay the figure out once, on the first frame, so the panels do not jump between frames
        self.frame(0)
        self.fig.set_layout_engine("none")

    def __len__(self):
        return self.steps.size

    @style.paper
    def frame(self, i):
        """Draws snapshot i; returns the frame as an RGB uint8 array [height, width, 3]."""
        run, step = self.run, int(self.steps[i])
        for im, (l, h) in zip(self.images, self.heads):
            im.set_data(run.snapshots[f"blocks.{l}.attn.hook_pattern"].values[i, self.seq, h])
        for c, name in enumerate(self.names):
            coords, (xl, yl), basis = arrays.residual_plane(run.snapshots[name].values[i], self.bases[c])
            self.bases[c] = basis
            for g, sc in self.scatters[c].items():
                sc.set_offsets(coords[self.groups[g]])
            ax = self.resid_axes[c]
            lo, hi = coords.reshape(-1, 2).min(0), coords.reshape(-1, 2).max(0)
            pad = np.maximum((hi - lo) * 0.08, 1e-6)
            ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
            ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
            ax.set_xlabel(xl, fontsize=6)
            ax.set_ylabel(yl, fontsize=6)
        self.cursor.set_xdata([step, step])
        err = self.error[i]
        headline = run.headline
        extra = ""
        if "catch" in headline and "release" in headline:
            extra = f"   catch {headline['catch'].values[i]:.2f}   release {headline['release'].values[i]:.2f}"
        self.title.set_text(f"{run_name(run)}\nstep {step}   probe rel. error {err:.3g}{extra}")
        self.fig.canvas.draw()
        return np.asarray(self.fig.canvas.buffer_rgba())[..., :3].copy()


def write_movie(run, gif_path, mp4_path=None, seq=0, fps=8):
    """Writes the movie as a GIF (and as an MP4 when mp4_path is given and ffmpeg is on
    the PATH). Returns the paths written."""
    m = Movie(run, seq=seq)
    m.fig.set_dpi(m.dpi)
    frames = [m.frame(i) for i in range(len(m))]
    written = []
    # One palette for every frame (from the first and last frames side by side): then
    # the GIF encoder stores only the part of each frame that changed, several times smaller.
    both = Image.fromarray(np.concatenate([frames[0], frames[-1]], axis=1))
    palette = both.quantize(colors=255, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    images = [Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
    # the last frame is held for a second so the end state can be seen
    durations = [int(1000 / fps)] * (len(images) - 1) + [1000]
    images[0].save(gif_path, save_all=True, append_images=images[1:], duration=durations, loop=0, optimize=False)
    written.append(gif_path)
    ffmpeg = shutil.which("ffmpeg")
    if mp4_path and ffmpeg:
        h, w, _ = frames[0].shape
        cmd = [ffmpeg, "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
               "-r", str(fps), "-i", "-", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2:color=white",
               "-pix_fmt", "yuv420p", "-c:v", "libx264", "-movflags", "+faststart", mp4_path]
        proc = subprocess.run(cmd, input=b"".join(f.tobytes() for f in frames), capture_output=True)
        if proc.returncode != 0:
            raise OSError(f"ffmpeg failed writing {mp4_path}: {proc.stderr.decode(errors='replace').strip()}")
        written.append(mp4_path)
    import matplotlib.pyplot as plt
    plt.close(m.fig)
    return written
