#pragma once
// The shard-lane kernel (shard_lanes.hpp says what it computes), written once for every
// vector width W. Each instruction set's entry points are compiled in a file of their
// own (shard_lanes_scalar.cpp, shard_lanes_sse2.cpp, shard_lanes_avx2.cpp,
// shard_lanes_avx512.cpp), so that the build compiles them side by side; shard_lanes.cpp
// picks one at run time.
//
// Every function below is the row path's (layers.cpp, attention_kernel.hpp, transformer.cpp)
// with a vector of W shards' values in place of each number: lane w of group g is shard
// g * W + w, and a "slot" is one sequence of each of the W shards (the i-th of each).
// Per element they do the same IEEE operations in the same order as the row kernels, so
// the comments there say why an operation is written as it is (the +0 that a zeroed
// buffer adds, the bias added first by the narrow products and last by the GEMM, ...).
// A parameter-gradient sum of a lane is that shard's partial sum; a lane past the end of
// its shard (shards differ by one sequence when 8 does not divide B) is `live` false and
// leaves every sum bit for bit untouched (a select, never an added 0: -0 + 0 = +0).

// Vector arguments of always-inlined helpers never reach a call boundary.
#pragma GCC diagnostic ignored "-Wpsabi"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "model/lanes.hpp"
#include "model/layers.hpp"
#include "model/params.hpp"
#include "model/shard_lanes_levels.hpp"
#include "task/batch.hpp"
#include "util/real.hpp"

namespace ctr::shard_lanes_detail {

// The kernel: internal to each file that includes it, as the entry points inline all of it.
namespace {

template <int W>
using Vec = Lanes<real, W>;
template <int W>
using Mask = Lanes<typename ExpConstants<real>::Int, W>;

// x in every lane, -0 kept (splat() adds x to +0, which makes -0 +0).
template <int W>
[[gnu::always_inline]] inline Vec<W> bcast(real x) {
    const Vec<W> v{x};
    return __builtin_shuffle(v, Mask<W>{});  // lane 0 everywhere: a move, no arithmetic
}

template <int W>
[[gnu::always_inline]] inline Mask<W> all_lanes() {
    return Vec<W>{} == Vec<W>{};
}

template <int W>
[[gnu::always_inline]] inline bool any_lane(Mask<W> m) {
    bool any = false;
    for (int w = 0; w < W; ++w) any = any || m[w] != 0;
    return any;
}

template <int W>
[[gnu::always_inline]] inline Vec<W> sqrt_lanes(Vec<W> x) {
    Vec<W> r = x;
    for (int w = 0; w < W; ++w) r[w] = std::sqrt(x[w]);  // correctly rounded at every width
    return r;
}

// ----------------------------------------------------------------------------
// inputs: the slot's sequences, lane w = seq[w] (< 0: past the end of its shard, zeros)

// out (T) lanes <- rows[w][0..T) of the W lanes: W positions at a time by a W x W
// transpose, the rest one number at a time.
template <int W, class S>
[[gnu::always_inline]] inline void lanes_from_rows(Vec<W>* out, const S* const* rows, int T) {
    int t = 0;
    if constexpr (W > 1) {
        for (; t + W <= T; t += W) {
            Vec<W> r[W];
            for (int w = 0; w < W; ++w) {
                if constexpr (std::is_same_v<S, real>) {
                    std::memcpy(&r[w], rows[w] + t, sizeof r[w]);
                } else {
                    Lanes<S, W> x;
                    std::memcpy(&x, rows[w] + t, sizeof x);
                    r[w] = __builtin_convertvector(x, Vec<W>);  // small integers: exact
                }
            }
            transpose<W>(r);
            for (int k = 0; k < W; ++k) out[t + k] = r[k];
        }
    }
    for (; t < T; ++t)
        for (int w = 0; w < W; ++w) out[t][w] = static_cast<real>(rows[w][t]);
}

// The slot's inputs: lane w = sequence seq[w] of the batch, or (seq[w] < 0: past the
// end of its shard) zeros from `zeros` (n_ctx reals and ints).
template <int W>
[[gnu::always_inline]] inline void inputs_load(Vec<W>* kind, Vec<W>* value, Vec<W>* target, Vec<W>* weight,
                                               const Batch& batch, const int* seq, int T, const real* zeros,
                                               const int* izeros) {
    const int* k[W];
    const real *v[W], *tg[W], *wt[W];
    for (int w = 0; w < W; ++w) {
        const size_t r = static_cast<size_t>(seq[w] < 0 ? 0 : seq[w]) * T;
        k[w] = seq[w] < 0 ? izeros : batch.kind.data() + r;
        v[w] = seq[w] < 0 ? zeros : batch.value.data() + r;
        tg[w] = seq[w] < 0 ? zeros : batch.target.data() + r;
        wt[w] = seq[w] < 0 ? zeros : batch.weight.data() + r;
    }
    lanes_from_rows<W>(kind, k, T);
    lanes_from_rows<W>(value, v, T);
    lanes_from_rows<W>(target, tg, T);
    lanes_from_rows<W>(weight, wt, T);
}

// ----------------------------------------------------------------------------
// Sizes: each a compile-time constant (> 0) or read from Net at run time (0). The
// kernels below are written once for both; with constants (the paper's minimal model:
// T 16, one head, d_model = d_head = 2) their loops have fixed trip counts and
// addresses and a head's weights stay in registers. The operations are the same.

template <int kT_, int kH_, int kD_, int kDh_>
struct Shape {
    static constexpr int kT = kT_, kH = kH_, kD = kD_, kDh = kDh_;
    static constexpr int kHeadW = kD > 0 && kDh > 0 ? kD * kDh : 0;  // a head's W_Q (or W_O) entries, if known
    static int T(const Net& n) { return kT > 0 ? kT : n.T; }
    static int H(const Net& n) { return kH > 0 ? kH : n.H; }
    static int D(const Net& n) { return kD > 0 ? kD : n.D; }
    static int Dh(const Net& n) { return kDh > 0 ? kDh : n.Dh; }
};

// kN parameters, each as a vector of W copies: broadcast once into registers when kN is
// a constant (> 0), read at each use otherwise. The lanes' buffers are vectors of real,
// which may alias the parameters, so the compiler would reload them after every store.
template <int W, int kN>
struct Params {
    const real* p;
    Vec<W> v[kN > 0 ? kN : 1];
    [[gnu::always_inline]] explicit Params(const real* src) : p(src) {
        if constexpr (kN > 0)
            for (int i = 0; i < kN; ++i) v[i] = bcast<W>(src[i]);
    }
    [[gnu::always_inline]] Vec<W> operator[](int i) const {
        if constexpr (kN > 0)
            return v[i];
        else
            return bcast<W>(p[i]);
    }
};

// row[0..kN) copied into `local` (registers) when kN is a constant, for the same reason;
// else row itself.
template <int kN, class V>
[[gnu::always_inline]] inline const V* in_registers(V* local, const V* row) {
    if constexpr (kN > 0) {
        for (int i = 0; i < kN; ++i) local[i] = row[i];
        return local;
    }
    return row;
}

// ----------------------------------------------------------------------------
// embedding (Transformer::embed_forward / embed_backward)

template <int W, class S>
[[gnu::always_inline]] inline void embed_forward(Vec<W>* X, const Vec<W>* kind, const Vec<W>* value, const real* p,
                                                 const Net& n) {
    // X (T, D)
    using V = Vec<W>;
    const ParamLayout& ly = *n.lay;
    const int T = S::T(n), D = S::D(n);
    const real *w_num = p + ly.w_num, *b_num = p + ly.b_num, *e_sep = p + ly.e_sep;
    const real* e_bos = ly.e_bos == kAbsent ? e_sep : p + ly.e_bos;
    const real* pos = ly.W_pos == kAbsent ? nullptr : p + ly.W_pos;
    for (int t = 0; t < T; ++t) {
        const auto number = kind[t] == real(kNumber), sep = kind[t] == real(kSep);
        for (int c = 0; c < D; ++c) {
            const V token = sep ? bcast<W>(e_sep[c]) : bcast<W>(e_bos[c]);
            V e = number ? value[t] * w_num[c] + b_num[c] : token;
            if (pos) e += pos[static_cast<size_t>(t) * D + c];
            if (n.sinusoid) e += n.sinusoid[static_cast<size_t>(t) * D + c];
            X[t * D + c] = e;
        }
    }
}

template <int W, class S, bool kTail>
[[gnu::always_inline]] inline void embed_backward(Vec<W>* G, const Vec<W>* dX, const Vec<W>* kind,
                                                  const Vec<W>* value, Mask<W> live, const Net& n) {
    // dX (T, D)
    const ParamLayout& ly = *n.lay;
    const int T = S::T(n), D = S::D(n);
    Vec<W>* g_pos = ly.W_pos == kAbsent ? nullptr : G + ly.W_pos;
    for (int t = 0; t < T; ++t) {
        const Mask<W> number = (kind[t] == real(kNumber)) & live, sep = (kind[t] == real(kSep)) & live,
                      bos = (kind[t] == real(kBos)) & live;
        for (int c = 0; c < D; ++c) {
            const Vec<W> d = dX[t * D + c];
            add_masked<true>(G[ly.w_num + c], d * value[t], number);
            add_masked<true>(G[ly.b_num + c], d, number);
            add_masked<true>(G[ly.e_sep + c], d, sep);
            if (ly.e_bos != kAbsent) add_masked<true>(G[ly.e_bos + c], d, bos);
            if (g_pos) add_masked<kTail>(g_pos[static_cast<size_t>(t) * D + c], d, live);
        }
    }
}

// ----------------------------------------------------------------------------
// Q, K, V of every head: out_m (T, H, Dh) = x (T, D) @ W_m[h] (D, Dh) + b_m[h], m = Q, K, V
// (linear3_forward / linear3_backward, head by head). One matrix at a time, so that its
// weights (and in the backward its gradient sums) fit in registers; every output and
// every sum still takes its terms in the row path's order.

struct Qkv {
    const real* W[3];  // [n_heads, d_model, d_head]
    const real* b[3];  // [n_heads, d_head] or nullptr
};

template <int W, class S>
[[gnu::always_inline]] inline void qkv_forward(Vec<W>* const out[3], const Vec<W>* X, const Qkv& q, const Net& n) {
    using V = Vec<W>;
    const int T = S::T(n), H = S::H(n), D = S::D(n), Dh = S::Dh(n), HD = H * Dh;
    for (int h = 0; h < H; ++h)
        for (int m = 0; m < 3; ++m) {
            const Params<W, S::kHeadW> Wm(q.W[m] + static_cast<size_t>(h) * D * Dh);  // (D, Dh)
            const real* bm = q.b[m] ? q.b[m] + static_cast<size_t>(h) * Dh : nullptr;
            for (int t = 0; t < T; ++t) {
                const V* x = X + t * D;
                for (int j = 0; j < Dh; ++j) {
                    V s = bm && !n.qkv_gemm ? bcast<W>(bm[j]) : V{};
                    for (int c = 0; c < D; ++c) s += x[c] * Wm[c * Dh + j];
                    if (bm && n.qkv_gemm) s += bm[j];
                    out[m][t * HD + h * Dh + j] = s;
                }
            }
        }
}

template <int W, class S, bool kTail>
[[gnu::always_inline]] inline void qkv_backward(Vec<W>* dX, Vec<W>* G, const Vec<W>* const dout[3], const Vec<W>* X,
                                                const Qkv& q, const size_t gW[3], const size_t gb[3], Mask<W> live,
                                                const Net& n) {
    // dX (T, D) += dout_m @ W_m[h]^T, over h and m in that order (each element's terms
    // in the row path's order)
    using V = Vec<W>;
    const int T = S::T(n), H = S::H(n), D = S::D(n), Dh = S::Dh(n), HD = H * Dh;
    constexpr int kW = S::kHeadW, kB = kW > 0 ? S::kDh : 0;
    for (int h = 0; h < H; ++h)
        for (int m = 0; m < 3; ++m) {
            const Params<W, kW> Wm(q.W[m] + static_cast<size_t>(h) * D * Dh);  // (D, Dh)
            // the gradient sums of W_m[h] and b_m[h], in registers when the sizes are known
            V* const gw = G + gW[m] + static_cast<size_t>(h) * D * Dh;
            V* const gbias = q.b[m] ? G + gb[m] + static_cast<size_t>(h) * Dh : nullptr;
            V lw[kW > 0 ? kW : 1], lb[kB > 0 ? kB : 1];
            V* dW = gw;
            V* db = gbias;
            if constexpr (kW > 0) {
                for (int i = 0; i < kW; ++i) lw[i] = gw[i];
                for (int j = 0; j < kB; ++j) lb[j] = gbias ? gbias[j] : V{};
                dW = lw;
                db = gbias ? lb : nullptr;
            }
            for (int t = 0; t < T; ++t) {
                const V* x = X + t * D;
                V* dx = dX + t * D;
                const V* dy = dout[m] + t * HD + h * Dh;
                for (int c = 0; c < D; ++c) {
                    V s{};
                    for (int j = 0; j < Dh; ++j) {
                        s += dy[j] * Wm[c * Dh + j];
                        add_masked<kTail>(dW[c * Dh + j], x[c] * dy[j], live);
                    }
                    dx[c] += s;
                }
                if (db)
                    for (int j = 0; j < Dh; ++j) add_masked<kTail>(db[j], dy[j], live);
            }
            if constexpr (kW > 0) {
                for (int i = 0; i < kW; ++i) gw[i] = lw[i];
                if (gbias)
                    for (int j = 0; j < kB; ++j) gbias[j] = lb[j];
            }
        }
}

// ----------------------------------------------------------------------------
// QK-norm: RMSNorm of each (position, head) row of d_head values, one gain for all
// heads (norm_forward / norm_backward with rms = true, no bias)

template <int W, class S>
[[gnu::always_inline]] inline void qk_norm_forward(Vec<W>* out, Vec<W>* rstd, const Vec<W>* in, const real* gain,
                                                   const Net& n) {
    // in, out (T, H, Dh); rstd (T, H)
    using V = Vec<W>;
    const int Dh = S::Dh(n);
    for (int r = 0; r < S::T(n) * S::H(n); ++r) {
        const V* x = in + r * Dh;
        const V m{};
        V var{};
        for (int c = 0; c < Dh; ++c) var += (x[c] - m) * (x[c] - m);
        var /= real(Dh);
        const V s = real(1) / sqrt_lanes<W>(var + kNormEps);
        for (int c = 0; c < Dh; ++c) out[r * Dh + c] = (x[c] - m) * s * gain[c] + real(0);
        rstd[r] = s;
    }
}

template <int W, class S, bool kTail>
[[gnu::always_inline]] inline void qk_norm_backward(Vec<W>* din, Vec<W>* dgain, const Vec<W>* dout, const Vec<W>* in,
                                                    const real* gain, const Vec<W>* rstd, Mask<W> live, const Net& n) {
    // din written whole (what adding to a zeroed buffer gives)
    using V = Vec<W>;
    const int Dh = S::Dh(n);
    for (int r = 0; r < S::T(n) * S::H(n); ++r) {
        const V* x = in + r * Dh;
        const V* dy = dout + r * Dh;
        const V m{};
        const V s = rstd[r];
        V dnorm_mean{}, dnorm_xhat_mean{};
        for (int c = 0; c < Dh; ++c) {
            const V xhat = (x[c] - m) * s;
            const V dnorm = dy[c] * gain[c];
            dnorm_mean += dnorm;
            dnorm_xhat_mean += dnorm * xhat;
            add_masked<kTail>(dgain[c], dy[c] * xhat, live);
        }
        dnorm_xhat_mean /= real(Dh);
        dnorm_mean = V{};  // RMSNorm: no mean was subtracted, so none flows back
        for (int c = 0; c < Dh; ++c) {
            const V xhat = (x[c] - m) * s;
            din[r * Dh + c] = V{} + s * (dy[c] * gain[c] - dnorm_mean - xhat * dnorm_xhat_mean);
        }
    }
}

// ----------------------------------------------------------------------------
// causal softmax attention of head h (attention_kernel.hpp: forward_group / backward_group)
// mask: (T) loss weights; only queries with a non-zero weight are computed (the last
// block of the loss-only forward); nullptr: all.

// Whether query i is computed: some lane's loss looks at it (rows, from the mask), or
// no mask.
[[gnu::always_inline]] inline bool row_on(const unsigned char* rows, int i) { return !rows || rows[i]; }

// Forward in three passes over the queries, each row's operations in the row kernel's
// order: logits and the row maximum; the exps (of logit - row max) of consecutive
// computed rows as one run, four at a time (exp_lanes_n); then per row the sum, the
// normalisation and z.
template <int W, class S>
[[gnu::always_inline]] inline void attention_forward(Vec<W>* Z, Vec<W>* P, Vec<W>* rowmax, const Vec<W>* Q,
                                                     const Vec<W>* K, const Vec<W>* Vv, const Vec<W>* mask,
                                                     const unsigned char* rows, int h, const Net& n) {
    // Z, Q, K, Vv (T, H, Dh); P (H, T (T + 1) / 2); rowmax (T) scratch
    using V = Vec<W>;
    constexpr int kDh = S::kDh;
    const int T = S::T(n), Dh = S::Dh(n), HD = S::H(n) * Dh;
    const real scale = n.scale;
    const bool scaled = scale != real(1);
    V* Ph = P + static_cast<size_t>(h) * T * (T + 1) / 2;
    for (int i = 0; i < T; ++i) {
        if (!row_on(rows, i)) continue;
        V q[kDh > 0 ? kDh : 1];
        const V* qi = in_registers<kDh>(q, Q + i * HD + h * Dh);
        V* p = Ph + i * (i + 1) / 2;
        V maxv = bcast<W>(-std::numeric_limits<real>::infinity());
        for (int j = 0; j <= i; ++j) {
            const V* kj = K + j * HD + h * Dh;
            V s{};
            for (int d = 0; d < Dh; ++d) s += qi[d] * kj[d];
            p[j] = scaled ? s * scale : s;  // x * 1 is x, bit for bit
            maxv = maxv < p[j] ? p[j] : maxv;
        }
        rowmax[i] = maxv;
    }
    for (int i = 0; i < T;) {
        if (!row_on(rows, i)) {
            ++i;
            continue;
        }
        int e = i + 1;
        while (e < T && row_on(rows, e)) ++e;
        // rows [i, e): entries [i (i + 1) / 2, e (e + 1) / 2) of P; n.row_of: an entry's row
        const int first = i * (i + 1) / 2, end = e * (e + 1) / 2;
        int c = first;
        for (; c + 4 <= end; c += 4) {
            V x[4];
            for (int k = 0; k < 4; ++k) x[k] = Ph[c + k] - rowmax[n.row_of[c + k]];
            exp_lanes_n<real, W, 4, true>(x);  // x = logit - row max <= 0
            for (int k = 0; k < 4; ++k) Ph[c + k] = x[k];
        }
        for (; c < end; ++c) {
            V x = Ph[c] - rowmax[n.row_of[c]];
            exp_lanes_n<real, W, 1, true>(&x);
            Ph[c] = x;
        }
        i = e;
    }
    for (int i = 0; i < T; ++i) {
        V* zo = Z + i * HD + h * Dh;
        if (!row_on(rows, i)) {
            for (int d = 0; d < Dh; ++d) zo[d] = V{};
            continue;
        }
        V* p = Ph + i * (i + 1) / 2;
        V sum{};
        for (int j = 0; j <= i; ++j) sum += p[j];
        const V inv = real(1) / sum;
        V acc[kDh > 0 ? kDh : 1];
        V* zi = kDh > 0 ? acc : zo;
        for (int d = 0; d < Dh; ++d) zi[d] = V{};
        for (int j = 0; j <= i; ++j) {
            const V* vj = Vv + j * HD + h * Dh;
            p[j] *= inv;
            const V pj = p[j];
            for (int d = 0; d < Dh; ++d) zi[d] += pj * vj[d];
        }
        if (mask) {
            const Mask<W> on = mask[i] != V{};
            for (int d = 0; d < Dh; ++d) zo[d] = on ? zi[d] : V{};
        } else if constexpr (kDh > 0) {
            for (int d = 0; d < Dh; ++d) zo[d] = zi[d];
        }
    }
}

// acc += x; kFirst (x is the first term of acc's sum): acc = 0 + x, what adding to a
// zeroed buffer gives, without zeroing it first.
template <bool kFirst, bool kMasked, class V, class M>
[[gnu::always_inline]] inline void add_term(V& acc, V x, M on) {
    if constexpr (kFirst)
        acc = V{} + x;
    else
        add_masked<kMasked>(acc, x, on);
}

template <int W, class S, bool kMasked>
[[gnu::always_inline]] inline void attention_backward(Vec<W>* dQ, Vec<W>* dK, Vec<W>* dV, Vec<W>* dP,
                                                      const Vec<W>* dZ, const Vec<W>* P, const Vec<W>* Q,
                                                      const Vec<W>* K, const Vec<W>* Vv, const Vec<W>* mask,
                                                      const unsigned char* rows, int h, const Net& n) {
    // dQ, dK, dV (T, H, Dh): this head's part. kMasked: added, into buffers the caller
    // zeroed (queries the mask skips add nothing). Otherwise written: every query is
    // computed, in order, so query i is the first to reach key i (the last entry of its
    // row), and row i's dq is all its own.
    using V = Vec<W>;
    constexpr int kDh = S::kDh;
    const int T = S::T(n), Dh = S::Dh(n), HD = S::H(n) * Dh;
    const real scale = n.scale;
    const bool scaled = scale != real(1);
    const V* Ph = P + static_cast<size_t>(h) * T * (T + 1) / 2;
    for (int i = 0; i < T; ++i) {
        Mask<W> on = all_lanes<W>();
        if constexpr (kMasked) {
            on = mask[i] != V{};
            if (!rows[i]) continue;
        }
        const V* p = Ph + i * (i + 1) / 2;
        V dz[kDh > 0 ? kDh : 1], q[kDh > 0 ? kDh : 1];
        const V* dzi = in_registers<kDh>(dz, dZ + i * HD + h * Dh);
        V p_dot_dp{};
        // key j's dp and dv (first: key j = i of an unmasked row)
        const auto dp_dv = [&](int j, auto first) __attribute__((always_inline)) {
            const V* vj = Vv + j * HD + h * Dh;
            V* dvj = dV + j * HD + h * Dh;
            V s{};
            for (int d = 0; d < Dh; ++d) {
                s += dzi[d] * vj[d];
                add_term<decltype(first)::value, kMasked>(dvj[d], p[j] * dzi[d], on);
            }
            dP[j] = s;
            p_dot_dp += p[j] * s;
        };
        for (int j = 0; j < i; ++j) dp_dv(j, std::false_type{});
        dp_dv(i, std::bool_constant<!kMasked>{});
        // softmax backward: dlogit_j = p_j (dp_j - sum_k p_k dp_k)
        const V* qi = in_registers<kDh>(q, Q + i * HD + h * Dh);
        V* dqo = dQ + i * HD + h * Dh;
        V acc[kDh > 0 ? kDh : 1];  // dq_i in registers when d_head is known
        V* dqi = kDh > 0 ? acc : dqo;
        for (int d = 0; d < Dh; ++d) dqi[d] = kMasked ? dqo[d] : V{};
        const auto dlogit_terms = [&](int j, auto first) __attribute__((always_inline)) {
            V dlogit = p[j] * (dP[j] - p_dot_dp);
            if (scaled) dlogit *= scale;
            const V* kj = K + j * HD + h * Dh;
            V* dkj = dK + j * HD + h * Dh;
            for (int d = 0; d < Dh; ++d) {
                add_masked<kMasked>(dqi[d], dlogit * kj[d], on);
                add_term<decltype(first)::value, kMasked>(dkj[d], dlogit * qi[d], on);
            }
        };
        for (int j = 0; j < i; ++j) dlogit_terms(j, std::false_type{});
        dlogit_terms(i, std::bool_constant<!kMasked>{});
        if constexpr (kDh > 0)
            for (int d = 0; d < Dh; ++d) dqo[d] = acc[d];
    }
}

// ----------------------------------------------------------------------------
// output projection and residual: Xn (T, D) = X + sum_h Z[., h] (T, Dh) @ W_O[h] (Dh, D)
// + b_O (linear_forward / linear_backward head by head, accumulating after head 0)

template <int W, class S>
[[gnu::always_inline]] inline void out_forward(Vec<W>* Xn, const Vec<W>* X, const Vec<W>* Z, const real* W_O,
                                               const real* b_O, const Net& n) {
    using V = Vec<W>;
    const int T = S::T(n), H = S::H(n), D = S::D(n), Dh = S::Dh(n), HD = H * Dh;
    // with one head of known size, W_O in registers
    const Params<W, S::kH == 1 ? S::kHeadW : 0> W0(W_O);
    for (int t = 0; t < T; ++t)
        for (int j = 0; j < D; ++j) {
            V o{};
            for (int h = 0; h < H; ++h) {
                const V* z = Z + t * HD + h * Dh;
                const bool bias = h == 0 && b_O;
                V s = bias && !n.wo_gemm ? bcast<W>(b_O[j]) : V{};
                if constexpr (S::kH == 1)
                    for (int c = 0; c < Dh; ++c) s += z[c] * W0[c * D + j];
                else
                    for (int c = 0; c < Dh; ++c) s += z[c] * W_O[(static_cast<size_t>(h) * Dh + c) * D + j];
                if (h == 0) {
                    o = s;
                    if (bias && n.wo_gemm) o += b_O[j];
                } else {
                    o += s;
                }
            }
            Xn[t * D + j] = X[t * D + j] + o;  // resid_mid = resid_pre + attn_out; no MLP: resid_post = resid_mid
        }
}

template <int W, class S, bool kTail>
[[gnu::always_inline]] inline void out_backward(Vec<W>* dZ, Vec<W>* G, const Vec<W>* dX, const Vec<W>* Z,
                                                const real* W_O, size_t gW_O, size_t gb_O, Mask<W> live,
                                                const Net& n) {
    // dZ (T, H, Dh) written whole; dX (T, D) = d loss / d attn_out
    using V = Vec<W>;
    const int T = S::T(n), H = S::H(n), D = S::D(n), Dh = S::Dh(n), HD = H * Dh;
    constexpr int kW = S::kHeadW, kB = kW > 0 ? S::kD : 0;
    for (int h = 0; h < H; ++h) {
        const bool bias = h == 0 && gb_O != kAbsent;
        const Params<W, kW> Wh(W_O + static_cast<size_t>(h) * Dh * D);  // (Dh, D)
        V lw[kW > 0 ? kW : 1], lb[kB > 0 ? kB : 1];
        V* dW = G + gW_O + static_cast<size_t>(h) * Dh * D;
        V* db = bias ? G + gb_O : nullptr;
        if constexpr (kW > 0) {
            for (int i = 0; i < kW; ++i) lw[i] = dW[i];
            for (int j = 0; j < kB; ++j) lb[j] = bias ? db[j] : V{};
            dW = lw;
            db = bias ? lb : nullptr;
        }
        for (int t = 0; t < T; ++t) {
            const V* z = Z + t * HD + h * Dh;
            const V* dy = dX + t * D;
            for (int c = 0; c < Dh; ++c) {
                V s{};
                for (int j = 0; j < D; ++j) {
                    s += dy[j] * Wh[c * D + j];
                    add_masked<kTail>(dW[c * D + j], z[c] * dy[j], live);
                }
                dZ[t * HD + h * Dh + c] = V{} + s;
            }
            if (bias)
                for (int j = 0; j < D; ++j) add_masked<kTail>(db[j], dy[j], live);
        }
        if constexpr (kW > 0) {
            V* gw = G + gW_O + static_cast<size_t>(h) * Dh * D;
            for (int i = 0; i < kW; ++i) gw[i] = lw[i];
            if (bias)
                for (int j = 0; j < kB; ++j) G[gb_O + j] = lb[j];
        }
    }
}

// ----------------------------------------------------------------------------
// readout and loss (readout_*, mse_* of layers.cpp)

template <int W, class S>
[[gnu::always_inline]] inline void readout_forward(Vec<W>* out, const Vec<W>* X, const real* W_U, const real* b_U,
                                                   const Net& n) {
    // out (T) = X (T, D) @ W_U + b_U
    const int D = S::D(n);
    const Params<W, S::kD> Wu(W_U);
    for (int t = 0; t < S::T(n); ++t) {
        Vec<W> s = bcast<W>(b_U[0]);
        for (int c = 0; c < D; ++c) s += X[t * D + c] * Wu[c];
        out[t] = s;
    }
}

template <int W, class S, bool kTail>
[[gnu::always_inline]] inline void readout_backward(Vec<W>* dX, Vec<W>* G, const Vec<W>* dout, const Vec<W>* X,
                                                    const real* W_U, size_t gW_U, size_t gb_U, Mask<W> live,
                                                    const Net& n) {
    // dX (T, D) written whole: a zeroed buffer plus g W_U where g != 0
    using V = Vec<W>;
    const int D = S::D(n);
    const Params<W, S::kD> Wu(W_U);
    for (int t = 0; t < S::T(n); ++t) {
        const V g = dout[t];
        const Mask<W> nz = g != V{};  // unsupervised positions carry no gradient
        const Mask<W> on = nz & live;
        for (int c = 0; c < D; ++c) {
            dX[t * D + c] = nz ? V{} + g * Wu[c] : V{};
            add_masked<true>(G[gW_U + c], g * X[t * D + c], on);
        }
        add_masked<true>(G[gb_U], g, on);
    }
}

template <int W, bool kTail>
[[gnu::always_inline]] inline void mse_forward(Vec<W>& loss, const Vec<W>* out, const Vec<W>* target,
                                               const Vec<W>* weight, Mask<W> live, int T) {
    for (int t = 0; t < T; ++t) {
        const Vec<W> e = out[t] - target[t];
        add_masked<kTail>(loss, weight[t] * e * e, live);
    }
}

template <int W>
[[gnu::always_inline]] inline void mse_backward(Vec<W>* dout, const Vec<W>* out, const Vec<W>* target,
                                                const Vec<W>* weight, int T) {
    for (int t = 0; t < T; ++t) dout[t] = Vec<W>{} + real(2) * weight[t] * (out[t] - target[t]);
}

// ----------------------------------------------------------------------------
// one slot: forward, then (kBackward) backward, of the W sequences; buf is the group's
// workspace (Offsets), its G and loss the sums so far.

template <int W, class S, bool kBackward, bool kTail>
[[gnu::always_inline]] inline void slot_step(Vec<W>* buf, const real* p, Mask<W> live, const Net& n) {
    using V = Vec<W>;
    const Offsets& o = n.off;
    const ParamLayout& ly = *n.lay;
    const int T = S::T(n), H = S::H(n), D = S::D(n), HD = H * S::Dh(n), L = n.L;
    const size_t TD = static_cast<size_t>(T) * D, THD = static_cast<size_t>(T) * HD;
    const size_t tri = static_cast<size_t>(H) * T * (T + 1) / 2;
    const V *kind = buf + o.kind, *value = buf + o.value, *target = buf + o.target, *weight = buf + o.weight;
    V* G = buf + o.G;
    unsigned char* rows_on = reinterpret_cast<unsigned char*>(buf + o.rows);
    for (int t = 0; t < T; ++t) rows_on[t] = any_lane<W>(weight[t] != V{});

    embed_forward<W, S>(buf + o.X, kind, value, p, n);
    for (int l = 0; l < L; ++l) {
        const BlockOffsets& bo = ly.blocks[l];
        V *Q = buf + o.Q + l * THD, *K = buf + o.K + l * THD, *Vv = buf + o.Vv + l * THD, *Z = buf + o.Z + l * THD;
        V* Pl = buf + o.P + l * tri;
        const Qkv qkv{{p + bo.W_Q, p + bo.W_K, p + bo.W_V},
                      {bo.b_Q == kAbsent ? nullptr : p + bo.b_Q, bo.b_K == kAbsent ? nullptr : p + bo.b_K,
                       bo.b_V == kAbsent ? nullptr : p + bo.b_V}};
        V* const lin[3] = {n.qk_norm ? buf + o.Qpre + l * THD : Q, n.qk_norm ? buf + o.Kpre + l * THD : K, Vv};
        qkv_forward<W, S>(lin, buf + o.X + l * TD, qkv, n);
        if (n.qk_norm) {
            qk_norm_forward<W, S>(Q, buf + o.q_rstd + l * T * H, lin[0], p + bo.q_norm_w, n);
            qk_norm_forward<W, S>(K, buf + o.k_rstd + l * T * H, lin[1], p + bo.k_norm_w, n);
        }
        const V* mask = l == L - 1 ? weight : nullptr;
        const unsigned char* rows = l == L - 1 ? rows_on : nullptr;
        for (int h = 0; h < H; ++h) attention_forward<W, S>(Z, Pl, buf + o.dP, Q, K, Vv, mask, rows, h, n);
        out_forward<W, S>(buf + o.X + (l + 1) * TD, buf + o.X + l * TD, Z, p + bo.W_O,
                          bo.b_O == kAbsent ? nullptr : p + bo.b_O, n);
    }
    const V* final_resid = buf + o.X + L * TD;
    readout_forward<W, S>(buf + o.out, final_resid, p + ly.W_U, p + ly.b_U, n);
    mse_forward<W, kTail>(buf[o.loss], buf + o.out, target, weight, live, T);
    if constexpr (!kBackward) return;

    V* dX = buf + o.dX;
    mse_backward<W>(buf + o.dout, buf + o.out, target, weight, T);
    readout_backward<W, S, kTail>(dX, G, buf + o.dout, final_resid, p + ly.W_U, ly.W_U, ly.b_U, live, n);
    for (int l = L - 1; l >= 0; --l) {
        const BlockOffsets& bo = ly.blocks[l];
        const V *Q = buf + o.Q + l * THD, *K = buf + o.K + l * THD, *Vv = buf + o.Vv + l * THD,
                *Z = buf + o.Z + l * THD;
        const V* Pl = buf + o.P + l * tri;
        V *dQ = buf + o.dQ, *dK = buf + o.dK, *dV = buf + o.dV, *dZ = buf + o.dZ;
        // dX holds d loss / d resid_post = d loss / d resid_mid = d loss / d attn_out
        out_backward<W, S, kTail>(dZ, G, dX, Z, p + bo.W_O, bo.W_O, bo.b_O, live, n);
        const V* mask = l == L - 1 ? weight : nullptr;
        if (mask)  // the masked backward adds into zeroed buffers; the other writes them
            for (size_t i = 0; i < THD; ++i) dQ[i] = dK[i] = dV[i] = V{};
        for (int h = 0; h < H; ++h) {
            if (mask)
                attention_backward<W, S, true>(dQ, dK, dV, buf + o.dP, dZ, Pl, Q, K, Vv, mask, rows_on, h, n);
            else
                attention_backward<W, S, false>(dQ, dK, dV, buf + o.dP, dZ, Pl, Q, K, Vv, mask, nullptr, h, n);
        }
        const V* dq = dQ;
        const V* dk = dK;
        if (n.qk_norm) {
            qk_norm_backward<W, S, kTail>(buf + o.dQpre, G + bo.q_norm_w, dQ, buf + o.Qpre + l * THD,
                                          p + bo.q_norm_w, buf + o.q_rstd + l * T * H, live, n);
            qk_norm_backward<W, S, kTail>(buf + o.dKpre, G + bo.k_norm_w, dK, buf + o.Kpre + l * THD,
                                          p + bo.k_norm_w, buf + o.k_rstd + l * T * H, live, n);
            dq = buf + o.dQpre;
            dk = buf + o.dKpre;
        }
        const Qkv qkv{{p + bo.W_Q, p + bo.W_K, p + bo.W_V},
                      {bo.b_Q == kAbsent ? nullptr : p + bo.b_Q, bo.b_K == kAbsent ? nullptr : p + bo.b_K,
                       bo.b_V == kAbsent ? nullptr : p + bo.b_V}};
        const V* const dlin[3] = {dq, dk, dV};
        const size_t gW[3] = {bo.W_Q, bo.W_K, bo.W_V}, gb[3] = {bo.b_Q, bo.b_K, bo.b_V};
        qkv_backward<W, S, kTail>(dX, G, dlin, buf + o.X + l * TD, qkv, gW, gb, live, n);
        // dX now holds d loss / d resid_pre of block l = d loss / d resid_post of block l - 1
    }
    embed_backward<W, S, kTail>(G, dX, kind, value, live, n);
}

// All slots of group g (lanes = shards g * W .. g * W + W - 1; shards >= n_shards are
// empty). Slots every lane has run unmasked; the rest with `live`.
template <int W, class S, bool kBackward>
[[gnu::always_inline]] inline void group_run(real* work, const real* p, const Batch& batch, const int* shard_begin,
                                             int n_shards, int g, const Net& n) {
    using V = Vec<W>;
    V* buf = reinterpret_cast<V*>(work) + static_cast<size_t>(g) * n.off.total;
    int count[W], n_full = std::numeric_limits<int>::max(), n_slots = 0;
    for (int w = 0; w < W; ++w) {
        const int s = g * W + w;
        count[w] = s < n_shards ? shard_begin[s + 1] - shard_begin[s] : 0;
        n_full = std::min(n_full, count[w]);
        n_slots = std::max(n_slots, count[w]);
    }
    for (size_t i = 0; i < n.lay->total(); ++i) buf[n.off.G + i] = V{};
    buf[n.off.loss] = V{};
    for (int i = 0; i < n_slots; ++i) {
        int seq[W];
        Mask<W> live{};
        for (int w = 0; w < W; ++w) {
            const bool in = i < count[w];
            seq[w] = in ? shard_begin[g * W + w] + i : -1;
            live[w] = in ? -1 : 0;
        }
        inputs_load<W>(buf + n.off.kind, buf + n.off.value, buf + n.off.target, buf + n.off.weight, batch, seq,
                       S::T(n), n.zeros, n.izeros);
        if (i < n_full)
            slot_step<W, S, kBackward, false>(buf, p, live, n);
        else
            slot_step<W, S, kBackward, true>(buf, p, live, n);
    }
}

// The paper's minimal model (T 16, one head, d_model = d_head = 2) with all its sizes as
// constants; other models with d_model = d_head = 2 with those two; the rest generic.
template <int W, bool kBackward>
[[gnu::always_inline]] inline void group_dispatch(real* work, const real* p, const Batch& batch,
                                                  const int* shard_begin, int n_shards, int g, const Net& n) {
    if (n.T == 16 && n.H == 1 && n.D == 2 && n.Dh == 2)
        return group_run<W, Shape<16, 1, 2, 2>, kBackward>(work, p, batch, shard_begin, n_shards, g, n);
    if (n.D == 2 && n.Dh == 2)
        return group_run<W, Shape<0, 0, 2, 2>, kBackward>(work, p, batch, shard_begin, n_shards, g, n);
    group_run<W, Shape<0, 0, 0, 0>, kBackward>(work, p, batch, shard_begin, n_shards, g, n);
}

}  // namespace

// Defines one entry point: the same source for every instruction set.
#define CTR_DEFINE_GROUP(name, target, W)                                                           \
    target void group_##name(CTR_GROUP_ARGS) {                                                      \
        if (backward) return group_dispatch<W, true>(work, p, batch, shard_begin, n_shards, g, n);   \
        group_dispatch<W, false>(work, p, batch, shard_begin, n_shards, g, n);                      \
    }

}  // namespace ctr::shard_lanes_detail
