#pragma once
// The resolved configuration of a run. Every field is a YAML key (docs/config.md);
// the defaults written here are the paper's minimal setting (configs/minimal.yaml).
// Options with a fixed set of values are enums, resolved from their YAML spelling once,
// when the config is loaded (config/keys.cpp); code compares enums, never text.
#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace ctr {

enum class Activation { kGelu, kRelu };
enum class Norm { kNone, kLayerNorm, kRmsNorm };
enum class AttnScale { kNone, kInvSqrtDHead };
enum class Positions { kNone, kLearned, kSinusoidal };
enum class ModelInit { kRandom, kTheorem71 };
enum class NumberDist { kNormal, kUniform };
enum class Supervise { kLast, kAfterSep };
enum class OptimizerKind { kAdamW, kSgd };
enum class LrSchedule { kConstant, kCosine };

// The YAML spelling of each enum value, in the enum's order: the key table's choices.
template <class E> struct EnumNames;
template <> struct EnumNames<Activation> { static constexpr std::array<std::string_view, 2> names{"gelu", "relu"}; };
template <> struct EnumNames<Norm> { static constexpr std::array<std::string_view, 3> names{"none", "layernorm", "rmsnorm"}; };
template <> struct EnumNames<AttnScale> { static constexpr std::array<std::string_view, 2> names{"none", "inv_sqrt_d_head"}; };
template <> struct EnumNames<Positions> { static constexpr std::array<std::string_view, 3> names{"none", "learned", "sinusoidal"}; };
template <> struct EnumNames<ModelInit> { static constexpr std::array<std::string_view, 2> names{"random", "theorem71"}; };
template <> struct EnumNames<NumberDist> { static constexpr std::array<std::string_view, 2> names{"normal", "uniform"}; };
template <> struct EnumNames<Supervise> { static constexpr std::array<std::string_view, 2> names{"last", "after_sep"}; };
template <> struct EnumNames<OptimizerKind> { static constexpr std::array<std::string_view, 2> names{"adamw", "sgd"}; };
template <> struct EnumNames<LrSchedule> { static constexpr std::array<std::string_view, 2> names{"constant", "cosine"}; };

// "layernorm" for Norm::kLayerNorm.
template <class E> constexpr std::string_view name_of(E e) { return EnumNames<E>::names.at(static_cast<size_t>(e)); }
// Norm::kLayerNorm for "layernorm"; nothing for a spelling that is not a value.
template <class E> constexpr std::optional<E> enum_from_name(std::string_view name) {
    for (size_t i = 0; i < EnumNames<E>::names.size(); ++i)
        if (EnumNames<E>::names[i] == name) return static_cast<E>(i);
    return std::nullopt;
}

struct ModelConfig {
    int n_layers = 2;
    int n_heads = 1;
    int d_model = 2;
    int d_head = 2;
    int d_mlp = 0;                       // 0: attention-only blocks
    Activation act = Activation::kGelu;  // MLP only
    Norm norm = Norm::kNone;             // pre-norm + final norm
    bool qk_norm = false;                // RMSNorm of q and k per head, learned gain over d_head
    AttnScale attn_scale = AttnScale::kNone;  // kNone: the paper's softmax(QK^T)
    bool attn_bias = false;              // b_Q, b_K, b_V, b_O
    Positions positions = Positions::kNone;
    ModelInit init = ModelInit::kRandom;
    double init_tag_scale = 10.0;        // s_tag of the theorem71 construction
};

struct TaskConfig {
    int seq_len = 16;
    bool bos = false;                    // [BOS] at position 0
    NumberDist numbers = NumberDist::kNormal;  // N(0,1) | U(-1,1)
    int min_before_sep = 1;              // numbers that must stand before [SEP]
    int min_after_sep = 1;               // numbers that must stand after [SEP]
    Supervise supervise = Supervise::kLast;  // or every position after [SEP]
    int train_size = 8192;               // 0: fresh sequences every step
    int eval_size = 1024;
    int probe_size = 16;
};

// The range of [SEP] positions a task config allows: [first, last]; empty when
// first > last (validate_config rejects that).
struct SepRange {
    int first, last;
};
inline SepRange sep_range(const TaskConfig& cfg) {
    const int first_number = cfg.bos ? 1 : 0;
    return {first_number + cfg.min_before_sep, cfg.seq_len - 1 - cfg.min_after_sep};
}

struct TrainConfig {
    OptimizerKind optimizer = OptimizerKind::kAdamW;
    double lr = 5e-2;
    double weight_decay = 1e-3;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    double momentum = 0.9;               // sgd only
    int batch_size = 256;
    int epochs = 50;
    int steps = 0;                       // > 0: train this many steps instead of epochs
    LrSchedule schedule = LrSchedule::kConstant;  // cosine: linear warm-up, then cosine
    int warmup_steps = 0;
    double min_lr = 0.0;                 // cosine floor
    double grad_clip = 0.0;              // 0: off; else max global L2 norm
    int eval_every = 50;                 // steps
    bool stop_on_divergence = true;      // stop at the first non-finite loss or gradient
};

// What the run file records besides the metrics (docs/hdf5-layout.md).
struct LogConfig {
    bool snapshots = true;               // probe-batch activations and parameters over time
    int snapshot_dense = 16;             // a snapshot at every step 0..snapshot_dense
    int snapshot_per_decade = 12;        // then log-spaced, this many per decade of steps
    int snapshot_every = 20;             // and at every multiple of this; 0: no regular ones
    bool compress = true;                // shuffle + deflate on attention patterns and parameters
    bool eval_set = true;                // the evaluation set's sequences in /eval (sweeps leave them out)
    bool train_set = false;              // the training set's sequences in /train, on request (large)
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
