#pragma once
// Learning-rate schedules: constant, or (cosine) linear warm-up from 0 over
// warmup_steps, then cosine decay to min_lr at the last step.
#include <cstdint>

#include "config/config.hpp"

namespace ctr {

// Learning rate for the update that takes `step` (0-based) to step + 1.
double learning_rate(const TrainConfig& cfg, int64_t step, int64_t total_steps);

}  // namespace ctr
