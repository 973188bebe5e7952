#pragma once
// ctr-sweep submit: a Slurm job array whose tasks each run one shard of the sweep, and a
// collect job that builds the index once the array is over (docs/sweeps.md).
#include <string>
#include <vector>

#include "run/sweep_spec.hpp"

namespace ctr {

struct SubmitOptions {
    std::string dir;                        // the sweep directory (absolute in the scripts)
    int array = 1;                          // tasks in the array
    std::vector<std::string> sbatch_args;   // passed to both sbatch calls
    bool dry_run = false;                   // print the scripts and the commands only
    std::string sweep_exe;                  // the ctr-sweep binary the jobs run
};

struct SubmitScripts {
    std::string array, collect;  // sbatch script texts
};

SubmitScripts submit_scripts(const SweepSpec& spec, const SubmitOptions& opt);

// Writes the plan and both scripts under DIR (DIR/slurm/), submits the array, then the
// collect job with --dependency=afterany:<array job>; prints the job ids. Returns a
// kSweepExit* code; an sbatch failure is reported with its output (exit 1).
int submit_sweep(const SweepSpec& spec, const SubmitOptions& opt);

}  // namespace ctr
