#include "analysis/emergence.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "analysis/verdict.hpp"

namespace ctr {

const char* Crossing::word() const {
    if (!measured) return "not measured";
    if (held_at_end) return "held";
    return first >= 0 ? "lost" : "never";
}

Crossing crossings(const std::vector<int64_t>& steps, const std::vector<char>& holds) {
    Crossing c;
    if (steps.empty()) return c;
    c.measured = true;
    for (size_t i = 0; i < steps.size(); ++i) {
        if (holds[i] && c.first < 0) c.first = steps[i];
        if (i > 0 && holds[i] != holds[i - 1]) {
            ++c.switches;
            if (holds[i]) c.held_from = steps[i];
            else c.lost = steps[i];
        }
    }
    c.held_at_end = holds.back() != 0;
    if (c.held_at_end) {
        c.lost = -1;
        if (c.switches == 0) c.held_from = steps.front();
    } else {
        c.held_from = -1;
    }
    return c;
}

Emergence emergence(const std::vector<Headline>& snapshots, const std::vector<int64_t>& metric_steps,
                    const std::vector<double>& eval_rel_error, const ModelConfig& model, const AnalysisConfig& cfg) {
    Emergence e;
    e.has_pair = has_catch_release_pair(model);
    std::vector<int64_t> steps;
    std::vector<char> caught, tagged, released, both;
    for (const Headline& h : snapshots) {
        steps.push_back(h.step);
        // NaN compares false: a metric that could not be computed does not hold.
        caught.push_back(h.catch_score >= cfg.catch_threshold);
        tagged.push_back(h.tag_lda >= cfg.tag_threshold);
        released.push_back(h.release >= cfg.release_threshold);
        both.push_back(caught.back() && released.back());
        e.max_catch = std::max(e.max_catch, h.catch_score);
        e.max_release = std::max(e.max_release, h.release);
    }
    // No snapshot with a catch value (a one-layer model's headline is NaN): no maximum either.
    const bool any_pair = std::any_of(snapshots.begin(), snapshots.end(),
                                      [](const Headline& h) { return !std::isnan(h.catch_score); });
    if (!snapshots.empty() && !any_pair) e.max_catch = e.max_release = std::numeric_limits<double>::quiet_NaN();
    e[Milestone::kCatch] = crossings(steps, caught);
    e[Milestone::kTag] = crossings(steps, tagged);
    e[Milestone::kRelease] = crossings(steps, released);
    e[Milestone::kMechanism] = crossings(steps, both);
    std::vector<char> solved;
    for (double r : eval_rel_error) solved.push_back(r < cfg.success_rel_error);
    e[Milestone::kSolved] = crossings(metric_steps, solved);
    e.catch_step = e[Milestone::kCatch].held_from;
    e.tag_step = e[Milestone::kTag].held_from;
    e.release_step = e[Milestone::kRelease].held_from;
    e.solved_step = e[Milestone::kSolved].held_from;
    return e;
}

std::string crossing_text(const Crossing& c) {
    char buf[160];
    const auto ll = [](int64_t v) { return static_cast<long long>(v); };
    if (!c.measured || c.first < 0) return c.word();
    if (c.held_at_end && c.switches <= 1)
        std::snprintf(buf, sizeof buf, "held from step %lld", ll(c.held_from));
    else if (c.held_at_end)
        std::snprintf(buf, sizeof buf, "held from step %lld (first at %lld, %lld switches)", ll(c.held_from), ll(c.first),
                      ll(c.switches));
    else
        std::snprintf(buf, sizeof buf, "lost at step %lld (first at %lld, %lld switches)", ll(c.lost), ll(c.first),
                      ll(c.switches));
    return buf;
}

std::string emergence_story(const Emergence& e) {
    const Crossing& mech = e[Milestone::kMechanism];
    const Crossing& caught = e[Milestone::kCatch];
    char buf[256];
    if (!mech.measured) {
        std::snprintf(buf, sizeof buf, "mechanism not measured (no snapshots)");
    } else if (!e.has_pair) {
        std::snprintf(buf, sizeof buf, "no mechanism to measure (no catch/release pair with one layer)");
    } else if (mech.held_at_end && mech.switches <= 1) {
        std::snprintf(buf, sizeof buf, "mechanism formed at step %lld and held", static_cast<long long>(mech.first));
    } else if (mech.held_at_end) {
        std::snprintf(buf, sizeof buf, "mechanism formed at step %lld, lost and formed again (%lld switches), held from step %lld",
                      static_cast<long long>(mech.first), static_cast<long long>(mech.switches),
                      static_cast<long long>(mech.held_from));
    } else if (mech.first >= 0) {
        std::snprintf(buf, sizeof buf, "mechanism formed at step %lld, lost for good at step %lld (%lld switches)",
                      static_cast<long long>(mech.first), static_cast<long long>(mech.lost),
                      static_cast<long long>(mech.switches));
    } else if (caught.first >= 0) {
        std::snprintf(buf, sizeof buf, "caught from step %lld but never released (release at most %.3g)",
                      static_cast<long long>(caught.first), e.max_release);
    } else {
        std::snprintf(buf, sizeof buf, "stalled before catch (catch at most %.3g)", e.max_catch);
    }
    return buf;
}

}  // namespace ctr
