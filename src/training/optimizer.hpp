#pragma once
// Optimizers over the flat parameter buffer, with PyTorch's semantics so that runs
// compare with torch.optim: AdamW (decoupled weight decay, bias-corrected moments) and
// SGD with momentum (weight decay added to the gradient, as torch.optim.SGD does).
#include <cstdint>
#include <vector>

#include "config/config.hpp"
#include "util/real.hpp"

namespace ctr {

struct OptimizerState {
    std::vector<real> m;   // (P) AdamW first moment, or SGD momentum buffer
    std::vector<real> v;   // (P) AdamW second moment; empty for SGD
    int64_t t = 0;         // updates taken so far
};

OptimizerState make_optimizer_state(const TrainConfig& cfg, size_t n_params);

// One update of params with grads at learning rate lr.
void optimizer_step(real* params, const real* grads, size_t n, OptimizerState& state,
                    const TrainConfig& cfg, double lr);

// Global L2 norm of the gradient.
double grad_norm(const real* grads, size_t n);

// Scales grads so their global norm is at most max_norm (torch.nn.utils.clip_grad_norm_).
void clip_grad_norm(real* grads, size_t n, double norm, double max_norm);

}  // namespace ctr
