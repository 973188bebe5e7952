#include "model/init.hpp"

#include <boost/random/normal_distribution.hpp>
#include <boost/random/uniform_real_distribution.hpp>
#include <cmath>

namespace ctr {

void init_params_random(std::vector<real>& params, const ParamLayout& layout, Rng& rng) {
    params.assign(layout.total(), real(0));
    boost::random::normal_distribution<double> normal(0.0, 1.0);
    // Tensors are drawn in layout order, so adding an option never reorders the draws
    // of the tensors before it.
    for (const TensorSpec& t : layout.tensors()) {
        real* p = params.data() + t.offset;
        switch (t.init) {
            case InitRule::kUniformFanIn: {
                const double bound = 1.0 / std::sqrt(static_cast<double>(t.fan_in));
                boost::random::uniform_real_distribution<double> uniform(-bound, bound);
                for (size_t i = 0; i < t.size; ++i) p[i] = static_cast<real>(uniform(rng));
                break;
            }
            case InitRule::kNormal:
                for (size_t i = 0; i < t.size; ++i) p[i] = static_cast<real>(normal(rng));
                break;
            case InitRule::kOne:
                for (size_t i = 0; i < t.size; ++i) p[i] = real(1);
                break;
            case InitRule::kZero: break;  // params start at 0
        }
    }
}

}  // namespace ctr
