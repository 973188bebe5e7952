#include "model/init.hpp"

#include <boost/random/normal_distribution.hpp>
#include <boost/random/uniform_real_distribution.hpp>
#include <cmath>
#include <string>

namespace ctr {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

void init_params_random(std::vector<real>& params, const ParamLayout& layout, const ModelConfig& cfg, Rng& rng) {
    params.assign(layout.total(), real(0));
    boost::random::normal_distribution<double> normal(0.0, 1.0);
    // Tensors are drawn in layout order, so adding an option never reorders the draws
    // of the tensors before it.
    for (const TensorSpec& t : layout.tensors()) {
        real* p = params.data() + t.offset;
        const std::string& n = t.name;
        double fan_in = 0;
        if (ends_with(n, "W_Q") || ends_with(n, "W_K") || ends_with(n, "W_V") || ends_with(n, "W_in") ||
            ends_with(n, "W_U"))
            fan_in = cfg.d_model;
        else if (ends_with(n, "W_O"))
            fan_in = cfg.d_head;
        else if (ends_with(n, "W_out"))
            fan_in = cfg.d_mlp;

        if (fan_in > 0) {
            const double bound = 1.0 / std::sqrt(fan_in);
            boost::random::uniform_real_distribution<double> uniform(-bound, bound);
            for (size_t i = 0; i < t.size; ++i) p[i] = static_cast<real>(uniform(rng));
        } else if (n.rfind("embed.", 0) == 0 || n.rfind("pos_embed.", 0) == 0) {
            for (size_t i = 0; i < t.size; ++i) p[i] = static_cast<real>(normal(rng));
        } else if (ends_with(n, ".w")) {
            for (size_t i = 0; i < t.size; ++i) p[i] = real(1);
        }  // biases stay 0
    }
}

}  // namespace ctr
