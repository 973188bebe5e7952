#pragma once
// The products of the wide linear layers (layers.cpp sends the narrow ones, input width
// <= 4, to kernels of their own). Every output element is one sum over the inner index
// in increasing order, started from 0, then added to the output and the bias; vector
// lanes run across output columns, so every SIMD width (model/simd.hpp) gives the same
// bits as the scalar code.
#include "util/real.hpp"

namespace ctr {

// out (N, OC) (=|+=) inp (N, C) @ W (C, OC) + bias (OC, optional). Rows of inp and out
// are in_stride / out_stride apart.
void matmul_forward(real* out, int out_stride, const real* inp, int in_stride, const real* W, const real* bias,
                    int N, int C, int OC, bool accumulate);
// dinp (N, C) += dout (N, OC) @ W^T (optional), dW (C, OC) += inp^T @ dout,
// dbias (OC) += column sums of dout (optional).
void matmul_backward(real* dinp, int in_stride, real* dW, real* dbias, const real* dout, int out_stride,
                     const real* inp, const real* W, int N, int C, int OC);

}  // namespace ctr
