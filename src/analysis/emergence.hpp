#pragma once
// When catch, tag, release, the mechanism and the solution held over a run, as it
// happened: first reached, held from, lost, how often it switched. docs/metrics.md
// ("Emergence").
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace ctr {

struct Headline;
struct Verdict;

// One condition over a series of points (steps).
struct Crossing {
    bool measured = false;     // false: no series to tell (catch, tag, release without snapshots)
    int64_t first = -1;        // the first step it held; -1: never (or not measured)
    int64_t held_from = -1;    // the step from which it held at every point through the last; -1: not at the end
    int64_t lost = -1;         // the step from which it no longer held, having held before; -1: none
    int64_t switches = 0;      // changes (on or off) between consecutive points
    bool held_at_end = false;
    // "held" (at the end), "lost" (held before, not at the end), "never", "not measured".
    const char* word() const;
};
// steps increasing; holds[i]: whether the condition held at steps[i].
Crossing crossings(const std::vector<int64_t>& steps, const std::vector<char>& holds);

enum class Milestone { kCatch, kTag, kRelease, kMechanism, kSolved };
inline constexpr const char* kMilestoneNames[] = {"catch", "tag", "release", "mechanism", "solved"};
inline constexpr size_t kMilestones = std::size(kMilestoneNames);

struct Emergence {
    std::array<Crossing, kMilestones> of;   // indexed by Milestone
    const Crossing& operator[](Milestone m) const { return of[static_cast<size_t>(m)]; }
    Crossing& operator[](Milestone m) { return of[static_cast<size_t>(m)]; }
    double max_catch = 0, max_release = 0;  // over the snapshots (0 without; NaN when none has a value)
    // has_catch_release_pair of the run's model: false (one layer), there is no mechanism
    // to measure. Set by emergence(); a run file does not record it, so a reader sets it
    // from the file's config (run/start.cpp, a resume with nothing to do).
    bool has_pair = true;
    // The first step from which each held for good (-1: not at the end), as before
    // emergence kept more: held_from of catch, tag, release and solved.
    int64_t catch_step = -1, tag_step = -1, release_step = -1, solved_step = -1;
};

// snapshots: the headline of every snapshot, in step order (catch >= catch_threshold,
// tag_lda >= tag_threshold, release >= release_threshold, mechanism = catch and release
// at the same snapshot); metric_steps / eval_rel_error: the /metrics rows (solved =
// eval_rel_error < success_rel_error), so solved is measured whatever the snapshots;
// model: the run's.
Emergence emergence(const std::vector<Headline>& snapshots, const std::vector<int64_t>& metric_steps,
                    const std::vector<double>& eval_rel_error, const ModelConfig& model, const AnalysisConfig& cfg);

// One clause on how the mechanism went, for the verdict's summary: "formed at step 540
// and held", "formed at step 540, lost at step 12400 (8 switches)", "caught from step
// 300 but never released (release at most 0.41)", "stalled before catch (catch at most
// 0.17)", "mechanism not measured (no snapshots)", "no mechanism to measure (no
// catch/release pair with one layer)".
std::string emergence_story(const Emergence& e);

// A crossing in words: "held from step 540", "held from step 9220 (first at 540, 7
// switches)", "lost at step 12400 (first at 540, 6 switches)", "never", "not measured".
std::string crossing_text(const Crossing& c);

}  // namespace ctr
