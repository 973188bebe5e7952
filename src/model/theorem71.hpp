#pragma once
// Hand-set weights in the spirit of the paper's Theorem 7.1 (arXiv:2502.00919): layer 1
// catches (every token after [SEP] attends to [SEP]) and tags (adds [SEP]'s value,
// the tag s_tag * e_1, to them); layer 2 releases (queries after [SEP] attend evenly
// to the tagged numbers and read their numbers); the readout gives their average.
// The error falls to 0 as s_tag grows. Construction and argument: docs/metrics.md.
#include <vector>

#include "config/config.hpp"
#include "model/params.hpp"
#include "util/real.hpp"

namespace ctr {

// The flat parameters for layout. Needs what validate_config demands of init
// theorem71: n_layers >= 2, d_model >= 2, n_heads 1, d_mlp 0, norm none, no QK-norm,
// no positions (throws std::invalid_argument otherwise). Any d_head >= 1, either
// attn_scale, with or without attention biases (set to 0) and [BOS]. Coordinates
// beyond the first two, head dimensions beyond the first, and layers beyond the
// first two are zero (those blocks then add nothing). s_tag > 0.
std::vector<real> theorem71_params(const ParamLayout& layout, const ModelConfig& cfg, double s_tag);

}  // namespace ctr
