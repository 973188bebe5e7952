#pragma once
// The attention kernels (attention.hpp says what they compute), written once for every
// vector width W. Each instruction set's entry points are compiled in a file of their own
// (attention_scalar.cpp, attention_avx2.cpp, attention_avx512.cpp), so that the build
// compiles them side by side; attention.cpp picks one at run time.

// Vector arguments of always-inlined helpers never reach a call boundary.
#pragma GCC diagnostic ignored "-Wpsabi"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>

#include "model/attention_levels.hpp"
#include "model/lanes.hpp"
#include "util/real.hpp"

namespace ctr::attention_detail {

// The kernels: internal to each file that includes them, as the entry points inline them.
namespace {

// Lane-major copies of one group of W sequences, one head: X[t * Dh + d] holds the W
// sequences' x[b][t][h][d]. Forward uses Q, K, V and P (one pattern row); backward all.
template <int W>
struct Group {
    using V = Lanes<real, W>;
    V *Q, *K, *Vv, *dZ, *dQ, *dK, *dV, *P, *dP;
    Group(real* scratch, int T, int Dh) {
        auto* base = reinterpret_cast<V*>((reinterpret_cast<uintptr_t>(scratch) + kMaxLaneBytes - 1) &
                                          ~static_cast<uintptr_t>(kMaxLaneBytes - 1));
        const size_t n = static_cast<size_t>(T) * Dh;
        V** bufs[] = {&Q, &K, &Vv, &dZ, &dQ, &dK, &dV};
        for (V** b : bufs) {
            *b = base;
            base += n;
        }
        P = base;
        dP = base + T;
    }
};

// x (B, T, H, Dh) of sequences b..b+W-1, head h -> X (T, Dh) lanes, and back. With one
// head a sequence's values are T * Dh contiguous numbers: W of them from each of the W
// sequences are one W x W transpose instead of W * W single moves.
template <int W>
[[gnu::always_inline]] inline void gather(Lanes<real, W>* X, const real* x, int b, int T, size_t row, int h, int Dh) {
    const size_t seq = static_cast<size_t>(T) * row;
    const real* base = x + static_cast<size_t>(b) * seq + static_cast<size_t>(h) * Dh;
    int c = 0;
    if (W > 1 && row == static_cast<size_t>(Dh)) {
        for (; c + W <= T * Dh; c += W) {
            Lanes<real, W> r[W];
            for (int w = 0; w < W; ++w) std::memcpy(&r[w], base + w * seq + c, sizeof r[w]);
            transpose<W>(r);
            for (int k = 0; k < W; ++k) X[c + k] = r[k];
        }
    }
    for (; c < T * Dh; ++c) {
        const int t = c / Dh, d = c % Dh;
        Lanes<real, W> l;
        for (int w = 0; w < W; ++w) l[w] = base[w * seq + t * row + d];
        X[c] = l;
    }
}

template <int W>
[[gnu::always_inline]] inline void scatter(real* x, const Lanes<real, W>* X, int b, int T, size_t row, int h, int Dh) {
    const size_t seq = static_cast<size_t>(T) * row;
    real* base = x + static_cast<size_t>(b) * seq + static_cast<size_t>(h) * Dh;
    int c = 0;
    if (W > 1 && row == static_cast<size_t>(Dh)) {
        for (; c + W <= T * Dh; c += W) {
            Lanes<real, W> r[W];
            for (int k = 0; k < W; ++k) r[k] = X[c + k];
            transpose<W>(r);
            for (int w = 0; w < W; ++w) std::memcpy(base + w * seq + c, &r[w], sizeof r[w]);
        }
    }
    for (; c < T * Dh; ++c) {
        const int t = c / Dh, d = c % Dh;
        for (int w = 0; w < W; ++w) base[w * seq + t * row + d] = X[c][w];
    }
}

// PatternLayout::lanes: the causal part of the pattern, lane by lane, in blocks of
// kMaxLanes sequences (the last block may hold fewer): entry (h, i, j) of the n
// sequences of a block side by side, so that a group of W lanes reads and writes one
// vector. Independent of W, since W divides kMaxLanes and groups never straddle blocks.
// A block of n sequences uses n * H * T (T + 1) / 2 of its n * H * T * T values.
struct Packed {
    real* base;
    size_t n, T, tri;
    Packed(real* pattern, int B, int b, int H, int T_) : T(T_), tri(static_cast<size_t>(T_) * (T_ + 1) / 2) {
        const size_t block = static_cast<size_t>(b) / kMaxLanes * kMaxLanes;
        n = std::min(kMaxLanes, static_cast<size_t>(B) - block);
        base = pattern + block * H * T * T + (static_cast<size_t>(b) - block);
    }
    real* at(int h, int i, int j) const {
        return base + (static_cast<size_t>(h) * tri + static_cast<size_t>(i) * (i + 1) / 2 + j) * n;
    }
};

// Which of the W sequences have query i in the mask, as lanes of all-ones / zeros.
template <int W>
[[gnu::always_inline]] inline auto lane_mask(const real* query_mask, int b, int T, int i, bool& any) {
    using V = Lanes<real, W>;
    V m;
    for (int w = 0; w < W; ++w) m[w] = query_mask[static_cast<size_t>(b + w) * T + i];
    const auto on = m != splat<V>(real(0));
    any = false;
    for (int w = 0; w < W; ++w) any = any || on[w];
    return on;
}

// Sequences b..b+W-1 of the batch: the scalar kernel's loops with a vector of W
// sequences in place of each number.
template <int W, int kDh>
[[gnu::always_inline]] inline void forward_group(real* z, real* pattern, const real* q, const real* k, const real* v,
                                                 int B, int b, int T, int H, int dh, real scale,
                                                 const real* query_mask, real* scratch, PatternLayout layout) {
    using V = Lanes<real, W>;
    const int Dh = kDh > 0 ? kDh : dh;
    const size_t row = static_cast<size_t>(H) * Dh;
    Group<W> g(scratch, T, Dh);
    V* Z = g.dZ;  // forward's z lives where backward keeps dz
    for (int h = 0; h < H; ++h) {
        gather<W>(g.Q, q, b, T, row, h, Dh);
        gather<W>(g.K, k, b, T, row, h, Dh);
        gather<W>(g.Vv, v, b, T, row, h, Dh);
        real* ph = pattern + (static_cast<size_t>(b) * H + h) * T * T;
        const size_t pseq = static_cast<size_t>(H) * T * T;
        const Packed packed(pattern, B, b, H, T);
        for (int i = 0; i < T; ++i) {
            auto on = splat<V>(real(0)) == splat<V>(real(0));
            if (query_mask) {
                bool any;
                on = lane_mask<W>(query_mask, b, T, i, any);
                if (!any) {
                    for (int d = 0; d < Dh; ++d) Z[i * Dh + d] = splat<V>(real(0));
                    continue;
                }
            }
            const V* qi = g.Q + i * Dh;
            V* p = g.P;
            V maxv = splat<V>(-std::numeric_limits<real>::infinity());
            for (int j = 0; j <= i; ++j) {
                const V* kj = g.K + j * Dh;
                V s = splat<V>(real(0));
                for (int d = 0; d < Dh; ++d) s += qi[d] * kj[d];
                p[j] = s * scale;
                maxv = maxv < p[j] ? p[j] : maxv;  // std::max(maxv, p[j])
            }
            V sum = splat<V>(real(0));
            for (int j = 0; j <= i; ++j) {
                p[j] = exp_lanes<real, W>(p[j] - maxv);
                sum += p[j];
            }
            const V inv = real(1) / sum;
            for (int j = 0; j <= i; ++j) p[j] *= inv;
            V acc[kDh > 0 ? kDh : 1];
            V* zi = kDh > 0 ? acc : Z + i * Dh;
            for (int d = 0; d < Dh; ++d) zi[d] = splat<V>(real(0));
            for (int j = 0; j <= i; ++j) {
                const V* vj = g.Vv + j * Dh;
                const V pj = p[j];
                for (int d = 0; d < Dh; ++d) zi[d] += pj * vj[d];
            }
            for (int d = 0; d < Dh; ++d) Z[i * Dh + d] = on ? zi[d] : splat<V>(real(0));
            if (layout == PatternLayout::lanes) {
                for (int j = 0; j <= i; ++j) std::memcpy(packed.at(h, i, j), &p[j], sizeof(V));
            } else {
                for (int w = 0; w < W; ++w) {
                    if (!on[w]) continue;
                    real* prow = ph + w * pseq + static_cast<size_t>(i) * T;
                    for (int j = 0; j <= i; ++j) prow[j] = p[j][w];
                }
            }
        }
        scatter<W>(z, Z, b, T, row, h, Dh);
    }
}

template <int W, int kDh, bool kMasked>
[[gnu::always_inline]] inline void backward_group(real* dq, real* dk, real* dv, const real* dz, const real* pattern,
                                                  const real* q, const real* k, const real* v, int B, int b, int T,
                                                  int H, int dh, real scale, const real* query_mask, real* scratch,
                                                  PatternLayout layout, bool add_to) {
    using V = Lanes<real, W>;
    const int Dh = kDh > 0 ? kDh : dh;
    const size_t row = static_cast<size_t>(H) * Dh;
    const size_t pseq = static_cast<size_t>(H) * T * T;
    Group<W> g(scratch, T, Dh);
    for (int h = 0; h < H; ++h) {
        gather<W>(g.Q, q, b, T, row, h, Dh);
        gather<W>(g.K, k, b, T, row, h, Dh);
        gather<W>(g.Vv, v, b, T, row, h, Dh);
        gather<W>(g.dZ, dz, b, T, row, h, Dh);
        if (add_to) {  // the kernel adds to what is there
            gather<W>(g.dQ, dq, b, T, row, h, Dh);
            gather<W>(g.dK, dk, b, T, row, h, Dh);
            gather<W>(g.dV, dv, b, T, row, h, Dh);
        } else {  // what a zeroed buffer would give: +0 everywhere
            for (int c = 0; c < T * Dh; ++c) g.dQ[c] = g.dK[c] = g.dV[c] = splat<V>(real(0));
        }
        const real* ph = pattern + (static_cast<size_t>(b) * H + h) * T * T;
        const Packed packed(const_cast<real*>(pattern), B, b, H, T);
        for (int i = 0; i < T; ++i) {
            auto on = splat<V>(real(0)) == splat<V>(real(0));
            if constexpr (kMasked) {
                bool any;
                on = lane_mask<W>(query_mask, b, T, i, any);
                if (!any) continue;
            }
            V* p = g.P;
            if (layout == PatternLayout::lanes) {
                for (int j = 0; j <= i; ++j) std::memcpy(&p[j], packed.at(h, i, j), sizeof(V));
            } else {
                for (int j = 0; j <= i; ++j)
                    for (int w = 0; w < W; ++w) p[j][w] = ph[w * pseq + static_cast<size_t>(i) * T + j];
            }
            const V* dzi = g.dZ + i * Dh;
            V* dp = g.dP;
            V p_dot_dp = splat<V>(real(0));
            for (int j = 0; j <= i; ++j) {
                const V* vj = g.Vv + j * Dh;
                V* dvj = g.dV + j * Dh;
                V s = splat<V>(real(0));
                for (int d = 0; d < Dh; ++d) {
                    s += dzi[d] * vj[d];
                    add_masked<kMasked>(dvj[d], p[j] * dzi[d], on);
                }
                dp[j] = s;
                p_dot_dp += p[j] * s;
            }
            // softmax backward: dlogit_j = p_j (dp_j - sum_k p_k dp_k)
            const V* qi = g.Q + i * Dh;
            V* dqi = g.dQ + i * Dh;
            for (int j = 0; j <= i; ++j) {
                const V dlogit = p[j] * (dp[j] - p_dot_dp) * scale;
                const V* kj = g.K + j * Dh;
                V* dkj = g.dK + j * Dh;
                for (int d = 0; d < Dh; ++d) {
                    add_masked<kMasked>(dqi[d], dlogit * kj[d], on);
                    add_masked<kMasked>(dkj[d], dlogit * qi[d], on);
                }
            }
        }
        scatter<W>(dq, g.dQ, b, T, row, h, Dh);
        scatter<W>(dk, g.dK, b, T, row, h, Dh);
        scatter<W>(dv, g.dV, b, T, row, h, Dh);
    }
}

// All B sequences: groups of W lanes, the rest one at a time (the same operations).
template <int W, int kDh>
[[gnu::always_inline]] inline void forward_lanes(real* z, real* pattern, const real* q, const real* k, const real* v,
                                                 int B, int T, int H, int Dh, real scale, const real* query_mask,
                                                 real* scratch, PatternLayout layout) {
    int b = 0;
    for (; b + W <= B; b += W) forward_group<W, kDh>(z, pattern, q, k, v, B, b, T, H, Dh, scale, query_mask, scratch, layout);
    for (; b < B; ++b) forward_group<1, kDh>(z, pattern, q, k, v, B, b, T, H, Dh, scale, query_mask, scratch, layout);
}

template <int W, int kDh>
[[gnu::always_inline]] inline void backward_lanes(real* dq, real* dk, real* dv, const real* dz, const real* pattern,
                                                  const real* q, const real* k, const real* v, int B, int T, int H,
                                                  int Dh, real scale, const real* query_mask, real* scratch,
                                                  PatternLayout layout, bool add_to) {
    int b = 0;
    if (query_mask) {
        for (; b + W <= B; b += W)
            backward_group<W, kDh, true>(dq, dk, dv, dz, pattern, q, k, v, B, b, T, H, Dh, scale, query_mask,
                                          scratch, layout, add_to);
        for (; b < B; ++b)
            backward_group<1, kDh, true>(dq, dk, dv, dz, pattern, q, k, v, B, b, T, H, Dh, scale, query_mask,
                                          scratch, layout, add_to);
    } else {
        for (; b + W <= B; b += W)
            backward_group<W, kDh, false>(dq, dk, dv, dz, pattern, q, k, v, B, b, T, H, Dh, scale, query_mask,
                                          scratch, layout, add_to);
        for (; b < B; ++b)
            backward_group<1, kDh, false>(dq, dk, dv, dz, pattern, q, k, v, B, b, T, H, Dh, scale, query_mask,
                                          scratch, layout, add_to);
    }
}

}  // namespace

// Head sizes known at compile time get fully unrolled inner loops (kDh = 0: any).
#define CTR_DISPATCH_DHEAD(fn, W, Dh, ...)               \
    switch (Dh) {                                        \
        case 1: return fn<W, 1>(__VA_ARGS__);            \
        case 2: return fn<W, 2>(__VA_ARGS__);            \
        case 4: return fn<W, 4>(__VA_ARGS__);            \
        case 8: return fn<W, 8>(__VA_ARGS__);            \
        case 16: return fn<W, 16>(__VA_ARGS__);          \
        default: return fn<W, 0>(__VA_ARGS__);           \
    }

// One entry point per instruction set; the same source in each.
#define CTR_DEFINE_LEVEL(name, target, bytes)                                                                       \
    target void forward_##name(CTR_FORWARD_ARGS) {                                                                  \
        CTR_DISPATCH_DHEAD(forward_lanes, (bytes) / sizeof(real), Dh, z, pattern, q, k, v, B, T, H, Dh, scale,    \
                           query_mask, scratch, layout)                                                                  \
    }                                                                                                               \
    target void backward_##name(CTR_BACKWARD_ARGS) {                                                                \
        CTR_DISPATCH_DHEAD(backward_lanes, (bytes) / sizeof(real), Dh, dq, dk, dv, dz, pattern, q, k, v, B, T, H, \
                           Dh, scale, query_mask, scratch, layout, add_to)                                           \
    }

}  // namespace ctr::attention_detail
