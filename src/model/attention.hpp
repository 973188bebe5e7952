#pragma once
// Causal softmax attention (attention.cpp). q, k, v, z: (B, T, H, Dh); pattern:
// (B, H, T, T). Only the causal part (key <= query) is written: the caller keeps the
// rest zero. logits = scale * q.k, softmax shifted by the row max so huge logits (sinks
// push them up) stay finite; exp is the model's own (model/lanes.hpp).
// query_mask (B, T), optional: only queries whose entry is non-zero are computed; the
// others get z = 0 and an untouched pattern row, and backward skips them. The last
// block uses it for the queries the loss looks at.
// The kernels run several sequences side by side, one per vector lane, at the width
// simd_level() picks (model/simd.hpp); results are the same bits at every width.
// scratch: attention_scratch_size(T, Dh) reals, or nullptr to allocate one per call.
// layout: where the pattern goes. canonical is (B, H, T, T) as above; lanes is a private
// order (the vector lanes' own, attention_kernel.hpp) that only attention_backward reads, for
// the training step, which needs no one else to read it: it saves moving every value
// between lanes. backward must be given the layout forward used.
// add_to: backward adds to dq, dk, dv (true) or writes them, bit for bit what adding
// to a zeroed buffer gives (false: the caller need not zero them, nor the kernel read them).
#include <cstddef>

#include "util/real.hpp"

namespace ctr {

size_t attention_scratch_size(int T, int Dh);

enum class PatternLayout { canonical, lanes };

void attention_forward(real* z, real* pattern, const real* q, const real* k, const real* v, int B, int T, int H,
                       int Dh, real scale, const real* query_mask = nullptr, real* scratch = nullptr,
                       PatternLayout layout = PatternLayout::canonical);
void attention_backward(real* dq, real* dk, real* dv, const real* dz, const real* pattern, const real* q,
                        const real* k, const real* v, int B, int T, int H, int Dh, real scale,
                        const real* query_mask = nullptr, real* scratch = nullptr,
                        PatternLayout layout = PatternLayout::canonical, bool add_to = true);

}  // namespace ctr
