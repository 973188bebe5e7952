#pragma once
// The resolved configuration of a run. Every field is a YAML key (docs/config.md);
// the defaults written here are the paper's minimal setting (configs/minimal.yaml).
#include <cstdint>
#include <string>

namespace ctr {

struct ModelConfig {
    int n_layers = 2;
    int n_heads = 1;
    int d_model = 2;
    int d_head = 2;
    int d_mlp = 0;                       // 0: attention-only blocks
    std::string act = "gelu";            // gelu | relu (MLP only)
    std::string norm = "none";           // none | layernorm | rmsnorm (pre-norm + final norm)
    bool qk_norm = false;                // RMSNorm of q and k per head, learned gain over d_head
    std::string attn_scale = "none";     // none (paper) | inv_sqrt_d_head
    bool attn_bias = false;              // b_Q, b_K, b_V, b_O
    std::string positions = "none";      // none | learned | sinusoidal
    std::string init = "random";         // random | theorem71
    double init_tag_scale = 10.0;        // s_tag of the theorem71 construction
};

struct TaskConfig {
    int seq_len = 16;
    bool bos = false;                    // [BOS] at position 0
    std::string numbers = "normal";      // normal: N(0,1) | uniform: U(-1,1)
    int min_before_sep = 1;              // numbers that must stand before [SEP]
    int min_after_sep = 1;               // numbers that must stand after [SEP]
    std::string supervise = "last";      // last | after_sep (every position after [SEP])
    int train_size = 8192;               // 0: fresh sequences every step
    int eval_size = 1024;
    int probe_size = 16;
};

struct TrainConfig {
    std::string optimizer = "adamw";     // adamw | sgd
    double lr = 5e-2;
    double weight_decay = 1e-3;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    double momentum = 0.9;               // sgd only
    int batch_size = 256;
    int epochs = 50;
    int steps = 0;                       // > 0: train this many steps instead of epochs
    std::string schedule = "constant";   // constant | cosine (linear warm-up, then cosine)
    int warmup_steps = 0;
    double min_lr = 0.0;                 // cosine floor
    double grad_clip = 0.0;              // 0: off; else max global L2 norm
    int eval_every = 50;                 // steps
};

// What the run file records besides the metrics (docs/hdf5-layout.md).
struct LogConfig {
    bool snapshots = true;               // probe-batch activations and parameters over time
    int snapshot_dense = 16;             // a snapshot at every step 0..snapshot_dense
    int snapshot_per_decade = 12;        // then log-spaced, this many per decade of steps
    int snapshot_every = 20;             // and at every multiple of this; 0: no regular ones
    bool compress = true;                // shuffle + deflate on attention patterns and parameters
    int checkpoint_every = 200;          // full training state every this many steps
    int progress_every = 100;            // a plain progress line every this many steps (not on a terminal)
};

// Thresholds of the mechanism metrics and the verdict (docs/metrics.md).
struct AnalysisConfig {
    double sink_eps = 0.2;               // a key is a sink of a head when its sink score alpha_k > eps (Gu et al.)
    double catch_threshold = 0.9;        // catch: attention of queries after [SEP] on [SEP]
    double tag_threshold = 5.0;          // tag separation (d') of tokens after vs before [SEP]
    double release_threshold = 0.9;      // release: attention of queries after [SEP] on the tagged numbers
    double success_rel_error = 1e-2;     // solved: relative error below this
};

struct Config {
    uint64_t seed = 0;
    ModelConfig model;
    TaskConfig task;
    TrainConfig train;
    LogConfig log;
    AnalysisConfig analysis;
};

}  // namespace ctr
