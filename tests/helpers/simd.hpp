#pragma once
// The SIMD levels this processor runs, narrowest first: the tests that compare levels
// bit for bit run each of them.
#include <vector>

#include "model/simd.hpp"

namespace ctr_test {

inline std::vector<ctr::SimdLevel> available_levels() {
    using ctr::SimdLevel;
    std::vector<SimdLevel> levels;
    for (SimdLevel l : {SimdLevel::scalar, SimdLevel::sse2, SimdLevel::avx2, SimdLevel::avx512})
        if (static_cast<int>(l) <= static_cast<int>(ctr::simd_best())) levels.push_back(l);
    return levels;
}

}  // namespace ctr_test
