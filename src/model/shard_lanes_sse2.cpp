// The shard-lane kernel's SSE2 entry point (shard_lanes_kernel.hpp): two lanes, which
// every x86-64 CPU has.
#include "model/shard_lanes_kernel.hpp"

namespace ctr::shard_lanes_detail {

#if defined(__x86_64__) && defined(__GNUC__)
CTR_DEFINE_GROUP(sse2, , lanes_of(16))
#endif

}  // namespace ctr::shard_lanes_detail
