#include "model/layers.hpp"

#include "model/lanes.hpp"
#include "model/matmul.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

namespace ctr {

// ----------------------------------------------------------------------------
// linear

// With narrow inputs and outputs (the paper's d_model = d_head = 2) a GEMM spends its
// time packing and looping over tiny blocks; plain loops with both widths known at
// compile time are several times faster there (docs/performance.md). kOC = 0: the
// output width is known only at run time. Wider inputs go to model/matmul.cpp.
template <int kC, int kOC>
void linear_forward_narrow(real* __restrict out, int out_stride, const real* __restrict inp, int in_stride,
                           const real* __restrict W, const real* __restrict bias, int N, int oc, bool accumulate) {
    const int OC = kOC > 0 ? kOC : oc;
    for (int n = 0; n < N; ++n) {
        const real* x = inp + static_cast<size_t>(n) * in_stride;
        real* o = out + static_cast<size_t>(n) * out_stride;
        for (int j = 0; j < OC; ++j) {
            real s = bias ? bias[j] : real(0);
            for (int c = 0; c < kC; ++c) s += x[c] * W[c * OC + j];
            o[j] = accumulate ? o[j] + s : s;
        }
    }
}

template <int kC, int kOC>
void linear_backward_narrow(real* __restrict dinp, int in_stride, real* __restrict dW, real* __restrict dbias,
                            const real* __restrict dout, int out_stride, const real* __restrict inp,
                            const real* __restrict W, int N, int oc) {
    const int OC = kOC > 0 ? kOC : oc;
    for (int n = 0; n < N; ++n) {
        const real* x = inp + static_cast<size_t>(n) * in_stride;
        const real* dy = dout + static_cast<size_t>(n) * out_stride;
        for (int c = 0; c < kC; ++c) {
            real s = 0;
            for (int j = 0; j < OC; ++j) {
                s += dy[j] * W[c * OC + j];
                dW[c * OC + j] += x[c] * dy[j];
            }
            if (dinp) dinp[static_cast<size_t>(n) * in_stride + c] += s;
        }
        if (dbias)
            for (int j = 0; j < OC; ++j) dbias[j] += dy[j];
    }
}

// d_model = d_head = 2 (the paper's model): every row is a 2-vector, so each product
// below is one 2-lane vector operation doing, lane by lane, exactly the scalar loops'
// operations (s = bias or 0; s += x[c] * W[c][j] in c order), and kM layers that share
// one input (attention's Q, K and V of a head) run in one pass over the rows. Backward
// adds the layers' shares to dinp in the order m = 0, 1, .. as kM single calls would,
// and keeps the weight-gradient sums (each a dependency chain over the rows, in row
// order) in registers, where the kM * 2 chains of a row run side by side.
using Pair = Lanes<real, 2>;

[[gnu::always_inline]] inline Pair load2(const real* p) { return Pair{p[0], p[1]}; }
[[gnu::always_inline]] inline void store2(real* p, Pair v) {
    p[0] = v[0];
    p[1] = v[1];
}

template <int kM>
void linear_forward_2x2(real* const* out, int out_stride, const real* __restrict inp, int in_stride,
                        const real* const* W, const real* const* bias, int N, bool accumulate) {
    Pair row0[kM], row1[kM], b[kM];  // W[c][.] as vectors over the outputs
    real* o[kM];
    for (int m = 0; m < kM; ++m) {
        o[m] = out[m];
        row0[m] = load2(W[m]);
        row1[m] = load2(W[m] + 2);
        b[m] = bias[m] ? load2(bias[m]) : splat<Pair>(real(0));
    }
    for (int n = 0; n < N; ++n) {
        const real* x = inp + static_cast<size_t>(n) * in_stride;
        const Pair x0 = {x[0], x[0]}, x1 = {x[1], x[1]};  // not splat(): 0 + x would turn -0 into +0
        for (int m = 0; m < kM; ++m) {
            real* on = o[m] + static_cast<size_t>(n) * out_stride;
            const Pair s = (b[m] + x0 * row0[m]) + x1 * row1[m];
            store2(on, accumulate ? load2(on) + s : s);
        }
    }
}

template <int kM, bool kBias, bool kDinp>
void linear_backward_2x2(real* __restrict dinp, int in_stride, real* const* dW, real* const* dbias,
                         const real* const* dout, int out_stride, const real* __restrict inp, const real* const* W,
                         int N) {
    Pair col0[kM], col1[kM], gw0[kM], gw1[kM], gb[kM];  // col_j = W[.][j] over the inputs; gw_c = dW[c][.]
    const real* d[kM];
    for (int m = 0; m < kM; ++m) {
        d[m] = dout[m];
        col0[m] = Pair{W[m][0], W[m][2]};
        col1[m] = Pair{W[m][1], W[m][3]};
        gw0[m] = load2(dW[m]);
        gw1[m] = load2(dW[m] + 2);
        gb[m] = kBias ? load2(dbias[m]) : splat<Pair>(real(0));
    }
    for (int n = 0; n < N; ++n) {
        const real* x = inp + static_cast<size_t>(n) * in_stride;
        const Pair x0 = {x[0], x[0]}, x1 = {x[1], x[1]};  // not splat(): 0 + x would turn -0 into +0
        real* dx = dinp + static_cast<size_t>(n) * in_stride;
        Pair dxv;
        if constexpr (kDinp) dxv = load2(dx);
        for (int m = 0; m < kM; ++m) {
            const Pair dy = load2(d[m] + static_cast<size_t>(n) * out_stride);
            gw0[m] += x0 * dy;
            gw1[m] += x1 * dy;
            if constexpr (kBias) gb[m] += dy;
            if constexpr (kDinp) dxv += (splat<Pair>(real(0)) + dy[0] * col0[m]) + dy[1] * col1[m];
        }
        if constexpr (kDinp) store2(dx, dxv);
    }
    for (int m = 0; m < kM; ++m) {
        store2(dW[m], gw0[m]);
        store2(dW[m] + 2, gw1[m]);
        if constexpr (kBias) store2(dbias[m], gb[m]);
    }
}

template <int kM, bool kBias>
void linear_backward_2x2(real* dinp, int in_stride, real* const* dW, real* const* dbias, const real* const* dout,
                         int out_stride, const real* inp, const real* const* W, int N) {
    if (dinp) return linear_backward_2x2<kM, kBias, true>(dinp, in_stride, dW, dbias, dout, out_stride, inp, W, N);
    linear_backward_2x2<kM, kBias, false>(dinp, in_stride, dW, dbias, dout, out_stride, inp, W, N);
}

template <int kM>
void linear_backward_2x2(real* dinp, int in_stride, real* const* dW, real* const* dbias, const real* const* dout,
                         int out_stride, const real* inp, const real* const* W, int N) {
    bool all = true, none = true;
    for (int m = 0; m < kM; ++m) {
        all = all && dbias[m];
        none = none && !dbias[m];
    }
    if (none) return linear_backward_2x2<kM, false>(dinp, in_stride, dW, dbias, dout, out_stride, inp, W, N);
    if (all) return linear_backward_2x2<kM, true>(dinp, in_stride, dW, dbias, dout, out_stride, inp, W, N);
    // some layers with a bias, some without: one at a time (not a config this model has)
    for (int m = 0; m < kM; ++m) {
        if (dbias[m])
            linear_backward_2x2<1, true>(dinp, in_stride, dW + m, dbias + m, dout + m, out_stride, inp, W + m, N);
        else
            linear_backward_2x2<1, false>(dinp, in_stride, dW + m, dbias + m, dout + m, out_stride, inp, W + m, N);
    }
}

using LinearForwardFn = void (*)(real*, int, const real*, int, const real*, const real*, int, int, bool);
using LinearBackwardFn = void (*)(real*, int, real*, real*, const real*, int, const real*, const real*, int, int);

template <int kC>
LinearForwardFn narrow_forward(int OC) {
    switch (OC) {
        case 1: return linear_forward_narrow<kC, 1>;
        case 2: return linear_forward_narrow<kC, 2>;
        case 4: return linear_forward_narrow<kC, 4>;
        default: return linear_forward_narrow<kC, 0>;
    }
}

template <int kC>
LinearBackwardFn narrow_backward(int OC) {
    switch (OC) {
        case 1: return linear_backward_narrow<kC, 1>;
        case 2: return linear_backward_narrow<kC, 2>;
        case 4: return linear_backward_narrow<kC, 4>;
        default: return linear_backward_narrow<kC, 0>;
    }
}

// The narrow kernel for input width C, or nullptr for the GEMM path.
LinearForwardFn narrow_forward_for(int C, int OC) {
    switch (C) {
        case 1: return narrow_forward<1>(OC);
        case 2: return narrow_forward<2>(OC);
        case 3: return narrow_forward<3>(OC);
        case 4: return narrow_forward<4>(OC);
        default: return nullptr;
    }
}

LinearBackwardFn narrow_backward_for(int C, int OC) {
    switch (C) {
        case 1: return narrow_backward<1>(OC);
        case 2: return narrow_backward<2>(OC);
        case 3: return narrow_backward<3>(OC);
        case 4: return narrow_backward<4>(OC);
        default: return nullptr;
    }
}

void linear_forward(real* out, int out_stride, const real* inp, int in_stride, const real* W,
                    const real* bias, int N, int C, int OC, bool accumulate) {
    if (C == 2 && OC == 2) return linear_forward_2x2<1>(&out, out_stride, inp, in_stride, &W, &bias, N, accumulate);
    if (const LinearForwardFn narrow = narrow_forward_for(C, OC))
        return narrow(out, out_stride, inp, in_stride, W, bias, N, OC, accumulate);
    matmul_forward(out, out_stride, inp, in_stride, W, bias, N, C, OC, accumulate);
}

void linear_backward(real* dinp, int in_stride, real* dW, real* dbias, const real* dout,
                     int out_stride, const real* inp, const real* W, int N, int C, int OC) {
    if (C == 2 && OC == 2) return linear_backward_2x2<1>(dinp, in_stride, &dW, &dbias, &dout, out_stride, inp, &W, N);
    if (const LinearBackwardFn narrow = narrow_backward_for(C, OC))
        return narrow(dinp, in_stride, dW, dbias, dout, out_stride, inp, W, N, OC);
    matmul_backward(dinp, in_stride, dW, dbias, dout, out_stride, inp, W, N, C, OC);
}

void linear3_forward(real* const out[3], int out_stride, const real* inp, int in_stride, const real* const W[3],
                     const real* const bias[3], int N, int C, int OC) {
    if (C == 2 && OC == 2) return linear_forward_2x2<3>(out, out_stride, inp, in_stride, W, bias, N, false);
    for (int m = 0; m < 3; ++m) linear_forward(out[m], out_stride, inp, in_stride, W[m], bias[m], N, C, OC, false);
}

void linear3_backward(real* dinp, int in_stride, real* const dW[3], real* const dbias[3], const real* const dout[3],
                      int out_stride, const real* inp, const real* const W[3], int N, int C, int OC) {
    if (C == 2 && OC == 2) return linear_backward_2x2<3>(dinp, in_stride, dW, dbias, dout, out_stride, inp, W, N);
    for (int m = 0; m < 3; ++m)
        linear_backward(dinp, in_stride, dW[m], dbias[m], dout[m], out_stride, inp, W[m], N, C, OC);
}

// ----------------------------------------------------------------------------
// LayerNorm / RMSNorm

void norm_forward(real* out, real* mean, real* rstd, const real* inp, const real* w,
                  const real* b, int N, int C, bool rms) {
    for (int n = 0; n < N; ++n) {
        const real* x = inp + static_cast<size_t>(n) * C;
        real* o = out + static_cast<size_t>(n) * C;
        real m = 0;
        if (!rms) {
            for (int c = 0; c < C; ++c) m += x[c];
            m /= C;
        }
        real var = 0;  // for RMSNorm: mean of squares
        for (int c = 0; c < C; ++c) var += (x[c] - m) * (x[c] - m);
        var /= C;
        const real s = real(1) / std::sqrt(var + kNormEps);
        for (int c = 0; c < C; ++c) o[c] = (x[c] - m) * s * w[c] + (b ? b[c] : real(0));
        if (mean) mean[n] = m;
        rstd[n] = s;
    }
}

void norm_backward(real* dinp, real* dw, real* db, const real* dout, const real* inp,
                   const real* w, const real* mean, const real* rstd, int N, int C, bool rms) {
    for (int n = 0; n < N; ++n) {
        const real* x = inp + static_cast<size_t>(n) * C;
        const real* dy = dout + static_cast<size_t>(n) * C;
        real* dx = dinp + static_cast<size_t>(n) * C;
        const real m = rms ? real(0) : mean[n];
        const real s = rstd[n];
        // dnorm = dy * w; the normalised value is xhat = (x - m) * s.
        real dnorm_mean = 0, dnorm_xhat_mean = 0;
        for (int c = 0; c < C; ++c) {
            const real xhat = (x[c] - m) * s;
            const real dnorm = dy[c] * w[c];
            dnorm_mean += dnorm;
            dnorm_xhat_mean += dnorm * xhat;
            dw[c] += dy[c] * xhat;
            if (db) db[c] += dy[c];
        }
        dnorm_mean /= C;
        dnorm_xhat_mean /= C;
        if (rms) dnorm_mean = 0;  // no mean was subtracted, so none flows back
        for (int c = 0; c < C; ++c) {
            const real xhat = (x[c] - m) * s;
            dx[c] += s * (dy[c] * w[c] - dnorm_mean - xhat * dnorm_xhat_mean);
        }
    }
}

// ----------------------------------------------------------------------------
// activations

void activation_forward(real* out, const real* inp, int n, bool gelu) {
    const real inv_sqrt2 = real(1) / std::sqrt(real(2));
    for (int i = 0; i < n; ++i) {
        const real x = inp[i];
        out[i] = gelu ? real(0.5) * x * (real(1) + std::erf(x * inv_sqrt2)) : std::max(x, real(0));
    }
}

void activation_backward(real* dinp, const real* dout, const real* inp, int n, bool gelu) {
    const real inv_sqrt2 = real(1) / std::sqrt(real(2));
    const real inv_sqrt2pi = real(1) / std::sqrt(real(2) * std::numbers::pi_v<real>);
    for (int i = 0; i < n; ++i) {
        const real x = inp[i];
        const real grad = gelu ? real(0.5) * (real(1) + std::erf(x * inv_sqrt2)) +
                                     x * exp_real(real(-0.5) * x * x) * inv_sqrt2pi
                               : (x > 0 ? real(1) : real(0));
        dinp[i] += grad * dout[i];
    }
}

// ----------------------------------------------------------------------------
// readout and loss

void readout_forward(real* out, const real* x, const real* W_U, const real* b_U, int N, int C) {
    for (int n = 0; n < N; ++n) {
        real s = b_U[0];
        for (int c = 0; c < C; ++c) s += x[static_cast<size_t>(n) * C + c] * W_U[c];
        out[n] = s;
    }
}

void readout_backward(real* dx, real* dW_U, real* db_U, const real* dout, const real* x,
                      const real* W_U, int N, int C) {
    for (int n = 0; n < N; ++n) {
        const real g = dout[n];
        if (g == 0) continue;  // unsupervised positions carry no gradient
        for (int c = 0; c < C; ++c) {
            dx[static_cast<size_t>(n) * C + c] += g * W_U[c];
            dW_U[c] += g * x[static_cast<size_t>(n) * C + c];
        }
        db_U[0] += g;
    }
}

real mse_forward(const real* pred, const real* target, const real* weight, int N) {
    real loss = 0;
    for (int n = 0; n < N; ++n) {
        const real e = pred[n] - target[n];
        loss += weight[n] * e * e;
    }
    return loss;
}

void mse_backward(real* dpred, const real* pred, const real* target, const real* weight, int N) {
    for (int n = 0; n < N; ++n) dpred[n] += real(2) * weight[n] * (pred[n] - target[n]);
}

}  // namespace ctr
