#include "model/theorem71.hpp"

#include <cmath>
#include <stdexcept>

namespace ctr {

// Residual coordinates: 0 carries the number x, 1 carries the "kind" c (1 for numbers
// and [BOS], -1 for [SEP]) and then the tag. Every attention reads and writes
// through head dimension 0 only.
//   embedding   number x -> (x, 1),  [SEP] -> (0, -1),  [BOS] -> (0, 1)
//   layer 1     logit(i, j) = -beta * c_i * c_j: a number query scores +beta on [SEP]
//               and -beta on every number, so after [SEP] it attends ~only to [SEP]
//               (catch); before [SEP] it attends evenly over the numbers.
//               OV: c_j -> -g * c_j into coordinate 1, so a token after [SEP] gains
//               +g (the tag, [SEP]'s value), one before it -g: c' = 1 + g or 1 - g.
//   layer 2     logit(i, j) = c'_i * c'_j: a tagged query (c' = 1 + g) scores
//               (1+g)^2 on tagged keys, (1+g)(1-g) on untagged numbers, at most
//               (1+g)(g-1) on [SEP]: even attention over the tagged numbers (release).
//               OV: x_j -> coordinate 1, adding their mean.
//   readout     y = c'' - (1 + g) = mean of the tagged numbers.
// Errors come from the leaks exp(-2 beta) (layer 1) and exp(-2 g (1+g)) or
// exp(-2 (1+g)) (layer 2); beta = g = s_tag, so they vanish as s_tag grows.
std::vector<real> theorem71_params(const ParamLayout& layout, const ModelConfig& cfg, double s_tag) {
    if (!(cfg.n_layers >= 2 && cfg.d_model >= 2 && cfg.n_heads == 1 && cfg.d_mlp == 0 && cfg.norm == Norm::kNone &&
          !cfg.qk_norm && cfg.positions == Positions::kNone))
        throw std::invalid_argument(
            "theorem71_params: needs n_layers >= 2, d_model >= 2, n_heads 1, d_mlp 0, norm none, no qk_norm, "
            "positions none");
    if (!(s_tag > 0) || !std::isfinite(s_tag)) throw std::invalid_argument("theorem71_params: s_tag must be > 0");
    const int D = cfg.d_model, Dh = cfg.d_head;
    const double g = s_tag, beta = s_tag, mu = 1.0;
    // the kernel multiplies q.k by 1/sqrt(d_head) when asked; undo it in W_Q
    const double qs = cfg.attn_scale == AttnScale::kInvSqrtDHead ? std::sqrt(static_cast<double>(Dh)) : 1.0;

    std::vector<real> p(layout.total(), real(0));
    auto set = [&](size_t off, size_t idx, double v) { p[off + idx] = static_cast<real>(v); };
    // [H, D, Dh] with H = 1: (d, c) -> d * Dh + c;  W_O [H, Dh, D]: (c, d) -> c * D + d
    auto in = [&](int d, int c) { return static_cast<size_t>(d) * Dh + c; };
    auto out = [&](int c, int d) { return static_cast<size_t>(c) * D + d; };

    set(layout.w_num, 0, 1.0);
    set(layout.b_num, 1, 1.0);
    set(layout.e_sep, 1, -1.0);
    if (layout.e_bos != kAbsent) set(layout.e_bos, 1, 1.0);

    const BlockOffsets& l1 = layout.blocks[0];
    set(l1.W_Q, in(1, 0), -beta * qs);
    set(l1.W_K, in(1, 0), 1.0);
    set(l1.W_V, in(1, 0), 1.0);
    set(l1.W_O, out(0, 1), -g);

    const BlockOffsets& l2 = layout.blocks[1];
    set(l2.W_Q, in(1, 0), mu * qs);
    set(l2.W_K, in(1, 0), 1.0);
    set(l2.W_V, in(0, 0), 1.0);
    set(l2.W_O, out(0, 1), 1.0);

    set(layout.W_U, 1, 1.0);
    set(layout.b_U, 0, -(1.0 + g));
    return p;
}

}  // namespace ctr
