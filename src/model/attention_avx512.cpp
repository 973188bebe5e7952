// The attention kernels' AVX-512 entry points (attention_kernel.hpp), run where the CPU
// has AVX-512 (model/simd.hpp).
#include "model/attention_kernel.hpp"

namespace ctr::attention_detail {

#if defined(__x86_64__) && defined(__GNUC__)
CTR_DEFINE_LEVEL(avx512, __attribute__((target("avx512f"))), 64)
#endif

}  // namespace ctr::attention_detail
