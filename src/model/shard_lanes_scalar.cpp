// The shard-lane kernel's entry points without an instruction-set target: one lane, and
// on x86-64 the SSE2 pair every such CPU has (shard_lanes_kernel.hpp).
#include "model/shard_lanes_kernel.hpp"

namespace ctr::shard_lanes_detail {

CTR_DEFINE_GROUP(scalar, , 1)
#if defined(__x86_64__) && defined(__GNUC__)
CTR_DEFINE_GROUP(sse2, , lanes_of(16))
#endif

}  // namespace ctr::shard_lanes_detail
