#pragma once
// Mechanism metrics of the catch-tag-release task on the probe batch: sink scores
// (Gu et al.), catch, tag, release, and the averaging error, per layer and head.
// Definitions and formulas: docs/metrics.md. All arrays are row-major: [layer, head],
// [layer, head, pos] or [layer, head, d_model].
#include <vector>

#include "config/config.hpp"
#include "model/transformer.hpp"
#include "task/batch.hpp"
#include "util/real.hpp"

namespace ctr {

// The metrics that need only one block's attention pattern (B, H, T, T), per head.
// Exposed so they can be checked on hand-made patterns.
struct PatternMetrics {
    int H = 0, T = 0;
    std::vector<double> sink_alpha;        // [H, T] alpha_k, mean over sequences
    std::vector<double> sink_sep;          // [H] alpha of the [SEP] key, mean over sequences
    std::vector<double> sink_bos;          // [H] alpha of the [BOS] key (key 0); NaN without [BOS]
    std::vector<double> sink_rate_sep;     // [H] fraction of sequences with alpha_sep > eps
    std::vector<double> sink_rate_bos;     // [H] fraction of sequences with alpha_bos > eps; NaN without [BOS]
    std::vector<double> sink_rate_any;     // [H] fraction of sequences with some alpha_k > eps
    std::vector<double> n_sinks;           // [H] mean over sequences of #{k : alpha_k > eps}
    std::vector<double> catch_score;       // [H] mean over queries i > s of A[i, s]
    std::vector<double> release;           // [H] mean over queries i > s of sum_{s<j<=i} A[i, j]
    std::vector<double> release_evenness;  // [H] mean over queries with i - s >= 2 of 1 - TV/(1 - 1/n)
};

// pattern: (B, H, T, T) [batch, head, query, key]; batch gives kind and sep_pos.
PatternMetrics pattern_metrics(const real* pattern, int B, int H, int T, const Batch& batch, double sink_eps);

// Tag share of one head on one sequence: ||A V U U^T||_F / ||A V||_F, with
// AV = z (T rows of d_head values, rows `stride` apart) and U an orthonormal basis of
// the span of the sink value vectors sinks[0..n_sinks) (each d_head values, `stride`
// apart in the same buffer layout). 0 when ||A V|| = 0 or every sink value is 0.
double tag_share(const real* z, const real* const* sinks, int n_sinks, int T, int Dh, int stride);

// Tag separation d' along the direction dir (d_model, need not be unit): the
// projections of the numbers after [SEP] and before it in resid (B, T, D):
// (mean_after - mean_before) / pooled std (floored, docs/metrics.md). 0 when dir = 0
// or either group is empty.
double tag_separation(const real* resid, int B, int T, int D, const Batch& batch, const double* dir);

struct MechanismMetrics {
    int n_layers = 0, n_heads = 0, T = 0, B = 0, d_model = 0;
    bool has_bos = false;
    double sink_eps = 0.2;

    // [layer, head, T]
    std::vector<double> sink_alpha;
    // [layer, head]
    std::vector<double> sink_sep, sink_bos, sink_rate_sep, sink_rate_bos, sink_rate_any, n_sinks;
    std::vector<double> catch_score;
    std::vector<double> tag;               // [layer, head, d_model] mean over sequences of v_sep @ W_O
    std::vector<double> tag_norm;          // [layer, head] ||tag||
    std::vector<double> tag_share;         // [layer, head] mean over sequences
    std::vector<double> tag_separation;    // [layer, head] d' in resid_post of the layer
    std::vector<double> tag_lda;           // [layer] d' of the best linear direction in resid_post (tag_lda.hpp)
    std::vector<double> release, release_evenness;

    // averaging error on the probe (supervised positions)
    double mse = 0;                        // sum_n w_n (y_n - t_n)^2 / sum_n w_n
    double target_var = 0;                 // the MSE of predicting the mean supervised target
    double rel_error = 0;                  // mse / target_var (0 when target_var is 0)

    // find_catch_release_pair without thresholds; -1 with fewer than two layers.
    int catch_layer = -1, catch_head = -1, release_layer = -1, release_head = -1;
    double pair_score = 0;

    size_t lh(int l, int h) const { return static_cast<size_t>(l) * n_heads + h; }
    double get(const std::vector<double>& v, int l, int h) const { return v[lh(l, h)]; }
};

// A catch head and a later release head: layers l1 < l2 and heads h1, h2 maximising
// score = min(catch[l1,h1], release[l2,h2]), the first in (l1, l2, h1, h2) order on a
// tie. With thresholds, only pairs with catch >= catch_threshold and release >=
// release_threshold count. found is false when no pair counts (or fewer than 2 layers).
struct CatchReleasePair {
    bool found = false;
    int catch_layer = -1, catch_head = -1, release_layer = -1, release_head = -1;
    double score = 0;
};
struct PairThresholds {
    double catch_threshold, release_threshold;
};
CatchReleasePair find_catch_release_pair(const MechanismMetrics& m, const PairThresholds* thresholds = nullptr);

// Whether a model has catch/release pairs at all: catch in one layer and release in a
// later one need two layers or more. Without (one layer), catch, release, the pair's
// values, the mechanism and the causal tests do not exist: NaN in the run file, n/a in
// words (docs/metrics.md). The overloads ask of a config and of what was measured on it.
inline bool has_catch_release_pair(int n_layers) { return n_layers >= 2; }
inline bool has_catch_release_pair(const ModelConfig& model) { return has_catch_release_pair(model.n_layers); }
inline bool has_catch_release_pair(const MechanismMetrics& m) { return has_catch_release_pair(m.n_layers); }

// model: has just run forward(params, probe); params: the same flat parameters.
MechanismMetrics compute_mechanism(const Transformer& model, const real* params, const Batch& probe,
                                   const AnalysisConfig& cfg);

}  // namespace ctr
