#pragma once
// The causal transformer of the catch-tag-release task: embeddings, n_layers pre-norm
// blocks (attention, optional MLP), optional final norm, and a scalar readout.
// forward() keeps every activation backward needs, under TransformerLens names and
// shapes, so the analysis and the run file read them without a second pass.
#include <functional>
#include <optional>
#include <vector>

#include "config/config.hpp"
#include "model/attention.hpp"
#include "model/params.hpp"
#include "model/shard_lanes.hpp"
#include "task/batch.hpp"
#include "util/real.hpp"

namespace ctr {

struct BlockActivations {
    std::vector<real> resid_pre;             // (B, T, D) hook_resid_pre
    std::vector<real> ln1, ln1_mean, ln1_rstd;  // (B, T, D), (B, T), (B, T); empty without norm
    std::vector<real> q_pre, k_pre;          // (B, T, H, Dh) before QK-norm; empty without it
    std::vector<real> q_rstd, k_rstd;        // (B, T, H)
    std::vector<real> q, k, v;               // (B, T, H, Dh) hook_q, hook_k, hook_v
    std::vector<real> pattern;               // (B, H, T, T) hook_pattern [batch, head, query, key]
    std::vector<real> z;                     // (B, T, H, Dh) hook_z
    std::vector<real> attn_out;              // (B, T, D) hook_attn_out
    std::vector<real> resid_mid;             // (B, T, D) hook_resid_mid
    std::vector<real> ln2, ln2_mean, ln2_rstd;  // (B, T, D), (B, T), (B, T)
    std::vector<real> mlp_pre, mlp_post;     // (B, T, M) hook_pre, hook_post
    std::vector<real> mlp_out;               // (B, T, D) hook_mlp_out
    std::vector<real> resid_post;            // (B, T, D) hook_resid_post
};

struct Activations {
    int B = 0, T = 0;                        // the batch of the last forward
    std::vector<BlockActivations> blocks;
    std::vector<real> ln_final, ln_final_mean, ln_final_rstd;  // (B, T, D), (B, T), (B, T)
    std::vector<real> output;                // (B, T) the model's prediction at each position
};

// Optional callbacks into forward() for causal interventions (src/analysis/causal.cpp).
// after_pattern runs once the pattern and z of a block are computed; it may rewrite
// a.pattern, and must then recompute a.z itself. after_resid_post runs once resid_post
// of a block is computed; it may rewrite it. backward() does not see interventions.
// Each hook is called once per layer and shard, with the shard's sequences [b0, b1):
// it may change only their rows of the activations.
struct ForwardHooks {
    std::function<void(int layer, BlockActivations& a, int b0, int b1, int T)> after_pattern;
    std::function<void(int layer, BlockActivations& a, int b0, int b1, int T)> after_resid_post;
};

// Gradient scratch for one backward pass; reused across blocks.
struct GradWorkspace {
    std::vector<real> dresid;                // (B, T, D) d loss / d residual stream
    std::vector<real> dx;                    // (B, T, D) d loss / d (normed) block input
    std::vector<real> dq, dk, dv, dz;        // (B, T, H, Dh)
    std::vector<real> dq_pre, dk_pre;        // (B, T, H, Dh)
    std::vector<real> dmlp_pre, dmlp_post;   // (B, T, M)
    std::vector<real> doutput;               // (B, T)
    std::vector<real> dembed;                // (B, T, D) d loss / d embedding output
    std::vector<real> attn_scratch;          // (kShards, attention_scratch_size) one per shard
};

class Transformer {
public:
    // n_ctx: longest sequence; max_batch: largest batch forward() will be given.
    Transformer(const ModelConfig& cfg, int n_ctx, bool bos, int max_batch);

    const ModelConfig& config() const { return cfg_; }
    const ParamLayout& layout() const { return layout_; }
    int n_ctx() const { return n_ctx_; }
    int max_batch() const { return max_batch_; }

    // Runs the model on the batch, keeps the activations, returns the loss.
    // hooks: interventions for the causal tests; nullptr (default) is the plain forward.
    real forward(const real* params, const Batch& batch, const ForwardHooks* hooks = nullptr);
    // The activations forward() leaves, bit for bit, without its loss: the batch runs as
    // one shard, so that a small batch (the probe's 16 sequences) fills the attention
    // kernel's vector lanes instead of running as 8 shards of 2. Every lane does the
    // scalar code's operations, so the grouping changes no activation (only the order in
    // which the loss would be summed).
    void forward_activations(const real* params, const Batch& batch);
    // The loss and (with backward) its gradient only: the last block's attention skips
    // the queries the loss does not look at (weight 0), which cannot change either, bit
    // for bit. Its activations at those positions are then not the model's, and the
    // attention patterns are kept in the kernel's private order (PatternLayout::lanes):
    // use forward() for anything that reads them (probe, analysis, run file).
    real forward_loss_only(const real* params, const Batch& batch);
    // Adds d loss / d params to grads (flat, same layout). Needs the preceding forward.
    // After a forward_loss_only that ran on shard lanes (below), it first runs the row
    // kernels' forward, which backward reads.
    void backward(const real* params, real* grads, const Batch& batch);
    // The training step's model work: forward_loss_only, then backward into grads, with
    // the same bits; on shard lanes in one pass when they cover the config.
    real loss_and_gradient(const real* params, real* grads, const Batch& batch);

    // Shard lanes (model/shard_lanes.hpp) run forward_loss_only and loss_and_gradient
    // for attention-only configs without norms; on by default. Off: the row kernels
    // (tests compare the two, bit for bit).
    void use_shard_lanes(bool on) { lanes_on_ = on; }
    bool shard_lanes() const { return lanes_on_ && lanes_.has_value(); }

    const Activations& activations() const { return acts_; }
    // d loss / d embedding output (B, T, D) from the last backward.
    const std::vector<real>& dembed() const { return ws_.dembed; }

private:
    // Sequences [b0, b1) of the batch; out / dout are views of their rows.
    void embed_forward(real* out, const real* params, const Batch& batch, int b0, int b1) const;
    void embed_backward(real* grads, const real* dout, const Batch& batch, int b0, int b1) const;
    real forward_all(const real* params, const Batch& batch, const ForwardHooks* hooks, bool loss_only,
                     bool one_shard = false);
    real forward_rows(const real* params, const Batch& batch, int b0, int b1, const ForwardHooks* hooks, real* scratch);
    void backward_rows(const real* params, real* grads, const Batch& batch, int b0, int b1, real* scratch);
    real* shard_scratch(int s);             // shard s's attention scratch

    static constexpr int kShards = 8;       // the batch is cut into this many parts (fewer for B < 8)
    int n_shards(int B) const;
    int shard_begin(int s, int B) const;    // first sequence of shard s; shard_begin(n_shards) = B

    ModelConfig cfg_;
    int n_ctx_, max_batch_;
    bool bos_;
    ParamLayout layout_;
    std::vector<real> sinusoid_;             // (n_ctx, D) fixed positions, when chosen
    Activations acts_;
    GradWorkspace ws_;
    const Batch* last_batch_ = nullptr;
    bool loss_only_ = false;                 // how the last forward ran; backward follows it
    bool pattern_private_ = false;           // the patterns are in the lanes layout (loss-only)
    PatternLayout pattern_layout() const { return loss_only_ ? PatternLayout::lanes : PatternLayout::canonical; }
    std::vector<real> shard_loss_;           // (kShards)
    std::vector<real> shard_grads_;          // (kShards, P) each shard's parameter gradient
    std::optional<ShardLanes> lanes_;        // when the config is one they cover
    bool lanes_on_ = true;
    bool lanes_forward_ = false;             // the last forward ran on shard lanes: no activations kept
    void check_batch(const Batch& batch) const;
    // The batch on the shard lanes (grads: nullptr for the loss only); it becomes the last forward's.
    real run_lanes(const real* params, real* grads, const Batch& batch);
};

}  // namespace ctr
