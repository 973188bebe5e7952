"""Which snapshots a run's figures show: the start, the end, and the snapshots around
the steps where catch, tag, release and solved appeared (or were lost), so the window
in which the mechanism forms is never skipped (docs/plots.md, "Which snapshots")."""
import numpy as np

# The mechanism's events are those of catch and release together, already shown.
EVENT_NAMES = ("catch", "tag", "release", "solved")

MAX_COLUMNS = 7


def events(run):
    """[(step, label)] of the emergence events of a run: the first step each quantity
    held, the step it held from to the end (when later), and the step it was lost.
    Sorted by step; steps are as the run reports them (solved: a metrics step)."""
    out = []
    for name in EVENT_NAMES:
        e = run.emergence.get(name) or {}
        if not e.get("measured"):
            continue
        if e.get("first") is not None:
            out.append((int(e["first"]), f"{name}"))
        if e.get("held_from") is not None and e.get("first") is not None and e["held_from"] != e["first"]:
            out.append((int(e["held_from"]), f"{name} for good"))
        if e.get("lost") is not None:
            out.append((int(e["lost"]), f"{name} lost"))
    return sorted(out)


def _nearest(steps, step):
    return int(steps[np.argmin(np.abs(steps - step))])


def snapshot_steps(run, max_columns=MAX_COLUMNS):
    """[(step, label)] of the snapshots to draw, in step order, at most max_columns:

    - start: the first snapshot;
    - before: the last snapshot before the earliest emergence event, at least as far
      before it as the events span (so the picture shows the state before anything
      formed);
    - during: the snapshot nearest each emergence event (events at the same snapshot
      merged; at most max_columns - 4, keeping the earliest, the latest and evenly
      spaced ones between);
    - after: the first snapshot after the latest event by as much as `before` is before
      the earliest;
    - end: the last snapshot.
    Without any event (a run that stalled): the start, the end and snapshots evenly
    spaced in log(step) between them. Empty when the run has no snapshots."""
    steps = np.asarray(run.snapshots["step"].values, dtype=np.int64)
    if steps.size == 0:
        return []
    first, last = int(steps[0]), int(steps[-1])
    ev = [(s, lab) for s, lab in events(run) if first <= s <= last or s > last]
    chosen = {first: ["start"]}

    def add(step, label):
        chosen.setdefault(int(step), [])
        if label not in chosen[int(step)]:
            chosen[int(step)].append(label)

    if ev:
        during = {}
        for s, lab in ev:
            during.setdefault(_nearest(steps, s), []).append(lab)
        keys = sorted(during)
        room = max(1, max_columns - 4)
        if len(keys) > room:
            idx = np.unique(np.round(np.linspace(0, len(keys) - 1, room)).astype(int))
            keys = [keys[i] for i in idx]
        lo, hi = keys[0], keys[-1]
        gap = max(hi - lo, int(np.median(np.diff(steps))) if steps.size > 1 else 1, 1)
        earlier = steps[steps <= lo - gap]
        if earlier.size == 0:
            earlier = steps[steps < lo]
        if earlier.size:
            add(earlier[-1], "before")
        for k in keys:
            for lab in during[k]:
                add(k, lab)
        later = steps[steps >= hi + gap]
        if later.size == 0:
            later = steps[steps > hi]
        if later.size:
            add(later[0], "after")
    else:
        n = max(0, min(max_columns, steps.size) - 2)
        if n and last > first:
            grid = np.geomspace(max(first, 1), last, n + 2)[1:-1]
            for g in grid:
                add(_nearest(steps, g), "")
    add(last, "end")
    out = []
    for s in sorted(chosen):
        labels = [lab for lab in chosen[s] if lab]
        out.append((s, ", ".join(labels)))
    return out[:max_columns] if len(out) <= max_columns else _thin(out, max_columns)


def _thin(out, n):
    """Keeps the first, the last and the labelled-as-event columns first."""
    keep = {0, len(out) - 1}
    for i, (_, lab) in enumerate(out):
        if len(keep) >= n:
            break
        if lab and lab not in ("before", "after"):
            keep.add(i)
    for i, (_, lab) in enumerate(out):
        if len(keep) >= n:
            break
        keep.add(i)
    return [out[i] for i in sorted(keep)]
