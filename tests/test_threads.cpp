// The batch is split into shards that run on OpenMP threads; the split never depends on
// the thread count, so neither may any number.
#include <omp.h>

#include <catch2/catch.hpp>
#include <cstring>

#include "training/trainer.hpp"

using namespace ctr;

namespace {

std::vector<real> train_with_threads(const Config& cfg, int threads) {
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    Trainer trainer(cfg);
    while (!trainer.done()) trainer.train_step();
    omp_set_num_threads(saved);
    return trainer.state().params;
}

}  // namespace

TEST_CASE("training is bit-identical whatever the thread count", "[threads][determinism]") {
    Config cfg;
    cfg.seed = 4;
    cfg.train.steps = 60;
    SECTION("paper's minimal model") {}
    SECTION("a wider model with an MLP, LayerNorm and a batch that does not divide into shards") {
        cfg.model.d_model = 8;
        cfg.model.n_heads = 2;
        cfg.model.d_head = 4;
        cfg.model.d_mlp = 16;
        cfg.model.norm = Norm::kLayerNorm;
        cfg.train.batch_size = 37;
    }
    const std::vector<real> one = train_with_threads(cfg, 1);
    for (int threads : {2, 3, 8}) {
        const std::vector<real> many = train_with_threads(cfg, threads);
        INFO(threads << " threads");
        REQUIRE(many.size() == one.size());
        CHECK(std::memcmp(many.data(), one.data(), one.size() * sizeof(real)) == 0);
    }
}
