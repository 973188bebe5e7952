#include "analysis/tag_lda.hpp"

#include <Eigen/Dense>
#include <cmath>

namespace ctr {

double lda_separation(const real* x, int B, int T, int D, const Batch& batch) {
    using Vec = Eigen::VectorXd;
    using Mat = Eigen::MatrixXd;
    Vec sum_a = Vec::Zero(D), sum_b = Vec::Zero(D);
    size_t n_a = 0, n_b = 0;
    double sq = 0;
    auto token = [&](int b, int t) { return Eigen::Map<const Eigen::Matrix<real, Eigen::Dynamic, 1>>(x + (static_cast<size_t>(b) * T + t) * D, D).cast<double>(); };
    // One vector for every token's copy, not one allocation per token (they were most of
    // a snapshot's mechanism metrics); the arithmetic is the same.
    Vec v(D);
    for (int b = 0; b < B; ++b)
        for (int t = 0; t < T; ++t) {
            if (batch.kind[static_cast<size_t>(b) * T + t] != kNumber) continue;
            v = token(b, t);
            sq += v.squaredNorm();
            if (t > batch.sep_pos[b]) sum_a += v, ++n_a;
            else sum_b += v, ++n_b;
        }
    if (n_a == 0 || n_b == 0 || n_a + n_b < 3) return 0.0;
    const Vec mean_a = sum_a / static_cast<double>(n_a), mean_b = sum_b / static_cast<double>(n_b);
    Mat S = Mat::Zero(D, D);
    for (int b = 0; b < B; ++b)
        for (int t = 0; t < T; ++t) {
            if (batch.kind[static_cast<size_t>(b) * T + t] != kNumber) continue;
            v = token(b, t) - (t > batch.sep_pos[b] ? mean_a : mean_b);
            S.noalias() += v * v.transpose();
        }
    S /= static_cast<double>(n_a + n_b - 2);
    const double ridge = 1e-12 * sq / static_cast<double>((n_a + n_b) * D);
    if (!(ridge > 0)) return 0.0;  // every coordinate is 0
    S.diagonal().array() += ridge;
    const Vec delta = mean_a - mean_b;
    const double d2 = delta.dot(S.ldlt().solve(delta));
    return d2 > 0 ? std::sqrt(d2) : 0.0;
}

}  // namespace ctr
