// Central finite differences in float64 against the hand-written backward pass, for
// every parameter tensor, the input numbers, and every architecture option.
#include <boost/random/normal_distribution.hpp>
#include <catch2/catch.hpp>
#include <cmath>
#include <string>

#include "model/init.hpp"
#include "model/transformer.hpp"
#include "task/averaging.hpp"

using namespace ctr;

namespace {

struct Variant {
    std::string name;
    ModelConfig model;
    TaskConfig task;
};

std::vector<Variant> variants() {
    std::vector<Variant> v;
    ModelConfig m;
    TaskConfig t;
    t.seq_len = 7;
    v.push_back({"paper minimal", m, t});
    {
        Variant x{"minimal, loss after sep", m, t};
        x.task.supervise = "after_sep";
        v.push_back(x);
    }
    {
        Variant x{"full: 3 layers, 2 heads, gelu MLP, layernorm, qk-norm, learned pos, bos, biases", m, t};
        x.model.n_layers = 3;
        x.model.n_heads = 2;
        x.model.d_model = 4;
        x.model.d_head = 3;
        x.model.d_mlp = 5;
        x.model.norm = "layernorm";
        x.model.qk_norm = true;
        x.model.attn_bias = true;
        x.model.positions = "learned";
        x.task.bos = true;
        x.task.supervise = "after_sep";
        v.push_back(x);
    }
    {
        Variant x{"rmsnorm, relu MLP, sinusoidal, scaled attention", m, t};
        x.model.n_heads = 2;
        x.model.d_model = 4;
        x.model.d_mlp = 3;
        x.model.act = "relu";
        x.model.norm = "rmsnorm";
        x.model.attn_scale = "inv_sqrt_d_head";
        x.model.positions = "sinusoidal";
        v.push_back(x);
    }
    {
        Variant x{"qk-norm alone, uniform numbers", m, t};
        x.model.qk_norm = true;
        x.task.numbers = "uniform";
        v.push_back(x);
    }
    return v;
}

// Max over a tensor of |analytic - numeric| / max(1, |numeric|) would hide errors in
// small gradients, so compare each element with a relative-plus-absolute bound.
bool close(double analytic, double numeric, double rel, double abs) {
    return std::abs(analytic - numeric) <= abs + rel * std::abs(numeric);
}

}  // namespace

TEST_CASE("backward matches central finite differences for every parameter", "[gradients][fd]") {
    for (const Variant& v : variants()) {
        SECTION(v.name) {
            Rng init_rng = make_stream(7, Stream::kInit);
            Rng data_rng = make_stream(7, Stream::kTrainData);
            Transformer model(v.model, v.task.seq_len, v.task.bos, 5);
            std::vector<real> params;
            init_params_random(params, model.layout(), v.model, init_rng);
            // Push parameters off their init (gains of 1, zero biases) so every term matters.
            boost::random::normal_distribution<double> jitter(0.0, 0.3);
            for (auto& p : params) p += static_cast<real>(jitter(init_rng));
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
            for (const TensorSpec& t : model.layout().tensors()) {
                for (size_t i = 0; i < t.size; ++i) {
                    const size_t j = t.offset + i;
                    const real saved = params[j];
                    params[j] = saved + h;
                    const double up = model.forward(params.data(), batch);
                    params[j] = saved - h;
                    const double down = model.forward(params.data(), batch);
                    params[j] = saved;
                    const double numeric = (up - down) / (2 * h);
                    INFO(t.name << "[" << i << "] analytic " << grads[j] << " numeric " << numeric);
                    CHECK(close(grads[j], numeric, 1e-6, 1e-8));
                }
            }
        }
    }
}
