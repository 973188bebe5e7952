// The kernels run sequences side by side in vector lanes at the width the processor
// offers (src/model/simd.hpp); every width must give the scalar code's bits. Each
// test runs at every level this machine has and compares with the scalar level.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <type_traits>
#include <vector>

#include "model/attention.hpp"
#include "model/lanes.hpp"
#include "model/matmul.hpp"
#include "helpers/simd.hpp"
#include "model/simd.hpp"
#include "model/transformer.hpp"
#include "model_variants.hpp"
#include "task/averaging.hpp"
#include "training/trainer.hpp"

using namespace ctr;
using ctr_test::available_levels;

namespace {

// Restores the level in use when a test ends, even by a failed REQUIRE.
struct LevelGuard {
    SimdLevel saved = simd_level();
    ~LevelGuard() { set_simd_level(saved); }
};

bool same_bits(const std::vector<real>& a, const std::vector<real>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(real)) == 0;
}

struct StepResult {
    real loss, loss_only;
    std::vector<real> grads, grads_loss_only, pattern, z, output;
};

StepResult run_step(Transformer& model, const std::vector<real>& params, const Batch& batch) {
    StepResult r;
    r.loss = model.forward(params.data(), batch);
    for (const BlockActivations& a : model.activations().blocks) {
        r.pattern.insert(r.pattern.end(), a.pattern.begin(), a.pattern.end());
        r.z.insert(r.z.end(), a.z.begin(), a.z.end());
    }
    r.output = model.activations().output;
    r.grads.assign(params.size(), 0);
    model.backward(params.data(), r.grads.data(), batch);
    r.loss_only = model.forward_loss_only(params.data(), batch);
    r.grads_loss_only.assign(params.size(), 0);
    model.backward(params.data(), r.grads_loss_only.data(), batch);
    return r;
}

}  // namespace

TEST_CASE("the model's exp is within one ulp of the exact value", "[simd][exp]") {
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<double> wide(-745.0, 709.7), softmax(-40.0, 0.0);
    double worst = 0, worst_x = 0;
    for (int i = 0; i < 200000; ++i) {
        const double x = i % 2 ? wide(rng) : softmax(rng);
        const long double exact = std::exp(static_cast<long double>(x));  // 64-bit mantissa
        if (exact < std::numeric_limits<double>::min()) continue;        // subnormal: below
        const double y = exp_real(static_cast<real>(x));
        const double e = static_cast<double>(exact);
        const double ulp = std::nextafter(e, INFINITY) - e;
        const double err = static_cast<double>(std::fabs(static_cast<long double>(y) - exact)) / ulp;
        if (err > worst) {
            worst = err;
            worst_x = x;
        }
    }
    INFO("worst " << worst << " ulp at x = " << worst_x);
    CHECK(worst <= 1.0);
    CHECK(worst > 0);  // the comparison saw rounding at all
    CHECK(exp_real(0) == 1);
    CHECK(exp_real(-std::numeric_limits<real>::infinity()) == 0);
    CHECK(exp_real(-746) == 0);
    CHECK(exp_real(std::numeric_limits<real>::infinity()) == std::numeric_limits<real>::infinity());
    CHECK(exp_real(710) == std::numeric_limits<real>::infinity());
    CHECK(std::isnan(exp_real(std::numeric_limits<real>::quiet_NaN())));
    // gradual underflow: exp(-740) is about 4.2e-322, a subnormal
    CHECK(std::fabs(exp_real(-740) - 4.2e-322) < 1e-323);
    CHECK(exp_real(-745.1) == std::numeric_limits<real>::denorm_min());
}

// exp_scale takes the exponent fields of 2^n1 and 2^n2 from t's bits with a logical
// shift; they must be those of the definition, n = bits(t) - bits(kRound), n1 = n >> 1
// as a signed (arithmetic) shift, n2 = n - n1, field = (n_i + kBias) << kMantBits, for
// every bit pattern of t (NaN's and those the clamps exclude too), at one lane and two.
TEST_CASE("the exp's 2^n factors: the exponent fields of n >> 1 for every bit pattern of t", "[simd][exp]") {
    using C = ExpConstants<real>;
    using I = C::Int;
    using U = std::make_unsigned_t<I>;
    static_assert(sizeof(U) == sizeof(real));
    const auto bits = [](real x) {
        U u;
        std::memcpy(&u, &x, sizeof u);
        return u;
    };
    const auto from_bits = [](U u) {
        real x;
        std::memcpy(&x, &u, sizeof x);
        return x;
    };
    const auto expected = [&](real e, real t) {
        const I n = static_cast<I>(bits(t) - bits(C::kRound));
        const I n1 = n >> 1;  // arithmetic since C++20
        const U n2 = static_cast<U>(n) - static_cast<U>(n1);
        const real s1 = from_bits((static_cast<U>(n1) + U(C::kBias)) << C::kMantBits);
        const real s2 = from_bits((n2 + U(C::kBias)) << C::kMantBits);
        return (e * s1) * s2;
    };
    std::mt19937_64 rng(11);
    std::vector<real> ts;
    for (int n = -1100; n <= 1100; ++n) ts.push_back(C::kRound + n);  // what the clamps leave, and more
    for (int i = 0; i < 100000; ++i) ts.push_back(from_bits(static_cast<U>(rng())));  // any pattern
    ts.push_back(std::numeric_limits<real>::quiet_NaN());
    ts.push_back(-std::numeric_limits<real>::quiet_NaN());
    ts.push_back(std::numeric_limits<real>::infinity());
    ts.push_back(-std::numeric_limits<real>::infinity());
    size_t differ = 0;
    for (const real e : {real(1), real(1.3), real(0.75)})
        for (size_t i = 0; i + 2 <= ts.size(); i += 2) {
            const Lanes<real, 2> t2 = {ts[i], ts[i + 1]};
            const Lanes<real, 2> y2 = exp_scale<real, 2>(Lanes<real, 2>{e, e}, t2);
            for (int k = 0; k < 2; ++k) {
                const real want = expected(e, ts[i + k]);
                const Lanes<real, 1> y1 = exp_scale<real, 1>(Lanes<real, 1>{e}, Lanes<real, 1>{ts[i + k]});
                differ += bits(y2[k]) != bits(want);
                differ += bits(y1[0]) != bits(want);
            }
        }
    CHECK(differ == 0);
}

TEST_CASE("every vector width gives the scalar bits: forward, backward, loss-only", "[simd][determinism]") {
    LevelGuard guard;
    const std::vector<SimdLevel> levels = available_levels();
    INFO("levels on this machine: " << levels.size() << ", best " << simd_name(simd_best()));
    // 13 sequences: no vector width divides it, so the one-lane tail runs too.
    for (const ctr::testing::Variant& v : ctr::testing::model_variants(9)) {
        SECTION(v.name) {
            Rng data_rng = make_stream(5, Stream::kTrainData);
            Transformer model(v.model, v.task.seq_len, v.task.bos, 13);
            const std::vector<real> params = ctr::testing::jittered_params(model, 5);
            const Batch batch = as_batch(generate_sequences(v.task, 13, data_rng));
            set_simd_level(SimdLevel::scalar);
            const StepResult ref = run_step(model, params, batch);
            for (SimdLevel l : levels) {
                set_simd_level(l);
                const StepResult r = run_step(model, params, batch);
                INFO("level " << simd_name(l));
                CHECK(std::memcmp(&r.loss, &ref.loss, sizeof(real)) == 0);
                CHECK(std::memcmp(&r.loss_only, &ref.loss_only, sizeof(real)) == 0);
                CHECK(same_bits(r.grads, ref.grads));
                CHECK(same_bits(r.grads_loss_only, ref.grads_loss_only));
                CHECK(same_bits(r.pattern, ref.pattern));
                CHECK(same_bits(r.z, ref.z));
                CHECK(same_bits(r.output, ref.output));
            }
        }
    }
}

TEST_CASE("every vector width gives the scalar bits: attention kernels with a partial query mask",
          "[simd][determinism]") {
    LevelGuard guard;
    // 21 sequences, head size 3 (no unrolled variant), 2 heads; about half the queries
    // masked, differently in each sequence, so lanes of one vector disagree.
    const int B = 21, T = 11, H = 2, Dh = 3;
    const size_t n = static_cast<size_t>(B) * T * H * Dh;
    std::mt19937_64 rng(11);
    std::normal_distribution<double> normal(0.0, 2.0);
    std::vector<real> q(n), k(n), v(n), dz(n), mask(static_cast<size_t>(B) * T);
    for (auto* x : {&q, &k, &v, &dz})
        for (real& e : *x) e = static_cast<real>(normal(rng));
    for (real& m : mask) m = rng() % 2 ? real(1) : real(0);
    struct Out {
        std::vector<real> z, pattern, dq, dk, dv;
    };
    auto run = [&](SimdLevel l, const real* query_mask) {
        set_simd_level(l);
        Out o{std::vector<real>(n, 7), std::vector<real>(static_cast<size_t>(B) * H * T * T, 0),
              std::vector<real>(n, 0.5), std::vector<real>(n, -0.25), std::vector<real>(n, 1)};
        attention_forward(o.z.data(), o.pattern.data(), q.data(), k.data(), v.data(), B, T, H, Dh, real(0.7), query_mask);
        attention_backward(o.dq.data(), o.dk.data(), o.dv.data(), dz.data(), o.pattern.data(), q.data(), k.data(),
                           v.data(), B, T, H, Dh, real(0.7), query_mask);
        return o;
    };
    for (const real* query_mask : {static_cast<const real*>(nullptr), static_cast<const real*>(mask.data())}) {
        const Out ref = run(SimdLevel::scalar, query_mask);
        for (SimdLevel l : available_levels()) {
            INFO("level " << simd_name(l) << (query_mask ? ", masked" : ""));
            const Out o = run(l, query_mask);
            CHECK(same_bits(o.z, ref.z));
            CHECK(same_bits(o.pattern, ref.pattern));
            CHECK(same_bits(o.dq, ref.dq));
            CHECK(same_bits(o.dk, ref.dk));
            CHECK(same_bits(o.dv, ref.dv));
        }
        if (query_mask) {  // a masked query: z = 0, pattern row untouched, no gradient
            for (int b = 0; b < B; ++b)
                for (int i = 0; i < T; ++i) {
                    if (mask[static_cast<size_t>(b) * T + i] != 0) continue;
                    for (int h = 0; h < H; ++h) {
                        const size_t zi = ((static_cast<size_t>(b) * T + i) * H + h) * Dh;
                        CHECK(ref.z[zi] == 0);
                        CHECK(ref.pattern[((static_cast<size_t>(b) * H + h) * T + i) * T] == 0);
                    }
                }
        }
    }
}

TEST_CASE("every vector width trains to the same parameters", "[simd][determinism]") {
    LevelGuard guard;
    Config cfg;
    cfg.seed = 4;
    cfg.train.steps = 40;
    cfg.train.batch_size = 37;
    std::vector<real> ref;
    for (SimdLevel l : available_levels()) {
        set_simd_level(l);
        Trainer trainer(cfg);
        while (!trainer.done()) trainer.train_step();
        INFO("level " << simd_name(l));
        if (ref.empty())
            ref = trainer.state().params;
        else
            CHECK(same_bits(trainer.state().params, ref));
    }
}

TEST_CASE("SIMD levels: names parse, unavailable ones are refused", "[simd]") {
    LevelGuard guard;
    for (SimdLevel l : available_levels()) CHECK(parse_simd_level(simd_name(l)) == l);
    CHECK_THROWS_WITH(parse_simd_level("avx3"), Catch::Contains("expected scalar, sse2, avx2 or avx512"));
    if (simd_best() != SimdLevel::avx512) CHECK_THROWS_AS(set_simd_level(SimdLevel::avx512), std::invalid_argument);
    set_simd_level(SimdLevel::scalar);
    CHECK(simd_level() == SimdLevel::scalar);
}

TEST_CASE("wide linear products: the plain sequential sums, at every vector width", "[simd][determinism]") {
    LevelGuard guard;
    // Sizes no vector width divides, strided rows, and both accumulate modes.
    const int N = 13, C = 7, OC = 37, is = 9, os = 41;
    std::mt19937_64 rng(3);
    std::normal_distribution<double> normal(0.0, 1.0);
    auto draw = [&](size_t n) {
        std::vector<real> v(n);
        for (real& e : v) e = static_cast<real>(normal(rng));
        return v;
    };
    const std::vector<real> x = draw(static_cast<size_t>(N) * is), W = draw(static_cast<size_t>(C) * OC),
                            bias = draw(OC), dout = draw(static_cast<size_t>(N) * os),
                            out0 = draw(static_cast<size_t>(N) * os), dx0 = draw(static_cast<size_t>(N) * is),
                            dW0 = draw(static_cast<size_t>(C) * OC), db0 = draw(OC);
    // The definition (model/matmul.hpp), one element at a time.
    std::vector<real> out_ref = out0, dx_ref = dx0, dW_ref = dW0, db_ref = db0;
    for (int n = 0; n < N; ++n)
        for (int j = 0; j < OC; ++j) {
            real s = 0;
            for (int k = 0; k < C; ++k) s += x[n * is + k] * W[k * OC + j];
            out_ref[n * os + j] = out_ref[n * os + j] + s + bias[j];
        }
    for (int n = 0; n < N; ++n)
        for (int c = 0; c < C; ++c) {
            real s = 0;
            for (int j = 0; j < OC; ++j) s += dout[n * os + j] * W[c * OC + j];
            dx_ref[n * is + c] += s;
        }
    for (int c = 0; c < C; ++c)
        for (int j = 0; j < OC; ++j) {
            real s = 0;
            for (int n = 0; n < N; ++n) s += x[n * is + c] * dout[n * os + j];
            dW_ref[c * OC + j] += s;
        }
    for (int j = 0; j < OC; ++j) {
        real s = 0;
        for (int n = 0; n < N; ++n) s += dout[n * os + j];
        db_ref[j] += s;
    }
    for (SimdLevel l : available_levels()) {
        set_simd_level(l);
        INFO("level " << simd_name(l));
        std::vector<real> out = out0, dx = dx0, dW = dW0, db = db0;
        matmul_forward(out.data(), os, x.data(), is, W.data(), bias.data(), N, C, OC, true);
        matmul_backward(dx.data(), is, dW.data(), db.data(), dout.data(), os, x.data(), W.data(), N, C, OC);
        CHECK(same_bits(out, out_ref));
        CHECK(same_bits(dx, dx_ref));
        CHECK(same_bits(dW, dW_ref));
        CHECK(same_bits(db, db_ref));
        std::vector<real> fresh = out0;  // overwrite mode, no bias: the columns outside OC stay
        matmul_forward(fresh.data(), os, x.data(), is, W.data(), nullptr, N, C, OC, false);
        for (int n = 0; n < N; ++n) {
            CHECK(fresh[n * os + OC] == out0[n * os + OC]);
            real s = 0;
            for (int k = 0; k < C; ++k) s += x[n * is + k] * W[k * OC + 3];
            CHECK(fresh[n * os + 3] == s);
        }
    }
}
