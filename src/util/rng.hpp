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
