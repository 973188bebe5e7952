// The attention kernels' AVX2 entry points (attention_kernel.hpp), run where the CPU has
// AVX2 (model/simd.hpp).
#include "model/attention_kernel.hpp"

namespace ctr::attention_detail {

#if defined(__x86_64__) && defined(__GNUC__)
CTR_DEFINE_LEVEL(avx2, __attribute__((target("avx2"))), 32)
#endif

}  // namespace ctr::attention_detail
