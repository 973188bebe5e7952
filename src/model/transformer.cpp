#include "model/transformer.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "model/layers.hpp"

namespace ctr {
namespace {

void zero(std::vector<real>& v, size_t n) { std::fill_n(v.begin(), n, real(0)); }
const real* at(const real* base, size_t off) { return off == kAbsent ? nullptr : base + off; }
real* at(real* base, size_t off) { return off == kAbsent ? nullptr : base + off; }

}  // namespace

Transformer::Transformer(const ModelConfig& cfg, int n_ctx, bool bos, int max_batch)
    : cfg_(cfg), n_ctx_(n_ctx), max_batch_(max_batch), bos_(bos), layout_(cfg, n_ctx, bos) {
    const size_t N = static_cast<size_t>(max_batch) * n_ctx;
    const size_t D = cfg.d_model, H = cfg.n_heads, Dh = cfg.d_head, M = cfg.d_mlp;
    const size_t T = n_ctx;
    const bool norm = cfg.norm != "none";
    acts_.blocks.resize(cfg.n_layers);
    for (auto& a : acts_.blocks) {
        a.resid_pre.resize(N * D);
        if (norm) {
            a.ln1.resize(N * D);
            a.ln1_mean.resize(N);
            a.ln1_rstd.resize(N);
        }
        if (cfg.qk_norm) {
            a.q_pre.resize(N * H * Dh);
            a.k_pre.resize(N * H * Dh);
            a.q_rstd.resize(N * H);
            a.k_rstd.resize(N * H);
        }
        a.q.resize(N * H * Dh);
        a.k.resize(N * H * Dh);
        a.v.resize(N * H * Dh);
        a.pattern.resize(static_cast<size_t>(max_batch) * H * T * T);
        a.z.resize(N * H * Dh);
        a.attn_out.resize(N * D);
        a.resid_mid.resize(N * D);
        if (M > 0) {
            if (norm) {
                a.ln2.resize(N * D);
                a.ln2_mean.resize(N);
                a.ln2_rstd.resize(N);
            }
            a.mlp_pre.resize(N * M);
            a.mlp_post.resize(N * M);
            a.mlp_out.resize(N * D);
        }
        a.resid_post.resize(N * D);
    }
    if (norm) {
        acts_.ln_final.resize(N * D);
        acts_.ln_final_mean.resize(N);
        acts_.ln_final_rstd.resize(N);
    }
    acts_.output.resize(N);

    ws_.dresid.resize(N * D);
    ws_.dx.resize(N * D);
    for (auto* v : {&ws_.dq, &ws_.dk, &ws_.dv, &ws_.dz, &ws_.dq_pre, &ws_.dk_pre}) v->resize(N * H * Dh);
    ws_.dmlp_pre.resize(N * M);
    ws_.dmlp_post.resize(N * M);
    ws_.doutput.resize(N);
    ws_.dembed.resize(N * D);
    ws_.dpattern_row.resize(T);

    if (cfg.positions == "sinusoidal") {
        // The Transformer paper's encoding: even dims sin, odd dims cos, wavelengths
        // 10000^(2i/D).
        sinusoid_.resize(T * D);
        for (size_t t = 0; t < T; ++t)
            for (size_t d = 0; d < D; ++d) {
                const double freq = std::pow(10000.0, -static_cast<double>(d - d % 2) / D);
                sinusoid_[t * D + d] = static_cast<real>(d % 2 == 0 ? std::sin(t * freq) : std::cos(t * freq));
            }
    }
}

// ----------------------------------------------------------------------------
// embedding: a number x enters as x * w_num + b_num; [SEP] and [BOS] have their own
// vectors; then the position vector, if any.

void Transformer::embed_forward(real* out, const real* p, const Batch& batch) const {
    const int D = cfg_.d_model;
    for (int b = 0; b < batch.B; ++b)
        for (int t = 0; t < batch.T; ++t) {
            const size_t n = static_cast<size_t>(b) * batch.T + t;
            real* o = out + n * D;
            const int kind = batch.kind[n];
            for (int d = 0; d < D; ++d) {
                real e = kind == kNumber ? batch.value[n] * p[layout_.w_num + d] + p[layout_.b_num + d]
                         : kind == kSep  ? p[layout_.e_sep + d]
                                         : p[layout_.e_bos + d];
                if (layout_.W_pos != kAbsent) e += p[layout_.W_pos + static_cast<size_t>(t) * D + d];
                if (!sinusoid_.empty()) e += sinusoid_[static_cast<size_t>(t) * D + d];
                o[d] = e;
            }
        }
}

void Transformer::embed_backward(real* g, const real* dout, const Batch& batch) const {
    const int D = cfg_.d_model;
    for (int b = 0; b < batch.B; ++b)
        for (int t = 0; t < batch.T; ++t) {
            const size_t n = static_cast<size_t>(b) * batch.T + t;
            const real* d_o = dout + n * D;
            const int kind = batch.kind[n];
            for (int d = 0; d < D; ++d) {
                if (kind == kNumber) {
                    g[layout_.w_num + d] += d_o[d] * batch.value[n];
                    g[layout_.b_num + d] += d_o[d];
                } else {
                    g[(kind == kSep ? layout_.e_sep : layout_.e_bos) + d] += d_o[d];
                }
                if (layout_.W_pos != kAbsent) g[layout_.W_pos + static_cast<size_t>(t) * D + d] += d_o[d];
            }
        }
}

// ----------------------------------------------------------------------------

real Transformer::forward(const real* p, const Batch& batch, const ForwardHooks* hooks) {
    if (batch.B > max_batch_ || batch.T > n_ctx_)
        throw std::invalid_argument("batch larger than the model's workspace");
    if (batch.T > 0 && !bos_ && std::find(batch.kind.begin(), batch.kind.end(), kBos) != batch.kind.end())
        throw std::invalid_argument("batch has [BOS] but the model has no [BOS] vector");
    const int B = batch.B, T = batch.T, N = B * T;
    const int D = cfg_.d_model, H = cfg_.n_heads, Dh = cfg_.d_head, M = cfg_.d_mlp;
    const int HD = H * Dh;
    const bool norm = cfg_.norm != "none", rms = cfg_.norm == "rmsnorm";
    const real scale = cfg_.attn_scale == "inv_sqrt_d_head" ? real(1) / std::sqrt(real(Dh)) : real(1);
    if (T != acts_.T)  // the attention kernel writes only key <= query; the rest must read 0
        for (auto& a : acts_.blocks) std::fill(a.pattern.begin(), a.pattern.end(), real(0));
    acts_.B = B;
    acts_.T = T;
    last_batch_ = &batch;

    embed_forward(acts_.blocks[0].resid_pre.data(), p, batch);
    for (int l = 0; l < cfg_.n_layers; ++l) {
        BlockActivations& a = acts_.blocks[l];
        const BlockOffsets& o = layout_.blocks[l];
        if (l > 0) std::copy_n(acts_.blocks[l - 1].resid_post.begin(), N * D, a.resid_pre.begin());

        const real* x = a.resid_pre.data();
        if (norm) {
            norm_forward(a.ln1.data(), a.ln1_mean.data(), a.ln1_rstd.data(), x, p + o.ln1_w,
                         at(p, o.ln1_b), N, D, rms);
            x = a.ln1.data();
        }
        real* q = cfg_.qk_norm ? a.q_pre.data() : a.q.data();
        real* k = cfg_.qk_norm ? a.k_pre.data() : a.k.data();
        for (int h = 0; h < H; ++h) {
            const size_t w = static_cast<size_t>(h) * D * Dh, bh = static_cast<size_t>(h) * Dh;
            linear_forward(q + h * Dh, HD, x, D, p + o.W_Q + w, o.b_Q == kAbsent ? nullptr : p + o.b_Q + bh, N, D, Dh, false);
            linear_forward(k + h * Dh, HD, x, D, p + o.W_K + w, o.b_K == kAbsent ? nullptr : p + o.b_K + bh, N, D, Dh, false);
            linear_forward(a.v.data() + h * Dh, HD, x, D, p + o.W_V + w, o.b_V == kAbsent ? nullptr : p + o.b_V + bh, N, D, Dh, false);
        }
        if (cfg_.qk_norm) {
            // every (position, head) row of d_head values normalised, one gain shared by heads
            norm_forward(a.q.data(), nullptr, a.q_rstd.data(), q, p + o.q_norm_w, nullptr, N * H, Dh, true);
            norm_forward(a.k.data(), nullptr, a.k_rstd.data(), k, p + o.k_norm_w, nullptr, N * H, Dh, true);
        }
        attention_forward(a.z.data(), a.pattern.data(), a.q.data(), a.k.data(), a.v.data(), B, T, H, Dh, scale);
        if (hooks && hooks->after_pattern) hooks->after_pattern(l, a, B, T);
        for (int h = 0; h < H; ++h)
            linear_forward(a.attn_out.data(), D, a.z.data() + h * Dh, HD,
                           p + o.W_O + static_cast<size_t>(h) * Dh * D,
                           h == 0 ? at(p, o.b_O) : nullptr, N, Dh, D, h > 0);
        for (int i = 0; i < N * D; ++i) a.resid_mid[i] = a.resid_pre[i] + a.attn_out[i];

        if (M > 0) {
            const real* x2 = a.resid_mid.data();
            if (norm) {
                norm_forward(a.ln2.data(), a.ln2_mean.data(), a.ln2_rstd.data(), x2, p + o.ln2_w,
                             at(p, o.ln2_b), N, D, rms);
                x2 = a.ln2.data();
            }
            linear_forward(a.mlp_pre.data(), M, x2, D, p + o.W_in, p + o.b_in, N, D, M, false);
            activation_forward(a.mlp_post.data(), a.mlp_pre.data(), N * M, cfg_.act == "gelu");
            linear_forward(a.mlp_out.data(), D, a.mlp_post.data(), M, p + o.W_out, p + o.b_out, N, M, D, false);
            for (int i = 0; i < N * D; ++i) a.resid_post[i] = a.resid_mid[i] + a.mlp_out[i];
        } else {
            std::copy_n(a.resid_mid.begin(), N * D, a.resid_post.begin());
        }
        if (hooks && hooks->after_resid_post) hooks->after_resid_post(l, a, B, T);
    }

    const real* final_resid = acts_.blocks.back().resid_post.data();
    if (norm) {
        norm_forward(acts_.ln_final.data(), acts_.ln_final_mean.data(), acts_.ln_final_rstd.data(),
                     final_resid, p + layout_.ln_final_w, at(p, layout_.ln_final_b), N, D, rms);
        final_resid = acts_.ln_final.data();
    }
    readout_forward(acts_.output.data(), final_resid, p + layout_.W_U, p + layout_.b_U, N, D);
    return mse_forward(acts_.output.data(), batch.target.data(), batch.weight.data(), N);
}

void Transformer::backward(const real* p, real* g, const Batch& batch) {
    const int B = acts_.B, T = acts_.T, N = B * T;
    if (&batch != last_batch_ || B != batch.B || T != batch.T)
        throw std::logic_error("backward without a forward on the same batch");
    const int D = cfg_.d_model, H = cfg_.n_heads, Dh = cfg_.d_head, M = cfg_.d_mlp;
    const int HD = H * Dh;
    const bool norm = cfg_.norm != "none", rms = cfg_.norm == "rmsnorm";
    const real scale = cfg_.attn_scale == "inv_sqrt_d_head" ? real(1) / std::sqrt(real(Dh)) : real(1);
    real* dresid = ws_.dresid.data();  // (B, T, D): gradient of the residual stream, walked backwards

    zero(ws_.doutput, N);
    mse_backward(ws_.doutput.data(), acts_.output.data(), batch.target.data(), batch.weight.data(), N);
    zero(ws_.dresid, static_cast<size_t>(N) * D);
    const real* final_resid = acts_.blocks.back().resid_post.data();
    if (norm) {
        zero(ws_.dx, static_cast<size_t>(N) * D);
        readout_backward(ws_.dx.data(), g + layout_.W_U, g + layout_.b_U, ws_.doutput.data(),
                         acts_.ln_final.data(), p + layout_.W_U, N, D);
        norm_backward(dresid, g + layout_.ln_final_w, at(g, layout_.ln_final_b), ws_.dx.data(),
                      final_resid, p + layout_.ln_final_w, acts_.ln_final_mean.data(),
                      acts_.ln_final_rstd.data(), N, D, rms);
    } else {
        readout_backward(dresid, g + layout_.W_U, g + layout_.b_U, ws_.doutput.data(), final_resid,
                         p + layout_.W_U, N, D);
    }

    for (int l = cfg_.n_layers - 1; l >= 0; --l) {
        const BlockActivations& a = acts_.blocks[l];
        const BlockOffsets& o = layout_.blocks[l];
        // dresid now holds d loss / d resid_post; the residual path passes it straight on.
        if (M > 0) {
            zero(ws_.dmlp_post, static_cast<size_t>(N) * M);
            zero(ws_.dmlp_pre, static_cast<size_t>(N) * M);
            linear_backward(ws_.dmlp_post.data(), M, g + o.W_out, g + o.b_out, dresid, D,
                            a.mlp_post.data(), p + o.W_out, N, M, D);
            activation_backward(ws_.dmlp_pre.data(), ws_.dmlp_post.data(), a.mlp_pre.data(), N * M,
                                cfg_.act == "gelu");
            const real* x2 = norm ? a.ln2.data() : a.resid_mid.data();
            real* dx2 = norm ? ws_.dx.data() : dresid;
            if (norm) zero(ws_.dx, static_cast<size_t>(N) * D);
            linear_backward(dx2, D, g + o.W_in, g + o.b_in, ws_.dmlp_pre.data(), M, x2, p + o.W_in, N, D, M);
            if (norm)
                norm_backward(dresid, g + o.ln2_w, at(g, o.ln2_b), ws_.dx.data(), a.resid_mid.data(),
                              p + o.ln2_w, a.ln2_mean.data(), a.ln2_rstd.data(), N, D, rms);
        }
        // dresid now holds d loss / d resid_mid = d loss / d attn_out.
        zero(ws_.dz, static_cast<size_t>(N) * HD);
        for (int h = 0; h < H; ++h)
            linear_backward(ws_.dz.data() + h * Dh, HD, g + o.W_O + static_cast<size_t>(h) * Dh * D,
                            h == 0 ? at(g, o.b_O) : nullptr, dresid, D, a.z.data() + h * Dh,
                            p + o.W_O + static_cast<size_t>(h) * Dh * D, N, Dh, D);
        zero(ws_.dq, static_cast<size_t>(N) * HD);
        zero(ws_.dk, static_cast<size_t>(N) * HD);
        zero(ws_.dv, static_cast<size_t>(N) * HD);
        attention_backward(ws_.dq.data(), ws_.dk.data(), ws_.dv.data(), ws_.dz.data(), a.pattern.data(),
                           a.q.data(), a.k.data(), a.v.data(), B, T, H, Dh, scale, ws_.dpattern_row.data());
        real* dq = ws_.dq.data();
        real* dk = ws_.dk.data();
        if (cfg_.qk_norm) {
            zero(ws_.dq_pre, static_cast<size_t>(N) * HD);
            zero(ws_.dk_pre, static_cast<size_t>(N) * HD);
            norm_backward(ws_.dq_pre.data(), g + o.q_norm_w, nullptr, dq, a.q_pre.data(), p + o.q_norm_w,
                          nullptr, a.q_rstd.data(), N * H, Dh, true);
            norm_backward(ws_.dk_pre.data(), g + o.k_norm_w, nullptr, dk, a.k_pre.data(), p + o.k_norm_w,
                          nullptr, a.k_rstd.data(), N * H, Dh, true);
            dq = ws_.dq_pre.data();
            dk = ws_.dk_pre.data();
        }
        const real* x = norm ? a.ln1.data() : a.resid_pre.data();
        real* dx = norm ? ws_.dx.data() : dresid;
        if (norm) zero(ws_.dx, static_cast<size_t>(N) * D);
        for (int h = 0; h < H; ++h) {
            const size_t w = static_cast<size_t>(h) * D * Dh, bh = static_cast<size_t>(h) * Dh;
            linear_backward(dx, D, g + o.W_Q + w, o.b_Q == kAbsent ? nullptr : g + o.b_Q + bh, dq + h * Dh, HD,
                            x, p + o.W_Q + w, N, D, Dh);
            linear_backward(dx, D, g + o.W_K + w, o.b_K == kAbsent ? nullptr : g + o.b_K + bh, dk + h * Dh, HD,
                            x, p + o.W_K + w, N, D, Dh);
            linear_backward(dx, D, g + o.W_V + w, o.b_V == kAbsent ? nullptr : g + o.b_V + bh,
                            ws_.dv.data() + h * Dh, HD, x, p + o.W_V + w, N, D, Dh);
        }
        if (norm)
            norm_backward(dresid, g + o.ln1_w, at(g, o.ln1_b), ws_.dx.data(), a.resid_pre.data(),
                          p + o.ln1_w, a.ln1_mean.data(), a.ln1_rstd.data(), N, D, rms);
        // dresid now holds d loss / d resid_pre of block l = d loss / d resid_post of block l-1.
    }
    std::copy_n(ws_.dresid.begin(), static_cast<size_t>(N) * D, ws_.dembed.begin());
    embed_backward(g, dresid, batch);
}

}  // namespace ctr
