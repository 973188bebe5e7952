// The shard-lane kernel's one-lane entry point (shard_lanes_kernel.hpp): the training
// step off x86-64, and there the reference the tests compare every width with. On x86-64
// it is compiled at -O2 (CMakeLists.txt): at -O3 GCC spends 80 s of one core on this one
// instantiation, five times what -O2 takes, and the optimisation level cannot change the
// bits (no FMA contraction, no fast-math), only the speed of a path no x86-64 run takes.
#include "model/shard_lanes_kernel.hpp"

namespace ctr::shard_lanes_detail {

CTR_DEFINE_GROUP(scalar, , 1)

}  // namespace ctr::shard_lanes_detail
