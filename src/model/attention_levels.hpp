#pragma once
// The attention kernels' entry points, one per instruction set (attention_scalar.cpp,
// attention_avx2.cpp, attention_avx512.cpp, all from attention_kernel.hpp), and what
// attention.cpp needs to pick one at run time.
#include <cstddef>

#include "model/attention.hpp"
#include "util/real.hpp"

namespace ctr::attention_detail {

constexpr int kMaxLaneBytes = 64;  // AVX-512
constexpr size_t kMaxLanes = kMaxLaneBytes / sizeof(real);

#define CTR_FORWARD_ARGS real *z, real *pattern, const real *q, const real *k, const real *v, int B, int T, int H, int Dh, \
                         real scale, const real *query_mask, real *scratch, PatternLayout layout
#define CTR_BACKWARD_ARGS real *dq, real *dk, real *dv, const real *dz, const real *pattern, const real *q, \
                          const real *k, const real *v, int B, int T, int H, int Dh, real scale,             \
                          const real *query_mask, real *scratch, PatternLayout layout, bool add_to

// One entry point per instruction set, declared with the target the definition has (a
// declaration without it would be another version of the function).
void forward_scalar(CTR_FORWARD_ARGS);
void backward_scalar(CTR_BACKWARD_ARGS);
#if defined(__x86_64__) && defined(__GNUC__)
void forward_sse2(CTR_FORWARD_ARGS);
void backward_sse2(CTR_BACKWARD_ARGS);
__attribute__((target("avx2"))) void forward_avx2(CTR_FORWARD_ARGS);
__attribute__((target("avx2"))) void backward_avx2(CTR_BACKWARD_ARGS);
__attribute__((target("avx512f"))) void forward_avx512(CTR_FORWARD_ARGS);
__attribute__((target("avx512f"))) void backward_avx512(CTR_BACKWARD_ARGS);
#endif

}  // namespace ctr::attention_detail
