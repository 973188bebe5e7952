#pragma once
// The training step with one vector lane per shard (shard_lanes.cpp).
//
// Transformer cuts a batch into at most 8 shards of whole sequences; a shard's loss and
// parameter gradient are sums over its rows in row order, and the shards are added in
// shard order (transformer.cpp). So lane s of a vector can run shard s alone: lane s
// walks shard s's sequences in order and does, sequence after sequence, exactly the
// operations the row kernels do on that sequence's rows, in their order. Every
// parameter-gradient sum is then a vector of the shards' partial sums, added into the
// gradient in shard order at the end: the same bits as the row path, at every vector
// width, with no data moved between lanes. Each sequence's forward and backward run
// back to back, so its activations never leave the cache.
//
// What it covers: attention-only blocks without LayerNorm/RMSNorm (any number of layers
// and heads, d_model, d_head, attention biases, QK-norm, learned or sinusoidal
// positions, [BOS], either attention scale, either supervision), and only the loss-only
// forward (the last block computes the queries with loss weight > 0, as
// Transformer::forward_loss_only). Other configs keep the row path.
#include <cstddef>
#include <vector>

#include "config/config.hpp"
#include "model/params.hpp"
#include "task/batch.hpp"
#include "util/real.hpp"

namespace ctr {

// Whether ShardLanes runs this config (attention only, no norm).
bool shard_lanes_supported(const ModelConfig& cfg);

class ShardLanes {
public:
    // sinusoid: (n_ctx, d_model) fixed positions, or empty.
    ShardLanes(const ModelConfig& cfg, const ParamLayout& layout, int n_ctx, std::vector<real> sinusoid);

    // The loss of the batch whose shard s holds sequences [shard_begin[s],
    // shard_begin[s + 1]), s < n_shards <= 8, and with grads != nullptr its gradient
    // added to grads, bit for bit what Transformer::forward_loss_only and backward give.
    // Lanes run on OpenMP threads in groups; the result never depends on how many.
    real run(const real* params, real* grads, const Batch& batch, const int* shard_begin, int n_shards);

    static constexpr int kLanes = 8;  // one per shard

private:
    ModelConfig cfg_;
    ParamLayout layout_;
    int n_ctx_;
    std::vector<real> sinusoid_;  // (n_ctx, D) or empty
    std::vector<int> row_of_;     // (n_ctx (n_ctx + 1) / 2) the query of each causal pattern entry
    std::vector<real> zeros_;     // (n_ctx) inputs of a lane past the end of its shard
    std::vector<int> izeros_;     // (n_ctx)
    size_t lane_size_ = 0;     // reals of one lane's workspace (shard_lanes_kernel.hpp: Offsets)
    std::vector<real> work_;   // (kLanes, lane_size_) + alignment; groups of W lanes side by side
};

}  // namespace ctr
