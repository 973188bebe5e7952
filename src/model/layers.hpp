#pragma once
// The model's operations, each a *_forward / *_backward pair side by side (layers.cpp).
// Conventions: buffers are row-major raw arrays; shapes are given as (rows, cols) or
// (B, T, ...); backward functions accumulate into every d<x> with +=, so the caller
// zeroes gradients once per step. Shapes use N = B*T rows.
#include "model/attention.hpp"
#include "util/real.hpp"

namespace ctr {

constexpr real kNormEps = real(1e-5);

// out (N, OC) (=|+=) inp (N, C) @ W (C, OC) + bias (OC). Rows of inp and out are
// in_stride / out_stride apart, so one head's slice of a [N, H, d_head] buffer is a view.
void linear_forward(real* out, int out_stride, const real* inp, int in_stride, const real* W,
                    const real* bias, int N, int C, int OC, bool accumulate);
void linear_backward(real* dinp, int in_stride, real* dW, real* dbias, const real* dout,
                     int out_stride, const real* inp, const real* W, int N, int C, int OC);

// The same for three layers on one input (Q, K, V of a head): out[m] = inp @ W[m] +
// bias[m] (bias[m] optional), and backward adds each part's share to dinp in the order
// m = 0, 1, 2. Bit for bit the three single calls, in one pass over the rows.
void linear3_forward(real* const out[3], int out_stride, const real* inp, int in_stride, const real* const W[3],
                     const real* const bias[3], int N, int C, int OC);
void linear3_backward(real* dinp, int in_stride, real* const dW[3], real* const dbias[3], const real* const dout[3],
                      int out_stride, const real* inp, const real* const W[3], int N, int C, int OC);

// LayerNorm (with bias) or RMSNorm (bias == nullptr and rms == true) over the last
// axis of inp (N, C). mean (N) is unused for RMSNorm; rstd (N) is kept for backward.
void norm_forward(real* out, real* mean, real* rstd, const real* inp, const real* w,
                  const real* b, int N, int C, bool rms);
void norm_backward(real* dinp, real* dw, real* db, const real* dout, const real* inp,
                   const real* w, const real* mean, const real* rstd, int N, int C, bool rms);

// Elementwise activation, n values. gelu is the exact erf form (PyTorch's default).
void activation_forward(real* out, const real* inp, int n, bool gelu);
void activation_backward(real* dinp, const real* dout, const real* inp, int n, bool gelu);

// out (N) = x (N, C) @ W_U (C) + b_U.
void readout_forward(real* out, const real* x, const real* W_U, const real* b_U, int N, int C);
void readout_backward(real* dx, real* dW_U, real* db_U, const real* dout, const real* x,
                      const real* W_U, int N, int C);

// Weighted squared error: sum_n weight[n] * (pred[n] - target[n])^2.
real mse_forward(const real* pred, const real* target, const real* weight, int N);
void mse_backward(real* dpred, const real* pred, const real* target, const real* weight, int N);

}  // namespace ctr
