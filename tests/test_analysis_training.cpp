// The verdict on real runs of the default minimal config (about 1.5 s each): seed 4
// learns catch-tag-release and solves the task; seed 0 stalls.
#include <catch2/catch.hpp>

#include <vector>

#include "analysis/causal.hpp"
#include "analysis/mechanism.hpp"
#include "analysis/verdict.hpp"
#include "training/trainer.hpp"

using namespace ctr;

namespace {

struct RunResult {
    MechanismMetrics m;
    Verdict verdict;
    Emergence emergence;
    CausalResult causal;
    double rel_error = 0;
};

RunResult train_and_judge(uint64_t seed) {
    Config cfg;
    cfg.seed = seed;
    Trainer tr(cfg);
    std::vector<Headline> snaps;
    std::vector<int64_t> steps;
    std::vector<double> rels;
    const AnalysisConfig& ac = cfg.analysis;
    while (!tr.done()) {
        tr.train_step();
        if (tr.state().step % 100 == 0) {
            const double rel = tr.evaluate().rel_error;
            steps.push_back(tr.state().step);
            rels.push_back(rel);
            tr.run_probe();
            snaps.push_back(headline(compute_mechanism(tr.probe_model(), tr.state().params.data(), tr.probe_batch(), ac),
                                     tr.state().step, rel));
        }
    }
    RunResult r;
    r.rel_error = tr.evaluate().rel_error;
    tr.run_probe();
    r.m = compute_mechanism(tr.probe_model(), tr.state().params.data(), tr.probe_batch(), ac);
    r.verdict = judge(r.m, r.rel_error, ac);
    r.emergence = emergence(snaps, steps, rels, cfg.model, ac);
    r.causal = causal_tests(cfg, tr.state().params.data(), tr.probe_batch(), r.m);
    return r;
}

}  // namespace

TEST_CASE("a run that learns the mechanism is a success (seed 4)", "[analysis][training]") {
    const RunResult r = train_and_judge(4);
    INFO(r.verdict.summary);
    CHECK(r.verdict.success);
    CHECK(r.verdict.catch_layer == 0);
    CHECK(r.verdict.release_layer == 1);
    CHECK(r.verdict.release_evenness > 0.9);
    CHECK(r.verdict.tag_separation > 5.0);
    CHECK(r.verdict.tag_lda > 5.0);
    // it emerged during the run and stayed
    CHECK(r.emergence.catch_step > 0);
    CHECK(r.emergence.release_step > 0);
    CHECK(r.emergence.tag_step > 0);
    CHECK(r.emergence.solved_step >= r.emergence.catch_step);
    // and the model needs it: removing the catch or the tag costs far more than the clean loss
    CHECK(r.causal.catch_increase > 100 * r.causal.clean_loss);
    CHECK(r.causal.tag_increase > 100 * r.causal.clean_loss);
}

TEST_CASE("a run that stalls is a failure (seed 0)", "[analysis][training]") {
    const RunResult r = train_and_judge(0);
    INFO(r.verdict.summary);
    CHECK_FALSE(r.verdict.success);
    CHECK_FALSE(r.verdict.solved);
    CHECK_FALSE(r.verdict.mechanism);
    CHECK(r.rel_error > 0.1);
    CHECK(r.emergence.solved_step == -1);
    CHECK(r.verdict.tag_lda < 5.0);
    CHECK(std::string(r.emergence[Milestone::kMechanism].word()) == "never");
    CHECK(emergence_story(r.emergence).rfind("stalled before catch", 0) == 0);
}
