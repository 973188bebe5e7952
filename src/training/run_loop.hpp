#pragma once
// The training loop of ctr-train: steps, evaluation rows, snapshots and checkpoints
// into the run file, and progress reports. Separate from the CLI so tests drive it.
#include <cstdint>
#include <functional>

#include "analysis/causal.hpp"
#include "analysis/verdict.hpp"
#include "io/run_file.hpp"
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

// Trains until the trainer is done or should_stop says so. With a run file, writes
// metrics rows, snapshots and checkpoints as the config asks, and on the way out a
// final checkpoint (and, on a finished run, the rows of the last step).
LoopResult run_training(Trainer& trainer, RunFile* run, const LoopHooks& hooks);

}  // namespace ctr
