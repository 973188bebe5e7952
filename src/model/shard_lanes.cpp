#include "model/shard_lanes.hpp"

#include <omp.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <utility>

#include "model/shard_lanes_levels.hpp"
#include "model/simd.hpp"

namespace ctr {

bool shard_lanes_supported(const ModelConfig& cfg) { return cfg.norm == Norm::kNone && cfg.d_mlp == 0; }

namespace {

using namespace shard_lanes_detail;

constexpr size_t kAlign = 64;  // AVX-512 vectors

Offsets make_offsets(const ModelConfig& c, int n_ctx, size_t n_params) {
    const size_t T = n_ctx, L = c.n_layers, D = c.d_model, H = c.n_heads, HD = H * c.d_head;
    const size_t qk = c.qk_norm ? 1 : 0;
    Offsets o{};
    size_t at = 0;
    auto take = [&at](size_t n) {
        const size_t r = at;
        at += n;
        return r;
    };
    o.kind = take(T);
    o.value = take(T);
    o.target = take(T);
    o.weight = take(T);
    o.rows = take(T);  // T bytes in T vectors: room to spare
    o.X = take((L + 1) * T * D);
    o.Q = take(L * T * HD);
    o.K = take(L * T * HD);
    o.Vv = take(L * T * HD);
    o.Z = take(L * T * HD);
    o.Qpre = take(qk * L * T * HD);
    o.Kpre = take(qk * L * T * HD);
    o.q_rstd = take(qk * L * T * H);
    o.k_rstd = take(qk * L * T * H);
    o.P = take(L * H * T * (T + 1) / 2);
    o.out = take(T);
    o.dout = take(T);
    o.dX = take(T * D);
    o.dQ = take(T * HD);
    o.dK = take(T * HD);
    o.dV = take(T * HD);
    o.dZ = take(T * HD);
    o.dQpre = take(qk * T * HD);
    o.dKpre = take(qk * T * HD);
    o.dP = take(T);
    o.G = take(n_params);
    o.loss = take(1);
    o.total = at;
    return o;
}

using GroupFn = void (*)(CTR_GROUP_ARGS);

}  // namespace

ShardLanes::ShardLanes(const ModelConfig& cfg, const ParamLayout& layout, int n_ctx, std::vector<real> sinusoid)
    : cfg_(cfg), layout_(layout), n_ctx_(n_ctx), sinusoid_(std::move(sinusoid)) {
    if (!shard_lanes_supported(cfg)) throw std::invalid_argument("ShardLanes: config has a norm or an MLP");
    lane_size_ = make_offsets(cfg, n_ctx, layout.total()).total;
    for (int i = 0; i < n_ctx; ++i) row_of_.insert(row_of_.end(), i + 1, i);
    zeros_.assign(n_ctx, real(0));
    izeros_.assign(n_ctx, 0);
    work_.resize(kLanes * lane_size_ + kAlign / sizeof(real));
}

real ShardLanes::run(const real* p, real* grads, const Batch& batch, const int* shard_begin, int n_shards) {
    Net n;
    n.T = batch.T;
    n.D = cfg_.d_model;
    n.H = cfg_.n_heads;
    n.Dh = cfg_.d_head;
    n.L = cfg_.n_layers;
    n.scale = cfg_.attn_scale == AttnScale::kInvSqrtDHead ? real(1) / std::sqrt(real(n.Dh)) : real(1);
    n.qk_norm = cfg_.qk_norm;
    n.qkv_gemm = n.D > 4;   // layers.cpp: narrow loops up to 4 inputs, the GEMM beyond
    n.wo_gemm = n.Dh > 4;
    n.sinusoid = sinusoid_.empty() ? nullptr : sinusoid_.data();
    n.row_of = row_of_.data();
    n.zeros = zeros_.data();
    n.izeros = izeros_.data();
    n.lay = &layout_;
    n.off = make_offsets(cfg_, n_ctx_, layout_.total());

    // The group width: the instruction set's, but two groups of 4 for two threads.
    GroupFn fn = group_scalar;
    int W = 1;
    switch (simd_level()) {
#if defined(__x86_64__) && defined(__GNUC__)
        case SimdLevel::avx512:
            if (omp_get_max_threads() > 1 && lanes_of(64) == 8) {
                fn = group_avx512_half;
                W = lanes_of(64) / 2;
            } else {
                fn = group_avx512;
                W = lanes_of(64);
            }
            break;
        case SimdLevel::avx2:
            fn = group_avx2;
            W = lanes_of(32);
            break;
        case SimdLevel::sse2:
            fn = group_sse2;
            W = lanes_of(16);
            break;
#endif
        default: break;
    }
    // Each group's workspace starts on a 64-byte boundary: W * lane_size_ reals apart
    // (lane_size_ counts vectors, each W reals).
    real* work = reinterpret_cast<real*>((reinterpret_cast<uintptr_t>(work_.data()) + kAlign - 1) &
                                         ~static_cast<uintptr_t>(kAlign - 1));
    const int groups = (n_shards + W - 1) / W;
    const bool backward = grads != nullptr;
#pragma omp parallel for schedule(static)
    for (int g = 0; g < groups; ++g) fn(work, p, batch, shard_begin, n_shards, g, n, backward);

    // The shards in order, as Transformer adds its shards' losses and gradients.
    real loss = 0;
    const size_t P = layout_.total();
    for (int s = 0; s < n_shards; ++s) {
        const int g = s / W, w = s % W;
        const real* base = work + (static_cast<size_t>(g) * lane_size_) * W;
        loss += base[n.off.loss * W + w];
        if (grads)
            for (size_t i = 0; i < P; ++i) grads[i] += base[(n.off.G + i) * W + w];
    }
    return loss;
}

}  // namespace ctr
