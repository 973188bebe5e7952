#pragma once
// Parameters live in one contiguous buffer; each named tensor is a view into it, so
// the optimizer, gradient clipping and checkpoints all see one flat array.
// Names and shapes follow TransformerLens (blocks.{l}.attn.W_Q is [n_heads, d_model, d_head]).
#include <cstddef>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "util/real.hpp"

namespace ctr {

// How init_params_random (model/init.hpp) sets a tensor, after PyTorch's default for
// the layer it stands in for.
enum class InitRule {
    kZero,           // biases
    kOne,            // norm gains
    kNormal,         // N(0, 1), as nn.Embedding
    kUniformFanIn,   // U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as nn.Linear
};

// One named tensor of the flat buffer, described where the layout creates it: the
// run file takes its axis names from here and init its rule.
struct TensorSpec {
    std::string name;             // e.g. "blocks.0.attn.W_Q"
    std::vector<int> shape;       // row-major
    std::string axes;             // one name per axis, comma-separated, e.g. "head,d_model,d_head"
    InitRule init = InitRule::kZero;
    int fan_in = 0;               // kUniformFanIn only
    size_t offset = 0;            // into the flat buffer
    size_t size = 0;              // product of shape
};

// Offsets of every tensor of one block; SIZE_MAX marks a tensor the config leaves out.
struct BlockOffsets {
    size_t ln1_w, ln1_b;                 // [d_model]
    size_t W_Q, W_K, W_V;                // [n_heads, d_model, d_head]
    size_t W_O;                          // [n_heads, d_head, d_model]
    size_t b_Q, b_K, b_V;                // [n_heads, d_head]
    size_t b_O;                          // [d_model]
    size_t q_norm_w, k_norm_w;           // [d_head]
    size_t ln2_w, ln2_b;                 // [d_model]
    size_t W_in;                         // [d_model, d_mlp]
    size_t b_in;                         // [d_mlp]
    size_t W_out;                        // [d_mlp, d_model]
    size_t b_out;                        // [d_model]
};

constexpr size_t kAbsent = static_cast<size_t>(-1);

class ParamLayout {
public:
    // n_ctx: the longest sequence (rows of W_pos); bos: whether [BOS] has a vector.
    ParamLayout(const ModelConfig& cfg, int n_ctx, bool bos);

    size_t total() const { return total_; }
    const std::vector<TensorSpec>& tensors() const { return tensors_; }
    const TensorSpec* find(const std::string& name) const;  // nullptr when absent

    // Offsets of the tensors outside the blocks.
    size_t w_num, b_num;      // [d_model]: a number x enters as x * w_num + b_num
    size_t e_sep, e_bos;      // [d_model]; e_bos only with task.bos
    size_t W_pos;             // [n_ctx, d_model]
    size_t ln_final_w, ln_final_b;  // [d_model]
    size_t W_U;               // [d_model]: readout to one scalar
    size_t b_U;               // [1]
    std::vector<BlockOffsets> blocks;

private:
    size_t add(const std::string& name, std::vector<int> shape, std::string axes, InitRule init, int fan_in = 0);
    std::vector<TensorSpec> tensors_;
    size_t total_ = 0;
};

}  // namespace ctr
