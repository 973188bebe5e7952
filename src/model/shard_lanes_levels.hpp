#pragma once
// The shard-lane kernel's entry points, one per instruction set and group width
// (shard_lanes_scalar.cpp, shard_lanes_sse2.cpp, shard_lanes_avx2.cpp,
// shard_lanes_avx512.cpp, all from shard_lanes_kernel.hpp), and the workspace layout and
// model sizes that shard_lanes.cpp hands them.
#include <algorithm>
#include <cstddef>

#include "model/params.hpp"
#include "model/shard_lanes.hpp"
#include "task/batch.hpp"
#include "util/real.hpp"

namespace ctr::shard_lanes_detail {

// Where the buffers of one slot live, in vectors of the group's width (lane-major).
struct Offsets {
    size_t kind, value, target, weight;   // (T) the slot's inputs; kind as a real 0/1/2
    size_t rows;                          // (T) bytes: 1 where some lane's loss looks at the position
    size_t X;                             // (L + 1, T, D) hook_resid_pre of each block; X[L] the last resid_post
    size_t Q, K, Vv, Z;                   // (L, T, H, Dh) hook_q, hook_k, hook_v, hook_z
    size_t Qpre, Kpre;                    // (L, T, H, Dh) before QK-norm (qk_norm only)
    size_t q_rstd, k_rstd;                // (L, T, H) (qk_norm only)
    size_t P;                             // (L, H, T (T + 1) / 2) pattern: query i's keys 0..i from i (i + 1) / 2
    size_t out, dout;                     // (T) the prediction and d loss / d prediction
    size_t dX;                            // (T, D) d loss / d residual stream, walked backwards
    size_t dQ, dK, dV, dZ, dQpre, dKpre;  // (T, H, Dh)
    size_t dP;                            // (T) one query's d loss / d pattern
    size_t G;                             // (n_params) the lanes' parameter-gradient sums, over all slots
    size_t loss;                          // (1) the lanes' loss sums
    size_t total;
};

// What the kernels need to know of the model, resolved once per call.
struct Net {
    int T, D, H, Dh, L;
    real scale;
    bool qk_norm;
    bool qkv_gemm, wo_gemm;  // the row path multiplies with the GEMM (bias last) instead of the narrow loops
    const real* sinusoid;    // (n_ctx, D) or nullptr
    const int* row_of;       // (n_ctx (n_ctx + 1) / 2) the query (row) of each causal pattern entry
    const real* zeros;       // (n_ctx) the inputs of a lane past the end of its shard
    const int* izeros;       // (n_ctx)
    const ParamLayout* lay;
    Offsets off;
};

#define CTR_GROUP_ARGS real *work, const real *p, const Batch &batch, const int *shard_begin, int n_shards, int g, \
                       const Net &n, bool backward

constexpr int lanes_of(size_t bytes) { return static_cast<int>(std::min<size_t>(ShardLanes::kLanes, bytes / sizeof(real))); }

// One entry point per instruction set and group width, declared with the target the
// definition has (a declaration without it would be another version of the function).
void group_scalar(CTR_GROUP_ARGS);
#if defined(__x86_64__) && defined(__GNUC__)
void group_sse2(CTR_GROUP_ARGS);
__attribute__((target("avx2"))) void group_avx2(CTR_GROUP_ARGS);
__attribute__((target("avx512f"))) void group_avx512(CTR_GROUP_ARGS);
__attribute__((target("avx512f"))) void group_avx512_half(CTR_GROUP_ARGS);
#endif

}  // namespace ctr::shard_lanes_detail
