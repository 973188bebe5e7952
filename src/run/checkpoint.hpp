#pragma once
// Between the trainer's state and the run file's checkpoint (plain data): the only
// place that knows both.
#include "io/run_data.hpp"
#include "training/trainer.hpp"

namespace ctr {

Checkpoint checkpoint_of(const TrainState& s);
// Restores s from c; c must come from a run of the same config (sizes are checked).
void restore(TrainState& s, const Checkpoint& c, const std::string& source);

}  // namespace ctr
