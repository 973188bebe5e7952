#include "training/optimizer.hpp"

#include <cmath>

namespace ctr {

OptimizerState make_optimizer_state(const TrainConfig& cfg, size_t n_params) {
    OptimizerState s;
    s.m.assign(n_params, real(0));
    if (cfg.optimizer == OptimizerKind::kAdamW) s.v.assign(n_params, real(0));
    return s;
}

void optimizer_step(real* p, const real* g, size_t n, OptimizerState& s, const TrainConfig& cfg, double lr) {
    s.t += 1;
    if (cfg.optimizer == OptimizerKind::kAdamW) {
        const double b1 = cfg.beta1, b2 = cfg.beta2;
        const double bias1 = 1.0 - std::pow(b1, static_cast<double>(s.t));
        const double bias2 = 1.0 - std::pow(b2, static_cast<double>(s.t));
        const double step_size = lr / bias1;
        const double bias2_sqrt = std::sqrt(bias2);
        const real decay = static_cast<real>(1.0 - lr * cfg.weight_decay);
        for (size_t i = 0; i < n; ++i) {
            p[i] *= decay;
            s.m[i] = static_cast<real>(b1) * s.m[i] + static_cast<real>(1 - b1) * g[i];
            s.v[i] = static_cast<real>(b2) * s.v[i] + static_cast<real>(1 - b2) * g[i] * g[i];
            const real denom = std::sqrt(s.v[i]) / static_cast<real>(bias2_sqrt) + static_cast<real>(cfg.eps);
            p[i] -= static_cast<real>(step_size) * s.m[i] / denom;
        }
    } else {  // sgd
        const real mu = static_cast<real>(cfg.momentum), wd = static_cast<real>(cfg.weight_decay);
        for (size_t i = 0; i < n; ++i) {
            const real gi = g[i] + wd * p[i];
            // torch.optim.SGD starts the buffer at the first gradient, not at mu * 0 + g.
            s.m[i] = s.t == 1 ? gi : mu * s.m[i] + gi;
            p[i] -= static_cast<real>(lr) * (mu != 0 ? s.m[i] : gi);
        }
    }
}

double grad_norm(const real* g, size_t n) {
    double sum = 0;
    for (size_t i = 0; i < n; ++i) sum += static_cast<double>(g[i]) * g[i];
    return std::sqrt(sum);
}

void clip_grad_norm(real* g, size_t n, double norm, double max_norm) {
    const double coef = max_norm / (norm + 1e-6);
    if (coef >= 1.0) return;
    for (size_t i = 0; i < n; ++i) g[i] *= static_cast<real>(coef);
}

}  // namespace ctr
