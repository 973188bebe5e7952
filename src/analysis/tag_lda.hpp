#pragma once
// A tag measure that does not depend on one chosen direction: how well the best linear
// direction separates the tagged tokens from the untagged ones. docs/metrics.md ("Tag").
#include "task/batch.hpp"
#include "util/real.hpp"

namespace ctr {

// Fisher's linear discriminant between the numbers after [SEP] (tagged) and the
// numbers before it in x (B, T, D), e.g. a layer's resid_post: its separation
// d' = sqrt(delta^T S^-1 delta), delta the difference of the two groups' means and S
// their pooled covariance (plus 1e-12 of the mean squared coordinate on the diagonal,
// so that groups constant along some direction give a large finite d', not a
// division by zero). It is the d' of the projection on the best direction, so >= 0,
// and equals |tag_separation| when D = 1. 0 when a group is empty or has too few tokens.
double lda_separation(const real* x, int B, int T, int D, const Batch& batch);

}  // namespace ctr
