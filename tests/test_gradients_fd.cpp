// Central finite differences in float64 against the hand-written backward pass, for
// every parameter tensor, the input numbers, and every architecture option.
#include <boost/random/normal_distribution.hpp>
#include <catch2/catch.hpp>
#include <cmath>
#include <string>

#include "model/init.hpp"
#include "model/transformer.hpp"
#include "model_variants.hpp"
#include "task/averaging.hpp"

using namespace ctr;

namespace {

// Max over a tensor of |analytic - numeric| / max(1, |numeric|) would hide errors in
// small gradients, so compare each element with a relative-plus-absolute bound.
bool close(double analytic, double numeric, double rel, double abs) {
    return std::abs(analytic - numeric) <= abs + rel * std::abs(numeric);
}

}  // namespace

TEST_CASE("backward matches central finite differences for every parameter", "[gradients][fd]") {
    for (const ctr::testing::Variant& v : ctr::testing::model_variants(7)) {
        SECTION(v.name) {
            Rng data_rng = make_stream(7, Stream::kTrainData);
            Transformer model(v.model, v.task.seq_len, v.task.bos, 5);
            std::vector<real> params = ctr::testing::jittered_params(model, 7);
            const SequenceSet set = generate_sequences(v.task, 5, data_rng);
            const Batch batch = as_batch(set);

            std::vector<real> grads(params.size(), 0);
            model.forward(params.data(), batch);
            model.backward(params.data(), grads.data(), batch);

            const double h = 1e-6;
            // The input embedding: d loss / d x for every number x goes through the
            // embedding's gradient, dx = dembed . w_num.
            {
                const std::vector<real> dembed = model.dembed();
                Batch perturbed = batch;
                const int D = v.model.d_model;
                for (size_t n = 0; n < batch.value.size(); ++n) {
                    if (batch.kind[n] != kNumber) continue;
                    double analytic = 0;
                    for (int d = 0; d < D; ++d) analytic += dembed[n * D + d] * params[model.layout().w_num + d];
                    perturbed.value[n] = batch.value[n] + h;
                    const double up = model.forward(params.data(), perturbed);
                    perturbed.value[n] = batch.value[n] - h;
                    const double down = model.forward(params.data(), perturbed);
                    perturbed.value[n] = batch.value[n];
                    const double numeric = (up - down) / (2 * h);
                    INFO("input number " << n << " analytic " << analytic << " numeric " << numeric);
                    CHECK(close(analytic, numeric, 1e-6, 1e-8));
                }
            }
            ctr::testing::check_param_gradients_fd(model, params, batch, grads);
        }
    }
}

TEST_CASE("the loss-only forward gives the same loss and gradient, bit for bit", "[gradients]") {
    for (const ctr::testing::Variant& v : ctr::testing::model_variants(9)) {
        SECTION(v.name) {
            Rng data_rng = make_stream(3, Stream::kTrainData);
            Transformer model(v.model, v.task.seq_len, v.task.bos, 12);
            const std::vector<real> params = ctr::testing::jittered_params(model, 3);
            const Batch batch = as_batch(generate_sequences(v.task, 12, data_rng));
            std::vector<real> full(params.size(), 0), loss_only(params.size(), 0);
            const real full_loss = model.forward(params.data(), batch);
            model.backward(params.data(), full.data(), batch);
            const std::vector<real> dembed_full = model.dembed();
            const real loss_only_loss = model.forward_loss_only(params.data(), batch);
            model.backward(params.data(), loss_only.data(), batch);
            CHECK(loss_only_loss == full_loss);
            CHECK(loss_only == full);
            CHECK(model.dembed() == dembed_full);
        }
    }
}
