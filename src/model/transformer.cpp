#include "model/transformer.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <type_traits>

#include "model/layers.hpp"

namespace ctr {
namespace {

// The tensor at offset off, or nullptr for one the config leaves out.
const real* at(const real* base, size_t off) { return off == kAbsent ? nullptr : base + off; }
real* at(real* base, size_t off) { return off == kAbsent ? nullptr : base + off; }

}  // namespace

Transformer::Transformer(const ModelConfig& cfg, int n_ctx, bool bos, int max_batch)
    : cfg_(cfg), n_ctx_(n_ctx), max_batch_(max_batch), bos_(bos), layout_(cfg, n_ctx, bos) {
    const size_t N = static_cast<size_t>(max_batch) * n_ctx;
    const size_t D = cfg.d_model, H = cfg.n_heads, Dh = cfg.d_head, M = cfg.d_mlp;
    const size_t T = n_ctx;
    const bool norm = cfg.norm != Norm::kNone;
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
    ws_.attn_scratch.resize(kShards * attention_scratch_size(n_ctx, cfg.d_head));
    shard_loss_.resize(kShards);
    shard_grads_.resize(kShards * layout_.total());

    if (cfg.positions == Positions::kSinusoidal) {
        // The Transformer paper's encoding: even dims sin, odd dims cos, wavelengths
        // 10000^(2i/D).
        sinusoid_.resize(T * D);
        for (size_t t = 0; t < T; ++t)
            for (size_t d = 0; d < D; ++d) {
                const double freq = std::pow(10000.0, -static_cast<double>(d - d % 2) / D);
                sinusoid_[t * D + d] = static_cast<real>(d % 2 == 0 ? std::sin(t * freq) : std::cos(t * freq));
            }
    }
    if (shard_lanes_supported(cfg)) lanes_.emplace(cfg, layout_, n_ctx, sinusoid_);
    static_assert(kShards == ShardLanes::kLanes);
}

// ----------------------------------------------------------------------------
// embedding: a number x enters as x * w_num + b_num; [SEP] and [BOS] have their own
// vectors; then the position vector, if any.

// One row per position; kD > 0 fixes the width at compile time (d_model = 2 here), so
// the loops unroll and the token kind selects a vector instead of branching.
template <int kD>
static void embed_forward_rows(real* out, const real* w_num, const real* b_num, const real* e_sep, const real* e_bos,
                               const real* pos, const real* sinusoid, const int* kind, const real* value, int rows,
                               int T, int d) {
    const int D = kD > 0 ? kD : d;
    for (int n = 0; n < rows; ++n) {
        const int t = n % T;
        const real x = value[n];
        const bool number = kind[n] == kNumber;
        const real* token = kind[n] == kSep ? e_sep : e_bos;
        real* o = out + static_cast<size_t>(n) * D;
        for (int i = 0; i < D; ++i) {
            real e = number ? x * w_num[i] + b_num[i] : token[i];
            if (pos) e += pos[static_cast<size_t>(t) * D + i];
            if (sinusoid) e += sinusoid[static_cast<size_t>(t) * D + i];
            o[i] = e;
        }
    }
}

void Transformer::embed_forward(real* out, const real* p, const Batch& batch, int b0, int b1) const {
    // out (b1 - b0, T, D)
    const int D = cfg_.d_model, T = batch.T, rows = (b1 - b0) * T;
    const size_t r0 = static_cast<size_t>(b0) * T;
    const real* sinusoid = sinusoid_.empty() ? nullptr : sinusoid_.data();
    const real* e_bos = layout_.e_bos == kAbsent ? p + layout_.e_sep : p + layout_.e_bos;  // no [BOS] without its vector
    auto run = [&](auto kD) {
        embed_forward_rows<decltype(kD)::value>(out, p + layout_.w_num, p + layout_.b_num, p + layout_.e_sep, e_bos,
                                                at(p, layout_.W_pos), sinusoid, batch.kind.data() + r0,
                                                batch.value.data() + r0, rows, T, D);
    };
    if (D == 2)
        run(std::integral_constant<int, 2>{});
    else
        run(std::integral_constant<int, 0>{});
}

// The gradients of w_num, b_num, e_sep and e_bos are sums over the rows in row order,
// each kept in a register (kD > 0) instead of going through memory at every row.
template <int kD>
static void embed_backward_rows(real* g_w_num, real* g_b_num, real* g_e_sep, real* g_e_bos, real* g_pos,
                                const real* dout, const int* kind, const real* value, int rows, int T, int d) {
    const int D = kD > 0 ? kD : d;
    if constexpr (kD == 0) {
        for (int n = 0; n < rows; ++n) {
            const real* d_o = dout + static_cast<size_t>(n) * D;
            for (int i = 0; i < D; ++i) {
                if (kind[n] == kNumber) {
                    g_w_num[i] += d_o[i] * value[n];
                    g_b_num[i] += d_o[i];
                } else {
                    (kind[n] == kSep ? g_e_sep : g_e_bos)[i] += d_o[i];
                }
                if (g_pos) g_pos[static_cast<size_t>(n % T) * D + i] += d_o[i];
            }
        }
    } else {
        real w[kD], b[kD], sep[kD], bos[kD];
        for (int i = 0; i < kD; ++i) {
            w[i] = g_w_num[i];
            b[i] = g_b_num[i];
            sep[i] = g_e_sep[i];
            bos[i] = g_e_bos ? g_e_bos[i] : real(0);
        }
        for (int n = 0; n < rows; ++n) {
            const real* d_o = dout + static_cast<size_t>(n) * kD;
            const bool is_num = kind[n] == kNumber, is_sep = kind[n] == kSep, is_bos = !is_num && !is_sep;
            for (int i = 0; i < kD; ++i) {
                w[i] = is_num ? w[i] + d_o[i] * value[n] : w[i];
                b[i] = is_num ? b[i] + d_o[i] : b[i];
                sep[i] = is_sep ? sep[i] + d_o[i] : sep[i];
                bos[i] = is_bos ? bos[i] + d_o[i] : bos[i];
                if (g_pos) g_pos[static_cast<size_t>(n % T) * kD + i] += d_o[i];
            }
        }
        for (int i = 0; i < kD; ++i) {
            g_w_num[i] = w[i];
            g_b_num[i] = b[i];
            g_e_sep[i] = sep[i];
            if (g_e_bos) g_e_bos[i] = bos[i];
        }
    }
}

void Transformer::embed_backward(real* g, const real* dout, const Batch& batch, int b0, int b1) const {
    // dout (b1 - b0, T, D)
    const int D = cfg_.d_model, T = batch.T, rows = (b1 - b0) * T;
    const size_t r0 = static_cast<size_t>(b0) * T;
    real* g_e_bos = at(g, layout_.e_bos);
    auto run = [&](auto kD) {
        embed_backward_rows<decltype(kD)::value>(g + layout_.w_num, g + layout_.b_num, g + layout_.e_sep, g_e_bos,
                                                 at(g, layout_.W_pos), dout, batch.kind.data() + r0,
                                                 batch.value.data() + r0, rows, T, D);
    };
    if (D == 2)
        run(std::integral_constant<int, 2>{});
    else
        run(std::integral_constant<int, 0>{});
}

// ----------------------------------------------------------------------------

// The batch is cut into a fixed number of shards of whole sequences, run in parallel;
// each shard's loss and parameter gradient are summed in shard order. The cut depends
// only on the batch size, never on the thread count, so results are bit-identical
// whatever OMP_NUM_THREADS is (docs/model.md).
int Transformer::n_shards(int B) const { return std::max(1, std::min(B, kShards)); }
real* Transformer::shard_scratch(int s) {
    return ws_.attn_scratch.data() + static_cast<size_t>(s) * attention_scratch_size(n_ctx_, cfg_.d_head);
}
int Transformer::shard_begin(int s, int B) const { return static_cast<int>(static_cast<int64_t>(s) * B / n_shards(B)); }

real Transformer::forward(const real* p, const Batch& batch, const ForwardHooks* hooks) {
    return forward_all(p, batch, hooks, false);
}

real Transformer::forward_loss_only(const real* p, const Batch& batch) {
    if (shard_lanes()) return run_lanes(p, nullptr, batch);
    return forward_all(p, batch, nullptr, true);
}

real Transformer::loss_and_gradient(const real* p, real* g, const Batch& batch) {
    if (shard_lanes()) return run_lanes(p, g, batch);
    const real loss = forward_all(p, batch, nullptr, true);
    backward(p, g, batch);
    return loss;
}

real Transformer::run_lanes(const real* p, real* g, const Batch& batch) {
    check_batch(batch);
    last_batch_ = &batch;
    lanes_forward_ = true;
    const int S = n_shards(batch.B);
    int bounds[kShards + 1];
    for (int s = 0; s <= S; ++s) bounds[s] = shard_begin(s, batch.B);
    return lanes_->run(p, g, batch, bounds, S);
}

void Transformer::check_batch(const Batch& batch) const {
    if (batch.B > max_batch_ || batch.T > n_ctx_)
        throw std::invalid_argument("batch larger than the model's workspace");
    if (batch.T > 0 && !bos_ && std::find(batch.kind.begin(), batch.kind.end(), kBos) != batch.kind.end())
        throw std::invalid_argument("batch has [BOS] but the model has no [BOS] vector");
}

void Transformer::forward_activations(const real* p, const Batch& batch) { forward_all(p, batch, nullptr, false, true); }

real Transformer::forward_all(const real* p, const Batch& batch, const ForwardHooks* hooks, bool loss_only, bool one_shard) {
    check_batch(batch);
    lanes_forward_ = false;
    const int B = batch.B, T = batch.T;
    // The attention kernel writes only key <= query; the rest must read 0, also after a
    // loss-only forward, which leaves the pattern in the kernel's private layout.
    if (T != acts_.T || (!loss_only && pattern_private_))
        for (auto& a : acts_.blocks) std::fill(a.pattern.begin(), a.pattern.end(), real(0));
    pattern_private_ = loss_only;
    acts_.B = B;
    acts_.T = T;
    last_batch_ = &batch;
    loss_only_ = loss_only;
    if (one_shard) return forward_rows(p, batch, 0, B, hooks, shard_scratch(0));
    const int S = n_shards(B);
    if (hooks) {  // hooks may keep state of their own: the same shards, one after another
        for (int s = 0; s < S; ++s) shard_loss_[s] = forward_rows(p, batch, shard_begin(s, B), shard_begin(s + 1, B), hooks, shard_scratch(s));
    } else {
#pragma omp parallel for schedule(static)
        for (int s = 0; s < S; ++s) shard_loss_[s] = forward_rows(p, batch, shard_begin(s, B), shard_begin(s + 1, B), nullptr, shard_scratch(s));
    }
    real loss = 0;
    for (int s = 0; s < S; ++s) loss += shard_loss_[s];
    return loss;
}

void Transformer::backward(const real* p, real* g, const Batch& batch) {
    if (lanes_forward_ && &batch == last_batch_) forward_all(p, batch, nullptr, true);
    const int B = acts_.B, T = acts_.T;
    if (&batch != last_batch_ || B != batch.B || T != batch.T)
        throw std::logic_error("backward without a forward on the same batch");
    const size_t P = layout_.total();
    const int S = n_shards(B);
#pragma omp parallel for schedule(static)
    for (int s = 0; s < S; ++s) {
        real* gs = shard_grads_.data() + static_cast<size_t>(s) * P;
        std::fill_n(gs, P, real(0));
        backward_rows(p, gs, batch, shard_begin(s, B), shard_begin(s + 1, B),
                      shard_scratch(s));
    }
    for (int s = 0; s < S; ++s) {
        const real* gs = shard_grads_.data() + static_cast<size_t>(s) * P;
        for (size_t i = 0; i < P; ++i) g[i] += gs[i];
    }
}

// Sequences [b0, b1) of the batch. Every buffer below is a view of its rows.
real Transformer::forward_rows(const real* p, const Batch& batch, int b0, int b1, const ForwardHooks* hooks,
                                 real* scratch) {
    const int T = batch.T, nb = b1 - b0, N = nb * T;
    const size_t r0 = static_cast<size_t>(b0) * T;  // first row (position) of the shard
    const int D = cfg_.d_model, H = cfg_.n_heads, Dh = cfg_.d_head, M = cfg_.d_mlp;
    const int HD = H * Dh;
    const bool norm = cfg_.norm != Norm::kNone, rms = cfg_.norm == Norm::kRmsNorm;
    const real scale = cfg_.attn_scale == AttnScale::kInvSqrtDHead ? real(1) / std::sqrt(real(Dh)) : real(1);
    auto rows = [r0](std::vector<real>& v, size_t width) { return v.data() + r0 * width; };

    embed_forward(rows(acts_.blocks[0].resid_pre, D), p, batch, b0, b1);
    for (int l = 0; l < cfg_.n_layers; ++l) {
        BlockActivations& a = acts_.blocks[l];
        const BlockOffsets& o = layout_.blocks[l];
        real* resid_pre = rows(a.resid_pre, D);
        if (l > 0) std::copy_n(rows(acts_.blocks[l - 1].resid_post, D), N * D, resid_pre);

        const real* x = resid_pre;
        if (norm) {
            norm_forward(rows(a.ln1, D), rows(a.ln1_mean, 1), rows(a.ln1_rstd, 1), x, p + o.ln1_w, at(p, o.ln1_b), N, D, rms);
            x = rows(a.ln1, D);
        }
        real* q = cfg_.qk_norm ? rows(a.q_pre, HD) : rows(a.q, HD);
        real* k = cfg_.qk_norm ? rows(a.k_pre, HD) : rows(a.k, HD);
        real* v = rows(a.v, HD);
        for (int h = 0; h < H; ++h) {
            const size_t w = static_cast<size_t>(h) * D * Dh, bh = static_cast<size_t>(h) * Dh;
            real* const out[3] = {q + h * Dh, k + h * Dh, v + h * Dh};
            const real* const W[3] = {p + o.W_Q + w, p + o.W_K + w, p + o.W_V + w};
            const real* const bias[3] = {o.b_Q == kAbsent ? nullptr : p + o.b_Q + bh,
                                         o.b_K == kAbsent ? nullptr : p + o.b_K + bh,
                                         o.b_V == kAbsent ? nullptr : p + o.b_V + bh};
            linear3_forward(out, HD, x, D, W, bias, N, D, Dh);
        }
        if (cfg_.qk_norm) {
            // every (position, head) row of d_head values normalised, one gain shared by heads
            norm_forward(rows(a.q, HD), nullptr, rows(a.q_rstd, H), q, p + o.q_norm_w, nullptr, N * H, Dh, true);
            norm_forward(rows(a.k, HD), nullptr, rows(a.k_rstd, H), k, p + o.k_norm_w, nullptr, N * H, Dh, true);
        }
        real* z = rows(a.z, HD);
        const real* query_mask = loss_only_ && l == cfg_.n_layers - 1 ? batch.weight.data() + r0 : nullptr;
        attention_forward(z, a.pattern.data() + static_cast<size_t>(b0) * H * T * T, rows(a.q, HD), rows(a.k, HD), v,
                          nb, T, H, Dh, scale, query_mask, scratch, pattern_layout());
        if (hooks && hooks->after_pattern) hooks->after_pattern(l, a, b0, b1, T);
        real* attn_out = rows(a.attn_out, D);
        for (int h = 0; h < H; ++h)
            linear_forward(attn_out, D, z + h * Dh, HD, p + o.W_O + static_cast<size_t>(h) * Dh * D,
                           h == 0 ? at(p, o.b_O) : nullptr, N, Dh, D, h > 0);
        real* resid_mid = rows(a.resid_mid, D);
        real* resid_post = rows(a.resid_post, D);
        for (int i = 0; i < N * D; ++i) resid_mid[i] = resid_pre[i] + attn_out[i];

        if (M > 0) {
            const real* x2 = resid_mid;
            if (norm) {
                norm_forward(rows(a.ln2, D), rows(a.ln2_mean, 1), rows(a.ln2_rstd, 1), x2, p + o.ln2_w, at(p, o.ln2_b),
                             N, D, rms);
                x2 = rows(a.ln2, D);
            }
            real* mlp_pre = rows(a.mlp_pre, M);
            real* mlp_post = rows(a.mlp_post, M);
            real* mlp_out = rows(a.mlp_out, D);
            linear_forward(mlp_pre, M, x2, D, p + o.W_in, p + o.b_in, N, D, M, false);
            activation_forward(mlp_post, mlp_pre, N * M, cfg_.act == Activation::kGelu);
            linear_forward(mlp_out, D, mlp_post, M, p + o.W_out, p + o.b_out, N, M, D, false);
            for (int i = 0; i < N * D; ++i) resid_post[i] = resid_mid[i] + mlp_out[i];
        } else {
            std::copy_n(resid_mid, N * D, resid_post);
        }
        if (hooks && hooks->after_resid_post) hooks->after_resid_post(l, a, b0, b1, T);
    }

    const real* final_resid = rows(acts_.blocks.back().resid_post, D);
    if (norm) {
        norm_forward(rows(acts_.ln_final, D), rows(acts_.ln_final_mean, 1), rows(acts_.ln_final_rstd, 1), final_resid,
                     p + layout_.ln_final_w, at(p, layout_.ln_final_b), N, D, rms);
        final_resid = rows(acts_.ln_final, D);
    }
    readout_forward(rows(acts_.output, 1), final_resid, p + layout_.W_U, p + layout_.b_U, N, D);
    return mse_forward(rows(acts_.output, 1), batch.target.data() + r0, batch.weight.data() + r0, N);
}

void Transformer::backward_rows(const real* p, real* g, const Batch& batch, int b0, int b1, real* scratch) {
    const int T = batch.T, nb = b1 - b0, N = nb * T;
    const size_t r0 = static_cast<size_t>(b0) * T;
    const int D = cfg_.d_model, H = cfg_.n_heads, Dh = cfg_.d_head, M = cfg_.d_mlp;
    const int HD = H * Dh;
    const bool norm = cfg_.norm != Norm::kNone, rms = cfg_.norm == Norm::kRmsNorm;
    const real scale = cfg_.attn_scale == AttnScale::kInvSqrtDHead ? real(1) / std::sqrt(real(Dh)) : real(1);
    // Views of this shard's rows; the zeroed ones start at 0.
    auto rows = [r0](std::vector<real>& v, size_t width) { return v.data() + r0 * width; };
    auto crows = [r0](const std::vector<real>& v, size_t width) { return v.data() + r0 * width; };
    auto zeroed = [r0, N](std::vector<real>& v, size_t width) {
        real* r = v.data() + r0 * width;
        std::fill_n(r, static_cast<size_t>(N) * width, real(0));
        return r;
    };
    real* dresid = zeroed(ws_.dresid, D);  // (nb, T, D): gradient of the residual stream, walked backwards

    real* doutput = zeroed(ws_.doutput, 1);
    mse_backward(doutput, crows(acts_.output, 1), batch.target.data() + r0, batch.weight.data() + r0, N);
    const real* final_resid = crows(acts_.blocks.back().resid_post, D);
    if (norm) {
        real* dx = zeroed(ws_.dx, D);
        readout_backward(dx, g + layout_.W_U, g + layout_.b_U, doutput, crows(acts_.ln_final, D), p + layout_.W_U, N, D);
        norm_backward(dresid, g + layout_.ln_final_w, at(g, layout_.ln_final_b), dx, final_resid, p + layout_.ln_final_w,
                      crows(acts_.ln_final_mean, 1), crows(acts_.ln_final_rstd, 1), N, D, rms);
    } else {
        readout_backward(dresid, g + layout_.W_U, g + layout_.b_U, doutput, final_resid, p + layout_.W_U, N, D);
    }

    for (int l = cfg_.n_layers - 1; l >= 0; --l) {
        const BlockActivations& a = acts_.blocks[l];
        const BlockOffsets& o = layout_.blocks[l];
        // dresid now holds d loss / d resid_post; the residual path passes it straight on.
        if (M > 0) {
            real* dmlp_post = zeroed(ws_.dmlp_post, M);
            real* dmlp_pre = zeroed(ws_.dmlp_pre, M);
            linear_backward(dmlp_post, M, g + o.W_out, g + o.b_out, dresid, D, crows(a.mlp_post, M), p + o.W_out, N, M, D);
            activation_backward(dmlp_pre, dmlp_post, crows(a.mlp_pre, M), N * M, cfg_.act == Activation::kGelu);
            const real* x2 = norm ? crows(a.ln2, D) : crows(a.resid_mid, D);
            real* dx2 = norm ? zeroed(ws_.dx, D) : dresid;
            linear_backward(dx2, D, g + o.W_in, g + o.b_in, dmlp_pre, M, x2, p + o.W_in, N, D, M);
            if (norm)
                norm_backward(dresid, g + o.ln2_w, at(g, o.ln2_b), dx2, crows(a.resid_mid, D), p + o.ln2_w,
                              crows(a.ln2_mean, 1), crows(a.ln2_rstd, 1), N, D, rms);
        }
        // dresid now holds d loss / d resid_mid = d loss / d attn_out.
        real* dz = zeroed(ws_.dz, HD);
        for (int h = 0; h < H; ++h)
            linear_backward(dz + h * Dh, HD, g + o.W_O + static_cast<size_t>(h) * Dh * D, h == 0 ? at(g, o.b_O) : nullptr,
                            dresid, D, crows(a.z, HD) + h * Dh, p + o.W_O + static_cast<size_t>(h) * Dh * D, N, Dh, D);
        real* dq = rows(ws_.dq, HD);  // written whole by attention_backward (accumulate = false)
        real* dk = rows(ws_.dk, HD);
        real* dv = rows(ws_.dv, HD);
        const real* query_mask = loss_only_ && l == cfg_.n_layers - 1 ? batch.weight.data() + r0 : nullptr;
        attention_backward(dq, dk, dv, dz, a.pattern.data() + static_cast<size_t>(b0) * H * T * T, crows(a.q, HD),
                           crows(a.k, HD), crows(a.v, HD), nb, T, H, Dh, scale, query_mask, scratch,
                           pattern_layout(), false);
        if (cfg_.qk_norm) {
            real* dq_pre = zeroed(ws_.dq_pre, HD);
            real* dk_pre = zeroed(ws_.dk_pre, HD);
            norm_backward(dq_pre, g + o.q_norm_w, nullptr, dq, crows(a.q_pre, HD), p + o.q_norm_w, nullptr,
                          crows(a.q_rstd, H), N * H, Dh, true);
            norm_backward(dk_pre, g + o.k_norm_w, nullptr, dk, crows(a.k_pre, HD), p + o.k_norm_w, nullptr,
                          crows(a.k_rstd, H), N * H, Dh, true);
            dq = dq_pre;
            dk = dk_pre;
        }
        const real* x = norm ? crows(a.ln1, D) : crows(a.resid_pre, D);
        real* dx = norm ? zeroed(ws_.dx, D) : dresid;
        for (int h = 0; h < H; ++h) {
            const size_t w = static_cast<size_t>(h) * D * Dh, bh = static_cast<size_t>(h) * Dh;
            real* const dW[3] = {g + o.W_Q + w, g + o.W_K + w, g + o.W_V + w};
            real* const dbias[3] = {o.b_Q == kAbsent ? nullptr : g + o.b_Q + bh, o.b_K == kAbsent ? nullptr : g + o.b_K + bh,
                                    o.b_V == kAbsent ? nullptr : g + o.b_V + bh};
            const real* const dout[3] = {dq + h * Dh, dk + h * Dh, dv + h * Dh};
            const real* const W[3] = {p + o.W_Q + w, p + o.W_K + w, p + o.W_V + w};
            linear3_backward(dx, D, dW, dbias, dout, HD, x, W, N, D, Dh);
        }
        if (norm)
            norm_backward(dresid, g + o.ln1_w, at(g, o.ln1_b), dx, crows(a.resid_pre, D), p + o.ln1_w,
                          crows(a.ln1_mean, 1), crows(a.ln1_rstd, 1), N, D, rms);
        // dresid now holds d loss / d resid_pre of block l = d loss / d resid_post of block l-1.
    }
    std::copy_n(dresid, static_cast<size_t>(N) * D, rows(ws_.dembed, D));
    embed_backward(g, dresid, batch, b0, b1);
}

}  // namespace ctr
