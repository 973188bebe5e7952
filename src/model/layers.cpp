#include "model/layers.hpp"

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
// output width is known only at run time. Wider inputs go to Eigen.
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
    if (const LinearForwardFn narrow = narrow_forward_for(C, OC))
        return narrow(out, out_stride, inp, in_stride, W, bias, N, OC, accumulate);
    StridedMatMap o(out, N, OC, Eigen::OuterStride<>(out_stride));
    ConstStridedMatMap x(inp, N, C, Eigen::OuterStride<>(in_stride));
    ConstMatMap w(W, C, OC);
    if (accumulate)
        o.noalias() += x * w;
    else
        o.noalias() = x * w;
    if (bias) o.rowwise() += Eigen::Map<const Eigen::Matrix<real, 1, Eigen::Dynamic>>(bias, OC);
}

void linear_backward(real* dinp, int in_stride, real* dW, real* dbias, const real* dout,
                     int out_stride, const real* inp, const real* W, int N, int C, int OC) {
    if (const LinearBackwardFn narrow = narrow_backward_for(C, OC))
        return narrow(dinp, in_stride, dW, dbias, dout, out_stride, inp, W, N, OC);
    ConstStridedMatMap dout_m(dout, N, OC, Eigen::OuterStride<>(out_stride));
    ConstStridedMatMap x(inp, N, C, Eigen::OuterStride<>(in_stride));
    ConstMatMap w(W, C, OC);
    if (dinp) {
        StridedMatMap dx(dinp, N, C, Eigen::OuterStride<>(in_stride));
        dx.noalias() += dout_m * w.transpose();
    }
    MatMap(dW, C, OC).noalias() += x.transpose() * dout_m;
    if (dbias)
        Eigen::Map<Eigen::Matrix<real, 1, Eigen::Dynamic>>(dbias, OC) += dout_m.colwise().sum();
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
// causal attention

// The attention kernels are templates on d_head so that the common small head sizes
// get fully unrolled inner loops (kDh = 0: d_head known only at run time). This is the
// hot path of the paper's model, where d_head = 2 (docs/performance.md).
template <int kDh>
void attention_forward_impl(real* z, real* pattern, const real* q, const real* k, const real* v,
                            int B, int T, int H, int dh, real scale, const real* query_mask) {
    const int Dh = kDh > 0 ? kDh : dh;
    const size_t row = static_cast<size_t>(H) * Dh;  // stride between positions in q/k/v/z
    for (int b = 0; b < B; ++b)
        for (int h = 0; h < H; ++h) {
            const size_t head = static_cast<size_t>(b) * T * row + static_cast<size_t>(h) * Dh;
            const real* __restrict qh = q + head;
            const real* __restrict kh = k + head;
            const real* __restrict vh = v + head;
            real* __restrict zh = z + head;
            real* __restrict ph = pattern + (static_cast<size_t>(b) * H + h) * T * T;
            for (int i = 0; i < T; ++i) {
                if (query_mask && query_mask[static_cast<size_t>(b) * T + i] == 0) {
                    std::fill_n(zh + i * row, Dh, real(0));
                    continue;
                }
                const real* __restrict qi = qh + i * row;
                real* __restrict p = ph + static_cast<size_t>(i) * T;
                real maxv = -std::numeric_limits<real>::infinity();
                for (int j = 0; j <= i; ++j) {
                    const real* kj = kh + j * row;
                    real s = 0;
                    for (int d = 0; d < Dh; ++d) s += qi[d] * kj[d];
                    p[j] = s * scale;
                    maxv = std::max(maxv, p[j]);
                }
                real sum = 0;
                for (int j = 0; j <= i; ++j) {
                    p[j] = std::exp(p[j] - maxv);
                    sum += p[j];
                }
                const real inv = real(1) / sum;
                for (int j = 0; j <= i; ++j) p[j] *= inv;

                // accumulate z_i in registers (kDh known) before one store
                real* __restrict zi = zh + i * row;
                if constexpr (kDh > 0) {
                    real acc[kDh] = {};
                    for (int j = 0; j <= i; ++j) {
                        const real* vj = vh + j * row;
                        const real pj = p[j];
                        for (int d = 0; d < kDh; ++d) acc[d] += pj * vj[d];
                    }
                    for (int d = 0; d < kDh; ++d) zi[d] = acc[d];
                } else {
                    for (int d = 0; d < Dh; ++d) zi[d] = 0;
                    for (int j = 0; j <= i; ++j) {
                        const real* vj = vh + j * row;
                        const real pj = p[j];
                        for (int d = 0; d < Dh; ++d) zi[d] += pj * vj[d];
                    }
                }
            }
        }
}

template <int kDh>
void attention_backward_impl(real* dq, real* dk, real* dv, const real* dz, const real* pattern,
                             const real* q, const real* k, const real* v, int B, int T, int H,
                             int dh, real scale, real* scratch, const real* query_mask) {
    const int Dh = kDh > 0 ? kDh : dh;
    const size_t row = static_cast<size_t>(H) * Dh;
    real* __restrict dp = scratch;  // (T) d loss / d pattern for one query row
    for (int b = 0; b < B; ++b)
        for (int h = 0; h < H; ++h) {
            const size_t head = static_cast<size_t>(b) * T * row + static_cast<size_t>(h) * Dh;
            const real* __restrict qh = q + head;
            const real* __restrict kh = k + head;
            const real* __restrict vh = v + head;
            const real* __restrict dzh = dz + head;
            real* __restrict dqh = dq + head;
            real* __restrict dkh = dk + head;
            real* __restrict dvh = dv + head;
            const real* __restrict ph = pattern + (static_cast<size_t>(b) * H + h) * T * T;
            for (int i = 0; i < T; ++i) {
                if (query_mask && query_mask[static_cast<size_t>(b) * T + i] == 0) continue;
                const real* __restrict p = ph + static_cast<size_t>(i) * T;
                const real* __restrict dzi = dzh + i * row;
                real p_dot_dp = 0;
                for (int j = 0; j <= i; ++j) {
                    const real* __restrict vj = vh + j * row;
                    real* __restrict dvj = dvh + j * row;
                    real s = 0;
                    for (int d = 0; d < Dh; ++d) {
                        s += dzi[d] * vj[d];
                        dvj[d] += p[j] * dzi[d];
                    }
                    dp[j] = s;
                    p_dot_dp += p[j] * s;
                }
                // softmax backward: dlogit_j = p_j (dp_j - sum_k p_k dp_k)
                const real* __restrict qi = qh + i * row;
                real* __restrict dqi = dqh + i * row;
                for (int j = 0; j <= i; ++j) {
                    const real dlogit = p[j] * (dp[j] - p_dot_dp) * scale;
                    const real* __restrict kj = kh + j * row;
                    real* __restrict dkj = dkh + j * row;
                    for (int d = 0; d < Dh; ++d) {
                        dqi[d] += dlogit * kj[d];
                        dkj[d] += dlogit * qi[d];
                    }
                }
            }
        }
}

#define CTR_DISPATCH_DHEAD(fn, Dh, ...)              \
    switch (Dh) {                                    \
        case 1: return fn<1>(__VA_ARGS__);           \
        case 2: return fn<2>(__VA_ARGS__);           \
        case 4: return fn<4>(__VA_ARGS__);           \
        case 8: return fn<8>(__VA_ARGS__);           \
        case 16: return fn<16>(__VA_ARGS__);         \
        default: return fn<0>(__VA_ARGS__);          \
    }

void attention_forward(real* z, real* pattern, const real* q, const real* k, const real* v,
                       int B, int T, int H, int Dh, real scale, const real* query_mask) {
    CTR_DISPATCH_DHEAD(attention_forward_impl, Dh, z, pattern, q, k, v, B, T, H, Dh, scale, query_mask)
}

void attention_backward(real* dq, real* dk, real* dv, const real* dz, const real* pattern,
                        const real* q, const real* k, const real* v, int B, int T, int H,
                        int Dh, real scale, real* scratch, const real* query_mask) {
    CTR_DISPATCH_DHEAD(attention_backward_impl, Dh, dq, dk, dv, dz, pattern, q, k, v, B, T, H, Dh, scale, scratch,
                       query_mask)
}
#undef CTR_DISPATCH_DHEAD

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
                                     x * std::exp(real(-0.5) * x * x) * inv_sqrt2pi
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
