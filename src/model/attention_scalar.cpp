// The attention kernels' entry points without an instruction-set target: one lane, and
// on x86-64 the SSE2 pair every such CPU has (attention_kernel.hpp).
#include "model/attention_kernel.hpp"

namespace ctr::attention_detail {

CTR_DEFINE_LEVEL(scalar, , sizeof(real))
#if defined(__x86_64__) && defined(__GNUC__)
CTR_DEFINE_LEVEL(sse2, , 16)
#endif

}  // namespace ctr::attention_detail
