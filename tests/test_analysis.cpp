// Mechanism metrics (src/analysis/mechanism.hpp, docs/metrics.md) on hand-made
// attention patterns and residuals with known answers, an independent recomputation of
// catch and release from a model's raw pattern, and the emergence / verdict logic.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include "analysis/mechanism.hpp"
#include "analysis/tag_lda.hpp"
#include "analysis/verdict.hpp"
#include "model/init.hpp"
#include "model/transformer.hpp"
#include "task/averaging.hpp"

using namespace ctr;
using Catch::Detail::Approx;

namespace {

// A batch of B sequences of length T with [SEP] at seps[b] (numbers elsewhere, values 0).
Batch make_batch(int T, const std::vector<int>& seps, bool bos = false) {
    Batch b;
    b.resize(static_cast<int>(seps.size()), T);
    for (int i = 0; i < b.B; ++i) {
        b.sep_pos[i] = seps[i];
        b.kind[static_cast<size_t>(i) * T + seps[i]] = kSep;
        if (bos) b.kind[static_cast<size_t>(i) * T] = kBos;
    }
    return b;
}

// pattern (B, H, T, T) filled per (b, h, i) by row(b, h, i, out_row) writing keys 0..i.
template <class F>
std::vector<real> make_pattern(int B, int H, int T, F row) {
    std::vector<real> p(static_cast<size_t>(B) * H * T * T, real(0));
    for (int b = 0; b < B; ++b)
        for (int h = 0; h < H; ++h)
            for (int i = 0; i < T; ++i) row(b, h, i, p.data() + ((static_cast<size_t>(b) * H + h) * T + i) * T);
    return p;
}

void uniform_row(int i, real* r) {
    for (int j = 0; j <= i; ++j) r[j] = real(1) / (i + 1);
}

}  // namespace

TEST_CASE("sink scores, catch and release of hand-made patterns", "[analysis]") {
    // T = 5, [SEP] at 1 in both sequences.
    //  head 0: every query after [SEP] puts all attention on [SEP]; before: uniform.
    //  head 1: uniform causal attention everywhere.
    //  head 2: queries after [SEP] spread evenly over the numbers after [SEP] up to themselves.
    //  head 3: queries after [SEP] put all attention on the first number after [SEP].
    const int T = 5, B = 2, H = 4;
    const Batch batch = make_batch(T, {1, 1});
    const std::vector<real> P = make_pattern(B, H, T, [&](int b, int h, int i, real* r) {
        const int s = batch.sep_pos[b];
        if (i <= s || h == 1) return uniform_row(i, r);
        if (h == 0) r[s] = 1;
        if (h == 2)
            for (int j = s + 1; j <= i; ++j) r[j] = real(1) / (i - s);
        if (h == 3) r[s + 1] = 1;
    });
    const PatternMetrics m = pattern_metrics(P.data(), B, H, T, batch, 0.2);

    // head 0: alpha_0 = (1 + 1/2)/5, alpha_1 = (1/2 + 1 + 1 + 1)/4, the rest 0.
    CHECK(m.sink_alpha[0] == Approx(0.3));
    CHECK(m.sink_alpha[1] == Approx(0.875));
    for (int k = 2; k < T; ++k) CHECK(m.sink_alpha[k] == Approx(0.0).margin(1e-15));
    CHECK(m.sink_sep[0] == Approx(0.875));
    CHECK(m.sink_rate_sep[0] == 1.0);
    CHECK(m.sink_rate_any[0] == 1.0);
    CHECK(m.n_sinks[0] == Approx(2.0));  // keys 0 and 1
    CHECK(std::isnan(m.sink_bos[0]));      // no [BOS]
    CHECK(m.catch_score[0] == Approx(1.0));
    CHECK(m.release[0] == Approx(0.0).margin(1e-15));
    CHECK(m.release_evenness[0] == Approx(0.0).margin(1e-15));  // no mass on the tagged numbers

    // head 1, uniform: alpha_k = 1/(T-k) sum_{i>=k} 1/(i+1).
    for (int k = 0; k < T; ++k) {
        double a = 0;
        for (int i = k; i < T; ++i) a += 1.0 / (i + 1);
        CHECK(m.sink_alpha[T + k] == Approx(a / (T - k)));
    }
    CHECK(m.sink_alpha[T + 0] == Approx((1 + 1. / 2 + 1. / 3 + 1. / 4 + 1. / 5) / 5));  // 0.4567 > eps
    CHECK(m.sink_sep[1] == Approx((1. / 2 + 1. / 3 + 1. / 4 + 1. / 5) / 4));        // 0.3208 > eps
    // alphas 0.457, 0.321, 0.261, 0.225, 0.2: three of them above 0.25
    CHECK(pattern_metrics(P.data(), B, H, T, batch, 0.25).n_sinks[1] == Approx(3.0));
    // queries 2, 3, 4: catch = mean(1/3, 1/4, 1/5); release = mean(1/3, 2/4, 3/5)
    CHECK(m.catch_score[1] == Approx((1. / 3 + 1. / 4 + 1. / 5) / 3));
    CHECK(m.release[1] == Approx((1. / 3 + 2. / 4 + 3. / 5) / 3));
    CHECK(m.release_evenness[1] == Approx(1.0));

    // head 2: the ideal release
    CHECK(m.catch_score[2] == Approx(0.0).margin(1e-15));
    CHECK(m.release[2] == Approx(1.0));
    CHECK(m.release_evenness[2] == Approx(1.0));

    // head 3: all mass on the tagged numbers, but on one of them: evenness 0
    CHECK(m.release[3] == Approx(1.0));
    CHECK(m.release_evenness[3] == Approx(0.0).margin(1e-12));
}

TEST_CASE("sink thresholds are per sequence, BOS scores are aligned to BOS", "[analysis]") {
    // T = 4 with [BOS] at 0. Sequence 0: [SEP] at 2, every query after attends to it;
    // sequence 1: [SEP] at 2, queries attend to [BOS] only.
    const int T = 4;
    const Batch batch = make_batch(T, {2, 2}, true);
    const std::vector<real> P = make_pattern(2, 1, T, [&](int b, int, int i, real* r) {
        if (i == 0) r[0] = 1;
        else if (b == 0 && i > 2) r[2] = 1;
        else r[0] = 1;
    });
    const PatternMetrics m = pattern_metrics(P.data(), 2, 1, T, batch, 0.2);
    // seq 0: alpha = (3/4, 0, 1/2, 0); seq 1: alpha = (1, 0, 0, 0)
    CHECK(m.sink_sep[0] == Approx(0.25));
    CHECK(m.sink_rate_sep[0] == Approx(0.5));
    CHECK(m.sink_bos[0] == Approx((0.75 + 1.0) / 2));
    CHECK(m.sink_rate_bos[0] == 1.0);
    CHECK(m.n_sinks[0] == Approx(1.5));
    CHECK(m.sink_alpha[0] == Approx(0.875));
    CHECK(m.catch_score[0] == Approx(0.5));  // query 3 of each sequence: 1 and 0
    // a higher eps drops sequence 0's [SEP] sink
    const PatternMetrics m6 = pattern_metrics(P.data(), 2, 1, T, batch, 0.6);
    CHECK(m6.sink_rate_sep[0] == 0.0);
    CHECK(m6.n_sinks[0] == Approx(1.0));
}

TEST_CASE("tag share of hand-made head outputs", "[analysis]") {
    // d_head 2, one sink with value (1, 0).
    const real sink[2] = {1, 0};
    const real* sinks[1] = {sink};
    const real inside[6] = {2, 0, -1, 0, 0.5, 0};     // rows along the sink value
    const real outside[6] = {0, 1, 0, -3, 0, 2};      // rows orthogonal to it
    const real diagonal[4] = {1, 1, 2, 2};            // 45 degrees
    CHECK(tag_share(inside, sinks, 1, 3, 2, 2) == Approx(1.0));
    CHECK(tag_share(outside, sinks, 1, 3, 2, 2) == Approx(0.0).margin(1e-15));
    CHECK(tag_share(diagonal, sinks, 1, 2, 2, 2) == Approx(std::sqrt(0.5)));
    // two sinks spanning the plane: everything is inside
    const real sink2[2] = {1, 1};
    const real* both[2] = {sink, sink2};
    CHECK(tag_share(outside, both, 2, 3, 2, 2) == Approx(1.0));
    // a zero sink value spans nothing
    const real zero[2] = {0, 0};
    const real* none[1] = {zero};
    CHECK(tag_share(inside, none, 1, 3, 2, 2) == 0.0);
    // strided rows: (T, H=2, Dh=2) with head 1 read, stride 4
    const real strided[8] = {9, 9, 3, 0, 9, 9, 0, 4};
    CHECK(tag_share(strided + 2, sinks, 1, 2, 2, 4) == Approx(3.0 / 5.0));
}

TEST_CASE("tag separation is a d' along the tag direction", "[analysis]") {
    // T = 5, [SEP] at 2: numbers at 0, 1 (before) and 3, 4 (after), in two sequences.
    const int T = 5, D = 2;
    const Batch batch = make_batch(T, {2, 2});
    std::vector<real> resid(2 * T * D, 0);
    auto set = [&](int b, int t, real along, real other) {
        resid[(b * T + t) * D + 1] = along;
        resid[(b * T + t) * D + 0] = other;
    };
    // along the tag (coordinate 1): before {-1, 1, -1, 1}, after {3, 5, 3, 5}
    set(0, 0, -1, 7), set(0, 1, 1, -3), set(1, 0, -1, 2), set(1, 1, 1, 0);
    set(0, 3, 3, 1), set(0, 4, 5, 1), set(1, 3, 3, -9), set(1, 4, 5, 4);
    set(0, 2, 1000, 0), set(1, 2, -1000, 0);  // [SEP] is not counted
    const double dir[2] = {0, 2};
    // means 0 and 4; pooled variance (4 * 1 + 4 * 1) / (8 - 2)
    CHECK(tag_separation(resid.data(), 2, T, D, batch, dir) == Approx(4.0 / std::sqrt(8.0 / 6.0)));
    const double flipped[2] = {0, -1};
    CHECK(tag_separation(resid.data(), 2, T, D, batch, flipped) == Approx(-4.0 / std::sqrt(8.0 / 6.0)));
    const double zero[2] = {0, 0};
    CHECK(tag_separation(resid.data(), 2, T, D, batch, zero) == 0.0);
    // constant groups: the std floor keeps it finite and large
    for (int b = 0; b < 2; ++b)
        for (int t = 0; t < T; ++t) resid[(b * T + t) * D + 1] = t > 2 ? 2 : 1;
    const double d = tag_separation(resid.data(), 2, T, D, batch, dir);
    CHECK(std::isfinite(d));
    CHECK(d > 1e5);
}

TEST_CASE("compute_mechanism agrees with catch and release recomputed from the raw pattern", "[analysis]") {
    struct Case {
        const char* name;
        ModelConfig model;
        TaskConfig task;
    };
    std::vector<Case> cases;
    {
        Case c{"paper minimal", {}, {}};
        cases.push_back(c);
        Case w{"3 layers, 2 heads, d_model 4, bos, layernorm", {}, {}};
        w.model.n_layers = 3;
        w.model.n_heads = 2;
        w.model.d_model = 4;
        w.model.d_head = 3;
        w.model.norm = Norm::kLayerNorm;
        w.task.bos = true;
        w.task.seq_len = 11;
        cases.push_back(w);
    }
    for (const Case& c : cases) {
        SECTION(c.name) {
            Rng init = make_stream(3, Stream::kInit), data = make_stream(3, Stream::kProbe);
            Transformer model(c.model, c.task.seq_len, c.task.bos, 16);
            std::vector<real> params;
            init_params_random(params, model.layout(), init);
            const Batch probe = as_batch(generate_sequences(c.task, 16, data));
            const real loss = model.forward(params.data(), probe);
            const MechanismMetrics m = compute_mechanism(model, params.data(), probe, AnalysisConfig{});
            REQUIRE(m.n_layers == c.model.n_layers);
            REQUIRE(m.n_heads == c.model.n_heads);
            CHECK(m.has_bos == c.task.bos);
            const int B = probe.B, T = probe.T, H = c.model.n_heads;
            for (int l = 0; l < c.model.n_layers; ++l)
                for (int h = 0; h < H; ++h) {
                    // [SEP] found from the token kinds, every (query, key) pair visited once
                    const std::vector<real>& A = model.activations().blocks[l].pattern;
                    double c_sum = 0, r_sum = 0;
                    int n = 0;
                    for (size_t idx = 0; idx < static_cast<size_t>(B) * H * T * T; ++idx) {
                        const int j = idx % T, i = (idx / T) % T, hh = (idx / T / T) % H, b = idx / T / T / H;
                        if (hh != h) continue;
                        int s = 0;
                        while (probe.kind[b * T + s] != kSep) ++s;
                        if (i <= s) continue;
                        if (j == s) {
                            c_sum += A[idx];
                            ++n;
                        }
                        if (j > s && j <= i) r_sum += A[idx];
                    }
                    INFO("layer " << l << " head " << h);
                    CHECK(m.get(m.catch_score, l, h) == Approx(c_sum / n).epsilon(1e-12));
                    CHECK(m.get(m.release, l, h) == Approx(r_sum / n).epsilon(1e-12));
                    // a random model neither catches nor releases
                    CHECK(m.get(m.catch_score, l, h) < 0.9);
                }
            // the probe error: mse equals the loss (weights sum to 1)
            CHECK(m.mse == Approx(loss).epsilon(1e-12));
            CHECK(m.rel_error > 0.1);
            CHECK(m.catch_layer >= 0);
            CHECK(m.catch_layer < m.release_layer);
            // the pair maximises min(catch, release) over l1 < l2
            for (int l1 = 0; l1 < m.n_layers; ++l1)
                for (int l2 = l1 + 1; l2 < m.n_layers; ++l2)
                    for (int h1 = 0; h1 < H; ++h1)
                        for (int h2 = 0; h2 < H; ++h2)
                            CHECK(std::min(m.get(m.catch_score, l1, h1), m.get(m.release, l2, h2)) <= m.pair_score);
        }
    }
}

TEST_CASE("lda_separation: the separation along the best direction, whatever the tag's", "[analysis][tag]") {
    // Numbers before and after [SEP] in a 3-D residual: the groups differ along e_2 by
    // 4 with unit spread (plus noise along e_0 and e_1 that does not separate them).
    const int T = 8, D = 3;
    const Batch batch = make_batch(T, {2, 3, 4, 5, 3, 4, 2, 5, 3, 4});
    std::vector<real> x(static_cast<size_t>(batch.B) * T * D);
    uint64_t k = 1;
    auto noise = [&] { k = k * 6364136223846793005ULL + 1442695040888963407ULL; return ((k >> 11) * 0x1.0p-53) * 2 - 1; };
    for (int b = 0; b < batch.B; ++b)
        for (int t = 0; t < T; ++t) {
            real* r = x.data() + (static_cast<size_t>(b) * T + t) * D;
            r[0] = 3 * noise();
            r[1] = 2 * noise();
            r[2] = (t > batch.sep_pos[b] ? 4.0 : 0.0) + noise();
        }
    const double lda = lda_separation(x.data(), batch.B, T, D, batch);
    const double along_e2[D] = {0, 0, 1}, along_e0[D] = {1, 0, 0};
    const double best_axis = tag_separation(x.data(), batch.B, T, D, batch, along_e2);
    // the discriminant finds at least the separation along the right axis, whatever
    // direction a tag measure was given
    CHECK(lda >= best_axis * (1 - 1e-12));
    CHECK(lda > 5);
    CHECK(std::abs(tag_separation(x.data(), batch.B, T, D, batch, along_e0)) < 1.5);
    // direction-free: a rotation of the residual changes nothing
    std::vector<real> rot(x.size());
    for (size_t n = 0; n < x.size() / D; ++n) {
        const real* r = x.data() + n * D;
        rot[n * D + 0] = (r[0] + r[2]) / std::sqrt(2.0);
        rot[n * D + 1] = r[1];
        rot[n * D + 2] = (r[0] - r[2]) / std::sqrt(2.0);
    }
    CHECK(lda_separation(rot.data(), batch.B, T, D, batch) == Approx(lda).epsilon(1e-9));
    // in one dimension it is |tag_separation|
    std::vector<real> x1(static_cast<size_t>(batch.B) * T);
    for (size_t n = 0; n < x1.size(); ++n) x1[n] = -x[n * D + 2];
    const double one[1] = {1};
    CHECK(lda_separation(x1.data(), batch.B, T, 1, batch) ==
          Approx(std::abs(tag_separation(x1.data(), batch.B, T, 1, batch, one))).epsilon(1e-9));
    // nothing to separate: both groups the same, or one empty
    std::vector<real> same(x.size(), real(1));
    CHECK(lda_separation(same.data(), batch.B, T, D, batch) == Approx(0).margin(1e-9));
    const Batch no_after = make_batch(T, std::vector<int>(4, T - 1));
    CHECK(lda_separation(x.data(), no_after.B, T, D, no_after) == 0);
}

TEST_CASE("crossings: first, held from, lost and switches of a condition", "[analysis][verdict]") {
    const std::vector<int64_t> steps{0, 10, 20, 30, 40, 50};
    auto c = [&](std::vector<char> h) { return crossings(steps, h); };
    const Crossing never = c({0, 0, 0, 0, 0, 0});
    CHECK(never.measured);
    CHECK(never.first == -1);
    CHECK(never.held_from == -1);
    CHECK(never.lost == -1);
    CHECK(never.switches == 0);
    CHECK(std::string(never.word()) == "never");
    const Crossing regained = c({0, 1, 1, 0, 1, 1});
    CHECK(regained.first == 10);
    CHECK(regained.held_from == 40);
    CHECK(regained.lost == -1);
    CHECK(regained.switches == 3);
    CHECK(regained.held_at_end);
    CHECK(std::string(regained.word()) == "held");
    const Crossing lost = c({0, 1, 0, 1, 1, 0});
    CHECK(lost.first == 10);
    CHECK(lost.held_from == -1);
    CHECK(lost.lost == 50);
    CHECK(lost.switches == 4);
    CHECK(std::string(lost.word()) == "lost");
    const Crossing always = c({1, 1, 1, 1, 1, 1});
    CHECK(always.first == 0);
    CHECK(always.held_from == 0);
    CHECK(always.switches == 0);
    const Crossing none = crossings({}, {});
    CHECK_FALSE(none.measured);
    CHECK(std::string(none.word()) == "not measured");
}

TEST_CASE("emergence: catch, tag, release and the mechanism from snapshots, solved from the metrics rows",
          "[analysis][verdict]") {
    AnalysisConfig cfg;
    const ModelConfig model;  // two layers
    auto snap = [](int64_t step, double c, double t, double r) {
        Headline s;
        s.step = step;
        s.catch_score = c;
        s.tag_lda = t;
        s.release = r;
        return s;
    };
    const std::vector<Headline> s = {snap(0, 0.1, 0.0, 0.2), snap(10, 0.95, 6.0, 0.5), snap(20, 0.5, 1.0, 0.95),
                                     snap(30, 0.95, 6.0, 0.95), snap(40, 0.97, 7.0, 0.85)};
    const Emergence e = emergence(s, {0, 25, 50}, {1.0, 0.005, 0.02}, model, cfg);
    CHECK(e[Milestone::kCatch].first == 10);
    CHECK(e[Milestone::kCatch].held_from == 30);  // crossed at 10, fell back at 20
    CHECK(e[Milestone::kCatch].switches == 3);
    CHECK(e.catch_step == 30);
    CHECK(e.tag_step == 30);
    CHECK(e[Milestone::kRelease].first == 20);
    CHECK(e[Milestone::kRelease].lost == 40);
    CHECK(e.release_step == -1);  // not past it at the end
    CHECK(e[Milestone::kMechanism].first == 30);  // catch and release at the same snapshot
    CHECK(e[Milestone::kMechanism].lost == 40);
    CHECK(e[Milestone::kSolved].first == 25);     // from the metrics rows
    CHECK(e[Milestone::kSolved].lost == 50);
    CHECK(e.max_catch == 0.97);
    CHECK(emergence_story(e) == "mechanism formed at step 30, lost for good at step 40 (2 switches)");

    // Without snapshots only solved is measured.
    const Emergence blind = emergence({}, {0, 50}, {1.0, 0.001}, model, cfg);
    CHECK_FALSE(blind[Milestone::kCatch].measured);
    CHECK(blind[Milestone::kSolved].held_from == 50);
    CHECK(emergence_story(blind) == "mechanism not measured (no snapshots)");

    const Emergence all = emergence({snap(5, 1, 9, 1), snap(6, 1, 9, 1)}, {5, 6}, {0, 0}, model, cfg);
    CHECK(all.catch_step == 5);
    CHECK(all.release_step == 5);
    CHECK(emergence_story(all) == "mechanism formed at step 5 and held");
    CHECK(emergence_story(emergence({snap(0, 0.1, 0, 0.2), snap(9, 0.95, 0, 0.3)}, {}, {}, model, cfg)) ==
          "caught from step 9 but never released (release at most 0.3)");
    CHECK(emergence_story(emergence({snap(0, 0.1, 0, 0.2), snap(9, 0.15, 0, 0.3)}, {}, {}, model, cfg)) ==
          "stalled before catch (catch at most 0.15)");

    // One layer: no pair to measure, its headline NaN, whatever else the snapshots hold.
    ModelConfig one = model;
    one.n_layers = 1;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const Emergence single = emergence({snap(0, nan, nan, nan), snap(9, nan, nan, nan)}, {0, 9}, {1.0, 0.5}, one, cfg);
    CHECK_FALSE(single.has_pair);
    CHECK(std::isnan(single.max_catch));
    CHECK(std::isnan(single.max_release));
    CHECK(emergence_story(single) == "no mechanism to measure (no catch/release pair with one layer)");
    CHECK(emergence_story(emergence({}, {0, 9}, {1.0, 0.5}, one, cfg)) == "mechanism not measured (no snapshots)");
    CHECK(has_catch_release_pair(model));
    CHECK_FALSE(has_catch_release_pair(one));
}

TEST_CASE("verdict: error and a catch layer before a release layer", "[analysis][verdict]") {
    MechanismMetrics m;
    m.n_layers = 3;
    m.n_heads = 2;
    m.d_model = 2;
    m.catch_score = {0.2, 0.95, 0.1, 0.1, 0.3, 0.99};  // [layer, head]
    m.release = {0.0, 0.1, 0.2, 0.92, 0.97, 0.1};
    m.release_evenness.assign(6, 1.0);
    m.tag_separation.assign(6, 10.0);
    AnalysisConfig cfg;
    Verdict v = judge(m, 1e-3, cfg);
    CHECK(v.success);
    CHECK(v.catch_layer == 0);
    CHECK(v.catch_head == 1);
    CHECK(v.release_layer == 2);  // 0.97 in L2H0 beats 0.92 in L1H1
    CHECK(v.release_head == 0);
    CHECK(v.summary.rfind("success", 0) == 0);
    CHECK_FALSE(judge(m, 2e-2, cfg).success);  // error too large
    CHECK(judge(m, 2e-2, cfg).mechanism);
    // the only strong catch comes after the only strong release: no mechanism
    m.catch_score = {0.1, 0.1, 0.1, 0.1, 0.95, 0.1};
    m.release = {0.95, 0.1, 0.1, 0.1, 0.1, 0.1};
    v = judge(m, 1e-3, cfg);
    CHECK(v.solved);
    CHECK_FALSE(v.mechanism);
    CHECK_FALSE(v.success);
    CHECK(v.summary.rfind("failure", 0) == 0);
    // thresholds come from the config
    cfg.catch_threshold = 0.5;
    m.catch_score = {0.6, 0.1, 0.1, 0.1, 0.1, 0.1};
    m.release = {0.1, 0.1, 0.95, 0.1, 0.1, 0.1};
    CHECK(judge(m, 1e-3, cfg).success);
    cfg.catch_threshold = 0.7;
    CHECK_FALSE(judge(m, 1e-3, cfg).success);
}
