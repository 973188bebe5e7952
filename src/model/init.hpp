#pragma once
// Seeded initialisation (docs/model.md), following PyTorch's defaults for the layer
// each tensor stands in for; each tensor's rule is in its TensorSpec (model/params.cpp):
//   projection matrices W_Q, W_K, W_V, W_O, W_in, W_out, W_U: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
//     as nn.Linear, with fan_in = d_model (W_Q/K/V, W_in, W_U), d_head (W_O), d_mlp (W_out);
//   embedding vectors w_num, b_num, e_sep, e_bos, W_pos: N(0, 1) as nn.Embedding;
//   biases: 0; norm gains: 1.
#include <vector>

#include "model/params.hpp"
#include "util/real.hpp"
#include "util/rng.hpp"

namespace ctr {

void init_params_random(std::vector<real>& params, const ParamLayout& layout, Rng& rng);

}  // namespace ctr
