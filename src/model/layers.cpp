#include "model/layers.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ctr {

// ----------------------------------------------------------------------------
// linear

void linear_forward(real* out, int out_stride, const real* inp, int in_stride, const real* W,
                    const real* bias, int N, int C, int OC, bool accumulate) {
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

void attention_forward(real* z, real* pattern, const real* q, const real* k, const real* v,
                       int B, int T, int H, int Dh, real scale) {
    const size_t row = static_cast<size_t>(H) * Dh;  // stride between positions in q/k/v/z
    for (int b = 0; b < B; ++b)
        for (int h = 0; h < H; ++h)
            for (int i = 0; i < T; ++i) {
                const real* qi = q + (static_cast<size_t>(b) * T + i) * row + h * Dh;
                real* p = pattern + ((static_cast<size_t>(b) * H + h) * T + i) * T;
                real maxv = -std::numeric_limits<real>::infinity();
                for (int j = 0; j <= i; ++j) {
                    const real* kj = k + (static_cast<size_t>(b) * T + j) * row + h * Dh;
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
                for (int j = i + 1; j < T; ++j) p[j] = 0;

                real* zi = z + (static_cast<size_t>(b) * T + i) * row + h * Dh;
                for (int d = 0; d < Dh; ++d) zi[d] = 0;
                for (int j = 0; j <= i; ++j) {
                    const real* vj = v + (static_cast<size_t>(b) * T + j) * row + h * Dh;
                    for (int d = 0; d < Dh; ++d) zi[d] += p[j] * vj[d];
                }
            }
}

void attention_backward(real* dq, real* dk, real* dv, const real* dz, const real* pattern,
                        const real* q, const real* k, const real* v, int B, int T, int H,
                        int Dh, real scale, real* scratch) {
    const size_t row = static_cast<size_t>(H) * Dh;
    real* dp = scratch;  // (T) d loss / d pattern for one query row
    for (int b = 0; b < B; ++b)
        for (int h = 0; h < H; ++h)
            for (int i = 0; i < T; ++i) {
                const size_t qi_off = (static_cast<size_t>(b) * T + i) * row + h * Dh;
                const real* p = pattern + ((static_cast<size_t>(b) * H + h) * T + i) * T;
                const real* dzi = dz + qi_off;
                real p_dot_dp = 0;
                for (int j = 0; j <= i; ++j) {
                    const size_t j_off = (static_cast<size_t>(b) * T + j) * row + h * Dh;
                    real s = 0;
                    for (int d = 0; d < Dh; ++d) {
                        s += dzi[d] * v[j_off + d];
                        dv[j_off + d] += p[j] * dzi[d];
                    }
                    dp[j] = s;
                    p_dot_dp += p[j] * s;
                }
                // softmax backward: dlogit_j = p_j (dp_j - sum_k p_k dp_k)
                for (int j = 0; j <= i; ++j) {
                    const size_t j_off = (static_cast<size_t>(b) * T + j) * row + h * Dh;
                    const real dlogit = p[j] * (dp[j] - p_dot_dp) * scale;
                    for (int d = 0; d < Dh; ++d) {
                        dq[qi_off + d] += dlogit * k[j_off + d];
                        dk[j_off + d] += dlogit * q[qi_off + d];
                    }
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
    const real inv_sqrt2pi = real(1) / std::sqrt(real(2) * real(M_PI));
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
