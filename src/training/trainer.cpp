#include "training/trainer.hpp"

#include <algorithm>
#include <numeric>

#include "model/theorem71.hpp"
#include "model/init.hpp"
#include "training/schedule.hpp"

namespace ctr {
namespace {

// Fisher-Yates with Boost's distribution: std::shuffle's draws differ between
// standard libraries, and runs must replay anywhere. uniform_below is that distribution
// without its divisions (util/rng.hpp); the buckets of every n are computed once per
// thread.
void shuffle(std::vector<int>& v, Rng& rng) {
    thread_local std::vector<uint64_t> buckets;
    if (buckets.size() <= v.size())
        for (size_t n = buckets.size(); n <= v.size(); ++n) buckets.push_back(n > 1 ? bucket_of(n) : 0);
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[uniform_below(rng, i, buckets[i])]);
}

double mean_supervised_target(const SequenceSet& s) {
    double sum = 0;
    size_t count = 0;
    for (size_t i = 0; i < s.target.size(); ++i)
        if (s.supervised[i]) {
            sum += s.target[i];
            ++count;
        }
    return count ? sum / count : 0.0;
}

}  // namespace

int64_t planned_steps(const Config& c) {
    if (c.train.steps > 0) return c.train.steps;
    return c.task.train_size > 0 ? int64_t{c.train.epochs} * (c.task.train_size / c.train.batch_size) : 0;
}

Trainer::Trainer(const Config& cfg)
    : cfg_(cfg),
      train_model_(cfg.model, cfg.task.seq_len, cfg.task.bos, cfg.train.batch_size),
      eval_model_(cfg.model, cfg.task.seq_len, cfg.task.bos, cfg.task.eval_size),
      probe_model_(cfg.model, cfg.task.seq_len, cfg.task.bos, cfg.task.probe_size) {
    const TaskConfig& task = cfg.task;
    Rng eval_rng = make_stream(cfg.seed, Stream::kEvalData);
    Rng probe_rng = make_stream(cfg.seed, Stream::kProbe);
    const SequenceSet eval_set = generate_sequences(task, task.eval_size, eval_rng);
    eval_batch_ = as_batch(eval_set);
    probe_batch_ = as_batch(generate_sequences(task, task.probe_size, probe_rng));

    state_.shuffle_rng = make_stream(cfg.seed, Stream::kShuffle);
    state_.fresh_rng = make_stream(cfg.seed, Stream::kFreshData);
    // The relative error's baseline predicts the mean training target; with fresh data
    // there is no training set, and the task's own mean (0) stands in for it.
    double baseline_prediction = 0.0;
    if (task.train_size > 0) {
        Rng train_rng = make_stream(cfg.seed, Stream::kTrainData);
        train_set_ = generate_sequences(task, task.train_size, train_rng);
        baseline_prediction = mean_supervised_target(train_set_);
        steps_per_epoch_ = task.train_size / cfg.train.batch_size;  // a last partial batch is dropped
        state_.order.resize(task.train_size);
    }
    total_steps_ = planned_steps(cfg);

    double se = 0, w = 0;
    for (size_t i = 0; i < eval_batch_.target.size(); ++i) {
        const double e = eval_batch_.target[i] - baseline_prediction;
        se += eval_batch_.weight[i] * e * e;
        w += eval_batch_.weight[i];
    }
    baseline_mse_ = w > 0 ? se / w : 0.0;

    if (cfg.model.init == ModelInit::kTheorem71) {
        state_.params = theorem71_params(layout(), cfg.model, cfg.model.init_tag_scale);
    } else {
        Rng init_rng = make_stream(cfg.seed, Stream::kInit);
        init_params_random(state_.params, layout(), init_rng);
    }
    state_.opt = make_optimizer_state(cfg.train, layout().total());
    grads_.assign(layout().total(), real(0));
}

void Trainer::start_epoch() {
    std::iota(state_.order.begin(), state_.order.end(), 0);
    shuffle(state_.order, state_.shuffle_rng);
    state_.epoch += 1;
    state_.batch_in_epoch = 0;
}

void Trainer::next_batch() {
    const int B = cfg_.train.batch_size;
    if (cfg_.task.train_size == 0) {
        const SequenceSet fresh = generate_sequences(cfg_.task, B, state_.fresh_rng);
        std::vector<int> idx(B);
        std::iota(idx.begin(), idx.end(), 0);
        gather_batch(fresh, idx.data(), B, batch_);
        return;
    }
    if (state_.epoch == 0 || state_.batch_in_epoch >= steps_per_epoch_) start_epoch();
    gather_batch(train_set_, state_.order.data() + state_.batch_in_epoch * B, B, batch_);
    state_.batch_in_epoch += 1;
}

StepStats Trainer::train_step() {
    next_batch();
    StepStats s;
    std::fill(grads_.begin(), grads_.end(), real(0));
    s.loss = train_model_.loss_and_gradient(state_.params.data(), grads_.data(), batch_);
    s.grad_norm = grad_norm(grads_.data(), grads_.size());
    if (cfg_.train.grad_clip > 0) clip_grad_norm(grads_.data(), grads_.size(), s.grad_norm, cfg_.train.grad_clip);
    s.lr = learning_rate(cfg_.train, state_.step, total_steps_);
    optimizer_step(state_.params.data(), grads_.data(), grads_.size(), state_.opt, cfg_.train, s.lr);
    state_.step += 1;
    s.step = state_.step;
    return s;
}

EvalStats Trainer::evaluate() {
    EvalStats e;
    e.loss = eval_model_.forward_loss_only(state_.params.data(), eval_batch_);
    e.rel_error = baseline_mse_ > 0 ? e.loss / baseline_mse_ : 0.0;
    return e;
}

void Trainer::run_probe() { probe_model_.forward_activations(state_.params.data(), probe_batch_); }

}  // namespace ctr
