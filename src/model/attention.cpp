#include "model/attention.hpp"

#include <vector>

#include "model/attention_levels.hpp"
#include "model/simd.hpp"

namespace ctr {

using namespace attention_detail;

size_t attention_scratch_size(int T, int Dh) {
    return (7 * static_cast<size_t>(T) * Dh + 2 * static_cast<size_t>(T)) * kMaxLanes + kMaxLanes;
}

void attention_forward(real* z, real* pattern, const real* q, const real* k, const real* v, int B, int T, int H,
                       int Dh, real scale, const real* query_mask, real* scratch, PatternLayout layout) {
    std::vector<real> own;
    if (!scratch) {
        own.resize(attention_scratch_size(T, Dh));
        scratch = own.data();
    }
    switch (simd_level()) {
#if defined(__x86_64__) && defined(__GNUC__)
        case SimdLevel::avx512: return forward_avx512(z, pattern, q, k, v, B, T, H, Dh, scale, query_mask, scratch, layout);
        case SimdLevel::avx2: return forward_avx2(z, pattern, q, k, v, B, T, H, Dh, scale, query_mask, scratch, layout);
        case SimdLevel::sse2: return forward_sse2(z, pattern, q, k, v, B, T, H, Dh, scale, query_mask, scratch, layout);
#endif
        default: return forward_scalar(z, pattern, q, k, v, B, T, H, Dh, scale, query_mask, scratch, layout);
    }
}

void attention_backward(real* dq, real* dk, real* dv, const real* dz, const real* pattern, const real* q,
                        const real* k, const real* v, int B, int T, int H, int Dh, real scale,
                        const real* query_mask, real* scratch, PatternLayout layout, bool add_to) {
    std::vector<real> own;
    if (!scratch) {
        own.resize(attention_scratch_size(T, Dh));
        scratch = own.data();
    }
    switch (simd_level()) {
#if defined(__x86_64__) && defined(__GNUC__)
        case SimdLevel::avx512:
            return backward_avx512(dq, dk, dv, dz, pattern, q, k, v, B, T, H, Dh, scale, query_mask, scratch, layout, add_to);
        case SimdLevel::avx2:
            return backward_avx2(dq, dk, dv, dz, pattern, q, k, v, B, T, H, Dh, scale, query_mask, scratch, layout, add_to);
        case SimdLevel::sse2:
            return backward_sse2(dq, dk, dv, dz, pattern, q, k, v, B, T, H, Dh, scale, query_mask, scratch, layout, add_to);
#endif
        default: return backward_scalar(dq, dk, dv, dz, pattern, q, k, v, B, T, H, Dh, scale, query_mask, scratch, layout, add_to);
    }
}

}  // namespace ctr
