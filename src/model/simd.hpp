#pragma once
// Which vector instructions the kernels (attention_*.cpp, shard_lanes_*.cpp, matmul.cpp)
// use, chosen at run time from what the processor offers (the build itself targets plain
// x86-64). Every level gives bit-identical results (src/model/lanes.hpp); the level only sets speed.
#include <string>

namespace ctr {

enum class SimdLevel { scalar, sse2, avx2, avx512 };

// The widest level this processor runs (scalar on other architectures).
SimdLevel simd_best();
// The level in use: simd_best() unless set_simd_level chose another.
SimdLevel simd_level();
// Use `level` from now on (tests and benchmarks compare levels); std::invalid_argument
// if the processor cannot run it.
void set_simd_level(SimdLevel level);

const char* simd_name(SimdLevel level);
// "scalar", "sse2", "avx2", "avx512"; std::invalid_argument naming the choices otherwise.
SimdLevel parse_simd_level(const std::string& name);

}  // namespace ctr
