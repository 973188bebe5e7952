// The shard-lane kernel's AVX2 entry point (shard_lanes_kernel.hpp), run where the CPU
// has AVX2 (model/simd.hpp).
#include "model/shard_lanes_kernel.hpp"

namespace ctr::shard_lanes_detail {

#if defined(__x86_64__) && defined(__GNUC__)
CTR_DEFINE_GROUP(avx2, __attribute__((target("avx2"))), lanes_of(32))
#endif

}  // namespace ctr::shard_lanes_detail
