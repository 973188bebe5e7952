// A one-layer model has no catch/release pair (docs/metrics.md): the values of the pair,
// its headline series and the causal tests do not exist, so the run file holds NaN for
// them and ctr-train and ctr-inspect say n/a (JSON null), never a made-up 0.
#include <catch2/catch.hpp>
#include <cmath>

#include "cli_helpers.hpp"

using namespace ctr_test;

TEST_CASE("one layer: the verdict's pair values, the headline and the causal losses are NaN, printed as n/a",
          "[cli][analysis]") {
    TempDir t("one_layer");
    const std::vector<std::string> small = sets({"train.steps=40", "task.train_size=256", "train.batch_size=64",
                                                 "task.eval_size=64", "task.probe_size=4", "train.eval_every=10",
                                                 "log.checkpoint_every=20"});
    const Result r = run_ctr(with({minimal_config(), "--set", "model.n_layers=1", "--out", "one.h5"}, small), t.dir);
    INFO(r.out << r.err);
    REQUIRE(r.code == 0);
    H5File f(t.path("one.h5"));
    for (const char* name : {"catch", "release", "release_evenness", "tag_separation", "tag_lda", "clean_loss",
                             "catch_ablated_loss", "tag_ablated_loss"}) {
        INFO("/verdict " << name);
        CHECK(std::isnan(h5_attr_number<double>(f.id(), "/verdict", name)));
    }
    for (const char* name : {"catch_layer", "catch_head", "release_layer", "release_head", "causal_layer", "causal_head"})
        CHECK(h5_attr_number<int64_t>(f.id(), "/verdict", name) == -1);
    CHECK(std::isfinite(h5_attr_number<double>(f.id(), "/verdict", "rel_error")));
    for (const char* name : {"catch", "release", "tag_separation", "tag_lda", "pair_score"}) {
        const std::vector<double> v = h5_read<double>(f.id(), std::string("/snapshots/headline/") + name);
        INFO("/snapshots/headline/" << name);
        REQUIRE_FALSE(v.empty());
        for (double x : v) CHECK(std::isnan(x));
    }
    for (double x : h5_read<double>(f.id(), "/snapshots/headline/probe_rel_error")) CHECK(std::isfinite(x));
    const std::string summary = h5_attr_string(f.id(), "/verdict", "summary");
    CHECK_THAT(summary, Catch::Matchers::StartsWith("failure: rel_error "));
    CHECK_THAT(summary, Catch::Matchers::Contains("catch n/a, release n/a (no catch/release pair"));
    CHECK_THAT(summary, !Catch::Matchers::Contains("L-1H-1"));
    CHECK(h5_attr_string(f.id(), "/verdict", "story") == "no mechanism to measure (no catch/release pair with one layer)");

    // ctr-train's last lines: no causal line, the verdict as stored, the hint about layers.
    CHECK_THAT(r.out, !Catch::Matchers::Contains("causal:"));
    CHECK_THAT(r.out, Catch::Matchers::Contains("verdict: " + summary + "\n"));
    CHECK_THAT(r.out, Catch::Matchers::Contains("--set model.n_layers=2"));
    CHECK_THAT(r.out, !Catch::Matchers::Contains("at most 0"));

    // ctr-inspect: the same summary, and null for what does not exist.
    const std::string inspect = std::string(CTR_BINARY_DIR) + "/ctr-inspect";
    const Result text = run_command({inspect, "one.h5"}, t.dir);
    CHECK(text.code == 0);
    CHECK_THAT(text.out, Catch::Matchers::Contains("verdict: " + summary + "\n"));
    CHECK_THAT(text.out, !Catch::Matchers::Contains("causal:"));
    const Result json = run_command({inspect, "--json", "one.h5"}, t.dir);
    CHECK(json.code == 0);
    for (const char* name : {"catch", "release", "tag_separation", "tag_lda", "clean_loss", "catch_ablated_loss",
                             "tag_ablated_loss"})
        CHECK_THAT(json.out, Catch::Matchers::Contains("\"" + std::string(name) + "\": null"));
}
