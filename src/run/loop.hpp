#pragma once
// The loop of a run: training steps (training/trainer.hpp), and as the config schedules
// them, metrics rows, snapshots and checkpoints into the run file (io/run_file_writer.hpp);
// at the end of a finished run the verdict, emergence steps and causal tests. Start a
// run with run/start.hpp, which calls this; tests drive it directly.
#include <cstdint>
#include <functional>
#include <string>

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

enum class LoopEnd { kFinished, kInterrupted, kDiverged };

// The first step whose training loss or gradient norm was not finite.
struct Divergence {
    int64_t step = -1;        // -1: none
    std::string quantity;     // "training loss" or "gradient norm"
    double value = 0;         // nan, inf or -inf
    // "nan", "inf" or "-inf": a NaN's sign bit means nothing, so never printf's "-nan".
    std::string value_text() const;
};

struct LoopResult {
    LoopEnd end;
    Divergence divergence;    // of this invocation's steps
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
// snapshots and checkpoints as the config asks: a new run's first checkpoint is its
// step 0, so it can be resumed from the start. On the way out a final checkpoint (and,
// on a finished run, the rows of the last step, the verdict and status "complete"; else
// status "interrupted"). A step with a non-finite training loss or gradient norm stops
// the run there (train.stop_on_divergence): its metrics row is written, the last
// checkpoint stays the one before it, the verdict says the run diverged and the status
// is "diverged". The trainer's state must be the file's: a new run's step 0, or the
// checkpoint a resume restored.
LoopResult run_training(Trainer& trainer, RunFileWriter& file, const LoopHooks& hooks);

}  // namespace ctr
