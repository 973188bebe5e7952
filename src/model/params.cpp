#include "model/params.hpp"

namespace ctr {

size_t ParamLayout::add(const std::string& name, std::vector<int> shape, std::string axes, InitRule init, int fan_in) {
    TensorSpec t;
    t.name = name;
    t.shape = std::move(shape);
    t.axes = std::move(axes);
    t.init = init;
    t.fan_in = fan_in;
    t.size = 1;
    for (int d : t.shape) t.size *= static_cast<size_t>(d);
    t.offset = total_;
    total_ += t.size;
    tensors_.push_back(t);
    return t.offset;
}

ParamLayout::ParamLayout(const ModelConfig& c, int n_ctx, bool bos) {
    using enum InitRule;
    const int D = c.d_model, H = c.n_heads, Dh = c.d_head, M = c.d_mlp;
    const bool norm = c.norm != Norm::kNone;
    const bool norm_bias = c.norm == Norm::kLayerNorm;
    w_num = add("embed.w_num", {D}, "d_model", kNormal);
    b_num = add("embed.b_num", {D}, "d_model", kNormal);
    e_sep = add("embed.e_sep", {D}, "d_model", kNormal);
    e_bos = bos ? add("embed.e_bos", {D}, "d_model", kNormal) : kAbsent;
    W_pos = c.positions == Positions::kLearned ? add("pos_embed.W_pos", {n_ctx, D}, "pos,d_model", kNormal) : kAbsent;
    for (int l = 0; l < c.n_layers; ++l) {
        const std::string p = "blocks." + std::to_string(l) + ".";
        BlockOffsets b;
        b.ln1_w = norm ? add(p + "ln1.w", {D}, "d_model", kOne) : kAbsent;
        b.ln1_b = norm_bias ? add(p + "ln1.b", {D}, "d_model", kZero) : kAbsent;
        b.W_Q = add(p + "attn.W_Q", {H, D, Dh}, "head,d_model,d_head", kUniformFanIn, D);
        b.W_K = add(p + "attn.W_K", {H, D, Dh}, "head,d_model,d_head", kUniformFanIn, D);
        b.W_V = add(p + "attn.W_V", {H, D, Dh}, "head,d_model,d_head", kUniformFanIn, D);
        b.W_O = add(p + "attn.W_O", {H, Dh, D}, "head,d_head,d_model", kUniformFanIn, Dh);
        b.b_Q = c.attn_bias ? add(p + "attn.b_Q", {H, Dh}, "head,d_head", kZero) : kAbsent;
        b.b_K = c.attn_bias ? add(p + "attn.b_K", {H, Dh}, "head,d_head", kZero) : kAbsent;
        b.b_V = c.attn_bias ? add(p + "attn.b_V", {H, Dh}, "head,d_head", kZero) : kAbsent;
        b.b_O = c.attn_bias ? add(p + "attn.b_O", {D}, "d_model", kZero) : kAbsent;
        b.q_norm_w = c.qk_norm ? add(p + "attn.q_norm.w", {Dh}, "d_head", kOne) : kAbsent;
        b.k_norm_w = c.qk_norm ? add(p + "attn.k_norm.w", {Dh}, "d_head", kOne) : kAbsent;
        const bool mlp = M > 0;
        b.ln2_w = mlp && norm ? add(p + "ln2.w", {D}, "d_model", kOne) : kAbsent;
        b.ln2_b = mlp && norm_bias ? add(p + "ln2.b", {D}, "d_model", kZero) : kAbsent;
        b.W_in = mlp ? add(p + "mlp.W_in", {D, M}, "d_model,d_mlp", kUniformFanIn, D) : kAbsent;
        b.b_in = mlp ? add(p + "mlp.b_in", {M}, "d_mlp", kZero) : kAbsent;
        b.W_out = mlp ? add(p + "mlp.W_out", {M, D}, "d_mlp,d_model", kUniformFanIn, M) : kAbsent;
        b.b_out = mlp ? add(p + "mlp.b_out", {D}, "d_model", kZero) : kAbsent;
        blocks.push_back(b);
    }
    ln_final_w = norm ? add("ln_final.w", {D}, "d_model", kOne) : kAbsent;
    ln_final_b = norm_bias ? add("ln_final.b", {D}, "d_model", kZero) : kAbsent;
    W_U = add("unembed.W_U", {D}, "d_model", kUniformFanIn, D);
    b_U = add("unembed.b_U", {1}, "out", kZero);
}

const TensorSpec* ParamLayout::find(const std::string& name) const {
    for (const auto& t : tensors_)
        if (t.name == name) return &t;
    return nullptr;
}

}  // namespace ctr
