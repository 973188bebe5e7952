// The shard-lane kernel's one-lane entry point (shard_lanes_kernel.hpp): the fallback off
// x86-64, and the reference the tests compare every width with. Compiled at -O2
// (CMakeLists.txt): at -O3 GCC spends 80 s of one core on this one instantiation, five
// times what -O2 takes, and the optimisation level cannot change the bits (no FMA
// contraction, no fast-math), only this rarely used path's speed.
#include "model/shard_lanes_kernel.hpp"

namespace ctr::shard_lanes_detail {

CTR_DEFINE_GROUP(scalar, , 1)

}  // namespace ctr::shard_lanes_detail
