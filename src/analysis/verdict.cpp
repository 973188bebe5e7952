#include "analysis/verdict.hpp"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <limits>

namespace ctr {

Headline headline(const MechanismMetrics& m, int64_t step, double rel_error) {
    Headline s;
    s.step = step;
    s.rel_error = rel_error;
    s.pair_score = m.pair_score;
    if (!has_catch_release_pair(m)) {
        // No head with a later layer to release: these values do not exist.
        const double nan = std::numeric_limits<double>::quiet_NaN();
        s.catch_score = s.tag_separation = s.tag_lda = s.release = s.pair_score = nan;
        return s;
    }
    bool have_catch = false;
    for (int l = 0; l + 1 < m.n_layers; ++l)
        for (int h = 0; h < m.n_heads; ++h)
            if (!have_catch || m.get(m.catch_score, l, h) > s.catch_score) {
                have_catch = true;
                s.catch_score = m.get(m.catch_score, l, h);
                s.tag_separation = m.get(m.tag_separation, l, h);
                s.tag_lda = m.tag_lda.empty() ? 0.0 : m.tag_lda[l];
            }
    for (int l = 1; l < m.n_layers; ++l)
        for (int h = 0; h < m.n_heads; ++h) s.release = std::max(s.release, m.get(m.release, l, h));
    return s;
}

Verdict judge(const MechanismMetrics& m, double rel_error, const AnalysisConfig& cfg) {
    Verdict v;
    v.rel_error = rel_error;
    v.solved = rel_error < cfg.success_rel_error;
    char buf[320];
    if (!has_catch_release_pair(m)) {
        // No catch/release pair, so no pair's values (NaN) to compare and no mechanism.
        const double nan = std::numeric_limits<double>::quiet_NaN();
        v.catch_score = v.release = v.release_evenness = v.tag_separation = v.tag_lda = nan;
        std::snprintf(buf, sizeof buf, "failure: rel_error %.3g %s %.3g; catch n/a, release n/a (no catch/release pair: "
                      "the mechanism needs two layers, the model has %d)",
                      rel_error, v.solved ? "<" : ">=", cfg.success_rel_error, m.n_layers);
        v.summary = buf;
        return v;
    }
    // The strongest pair passing both thresholds; else the strongest pair (m's).
    const PairThresholds t{cfg.catch_threshold, cfg.release_threshold};
    const CatchReleasePair passing = find_catch_release_pair(m, &t);
    v.mechanism = passing.found;
    v.catch_layer = passing.found ? passing.catch_layer : m.catch_layer;
    v.catch_head = passing.found ? passing.catch_head : m.catch_head;
    v.release_layer = passing.found ? passing.release_layer : m.release_layer;
    v.release_head = passing.found ? passing.release_head : m.release_head;
    if (v.catch_layer >= 0) {  // always, from compute_mechanism; metrics made by hand may lack m's pair
        v.catch_score = m.get(m.catch_score, v.catch_layer, v.catch_head);
        v.tag_separation = m.get(m.tag_separation, v.catch_layer, v.catch_head);
        v.tag_lda = m.tag_lda.empty() ? 0.0 : m.tag_lda[v.catch_layer];
        v.release = m.get(m.release, v.release_layer, v.release_head);
        v.release_evenness = m.get(m.release_evenness, v.release_layer, v.release_head);
    }
    v.success = v.solved && v.mechanism;
    std::snprintf(buf, sizeof buf, "%s: rel_error %.3g %s %.3g; catch %.3f (L%dH%d) %s %.3g, release %.3f (L%dH%d) %s %.3g",
                  v.success ? "success" : "failure", rel_error, v.solved ? "<" : ">=", cfg.success_rel_error,
                  v.catch_score, v.catch_layer, v.catch_head, v.catch_score >= cfg.catch_threshold ? ">=" : "<",
                  cfg.catch_threshold, v.release, v.release_layer, v.release_head,
                  v.release >= cfg.release_threshold ? ">=" : "<", cfg.release_threshold);
    v.summary = buf;
    return v;
}

}  // namespace ctr
