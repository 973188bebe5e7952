#pragma once
// Over a run: when catch, tag and release emerged, and whether the run succeeded.
// Definitions: docs/metrics.md ("Emergence" and "Verdict").
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "analysis/emergence.hpp"
#include "analysis/mechanism.hpp"
#include "config/config.hpp"

namespace ctr {

// The headline numbers of one snapshot.
struct Headline {
    int64_t step = 0;
    double rel_error = std::numeric_limits<double>::quiet_NaN();  // relative error (evaluation set, or the probe's)
    double catch_score = 0;      // max catch over the heads of layers 0 .. L-2 (a later layer can release)
    double tag_separation = 0;   // tag separation of that head
    double tag_lda = 0;          // tag_lda of that head's layer (the direction-free tag measure)
    double release = 0;          // max release over the heads of layers 1 .. L-1
    double pair_score = 0;       // MechanismMetrics::pair_score
};

// rel_error: the caller's relative error at this step (Trainer::evaluate().rel_error);
// pass m.rel_error to use the probe's.
Headline headline(const MechanismMetrics& m, int64_t step, double rel_error);

struct Verdict {
    bool success = false;        // solved && mechanism
    bool solved = false;         // rel_error < success_rel_error
    bool mechanism = false;      // some l1 < l2, h1, h2: catch[l1,h1] >= catch_threshold, release[l2,h2] >= release_threshold
    double rel_error = 0;
    // the pair found (the one passing both thresholds with the largest min(catch, release)),
    // else MechanismMetrics' best pair
    int catch_layer = -1, catch_head = -1, release_layer = -1, release_head = -1;
    double catch_score = 0, release = 0, release_evenness = 0, tag_separation = 0;
    double tag_lda = 0;          // of the catch layer
    std::string summary;         // one line, e.g. "success: rel_error 3.1e-4 < 1e-2; catch 0.998 (L0H0), release 0.997 (L1H0)"
};
Verdict judge(const MechanismMetrics& m, double rel_error, const AnalysisConfig& cfg);

}  // namespace ctr
