"""Reading a ctr-sweep directory's index (docs/sweeps.md) into pandas."""
import os

import pandas as pd


def load_sweep(directory):
    """The run table of a sweep, DIR/index.csv, as a pandas DataFrame: one row per
    run (its point, the swept keys' values, seed, path, status, verdict, emergence
    steps, ...; the columns are documented in docs/sweeps.md). `path` is made absolute
    (relative to DIR) so that load_run(df.path[i]) works from anywhere.
    directory may also be the index.csv file itself."""
    path = directory
    if os.path.isdir(directory):
        path = os.path.join(directory, "index.csv")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no sweep index (ctr-sweep writes DIR/index.csv; "
                                f"`ctr-sweep collect DIR` rebuilds it from the run files)")
    df = pd.read_csv(path)
    base = os.path.dirname(os.path.abspath(path))
    if "path" in df.columns:
        df["path"] = [p if not isinstance(p, str) or os.path.isabs(p) else os.path.normpath(os.path.join(base, p))
                      for p in df["path"]]
    return df
