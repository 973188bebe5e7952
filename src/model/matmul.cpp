// Vector arguments of always-inlined helpers never reach a call boundary.
#pragma GCC diagnostic ignored "-Wpsabi"

#include "model/matmul.hpp"

#include <cstring>
#include <vector>

#include "model/lanes.hpp"
#include "model/simd.hpp"

namespace ctr {
namespace {

template <int W>
[[gnu::always_inline]] inline Lanes<real, W> load(const real* p) {
    Lanes<real, W> v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

template <int W>
[[gnu::always_inline]] inline void store(real* p, Lanes<real, W> v) {
    std::memcpy(p, &v, sizeof v);
}

// Rows n0..n0+R-1, columns j..j+V*W-1 of out = inp @ Wm: R x V vector accumulators,
// the inner index k in order.
template <int W, int R, int V>
[[gnu::always_inline]] inline void forward_tile(real* out, int os, const real* inp, int is, const real* Wm,
                                                const real* bias, int n0, int j, int C, int OC, bool accumulate) {
    using L = Lanes<real, W>;
    L acc[R][V];
    for (int r = 0; r < R; ++r)
        for (int v = 0; v < V; ++v) acc[r][v] = splat<L>(real(0));
    const real* x = inp + static_cast<size_t>(n0) * is;
    for (int k = 0; k < C; ++k) {
        L w[V];
        for (int v = 0; v < V; ++v) w[v] = load<W>(Wm + static_cast<size_t>(k) * OC + j + v * W);
        for (int r = 0; r < R; ++r) {
            const real xr = x[static_cast<size_t>(r) * is + k];
            for (int v = 0; v < V; ++v) acc[r][v] += xr * w[v];
        }
    }
    for (int r = 0; r < R; ++r)
        for (int v = 0; v < V; ++v) {
            real* o = out + static_cast<size_t>(n0 + r) * os + j + v * W;
            L s = accumulate ? load<W>(o) + acc[r][v] : acc[r][v];
            if (bias) s += load<W>(bias + j + v * W);
            store<W>(o, s);
        }
}

template <int W, int V>
[[gnu::always_inline]] inline void forward_columns(real* out, int os, const real* inp, int is, const real* Wm,
                                                   const real* bias, int N, int j, int C, int OC, bool accumulate) {
    constexpr int R = 4;
    int n = 0;
    for (; n + R <= N; n += R) forward_tile<W, R, V>(out, os, inp, is, Wm, bias, n, j, C, OC, accumulate);
    for (; n < N; ++n) forward_tile<W, 1, V>(out, os, inp, is, Wm, bias, n, j, C, OC, accumulate);
}

template <int W>
[[gnu::always_inline]] inline void forward_lanes(real* out, int os, const real* inp, int is, const real* Wm,
                                                 const real* bias, int N, int C, int OC, bool accumulate) {
    int j = 0;
    for (; j + 4 * W <= OC; j += 4 * W) forward_columns<W, 4>(out, os, inp, is, Wm, bias, N, j, C, OC, accumulate);
    for (; j + 2 * W <= OC; j += 2 * W) forward_columns<W, 2>(out, os, inp, is, Wm, bias, N, j, C, OC, accumulate);
    for (; j + W <= OC; j += W) forward_columns<W, 1>(out, os, inp, is, Wm, bias, N, j, C, OC, accumulate);
    for (; j < OC; ++j) forward_columns<1, 1>(out, os, inp, is, Wm, bias, N, j, C, OC, accumulate);
}

// Rows c0..c0+R-1, columns j.. of dW += inp^T @ dout, the rows n in order.
template <int W, int R, int V>
[[gnu::always_inline]] inline void dweight_tile(real* dW, const real* dout, int os, const real* inp, int is, int N,
                                                int c0, int j, int OC) {
    using L = Lanes<real, W>;
    L acc[R][V];
    for (int r = 0; r < R; ++r)
        for (int v = 0; v < V; ++v) acc[r][v] = splat<L>(real(0));
    for (int n = 0; n < N; ++n) {
        L d[V];
        for (int v = 0; v < V; ++v) d[v] = load<W>(dout + static_cast<size_t>(n) * os + j + v * W);
        const real* x = inp + static_cast<size_t>(n) * is + c0;
        for (int r = 0; r < R; ++r)
            for (int v = 0; v < V; ++v) acc[r][v] += x[r] * d[v];
    }
    for (int r = 0; r < R; ++r)
        for (int v = 0; v < V; ++v) {
            real* g = dW + static_cast<size_t>(c0 + r) * OC + j + v * W;
            store<W>(g, load<W>(g) + acc[r][v]);
        }
}

template <int W, int V>
[[gnu::always_inline]] inline void dweight_columns(real* dW, const real* dout, int os, const real* inp, int is, int N,
                                                   int C, int j, int OC) {
    constexpr int R = 4;
    int c = 0;
    for (; c + R <= C; c += R) dweight_tile<W, R, V>(dW, dout, os, inp, is, N, c, j, OC);
    for (; c < C; ++c) dweight_tile<W, 1, V>(dW, dout, os, inp, is, N, c, j, OC);
}

template <int W>
[[gnu::always_inline]] inline void dbias_columns(real* dbias, const real* dout, int os, int N, int j) {
    using L = Lanes<real, W>;
    L acc = splat<L>(real(0));
    for (int n = 0; n < N; ++n) acc += load<W>(dout + static_cast<size_t>(n) * os + j);
    store<W>(dbias + j, load<W>(dbias + j) + acc);
}

// WT (OC, C): W transposed, so that dinp += dout @ W^T is a forward product.
template <int W>
[[gnu::always_inline]] inline void backward_lanes(real* dinp, int is, real* dW, real* dbias, const real* dout, int os,
                                                  const real* inp, const real* Wm, int N, int C, int OC, real* WT) {
    if (dinp) {
        for (int c = 0; c < C; ++c)
            for (int j = 0; j < OC; ++j) WT[static_cast<size_t>(j) * C + c] = Wm[static_cast<size_t>(c) * OC + j];
        forward_lanes<W>(dinp, is, dout, os, WT, nullptr, N, OC, C, true);
    }
    int j = 0;
    for (; j + 4 * W <= OC; j += 4 * W) dweight_columns<W, 4>(dW, dout, os, inp, is, N, C, j, OC);
    for (; j + 2 * W <= OC; j += 2 * W) dweight_columns<W, 2>(dW, dout, os, inp, is, N, C, j, OC);
    for (; j + W <= OC; j += W) dweight_columns<W, 1>(dW, dout, os, inp, is, N, C, j, OC);
    for (; j < OC; ++j) dweight_columns<1, 1>(dW, dout, os, inp, is, N, C, j, OC);
    if (dbias) {
        j = 0;
        for (; j + W <= OC; j += W) dbias_columns<W>(dbias, dout, os, N, j);
        for (; j < OC; ++j) dbias_columns<1>(dbias, dout, os, N, j);
    }
}

#define CTR_FORWARD_ARGS \
    real *out, int os, const real *inp, int is, const real *Wm, const real *bias, int N, int C, int OC, bool accumulate
#define CTR_BACKWARD_ARGS                                                                                           \
    real *dinp, int is, real *dW, real *dbias, const real *dout, int os, const real *inp, const real *Wm, int N, \
        int C, int OC, real *WT

#define CTR_DEFINE_LEVEL(name, target, bytes)                                                          \
    target void matmul_forward_##name(CTR_FORWARD_ARGS) {                                                     \
        forward_lanes<(bytes) / sizeof(real)>(out, os, inp, is, Wm, bias, N, C, OC, accumulate);      \
    }                                                                                                  \
    target void matmul_backward_##name(CTR_BACKWARD_ARGS) {                                                   \
        backward_lanes<(bytes) / sizeof(real)>(dinp, is, dW, dbias, dout, os, inp, Wm, N, C, OC, WT); \
    }

CTR_DEFINE_LEVEL(scalar, , sizeof(real))
#if defined(__x86_64__) && defined(__GNUC__)
CTR_DEFINE_LEVEL(sse2, , 16)
CTR_DEFINE_LEVEL(avx2, __attribute__((target("avx2"))), 32)
CTR_DEFINE_LEVEL(avx512, __attribute__((target("avx512f"))), 64)
#endif

}  // namespace

void matmul_forward(real* out, int out_stride, const real* inp, int in_stride, const real* W, const real* bias,
                    int N, int C, int OC, bool accumulate) {
    switch (simd_level()) {
#if defined(__x86_64__) && defined(__GNUC__)
        case SimdLevel::avx512: return matmul_forward_avx512(out, out_stride, inp, in_stride, W, bias, N, C, OC, accumulate);
        case SimdLevel::avx2: return matmul_forward_avx2(out, out_stride, inp, in_stride, W, bias, N, C, OC, accumulate);
        case SimdLevel::sse2: return matmul_forward_sse2(out, out_stride, inp, in_stride, W, bias, N, C, OC, accumulate);
#endif
        default: return matmul_forward_scalar(out, out_stride, inp, in_stride, W, bias, N, C, OC, accumulate);
    }
}

void matmul_backward(real* dinp, int in_stride, real* dW, real* dbias, const real* dout, int out_stride,
                     const real* inp, const real* W, int N, int C, int OC) {
    // W transposed, per thread; it grows to the largest layer once and is then reused,
    // so the step loop does not allocate after its first step.
    thread_local std::vector<real> WT;
    if (dinp && WT.size() < static_cast<size_t>(C) * OC) WT.resize(static_cast<size_t>(C) * OC);
    real* wt = WT.data();
    switch (simd_level()) {
#if defined(__x86_64__) && defined(__GNUC__)
        case SimdLevel::avx512:
            return matmul_backward_avx512(dinp, in_stride, dW, dbias, dout, out_stride, inp, W, N, C, OC, wt);
        case SimdLevel::avx2:
            return matmul_backward_avx2(dinp, in_stride, dW, dbias, dout, out_stride, inp, W, N, C, OC, wt);
        case SimdLevel::sse2:
            return matmul_backward_sse2(dinp, in_stride, dW, dbias, dout, out_stride, inp, W, N, C, OC, wt);
#endif
        default: return matmul_backward_scalar(dinp, in_stride, dW, dbias, dout, out_stride, inp, W, N, C, OC, wt);
    }
}

}  // namespace ctr
