// Causal attention: every row of the pattern is a distribution over the keys at or before
// the query and exactly zero after it; a sequence of one token works; huge logits (what a
// sink pushes towards) keep everything finite.
#include <boost/random/normal_distribution.hpp>
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <utility>
#include <string>
#include <vector>

#include "model/init.hpp"
#include "model/layers.hpp"
#include "model/transformer.hpp"
#include "model_variants.hpp"
#include "task/averaging.hpp"

using namespace ctr;
using ctr::testing::jittered_params;
using ctr::testing::Variant;

namespace {

bool all_finite(const real* x, size_t n) {
    for (size_t i = 0; i < n; ++i)
        if (!std::isfinite(x[i])) return false;
    return true;
}
bool all_finite(const std::vector<real>& x) { return all_finite(x.data(), x.size()); }

// Rows of pattern (B, H, T, T): non-negative, summing to 1 up to the diagonal, exactly 0 after.
void check_pattern(const real* pattern, int B, int H, int T) {
    for (int b = 0; b < B; ++b)
        for (int h = 0; h < H; ++h)
            for (int i = 0; i < T; ++i) {
                const real* p = pattern + ((static_cast<size_t>(b) * H + h) * T + i) * T;
                INFO("batch " << b << " head " << h << " query " << i);
                double sum = 0;
                bool causal_ok = true, nonneg = true;
                for (int j = 0; j < T; ++j) {
                    if (j <= i) {
                        sum += p[j];
                        nonneg = nonneg && p[j] >= 0 && std::isfinite(p[j]);
                    } else {
                        causal_ok = causal_ok && p[j] == real(0);
                    }
                }
                CHECK(nonneg);
                CHECK(causal_ok);
                CHECK(std::abs(sum - 1.0) <= 16 * std::numeric_limits<real>::epsilon() * (i + 1));
            }
}

}  // namespace

TEST_CASE("attention_forward: rows are causal distributions and z = pattern @ v", "[attention]") {
    const int B = 3, T = 7, H = 2, Dh = 4;
    const size_t n = static_cast<size_t>(B) * T * H * Dh;
    Rng rng = make_stream(3, Stream::kInit);
    boost::random::normal_distribution<double> normal(0.0, 2.0);
    std::vector<real> q(n), k(n), v(n);
    for (auto* x : {&q, &k, &v})
        for (auto& e : *x) e = static_cast<real>(normal(rng));
    // Garbage in z first: the kernel must write all of it. The pattern starts at zero: the
    // kernel need only write key <= query (layers.hpp), the model keeps the rest zero.
    std::vector<real> z(n, std::numeric_limits<real>::quiet_NaN());
    std::vector<real> pattern(static_cast<size_t>(B) * H * T * T, real(0));
    const real scale = real(0.7);
    attention_forward(z.data(), pattern.data(), q.data(), k.data(), v.data(), B, T, H, Dh, scale);
    check_pattern(pattern.data(), B, H, T);

    // The pattern is the softmax of the causal logits, and z mixes the values with it.
    for (int b = 0; b < B; ++b)
        for (int h = 0; h < H; ++h)
            for (int i = 0; i < T; ++i) {
                const auto at = [&](const std::vector<real>& x, int t, int d) {
                    return static_cast<double>(x[((static_cast<size_t>(b) * T + t) * H + h) * Dh + d]);
                };
                std::vector<double> logit(static_cast<size_t>(i) + 1);
                double maxv = -1e300, sum = 0;
                for (int j = 0; j <= i; ++j) {
                    double s = 0;
                    for (int d = 0; d < Dh; ++d) s += at(q, i, d) * at(k, j, d);
                    logit[static_cast<size_t>(j)] = s * scale;
                    maxv = std::max(maxv, logit[static_cast<size_t>(j)]);
                }
                for (double& l : logit) sum += std::exp(l - maxv);
                const real* p = pattern.data() + ((static_cast<size_t>(b) * H + h) * T + i) * T;
                for (int j = 0; j <= i; ++j)
                    CHECK(p[j] == Approx(std::exp(logit[static_cast<size_t>(j)] - maxv) / sum).epsilon(1e-12));
                for (int d = 0; d < Dh; ++d) {
                    double zd = 0;
                    for (int j = 0; j <= i; ++j) zd += p[j] * at(v, j, d);
                    CHECK(at(z, i, d) == Approx(zd).epsilon(1e-12).margin(1e-14));
                }
            }
}

TEST_CASE("model attention patterns are causal distributions", "[attention]") {
    for (const Variant& v : ctr::testing::model_variants(9)) {
        SECTION(v.name) {
            // A workspace longer than the batch's sequences, so stale rows would show.
            Transformer model(v.model, v.task.seq_len + 2, v.task.bos, 6);
            const std::vector<real> params = jittered_params(model, 5);
            Rng data_rng = make_stream(5, Stream::kTrainData);
            const Batch batch = as_batch(generate_sequences(v.task, 6, data_rng));
            model.forward(params.data(), batch);
            for (const BlockActivations& a : model.activations().blocks)
                check_pattern(a.pattern.data(), batch.B, v.model.n_heads, batch.T);
        }
    }
}

TEST_CASE("patterns stay causal when the batch shape changes between calls", "[attention]") {
    // The pattern buffer is reused across forward calls; whatever a call with another
    // (B, T) left behind must not show above the diagonal of the next one.
    for (const Variant& v : ctr::testing::model_variants(9)) {
        SECTION(v.name) {
            const int n_ctx = v.task.seq_len;
            Transformer model(v.model, n_ctx, v.task.bos, 6);
            const std::vector<real> params = jittered_params(model, 13);
            const std::pair<int, int> shapes[] = {{6, n_ctx}, {6, 4}, {2, n_ctx}, {5, n_ctx - 1}, {6, n_ctx}, {3, 5}};
            uint64_t seed = 100;
            for (const auto& [B, T] : shapes) {
                INFO("B " << B << " T " << T);
                TaskConfig task = v.task;
                task.seq_len = T;
                Rng data_rng = make_stream(seed++, Stream::kTrainData);
                const Batch batch = as_batch(generate_sequences(task, B, data_rng));
                model.forward(params.data(), batch);
                for (const BlockActivations& a : model.activations().blocks)
                    check_pattern(a.pattern.data(), B, v.model.n_heads, T);
            }
        }
    }
}

TEST_CASE("a sequence of length 1 works", "[attention]") {
    for (const Variant& v : ctr::testing::model_variants(9)) {
        for (const int n_ctx : {1, 5}) {
            SECTION(v.name + ", n_ctx " + std::to_string(n_ctx)) {
                const int B = 3;
                Transformer model(v.model, n_ctx, v.task.bos, B);
                std::vector<real> params = jittered_params(model, 9);
                Batch batch;
                batch.resize(B, 1);
                for (int b = 0; b < B; ++b) {
                    batch.value[static_cast<size_t>(b)] = real(0.5) * (b - 1) + real(0.2);
                    batch.target[static_cast<size_t>(b)] = real(0.3) * b;
                    batch.weight[static_cast<size_t>(b)] = real(1) / B;
                }
                if (v.task.bos) batch.kind[0] = kBos;  // one [BOS]-only and one [SEP]-only sequence
                batch.kind[1] = kSep;

                const real loss = model.forward(params.data(), batch);
                CHECK(std::isfinite(loss));
                const Activations& acts = model.activations();
                CHECK(all_finite(acts.output.data(), static_cast<size_t>(B)));
                const int H = v.model.n_heads, Dh = v.model.d_head;
                for (const BlockActivations& a : acts.blocks) {
                    for (int i = 0; i < B * H; ++i) CHECK(a.pattern[static_cast<size_t>(i)] == real(1));
                    for (int i = 0; i < B * H * Dh; ++i) CHECK(a.z[static_cast<size_t>(i)] == a.v[static_cast<size_t>(i)]);
                }

                std::vector<real> grads(params.size(), real(0));
                model.backward(params.data(), grads.data(), batch);
                CHECK(all_finite(grads));
                // With one key the softmax is constant: nothing flows into queries or keys.
                for (const TensorSpec& t : model.layout().tensors()) {
                    const std::string& n = t.name;
                    const bool qk = n.find("W_Q") != std::string::npos || n.find("W_K") != std::string::npos ||
                                    n.find("b_Q") != std::string::npos || n.find("b_K") != std::string::npos ||
                                    n.find("q_norm") != std::string::npos || n.find("k_norm") != std::string::npos;
                    if (!qk) continue;
                    INFO(n);
                    for (size_t i = 0; i < t.size; ++i) CHECK(grads[t.offset + i] == real(0));
                }
                // The other gradients agree with central differences.
                ctr::testing::check_param_gradients_fd(model, params, batch, grads);
            }
        }
    }
}

TEST_CASE("huge attention logits stay finite", "[attention]") {
    for (const Variant& v : ctr::testing::model_variants(9)) {
        for (const double factor : {1e6, -1e6}) {
            SECTION(v.name + (factor > 0 ? ", query x 1e6" : ", query x -1e6")) {
                Transformer model(v.model, v.task.seq_len, v.task.bos, 6);
                std::vector<real> params = jittered_params(model, 11);
                // Blow up the logits: scale the query side by factor (its sign flips them) and
                // the key side by |factor|; under QK-norm the scale of q and k comes from the
                // norm gains, so those are scaled too.
                for (const TensorSpec& t : model.layout().tensors()) {
                    const std::string& n = t.name;
                    const bool query = n.find("W_Q") != std::string::npos || n.find("b_Q") != std::string::npos ||
                                       n.find("q_norm.w") != std::string::npos;
                    const bool key = n.find("W_K") != std::string::npos || n.find("b_K") != std::string::npos ||
                                     n.find("k_norm.w") != std::string::npos;
                    const double f = query ? factor : key ? std::abs(factor) : 1.0;
                    for (size_t i = 0; i < t.size; ++i) params[t.offset + i] *= static_cast<real>(f);
                }
                Rng data_rng = make_stream(11, Stream::kTrainData);
                const Batch batch = as_batch(generate_sequences(v.task, 6, data_rng));

                const real loss = model.forward(params.data(), batch);
                CHECK(std::isfinite(loss));
                const Activations& acts = model.activations();
                const size_t N = static_cast<size_t>(batch.B) * batch.T;
                CHECK(all_finite(acts.output.data(), N));
                // The logits really are huge: most rows have put (almost) all their mass on one key.
                size_t rows = 0, one_hot = 0;
                for (const BlockActivations& a : acts.blocks) {
                    check_pattern(a.pattern.data(), batch.B, v.model.n_heads, batch.T);
                    for (size_t r = 0; r < static_cast<size_t>(batch.B) * v.model.n_heads * batch.T; ++r) {
                        const real* p = a.pattern.data() + r * batch.T;
                        real mx = 0;
                        for (int j = 0; j < batch.T; ++j) mx = std::max(mx, p[j]);
                        rows += 1;
                        one_hot += mx > real(0.999);
                    }
                    CHECK(all_finite(a.z.data(), N * v.model.n_heads * v.model.d_head));
                    CHECK(all_finite(a.resid_post.data(), N * v.model.d_model));
                }
                CHECK(one_hot * 10 >= rows * 9);

                std::vector<real> grads(params.size(), real(0));
                model.backward(params.data(), grads.data(), batch);
                for (const TensorSpec& t : model.layout().tensors()) {
                    INFO(t.name);
                    CHECK(all_finite(grads.data() + t.offset, t.size));
                }
                CHECK(all_finite(model.dembed().data(), N * v.model.d_model));
            }
        }
    }
}

TEST_CASE("attention kernels stay finite at extreme logits", "[attention]") {
    // Logits of +-1e12 and ties between them, straight into the kernels.
    const int B = 1, T = 5, H = 1, Dh = 2;
    std::vector<real> q = {1e6, 0, -1e6, 0, 1e6, 1e6, 0, 0, 3e5, -2e6};
    std::vector<real> k = {1e6, 0, 1e6, 0, -1e6, 1e6, 0, 1e6, 1e6, 1e6};
    std::vector<real> v = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    std::vector<real> z(q.size()), pattern(static_cast<size_t>(T) * T);
    attention_forward(z.data(), pattern.data(), q.data(), k.data(), v.data(), B, T, H, Dh, real(1));
    check_pattern(pattern.data(), B, H, T);
    CHECK(all_finite(z));
    std::vector<real> dz(q.size(), real(1)), dq(q.size(), 0), dk(q.size(), 0), dv(q.size(), 0);
    attention_backward(dq.data(), dk.data(), dv.data(), dz.data(), pattern.data(), q.data(), k.data(), v.data(),
                       B, T, H, Dh, real(1));
    CHECK(all_finite(dq));
    CHECK(all_finite(dk));
    CHECK(all_finite(dv));
}
