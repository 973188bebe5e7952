// The shard-lane kernel's AVX-512 entry points (shard_lanes_kernel.hpp): one group of 8
// lanes, or two groups of 4 for two threads (shard_lanes.cpp).
#include "model/shard_lanes_kernel.hpp"

namespace ctr::shard_lanes_detail {

#if defined(__x86_64__) && defined(__GNUC__)
CTR_DEFINE_GROUP(avx512, __attribute__((target("avx512f"))), lanes_of(64))
CTR_DEFINE_GROUP(avx512_half, __attribute__((target("avx512f"))), lanes_of(64) / 2)
#endif

}  // namespace ctr::shard_lanes_detail
