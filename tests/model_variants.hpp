#pragma once
// The architecture variants the model tests run over, and parameters pushed off their
// init (gains of 1, zero biases) so that every term of a backward pass matters.
#include <boost/random/normal_distribution.hpp>
#include <catch2/catch.hpp>
#include <cmath>
#include <string>
#include <vector>

#include "model/init.hpp"
#include "model/transformer.hpp"

namespace ctr::testing {

struct Variant {
    std::string name;
    ModelConfig model;
    TaskConfig task;
};

// Every option of the model appears in at least one variant, and both loss modes.
inline std::vector<Variant> model_variants(int seq_len) {
    std::vector<Variant> v;
    ModelConfig m;
    TaskConfig t;
    t.seq_len = seq_len;
    v.push_back({"paper minimal", m, t});
    {
        Variant x{"minimal, loss after sep", m, t};
        x.task.supervise = ctr::Supervise::kAfterSep;
        v.push_back(x);
    }
    {
        Variant x{"full: 3 layers, 2 heads, gelu MLP, layernorm, qk-norm, learned pos, bos, biases", m, t};
        x.model.n_layers = 3;
        x.model.n_heads = 2;
        x.model.d_model = 4;
        x.model.d_head = 3;
        x.model.d_mlp = 5;
        x.model.norm = ctr::Norm::kLayerNorm;
        x.model.qk_norm = true;
        x.model.attn_bias = true;
        x.model.positions = ctr::Positions::kLearned;
        x.task.bos = true;
        x.task.supervise = ctr::Supervise::kAfterSep;
        v.push_back(x);
    }
    {
        Variant x{"rmsnorm, relu MLP, sinusoidal, scaled attention", m, t};
        x.model.n_heads = 2;
        x.model.d_model = 4;
        x.model.d_mlp = 3;
        x.model.act = ctr::Activation::kRelu;
        x.model.norm = ctr::Norm::kRmsNorm;
        x.model.attn_scale = ctr::AttnScale::kInvSqrtDHead;
        x.model.positions = ctr::Positions::kSinusoidal;
        v.push_back(x);
    }
    {
        Variant x{"qk-norm alone, uniform numbers", m, t};
        x.model.qk_norm = true;
        x.task.numbers = ctr::NumberDist::kUniform;
        v.push_back(x);
    }
    return v;
}

inline std::vector<real> jittered_params(const Transformer& model, uint64_t seed) {
    Rng rng = make_stream(seed, Stream::kInit);
    std::vector<real> params;
    init_params_random(params, model.layout(), rng);
    boost::random::normal_distribution<double> jitter(0.0, 0.3);
    for (auto& p : params) p += static_cast<real>(jitter(rng));
    return params;
}

// Central differences in float64 on every parameter against grads (from backward on the
// same batch). Each element must agree to 1e-8 absolute plus 1e-6 relative, tight enough
// that a wrong term in any backward fails (docs/model.md).
inline void check_param_gradients_fd(Transformer& model, std::vector<real>& params, const Batch& batch,
                                     const std::vector<real>& grads) {
    const double h = 1e-6;
    for (const TensorSpec& t : model.layout().tensors())
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
            CHECK(std::abs(grads[j] - numeric) <= 1e-8 + 1e-6 * std::abs(numeric));
        }
}

}  // namespace ctr::testing
