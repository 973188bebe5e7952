#pragma once
// One batch of the averaging task, as the model and the loss see it.
#include <vector>

#include "util/real.hpp"

namespace ctr {

enum TokenKind : int { kNumber = 0, kSep = 1, kBos = 2 };

struct Batch {
    int B = 0, T = 0;
    std::vector<int> kind;        // (B, T) TokenKind
    std::vector<real> value;      // (B, T) the number; 0 for [SEP] and [BOS]
    std::vector<real> target;     // (B, T) mean of the numbers after [SEP] up to t; 0 where undefined
    std::vector<real> weight;     // (B, T) loss weight: 1/n_supervised where supervised, else 0
    std::vector<int> sep_pos;     // (B)

    void resize(int b, int t) {
        B = b;
        T = t;
        const size_t n = static_cast<size_t>(b) * t;
        kind.assign(n, kNumber);
        value.assign(n, 0);
        target.assign(n, 0);
        weight.assign(n, 0);
        sep_pos.assign(b, 0);
    }
};

}  // namespace ctr
