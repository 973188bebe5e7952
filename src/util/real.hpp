#pragma once
// The floating-point type of the model and of training. double by default: the tests
// need float64, and at the paper's sizes it costs little (docs/performance.md).
// The benchmark builds a float variant (CTR_REAL_FLOAT) to measure the difference.
#include <Eigen/Core>

namespace ctr {
#ifdef CTR_REAL_FLOAT
using real = float;
#else
using real = double;
#endif

using RowMatrix = Eigen::Matrix<real, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatMap = Eigen::Map<RowMatrix>;
using ConstMatMap = Eigen::Map<const RowMatrix>;
// A row-major matrix view whose rows are `stride` apart, e.g. one head's slice of
// a [batch*pos, head, d_head] buffer.
using StridedMatMap = Eigen::Map<RowMatrix, 0, Eigen::OuterStride<>>;
using ConstStridedMatMap = Eigen::Map<const RowMatrix, 0, Eigen::OuterStride<>>;
}  // namespace ctr
