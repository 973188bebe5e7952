#include "analysis/causal.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>

namespace ctr {

ForwardHooks catch_ablation_hooks(const Batch& batch, int layer, int head, int n_heads, int d_head) {
    ForwardHooks hooks;
    const Batch* bp = &batch;
    hooks.after_pattern = [bp, layer, head, n_heads, d_head](int l, BlockActivations& a, int b0, int b1, int T) {
        if (l != layer) return;
        const int H = n_heads, Dh = d_head, HD = H * Dh;
        for (int b = b0; b < b1; ++b) {
            const int s = bp->sep_pos[b];
            real* P = a.pattern.data() + (static_cast<size_t>(b) * H + head) * T * T;
            const real* v = a.v.data() + static_cast<size_t>(b) * T * HD + head * Dh;
            real* z = a.z.data() + static_cast<size_t>(b) * T * HD + head * Dh;
            for (int i = s + 1; i < T; ++i) {
                real* row = P + static_cast<size_t>(i) * T;
                double rest = 0;
                for (int j = 0; j <= i; ++j)
                    if (j != s) rest += row[j];
                row[s] = 0;
                for (int j = 0; j <= i; ++j)
                    if (j != s) row[j] = static_cast<real>(rest > 0 ? row[j] / rest : 1.0 / i);
                real* zi = z + static_cast<size_t>(i) * HD;
                for (int d = 0; d < Dh; ++d) zi[d] = 0;
                for (int j = 0; j <= i; ++j)
                    for (int d = 0; d < Dh; ++d) zi[d] += row[j] * v[static_cast<size_t>(j) * HD + d];
            }
        }
    };
    return hooks;
}

ForwardHooks tag_projection_hooks(int layer, const std::vector<double>& dir, int d_model) {
    if (static_cast<int>(dir.size()) != d_model) throw std::invalid_argument("tag_projection_hooks: dir is not d_model long");
    double norm = 0;
    for (double x : dir) norm += x * x;
    norm = std::sqrt(norm);
    std::vector<double> u(dir);
    for (double& x : u) x = norm > 0 ? x / norm : 0.0;
    ForwardHooks hooks;
    hooks.after_resid_post = [layer, u, d_model](int l, BlockActivations& a, int b0, int b1, int T) {
        if (l != layer) return;
        for (size_t n = static_cast<size_t>(b0) * T; n < static_cast<size_t>(b1) * T; ++n) {
            real* r = a.resid_post.data() + n * d_model;
            double dot = 0;
            for (int d = 0; d < d_model; ++d) dot += r[d] * u[d];
            for (int d = 0; d < d_model; ++d) r[d] -= static_cast<real>(dot * u[d]);
        }
    };
    return hooks;
}

CausalResult causal_tests(Transformer& model, const real* params, const Batch& probe, int layer, int head,
                          const std::vector<double>& tag_dir) {
    const ModelConfig& mc = model.config();
    if (layer < 0 || layer >= mc.n_layers || head < 0 || head >= mc.n_heads)
        throw std::invalid_argument("causal_tests: no such layer/head");
    CausalResult r;
    r.layer = layer;
    r.head = head;
    const ForwardHooks catch_hooks = catch_ablation_hooks(probe, layer, head, mc.n_heads, mc.d_head);
    const ForwardHooks tag_hooks = tag_projection_hooks(layer, tag_dir, mc.d_model);
    r.catch_ablated_loss = model.forward(params, probe, &catch_hooks);
    r.tag_ablated_loss = model.forward(params, probe, &tag_hooks);
    r.clean_loss = model.forward(params, probe);
    r.catch_increase = r.catch_ablated_loss - r.clean_loss;
    r.tag_increase = r.tag_ablated_loss - r.clean_loss;
    return r;
}

CausalResult causal_tests(const Config& cfg, const real* params, const Batch& probe, const MechanismMetrics& m) {
    if (!has_catch_release_pair(m)) {  // one layer: no catch head, so no tests and no losses (NaN)
        CausalResult none;
        none.clean_loss = none.catch_ablated_loss = none.tag_ablated_loss = none.catch_increase = none.tag_increase =
            std::numeric_limits<double>::quiet_NaN();
        return none;
    }
    Transformer model(cfg.model, cfg.task.seq_len, cfg.task.bos, probe.B);
    const std::vector<double> dir(m.tag.begin() + m.lh(m.catch_layer, m.catch_head) * m.d_model,
                                  m.tag.begin() + (m.lh(m.catch_layer, m.catch_head) + 1) * m.d_model);
    return causal_tests(model, params, probe, m.catch_layer, m.catch_head, dir);
}

}  // namespace ctr
