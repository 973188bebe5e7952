// The Theorem 7.1 construction (src/model/theorem71.hpp): its error falls to 0 as
// s_tag grows, on every shape validate_config allows for init theorem71; the mechanism
// metrics recognise it as catch-tag-release; a random init is not.
#include <catch2/catch.hpp>

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "analysis/mechanism.hpp"
#include "model/theorem71.hpp"
#include "analysis/verdict.hpp"
#include "model/init.hpp"
#include "model/transformer.hpp"
#include "task/averaging.hpp"

using namespace ctr;

namespace {

// The construction's loss (MSE at the supervised positions) on a fresh batch.
double construction_loss(const ModelConfig& mc, const TaskConfig& tc, double s_tag, uint64_t seed, int n = 256) {
    Transformer model(mc, tc.seq_len, tc.bos, n);
    const std::vector<real> p = theorem71_params(model.layout(), mc, s_tag);
    Rng rng = make_stream(seed, Stream::kFreshData);
    const Batch batch = as_batch(generate_sequences(tc, n, rng));
    return model.forward(p.data(), batch);
}

}  // namespace

TEST_CASE("theorem71: the error falls monotonically to 0 as s_tag grows", "[theorem71]") {
    const ModelConfig mc;
    TaskConfig tc;
    tc.supervise = Supervise::kAfterSep;  // every position after [SEP], not only the last
    double prev = INFINITY;
    for (double s : {1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 10.0, 12.0}) {
        const double loss = construction_loss(mc, tc, s, 11);
        INFO("s_tag " << s << " loss " << loss);
        CHECK(loss < prev);
        prev = loss;
    }
    CHECK(construction_loss(mc, tc, 4.0, 12) > 1e-4);   // not trivially exact
    CHECK(construction_loss(mc, tc, 10.0, 12) < 1e-9);  // the default init_tag_scale
    CHECK(construction_loss(mc, tc, 30.0, 12) < 1e-20);
    CHECK(construction_loss(mc, tc, 1e4, 12) < 1e-12);  // no overflow at a huge scale
}

TEST_CASE("theorem71: every shape init theorem71 accepts", "[theorem71]") {
    struct Case {
        std::string name;
        ModelConfig model;
        TaskConfig task;
    };
    std::vector<Case> cases;
    ModelConfig m;
    TaskConfig t;
    cases.push_back({"minimal", m, t});
    {
        Case c{"wider, d_head 3, 4 layers, biases, 1/sqrt(d_head)", m, t};
        c.model.d_model = 5;
        c.model.d_head = 3;
        c.model.n_layers = 4;
        c.model.attn_bias = true;
        c.model.attn_scale = AttnScale::kInvSqrtDHead;
        cases.push_back(c);
    }
    {
        Case c{"d_head 1", m, t};
        c.model.d_head = 1;
        cases.push_back(c);
    }
    {
        Case c{"[BOS], uniform numbers, every position supervised", m, t};
        c.task.bos = true;
        c.task.numbers = NumberDist::kUniform;
        c.task.supervise = Supervise::kAfterSep;
        cases.push_back(c);
    }
    {
        Case c{"[SEP] may come first, longer sequences", m, t};
        c.task.min_before_sep = 0;
        c.task.seq_len = 40;
        c.task.supervise = Supervise::kAfterSep;
        cases.push_back(c);
    }
    for (const Case& c : cases) {
        SECTION(c.name) {
            CHECK(construction_loss(c.model, c.task, 3.0, 5) > construction_loss(c.model, c.task, 20.0, 5));
            CHECK(construction_loss(c.model, c.task, 20.0, 5) < 1e-10);
        }
    }
}

TEST_CASE("theorem71: refuses shapes it cannot build", "[theorem71]") {
    ModelConfig ok;
    ParamLayout layout(ok, 16, false);
    CHECK_THROWS_AS(theorem71_params(layout, ok, 0.0), std::invalid_argument);
    for (int which = 0; which < 5; ++which) {
        ModelConfig bad;
        if (which == 0) bad.n_layers = 1;
        if (which == 1) bad.d_model = 1;
        if (which == 2) bad.n_heads = 2;
        if (which == 3) bad.d_mlp = 4;
        if (which == 4) bad.norm = Norm::kLayerNorm;
        ParamLayout l(bad, 16, false);
        CHECK_THROWS_AS(theorem71_params(l, bad, 10.0), std::invalid_argument);
    }
}

TEST_CASE("theorem71: the metrics see catch, tag and release, a random init fails", "[theorem71][analysis]") {
    const ModelConfig mc;
    const TaskConfig tc;
    const AnalysisConfig ac;
    Transformer model(mc, tc.seq_len, tc.bos, 64);
    Rng rng = make_stream(21, Stream::kProbe);
    const Batch probe = as_batch(generate_sequences(tc, 64, rng));

    const std::vector<real> p = theorem71_params(model.layout(), mc, 10.0);
    model.forward(p.data(), probe);
    const MechanismMetrics m = compute_mechanism(model, p.data(), probe, ac);
    CHECK(m.catch_layer == 0);
    CHECK(m.release_layer == 1);
    CHECK(m.get(m.catch_score, 0, 0) > 0.99);
    CHECK(m.get(m.release, 1, 0) > 0.99);
    CHECK(m.get(m.release_evenness, 1, 0) > 0.99);
    CHECK(m.get(m.release, 0, 0) < 0.01);      // layer 1 catches, it does not release
    CHECK(m.get(m.catch_score, 1, 0) < 0.01);  // layer 2 releases, it does not catch
    CHECK(m.get(m.sink_rate_sep, 0, 0) == 1.0);
    // the tag is [SEP]'s value through W_O: s_tag along coordinate 1
    CHECK(m.tag[m.lh(0, 0) * 2 + 0] == Approx(0.0).margin(1e-12));
    CHECK(m.tag[m.lh(0, 0) * 2 + 1] == Approx(10.0));
    CHECK(m.get(m.tag_share, 0, 0) == Approx(1.0));
    CHECK(m.get(m.tag_separation, 0, 0) > ac.tag_threshold);
    CHECK(m.rel_error < 1e-9);
    const Verdict v = judge(m, m.rel_error, ac);
    CHECK(v.success);
    const Headline s = headline(m, 0, m.rel_error);
    CHECK(s.catch_score > 0.99);
    CHECK(s.release > 0.99);

    std::vector<real> random;
    Rng init = make_stream(21, Stream::kInit);
    init_params_random(random, model.layout(), init);
    model.forward(random.data(), probe);
    const MechanismMetrics r = compute_mechanism(model, random.data(), probe, ac);
    const Verdict vr = judge(r, r.rel_error, ac);
    CHECK_FALSE(vr.success);
    CHECK_FALSE(vr.solved);
    CHECK_FALSE(vr.mechanism);
}
