"""Analysis of ctr run files in Python: xarray for series, pandas for sweeps, torch for
the model. Plain functions; docs/analysis.md has the API and recipes.

    import ctr
    run = ctr.load_run("runs/minimal-seed4.h5")
    run.metrics.eval_rel_error.plot()                    # xarray, dim step
    sd = ctr.state_dict(run, step=540)                   # torch tensors, TransformerLens names
    output, cache = ctr.forward(sd, run.probe, run.config)
"""
from .model import forward, loss, param_specs, unflatten
from .run import Run, batch, crossings, emergence, load_run, parse_config, state_dict
from .sweep import load_sweep

__all__ = ["Run", "batch", "crossings", "emergence", "forward", "load_run", "load_sweep", "loss",
           "param_specs", "parse_config", "state_dict", "unflatten"]
