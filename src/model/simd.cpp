#include "model/simd.hpp"

#include <atomic>
#include <stdexcept>

namespace ctr {
namespace {

SimdLevel detect() {
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return SimdLevel::avx512;
    if (__builtin_cpu_supports("avx2")) return SimdLevel::avx2;
    return SimdLevel::sse2;
#else
    return SimdLevel::scalar;
#endif
}

std::atomic<int>& current() {
    static std::atomic<int> level{static_cast<int>(simd_best())};
    return level;
}

}  // namespace

SimdLevel simd_best() {
    static const SimdLevel best = detect();
    return best;
}

SimdLevel simd_level() { return static_cast<SimdLevel>(current().load(std::memory_order_relaxed)); }

void set_simd_level(SimdLevel level) {
    if (static_cast<int>(level) > static_cast<int>(simd_best()))
        throw std::invalid_argument(std::string("SIMD level ") + simd_name(level) + " is not available on this processor (best: " +
                                    simd_name(simd_best()) + ")");
    current().store(static_cast<int>(level), std::memory_order_relaxed);
}

const char* simd_name(SimdLevel level) {
    switch (level) {
        case SimdLevel::scalar: return "scalar";
        case SimdLevel::sse2: return "sse2";
        case SimdLevel::avx2: return "avx2";
        case SimdLevel::avx512: return "avx512";
    }
    return "?";
}

SimdLevel parse_simd_level(const std::string& name) {
    for (SimdLevel l : {SimdLevel::scalar, SimdLevel::sse2, SimdLevel::avx2, SimdLevel::avx512})
        if (name == simd_name(l)) return l;
    throw std::invalid_argument("unknown SIMD level '" + name + "' (expected scalar, sse2, avx2 or avx512)");
}

}  // namespace ctr
