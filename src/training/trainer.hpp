#pragma once
// One training run, step by step: the data, the model, the optimizer, and every piece
// of state a checkpoint must hold to resume bit for bit (TrainState).
#include <cstdint>
#include <memory>
#include <vector>

#include "config/config.hpp"
#include "model/transformer.hpp"
#include "task/averaging.hpp"
#include "training/optimizer.hpp"
#include "util/rng.hpp"

namespace ctr {

// Everything that changes during training. Data sets and the probe batch are not
// here: they are regenerated from the config and seed.
struct TrainState {
    std::vector<real> params;     // (P) flat, ParamLayout order
    OptimizerState opt;
    int64_t step = 0;             // updates done
    int64_t epoch = 0;            // epochs started (fixed training set only)
    int64_t batch_in_epoch = 0;   // batches of the current epoch done
    std::vector<int> order;       // (train_size) this epoch's order of the training set
    Rng shuffle_rng;              // reshuffles the training set each epoch
    Rng fresh_rng;                // draws fresh sequences when task.train_size is 0
    // Sums over the steps since the last metrics row, so that a resumed run writes the
    // same rows as one that never stopped.
    double row_loss_sum = 0, row_grad_norm_sum = 0;
    int64_t row_steps = 0;
};

struct StepStats {
    int64_t step;                 // the step this update completed (1-based)
    double loss;                  // training loss of the batch, before the update
    double grad_norm;             // before clipping
    double lr;
};

struct EvalStats {
    double loss;                  // MSE on the held-out set
    double rel_error;             // loss / MSE of always predicting the training targets' mean
};

// The number of updates a config trains for: train.steps, else train.epochs full batches
// of the training set per epoch (a last partial batch is dropped).
int64_t planned_steps(const Config& cfg);

class Trainer {
public:
    explicit Trainer(const Config& cfg);

    const Config& config() const { return cfg_; }
    const ParamLayout& layout() const { return train_model_.layout(); }
    int64_t total_steps() const { return total_steps_; }
    bool done() const { return state_.step >= total_steps_; }

    StepStats train_step();
    EvalStats evaluate();
    // Shard lanes for the step and the evaluation (on by default; Transformer::use_shard_lanes).
    void use_shard_lanes(bool on) {
        train_model_.use_shard_lanes(on);
        eval_model_.use_shard_lanes(on);
    }
    // Runs the model on the probe batch; its activations are then in probe_model().
    void run_probe();

    const Transformer& probe_model() const { return probe_model_; }
    const Batch& probe_batch() const { return probe_batch_; }
    const Batch& eval_batch() const { return eval_batch_; }
    const SequenceSet& train_set() const { return train_set_; }  // empty when train_size is 0
    // The MSE of predicting the mean training target on the evaluation set: evaluate()'s
    // rel_error = loss / baseline_mse().
    double baseline_mse() const { return baseline_mse_; }
    TrainState& state() { return state_; }
    const TrainState& state() const { return state_; }

private:
    void start_epoch();
    void next_batch();

    Config cfg_;
    Transformer train_model_;     // workspace for batch_size
    Transformer eval_model_;      // workspace for eval_size
    // Its own model for the probe batch: the evaluation's workspace is 64 times larger,
    // and a forward() after a loss-only one refills all of its patterns with 0.
    Transformer probe_model_;     // workspace for probe_size
    SequenceSet train_set_;       // empty when train_size is 0
    Batch eval_batch_, probe_batch_, batch_;
    std::vector<real> grads_;     // (P)
    double baseline_mse_ = 0;     // eval MSE of the training targets' mean
    int64_t total_steps_ = 0, steps_per_epoch_ = 0;
    TrainState state_;
};

}  // namespace ctr
