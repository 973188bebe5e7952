#pragma once
// Running a sweep: every (point, seed) of the plan once, --jobs child processes at a
// time, each run single-threaded in its own forked process (a crash stays in it) and
// made by the run layer exactly as ctr-train makes it (run/start.hpp). Complete runs
// are skipped, interrupted ones resumed; the index is rewritten as runs finish.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "run/sweep_spec.hpp"

namespace ctr {

// A refusal of the sweep as a whole (another driver holds the directory, a run file of
// another config is in the way): exit code 2, nothing run.
class SweepRefused : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Exit codes of ctr-sweep (docs/sweeps.md).
constexpr int kSweepExitOk = 0;           // every run of the sweep (or shard) complete
constexpr int kSweepExitRunsFailed = 1;   // the sweep went through, some runs failed (see the index)
constexpr int kSweepExitUsage = 2;        // bad flags, sweep file or config; refused
constexpr int kSweepExitInterrupted = 130;

struct Shard {
    int index = 0, count = 1;  // runs whose sweep-order position % count == index
};

// "I/N" with 0 <= I < N; throws SweepRefused naming the flag otherwise.
Shard parse_shard(const std::string& text);
// The shard of a Slurm array task (SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN of
// SLURM_ARRAY_TASK_COUNT), or the whole sweep outside one.
Shard shard_from_environment();
// The default --jobs: the CPUs Slurm gave the job, else those this process may run on.
int default_jobs();

struct SweepOptions {
    std::string dir;
    int jobs = 1;
    Shard shard;
    bool quiet = false;
    std::vector<std::string> argv;  // the driver's command line, recorded in each run file
};

// Runs the sweep into opt.dir; returns a kSweepExit* code.
int run_sweep(const SweepSpec& spec, const SweepOptions& opt);

// The plan of the sweep in dir (DIR/sweep.yaml); throws SweepRefused when there is none.
SweepSpec load_sweep_plan(const std::string& dir);

// ctr-sweep status / collect: the per-point table (and counts) of dir; collect also
// writes the index. Return kSweepExit* codes.
int sweep_status(const std::string& dir);
int sweep_collect(const std::string& dir);

}  // namespace ctr
