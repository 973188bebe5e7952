#pragma once
// Random streams. One master seed gives independent streams for init, data and
// shuffling, so that changing how much one of them is used (say the training set
// size) never moves another (say the probe batch). Engines are std::mt19937_64,
// whose output the C++ standard fixes; distributions come from Boost.Random, whose
// algorithms (unlike std::normal_distribution's) are the same on every platform.
#include <cstdint>
#include <random>
#include <string_view>

namespace ctr {

using Rng = std::mt19937_64;

enum class Stream : uint64_t { kInit = 1, kTrainData = 2, kEvalData = 3, kProbe = 4, kShuffle = 5, kFreshData = 6 };

// SplitMix64 finaliser: spreads (seed, stream) over the engine's seed space.
inline uint64_t mix64(uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

inline Rng make_stream(uint64_t master_seed, Stream s) {
    return Rng(mix64(mix64(master_seed) ^ static_cast<uint64_t>(s)));
}

}  // namespace ctr

namespace ctr {

// boost::random::uniform_int_distribution<uint64_t>(0, n - 1)(eng) for an engine of
// 64-bit output (std::mt19937_64), n >= 2, bit for bit: the same draws, the same value,
// the same rejections. Boost divides twice per call (its bucket size 2^64-1 / n, and the
// draw by it); here bucket = bucket_of(n) is given, and for n < 2^31 the draw's quotient
// x / bucket is x * n / 2^64 or one more (bucket * n lies within n of 2^64, so the two
// differ by less than n^2 / 2^63 < 1), settled by one exact product. The epoch shuffle
// draws 8,191 of these an epoch.
inline uint64_t bucket_of(uint64_t n) {
    constexpr uint64_t brange = ~uint64_t{0};
    return brange / n + (brange % n == n - 1 ? 1 : 0);
}
template <class Engine>
uint64_t uniform_below(Engine& eng, uint64_t n, uint64_t bucket) {
    static_assert(Engine::min() == 0 && Engine::max() == ~uint64_t{0}, "an engine of 64 random bits");
    for (;;) {
        const uint64_t x = eng();
        uint64_t q;
        if (n < (uint64_t{1} << 31)) {
            q = static_cast<uint64_t>((static_cast<unsigned __int128>(x) * n) >> 64);
            if (static_cast<unsigned __int128>(q + 1) * bucket <= x) ++q;
        } else {
            q = x / bucket;
        }
        if (q < n) return q;
    }
}

}  // namespace ctr
