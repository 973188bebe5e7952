#include "training/schedule.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace ctr {

double learning_rate(const TrainConfig& cfg, int64_t step, int64_t total_steps) {
    if (cfg.schedule == LrSchedule::kConstant) return cfg.lr;
    if (step < cfg.warmup_steps) return cfg.lr * static_cast<double>(step + 1) / cfg.warmup_steps;
    const int64_t decay_steps = std::max<int64_t>(1, total_steps - cfg.warmup_steps);
    const double progress = std::min(1.0, static_cast<double>(step - cfg.warmup_steps) / decay_steps);
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1.0 + std::cos(std::numbers::pi * progress));
}

}  // namespace ctr
