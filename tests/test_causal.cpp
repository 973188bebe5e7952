// Causal tests (src/analysis/causal.hpp): the intervention hooks do what they say,
// leave the plain forward alone, and destroy the Theorem 7.1 solution.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "analysis/causal.hpp"
#include "analysis/mechanism.hpp"
#include "model/theorem71.hpp"
#include "model/init.hpp"
#include "model/transformer.hpp"
#include "task/averaging.hpp"

using namespace ctr;

namespace {

struct Setup {
    Config cfg;
    Transformer model;
    Batch probe;
    explicit Setup(const Config& c, int B = 64)
        : cfg(c), model(c.model, c.task.seq_len, c.task.bos, B) {
        Rng rng = make_stream(c.seed, Stream::kProbe);
        probe = as_batch(generate_sequences(c.task, B, rng));
    }
};

}  // namespace

TEST_CASE("causal: without intervention the loss is the plain forward loss", "[causal]") {
    Config cfg;
    cfg.model.n_layers = 3;
    cfg.model.n_heads = 2;
    cfg.model.d_model = 4;
    Setup s(cfg);
    std::vector<real> p;
    Rng init = make_stream(1, Stream::kInit);
    init_params_random(p, s.model.layout(), init);
    const real plain = s.model.forward(p.data(), s.probe);
    const std::vector<real> out = s.model.activations().output;

    // hooks that are set but touch nothing change nothing, bit for bit
    ForwardHooks idle;
    int sequences_seen = 0;  // each hook sees every sequence once per layer, shard by shard
    idle.after_pattern = [&](int, BlockActivations&, int b0, int b1, int) { sequences_seen += b1 - b0; };
    idle.after_resid_post = [&](int, BlockActivations&, int b0, int b1, int) { sequences_seen += b1 - b0; };
    CHECK(s.model.forward(p.data(), s.probe, &idle) == plain);
    CHECK(sequences_seen == 2 * cfg.model.n_layers * s.probe.B);
    CHECK(s.model.activations().output == out);
    ForwardHooks empty;
    CHECK(s.model.forward(p.data(), s.probe, &empty) == plain);

    const CausalResult r = causal_tests(s.model, p.data(), s.probe, 1, 1, {1.0, 0.0, 0.0, 0.0});
    CHECK(r.clean_loss == plain);
    CHECK(r.catch_increase == r.catch_ablated_loss - r.clean_loss);
    CHECK(r.tag_increase == r.tag_ablated_loss - r.clean_loss);
    CHECK(s.model.activations().output == out);  // the last forward is the clean one
}

TEST_CASE("causal: the catch ablation and the tag projection hooks", "[causal]") {
    Config cfg;
    cfg.model.n_heads = 2;
    Setup s(cfg, 8);
    std::vector<real> p;
    Rng init = make_stream(2, Stream::kInit);
    init_params_random(p, s.model.layout(), init);
    const int T = s.probe.T, H = 2, Dh = cfg.model.d_head, HD = H * Dh, D = cfg.model.d_model;
    s.model.forward(p.data(), s.probe);
    const std::vector<real> clean = s.model.activations().blocks[0].pattern;

    const ForwardHooks ablate = catch_ablation_hooks(s.probe, 0, 1, H, Dh);
    s.model.forward(p.data(), s.probe, &ablate);
    const BlockActivations& a = s.model.activations().blocks[0];
    for (int b = 0; b < s.probe.B; ++b) {
        const int sep = s.probe.sep_pos[b];
        for (int h = 0; h < H; ++h)
            for (int i = 0; i < T; ++i) {
                const size_t row = ((static_cast<size_t>(b) * H + h) * T + i) * T;
                double sum = 0;
                for (int j = 0; j <= i; ++j) sum += a.pattern[row + j];
                CHECK(sum == Approx(1.0));
                if (h == 1 && i > sep) {
                    CHECK(a.pattern[row + sep] == 0);
                    // the other keys keep their ratios
                    const double scale = 1.0 / (1.0 - clean[row + sep]);
                    for (int j = 0; j <= i; ++j)
                        if (j != sep) CHECK(a.pattern[row + j] == Approx(clean[row + j] * scale));
                    // z follows the new pattern
                    for (int d = 0; d < Dh; ++d) {
                        double z = 0;
                        for (int j = 0; j <= i; ++j)
                            z += a.pattern[row + j] * a.v[(static_cast<size_t>(b) * T + j) * HD + h * Dh + d];
                        CHECK(a.z[(static_cast<size_t>(b) * T + i) * HD + h * Dh + d] == Approx(z));
                    }
                } else {
                    for (int j = 0; j <= i; ++j) CHECK(a.pattern[row + j] == clean[row + j]);
                }
            }
    }

    const std::vector<double> dir = {3.0, 4.0};
    const ForwardHooks project = tag_projection_hooks(0, dir, D);
    s.model.forward(p.data(), s.probe, &project);
    const std::vector<real>& r0 = s.model.activations().blocks[0].resid_post;
    const std::vector<real>& r1 = s.model.activations().blocks[1].resid_pre;
    for (int n = 0; n < s.probe.B * T; ++n) {
        CHECK(r0[n * D] * 3.0 + r0[n * D + 1] * 4.0 == Approx(0.0).margin(1e-12));
        CHECK(r1[n * D] == r0[n * D]);  // the next block reads the projected stream
    }
}

TEST_CASE("causal: both interventions destroy the Theorem 7.1 solution", "[causal][theorem71]") {
    Config cfg;
    cfg.seed = 8;
    Setup s(cfg);
    const std::vector<real> p = theorem71_params(s.model.layout(), cfg.model, 10.0);
    s.model.forward(p.data(), s.probe);
    const MechanismMetrics m = compute_mechanism(s.model, p.data(), s.probe, AnalysisConfig{});
    const CausalResult r = causal_tests(cfg, p.data(), s.probe, m);
    CHECK(r.layer == 0);
    CHECK(r.head == 0);
    CHECK(r.clean_loss < 1e-9);
    // the target's variance is about 0.25 (the mean of 1..15 standard normals): the
    // interventions give losses far above it, and far above the clean loss
    INFO("clean " << r.clean_loss << " catch-ablated " << r.catch_ablated_loss << " tag-ablated " << r.tag_ablated_loss);
    CHECK(r.catch_increase > 1.0);
    CHECK(r.tag_increase > 1.0);
    CHECK(r.catch_increase > 1e6 * r.clean_loss);
    CHECK(r.tag_increase > 1e6 * r.clean_loss);
}
