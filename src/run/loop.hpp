#pragma once
// The loop of a run: training steps (training/trainer.hpp), and as the config schedules
// them, metrics rows, snapshots and checkpoints into the run file (io/run_file_writer.hpp);
// at the end of a finished run the verdict, emergence steps and causal tests. Start a
// run with run/start.hpp, which calls this; tests drive it directly.
#include <cstdint>
#include <functional>

#include "analysis/causal.hpp"
#include "analysis/verdict.hpp"
#include "io/run_file_writer.hpp"
#include "training/trainer.hpp"

namespace ctr {

struct LoopReport {
    int64_t step;
    int64_t total_steps;
    int64_t epoch;
    double train_loss;            // mean over the last metrics row's steps
    double eval_loss, eval_rel_error;  // at the last metrics row
    double elapsed_s;             // wall time of this invocation's training
    int64_t steps_done;           // steps this invocation has taken
    double catch_score, release;  // headline mechanism metrics at the last snapshot (NaN before one)
};

enum class LoopEnd { kFinished, kInterrupted };

struct LoopResult {
    LoopEnd end;
    // For a finished run: the evaluation and verdict of the final parameters, when the mechanism's
    // milestones were first reached for good, and the causal tests.
    EvalStats final_eval;
    Verdict verdict;
    Emergence emergence;
    CausalResult causal;
};

struct LoopHooks {
    std::function<void(const LoopReport&)> progress;  // after every step
    std::function<bool()> should_stop;                 // checked at every step boundary
};

// Trains until the trainer is done or should_stop says so, writing metrics rows,
// snapshots and checkpoints as the config asks, and on the way out a final checkpoint
// (and, on a finished run, the rows of the last step, the verdict and status
// "complete"; else status "interrupted"). The trainer's state must be the file's: a
// new run's step 0, or the checkpoint a resume restored.
LoopResult run_training(Trainer& trainer, RunFileWriter& file, const LoopHooks& hooks);

}  // namespace ctr
