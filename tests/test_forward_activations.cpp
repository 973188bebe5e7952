// Transformer::forward_activations (the probe's forward: the batch as one shard) leaves
// the activations forward() leaves, bit for bit, for every model variant, batch size and
// SIMD level: snapshots and the mechanism metrics are computed from them.
#include <catch2/catch.hpp>
#include <cstring>
#include <string>
#include <vector>

#include "helpers/simd.hpp"
#include "model/simd.hpp"
#include "model/transformer.hpp"
#include "model_variants.hpp"
#include "task/averaging.hpp"

using namespace ctr;

namespace {

bool same_bits(const std::vector<real>& a, const std::vector<real>& b, size_t n) {
    return a.size() >= n && b.size() >= n && std::memcmp(a.data(), b.data(), n * sizeof(real)) == 0;
}

}  // namespace

TEST_CASE("forward_activations gives forward()'s activations bit for bit", "[model][probe]") {
    const SimdLevel saved = simd_level();
    for (SimdLevel level : ctr_test::available_levels()) {
        set_simd_level(level);
        for (const ctr::testing::Variant& var : ctr::testing::model_variants(12)) {
            for (int B : {16, 13, 3}) {
                INFO(var.name << ", B " << B << ", SIMD level " << static_cast<int>(level));
                Rng rng = make_stream(5, Stream::kProbe);
                const Batch batch = as_batch(generate_sequences(var.task, B, rng));
                // Both models first run a loss-only forward on a larger batch, as the
                // evaluation leaves the model it shares with nobody now.
                Transformer rows(var.model, var.task.seq_len, var.task.bos, 32);
                Transformer one(var.model, var.task.seq_len, var.task.bos, 32);
                const std::vector<real> params = ctr::testing::jittered_params(rows, 11);
                Rng big_rng = make_stream(6, Stream::kEvalData);
                const Batch big = as_batch(generate_sequences(var.task, 32, big_rng));
                rows.forward_loss_only(params.data(), big);
                one.forward_loss_only(params.data(), big);
                rows.forward(params.data(), batch);
                one.forward_activations(params.data(), batch);
                const Activations& a = rows.activations();
                const Activations& b = one.activations();
                REQUIRE(a.B == b.B);
                const size_t BT = static_cast<size_t>(B) * batch.T;
                CHECK(same_bits(a.output, b.output, BT));
                REQUIRE(a.blocks.size() == b.blocks.size());
                for (size_t l = 0; l < a.blocks.size(); ++l) {
                    INFO("block " << l);
                    const BlockActivations &x = a.blocks[l], &y = b.blocks[l];
                    const size_t D = var.model.d_model, HD = static_cast<size_t>(var.model.n_heads) * var.model.d_head;
                    CHECK(same_bits(x.resid_pre, y.resid_pre, BT * D));
                    CHECK(same_bits(x.q, y.q, BT * HD));
                    CHECK(same_bits(x.k, y.k, BT * HD));
                    CHECK(same_bits(x.v, y.v, BT * HD));
                    CHECK(same_bits(x.z, y.z, BT * HD));
                    CHECK(same_bits(x.pattern, y.pattern, BT * var.model.n_heads * batch.T));
                    CHECK(same_bits(x.resid_mid, y.resid_mid, x.resid_mid.empty() ? 0 : BT * D));
                    CHECK(same_bits(x.resid_post, y.resid_post, BT * D));
                }
            }
        }
    }
    set_simd_level(saved);
}
