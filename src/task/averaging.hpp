#pragma once
// The paper's sequence-averaging task: numbers and one [SEP] (optionally [BOS] at
// position 0); the target at a position t after [SEP] is the mean of the numbers at
// s+1..t. See ../docs/task.md.
#include <vector>

#include "config/config.hpp"
#include "task/batch.hpp"
#include "util/rng.hpp"

namespace ctr {

// n sequences of length T, stored row by row.
struct SequenceSet {
    int n = 0, T = 0;
    std::vector<int> kind;         // (n, T) TokenKind
    std::vector<real> value;       // (n, T)
    std::vector<real> target;      // (n, T)
    std::vector<unsigned char> supervised;  // (n, T) 1 where the loss looks
    std::vector<int> sep_pos;      // (n)
};

// Draws n sequences from rng: for each, the [SEP] position, then its numbers in order.
SequenceSet generate_sequences(const TaskConfig& cfg, int n, Rng& rng);

// Copies the rows idx[0..B) of set into batch and sets the loss weights so the loss is
// the mean squared error over the batch's supervised positions.
void gather_batch(const SequenceSet& set, const int* idx, int B, Batch& batch);

// The whole set as one batch, in order.
Batch as_batch(const SequenceSet& set);

}  // namespace ctr
