#include "task/averaging.hpp"

#include <boost/random/normal_distribution.hpp>
#include <boost/random/uniform_int_distribution.hpp>
#include <boost/random/uniform_real_distribution.hpp>
#include <numeric>
#include <stdexcept>

namespace ctr {

SequenceSet generate_sequences(const TaskConfig& cfg, int n, Rng& rng) {
    const int T = cfg.seq_len;
    SequenceSet s;
    s.n = n;
    s.T = T;
    const size_t nt = static_cast<size_t>(n) * T;
    s.kind.assign(nt, kNumber);
    s.value.assign(nt, 0);
    s.target.assign(nt, 0);
    s.supervised.assign(nt, 0);
    s.sep_pos.assign(n, 0);
    const SepRange range = sep_range(cfg);
    if (range.first > range.last)  // validate_config rejects such configs; this guards direct callers
        throw std::invalid_argument("task: no position for [SEP] leaves min_before_sep and min_after_sep numbers");
    boost::random::uniform_int_distribution<int> sep_dist(range.first, range.last);
    boost::random::normal_distribution<double> normal(0.0, 1.0);
    boost::random::uniform_real_distribution<double> uniform(-1.0, 1.0);
    const bool use_normal = cfg.numbers == NumberDist::kNormal;
    const bool all_after = cfg.supervise == Supervise::kAfterSep;

    for (int i = 0; i < n; ++i) {
        const size_t row = static_cast<size_t>(i) * T;
        const int sep = sep_dist(rng);
        s.sep_pos[i] = sep;
        if (cfg.bos) s.kind[row] = kBos;
        s.kind[row + sep] = kSep;
        double running_sum = 0;
        for (int t = cfg.bos ? 1 : 0; t < T; ++t) {
            if (t == sep) continue;
            const double x = use_normal ? normal(rng) : uniform(rng);
            s.value[row + t] = static_cast<real>(x);
            if (t > sep) {
                running_sum += static_cast<real>(x);
                s.target[row + t] = static_cast<real>(running_sum / (t - sep));
                s.supervised[row + t] = all_after || t == T - 1;
            }
        }
    }
    return s;
}

void gather_batch(const SequenceSet& set, const int* idx, int B, Batch& batch) {
    const int T = set.T;
    if (batch.B != B || batch.T != T) batch.resize(B, T);
    size_t count = 0;
    for (int b = 0; b < B; ++b) {
        const size_t src = static_cast<size_t>(idx[b]) * T, dst = static_cast<size_t>(b) * T;
        std::copy_n(set.kind.begin() + src, T, batch.kind.begin() + dst);
        std::copy_n(set.value.begin() + src, T, batch.value.begin() + dst);
        std::copy_n(set.target.begin() + src, T, batch.target.begin() + dst);
        for (int t = 0; t < T; ++t) count += set.supervised[src + t];
        batch.sep_pos[b] = set.sep_pos[idx[b]];
    }
    const real w = count > 0 ? real(1) / static_cast<real>(count) : real(0);
    for (int b = 0; b < B; ++b)
        for (int t = 0; t < T; ++t)
            batch.weight[static_cast<size_t>(b) * T + t] = set.supervised[static_cast<size_t>(idx[b]) * T + t] ? w : real(0);
}

Batch as_batch(const SequenceSet& set) {
    std::vector<int> idx(set.n);
    std::iota(idx.begin(), idx.end(), 0);
    Batch b;
    gather_batch(set, idx.data(), set.n, b);
    return b;
}

}  // namespace ctr
