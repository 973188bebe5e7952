#pragma once
// Lanes: W values of one type side by side in a GCC vector (vector_size), with the
// elementwise IEEE arithmetic the scalar code does. The kernels written on them
// (src/model/attention_kernel.hpp, shard_lanes_kernel.hpp) run one sequence (or shard)
// per lane, each lane doing exactly the scalar code's operations in the scalar code's order, so every width gives the same
// bits. The vector width is a compiler detail: a 64-byte vector compiled for SSE2
// becomes four 16-byte operations with the same results.
//
// exp_lanes is the model's exp, also used one value at a time (exp_real): range
// reduction x = n ln2 + r with |r| <= ln2/2 (Cody-Waite, ln2 in two parts), the Taylor
// polynomial of e^r to degree 13 (degree 7 in float), and 2^n built in the exponent
// bits, in two halves so that results down into the subnormals are right. Within one
// ulp of the exact value (tests/test_simd.cpp, [exp]); no table, no branch, NaN propagates.
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "util/real.hpp"

namespace ctr {

template <class T, int W>
struct LaneTypes {
    typedef T type __attribute__((vector_size(sizeof(T) * W)));
};
template <class T, int W>
using Lanes = typename LaneTypes<T, W>::type;

template <class V, class T>
[[gnu::always_inline]] inline V splat(T x) {
    return V{} + x;
}

template <class T>
struct ExpConstants;

template <>
struct ExpConstants<double> {
    using Int = int64_t;
    static constexpr int kMantBits = 52, kBias = 1023;
    static constexpr double kLo = -746.0, kHi = 710.0;  // exp rounds to 0 below, overflows above
    static constexpr double kLog2e = 1.4426950408889634;
    static constexpr double kLn2Hi = 0.6931471803691238;  // 0x3fe62e42fee00000: n * kLn2Hi is exact
    static constexpr double kLn2Lo = 1.9082149292705877e-10;
    static constexpr double kRound = 6755399441055744.0;  // 1.5 * 2^52: adding it rounds to an integer
    static constexpr int kDegree = 13;
    static constexpr double kInvFact[kDegree + 1] = {1.0,
                                                     1.0,
                                                     0.5,
                                                     0.16666666666666666,
                                                     0.041666666666666664,
                                                     0.008333333333333333,
                                                     0.001388888888888889,
                                                     0.0001984126984126984,
                                                     2.48015873015873e-05,
                                                     2.7557319223985893e-06,
                                                     2.755731922398589e-07,
                                                     2.505210838544172e-08,
                                                     2.08767569878681e-09,
                                                     1.6059043836821613e-10};
};

template <>
struct ExpConstants<float> {
    using Int = int32_t;
    static constexpr int kMantBits = 23, kBias = 127;
    static constexpr float kLo = -104.0f, kHi = 89.0f;
    static constexpr float kLog2e = 1.44269504f;
    static constexpr float kLn2Hi = 0.693359375f;
    static constexpr float kLn2Lo = -2.12194440e-4f;
    static constexpr float kRound = 12582912.0f;  // 1.5 * 2^23
    static constexpr int kDegree = 7;
    static constexpr float kInvFact[kDegree + 1] = {1.0f,      1.0f,       0.5f,          0.16666667f,
                                                    0.041666668f, 0.008333334f, 0.0013888889f, 0.0001984127f};
};

// e * 2^n for t = n + kRound (n an integer, t's bits those of kRound plus n), as
// (e * 2^n1) * 2^n2 with n1 = floor(n / 2) and n2 = n - n1, each factor a normal number.
// The factors' bits are (n1 + kBias) << kMantBits and (n2 + kBias) << kMantBits, in which
// only the low bits of n1 + kBias and n2 + kBias survive the shift (12 for double, 9 for
// float). Those bits are computed here from t's bits directly: kRound's low 51 (float:
// 22) bits are zero, so t's bits agree with n there, and bits 1.. of t shifted right
// logically are the low bits of floor(n / 2) as an arithmetic shift of n gives them.
// With u = t + 2 kBias (modulo 2^64): u >> 1 = n1 + kBias and u - (u >> 1) = n2 + kBias
// in those bits, for every t, NaN's bits too, so every integer that reaches the
// exponents is the one `n1 = n >> 1` (arithmetic), `(n1 + kBias) << kMantBits` gives.
// SSE2 and AVX2 have no 64-bit arithmetic shift (GCC emulates it with several
// instructions); the logical one is one.
template <class T, int W>
[[gnu::always_inline]] inline Lanes<T, W> exp_scale(Lanes<T, W> e, Lanes<T, W> t) {
    using C = ExpConstants<T>;
    using V = Lanes<T, W>;
    using UInt = std::make_unsigned_t<typename C::Int>;
    using U = Lanes<UInt, W>;
    const U u = (U)t + UInt(2 * C::kBias);
    const U m1 = u >> 1, m2 = u - m1;  // n1 + kBias, n2 + kBias (their low bits)
    const V s1 = (V)(m1 << C::kMantBits);
    const V s2 = (V)(m2 << C::kMantBits);
    return (e * s1) * s2;
}

template <class T, int W>
[[gnu::always_inline]] inline Lanes<T, W> exp_lanes(Lanes<T, W> x) {
    using C = ExpConstants<T>;
    using V = Lanes<T, W>;
    x = x < C::kLo ? splat<V>(C::kLo) : x;  // comparisons are false for NaN: it passes through
    x = x > C::kHi ? splat<V>(C::kHi) : x;
    const V t = x * C::kLog2e + C::kRound;
    const V n = t - C::kRound;                               // round(x / ln2), exactly
    const V r = (x - n * C::kLn2Hi) - n * C::kLn2Lo;         // |r| <= ln2 / 2
    V p = splat<V>(C::kInvFact[C::kDegree]);
    for (int i = C::kDegree - 1; i >= 2; --i) p = p * r + C::kInvFact[i];
    const V e = (r + (r * r) * p) + T(1);                    // e^r
    return exp_scale<T, W>(e, t);                            // e * 2^n
}

// exp_lanes of x[0..N) in place, step by step across the N vectors: the same operations
// on each, but the N dependency chains (the polynomial is 12 deep) side by side in the
// instruction stream, so the processor overlaps them. kNonPositive: every x is <= 0 or
// NaN (a softmax's logit minus its row maximum), for which the upper clamp leaves x as
// it is and is skipped.
template <class T, int W, int N, bool kNonPositive = false>
[[gnu::always_inline]] inline void exp_lanes_n(Lanes<T, W>* x) {
    using C = ExpConstants<T>;
    using V = Lanes<T, W>;
    V r[N], p[N], t[N];
    for (int k = 0; k < N; ++k) {
        V v = x[k] < C::kLo ? splat<V>(C::kLo) : x[k];
        if constexpr (!kNonPositive) v = v > C::kHi ? splat<V>(C::kHi) : v;
        t[k] = v * C::kLog2e + C::kRound;
        const V n = t[k] - C::kRound;
        r[k] = (v - n * C::kLn2Hi) - n * C::kLn2Lo;
        p[k] = splat<V>(C::kInvFact[C::kDegree]);
    }
    for (int i = C::kDegree - 1; i >= 2; --i)
        for (int k = 0; k < N; ++k) p[k] = p[k] * r[k] + C::kInvFact[i];
    for (int k = 0; k < N; ++k) {
        const V e = (r[k] + (r[k] * r[k]) * p[k]) + T(1);
        x[k] = exp_scale<T, W>(e, t[k]);
    }
}

// r[0..W) as a W x W matrix, transposed in place: log2(W) stages, the stage h swapping
// bit h of the row index with bit h of the column index by two-source shuffles of rows
// i and i + h. Data movement only, so the bits are untouched. The shuffle indices are
// compile-time constants (into the concatenation of the two rows), which lets GCC pick
// the instruction set's own shuffles.
template <int W, int h, size_t... k>
[[gnu::always_inline]] inline auto stage_indices(std::index_sequence<k...>, bool upper) {
    using I = typename ExpConstants<real>::Int;  // as wide as real, as shuffles need
    using M = Lanes<I, W>;
    return upper ? M{static_cast<I>((k & h) ? W + k : k + h)...} : M{static_cast<I>((k & h) ? W + k - h : k)...};
}

template <int W, int h = 1>
[[gnu::always_inline]] inline void transpose(Lanes<real, W>* r) {
    if constexpr (h < W) {
        constexpr auto idx = std::make_index_sequence<W>{};
        for (int i = 0; i < W; ++i) {
            if (i & h) continue;
            const Lanes<real, W> a = r[i], b = r[i + h];
            r[i] = __builtin_shuffle(a, b, stage_indices<W, h>(idx, false));
            r[i + h] = __builtin_shuffle(a, b, stage_indices<W, h>(idx, true));
        }
        transpose<W, 2 * h>(r);
    }
}

// acc += x in the lanes of `on`; the others keep their bits (skipped, as the scalar
// kernel skips them: never an added 0, since -0 + 0 = +0).
template <bool kMasked, class V, class M>
[[gnu::always_inline]] inline void add_masked(V& acc, V x, M on) {
    if constexpr (kMasked)
        acc = on ? acc + x : acc;
    else
        acc += x;
}

// The model's exp for one value: the same operations as every lane of exp_lanes.
inline real exp_real(real x) {
    const Lanes<real, 1> v = {x};
    return exp_lanes<real, 1>(v)[0];
}

}  // namespace ctr
