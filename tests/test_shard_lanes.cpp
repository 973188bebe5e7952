// Shard lanes (src/model/shard_lanes.cpp) run the training step with one vector lane per
// shard; they must give the row kernels' bits exactly: the loss, every element of the
// gradient, and so every parameter after training, at every SIMD level and thread count.
#include <omp.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <string>
#include <vector>

#include "helpers/simd.hpp"
#include "model/simd.hpp"
#include "model/transformer.hpp"
#include "model_variants.hpp"
#include "task/averaging.hpp"
#include "training/trainer.hpp"

using namespace ctr;
using ctr_test::available_levels;

namespace {

// Restores the SIMD level and the thread count when a test ends, even by a failed REQUIRE.
struct Restore {
    SimdLevel level = simd_level();
    int threads = omp_get_max_threads();
    ~Restore() {
        set_simd_level(level);
        omp_set_num_threads(threads);
    }
};

bool same_bits(const std::vector<real>& a, const std::vector<real>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(real)) == 0;
}

bool same_bits(real a, real b) { return std::memcmp(&a, &b, sizeof a) == 0; }

struct Case {
    std::string name;
    ModelConfig model;
    TaskConfig task;
    int B;
};

// The kernels run with every size a compile-time constant for T 16, one head and
// d_model = d_head = 2 (the minimal cases and the two after them), with d_model and
// d_head constant for other T or head counts (the next two), and generic otherwise.
std::vector<Case> cases() {
    std::vector<Case> c;
    const ModelConfig m;
    TaskConfig t;
    t.seq_len = 16;
    for (int B : {256, 100, 13, 5, 1}) c.push_back({"minimal, B " + std::to_string(B), m, t, B});
    {
        Case x{"bos, learned positions, supervise after sep", m, t, 37};
        x.task.bos = true;
        x.model.positions = Positions::kLearned;
        x.task.supervise = Supervise::kAfterSep;
        c.push_back(x);
    }
    {
        Case x{"sinusoidal positions, attention biases, 1/sqrt(d_head)", m, t, 50};
        x.model.positions = Positions::kSinusoidal;
        x.model.attn_bias = true;
        x.model.attn_scale = AttnScale::kInvSqrtDHead;
        c.push_back(x);
    }
    {
        Case x{"T 12, bos, after sep (d_model = d_head = 2, T at run time)", m, t, 29};
        x.task.seq_len = 12;
        x.task.bos = true;
        x.task.supervise = Supervise::kAfterSep;
        c.push_back(x);
    }
    {
        Case x{"2 heads of 2, d_model 2, T 16, 3 layers (the head count at run time)", m, t, 23};
        x.model.n_heads = 2;
        x.model.n_layers = 3;
        c.push_back(x);
    }
    {
        Case x{"d_model 4, 2 heads of 3, 3 layers, qk-norm, after sep", m, t, 21};
        x.model.d_model = 4;
        x.model.n_heads = 2;
        x.model.d_head = 3;
        x.model.n_layers = 3;
        x.model.qk_norm = true;
        x.task.supervise = Supervise::kAfterSep;
        x.task.seq_len = 11;
        c.push_back(x);
    }
    {
        Case x{"d_model 8 (Q, K, V by the GEMM), 2 heads of 8 (W_O by the GEMM), biases", m, t, 19};
        x.model.d_model = 8;
        x.model.n_heads = 2;
        x.model.d_head = 8;
        x.model.attn_bias = true;
        x.task.seq_len = 9;
        c.push_back(x);
    }
    return c;
}

struct Step {
    real loss = 0, eval_loss = 0;
    std::vector<real> grads;
};

Step run(Transformer& model, const std::vector<real>& params, const Batch& batch) {
    Step s;
    s.grads.assign(params.size(), real(0));
    s.loss = model.loss_and_gradient(params.data(), s.grads.data(), batch);
    s.eval_loss = model.forward_loss_only(params.data(), batch);
    return s;
}

}  // namespace

TEST_CASE("shard lanes give the row kernels' loss and gradient bit for bit", "[shard_lanes][determinism]") {
    Restore restore;
    for (const Case& c : cases()) {
        SECTION(c.name) {
            Transformer model(c.model, c.task.seq_len, c.task.bos, c.B);
            REQUIRE(model.shard_lanes());
            Rng data_rng = make_stream(3, Stream::kTrainData);
            const Batch batch = as_batch(generate_sequences(c.task, c.B, data_rng));
            const std::vector<real> params = ctr::testing::jittered_params(model, 3);
            model.use_shard_lanes(false);
            omp_set_num_threads(1);
            set_simd_level(SimdLevel::scalar);
            const Step ref = run(model, params, batch);
            model.use_shard_lanes(true);
            for (SimdLevel level : available_levels())
                for (int threads : {1, 2}) {
                    set_simd_level(level);
                    omp_set_num_threads(threads);
                    INFO(simd_name(level) << ", " << threads << " threads");
                    const Step s = run(model, params, batch);
                    CHECK(same_bits(s.loss, ref.loss));
                    CHECK(same_bits(s.eval_loss, ref.eval_loss));
                    CHECK(same_bits(s.grads, ref.grads));
                    // the pair forward_loss_only + backward after a shard-lanes forward
                    std::vector<real> g(params.size(), real(0));
                    CHECK(same_bits(model.forward_loss_only(params.data(), batch), ref.loss));
                    model.backward(params.data(), g.data(), batch);
                    CHECK(same_bits(g, ref.grads));
                }
            // a gradient that does not depend on the step's sums is no test of them
            size_t nonzero = 0;
            for (real x : ref.grads) nonzero += x != 0;
            CHECK(nonzero > ref.grads.size() / 2);
        }
    }
}

TEST_CASE("shard lanes add to the gradient they are given, as backward does", "[shard_lanes]") {
    Case c = cases().at(1);  // B 100: shards of 12 and 13 sequences
    Transformer model(c.model, c.task.seq_len, c.task.bos, c.B);
    Rng data_rng = make_stream(8, Stream::kTrainData);
    const Batch batch = as_batch(generate_sequences(c.task, c.B, data_rng));
    const std::vector<real> params = ctr::testing::jittered_params(model, 8);
    const std::vector<real> start = ctr::testing::jittered_params(model, 9);  // any numbers
    std::vector<real> lanes = start, rows = start;
    model.loss_and_gradient(params.data(), lanes.data(), batch);
    model.use_shard_lanes(false);
    model.loss_and_gradient(params.data(), rows.data(), batch);
    CHECK(same_bits(lanes, rows));
    CHECK_FALSE(same_bits(lanes, start));
}

TEST_CASE("training on shard lanes ends in the row kernels' parameters", "[shard_lanes][determinism]") {
    Restore restore;
    Config cfg;
    cfg.seed = 5;
    cfg.train.steps = 40;
    SECTION("paper's minimal model") {}
    SECTION("a batch that does not divide into shards, bos, supervise after sep") {
        cfg.train.batch_size = 37;
        cfg.task.bos = true;
        cfg.task.supervise = Supervise::kAfterSep;
    }
    omp_set_num_threads(1);
    Trainer rows(cfg);
    rows.use_shard_lanes(false);
    while (!rows.done()) rows.train_step();
    const double rows_eval = rows.evaluate().loss;
    for (int threads : {1, 2}) {
        omp_set_num_threads(threads);
        Trainer lanes(cfg);
        while (!lanes.done()) lanes.train_step();
        INFO(threads << " threads");
        CHECK(same_bits(lanes.state().params, rows.state().params));
        CHECK(lanes.evaluate().loss == rows_eval);
    }
}
