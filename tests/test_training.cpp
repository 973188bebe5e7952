// ctr::Trainer on its own (no run file): determinism, learning, the paper's minimal
// setting solved by a known seed, and the independence of the random streams.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "config/load.hpp"
#include "training/trainer.hpp"

using namespace ctr;

namespace {

std::string minimal_yaml() { return std::string(CTR_SOURCE_DIR) + "/configs/minimal.yaml"; }

// The minimal model on a small task: quick to train.
Config small_config(std::vector<std::string> extra = {}) {
    std::vector<std::string> ov = {"task.train_size=512", "train.batch_size=64", "task.eval_size=256",
                                   "task.probe_size=8",   "train.steps=120"};
    ov.insert(ov.end(), extra.begin(), extra.end());
    return config_from_overrides(ov);
}

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
    return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

std::vector<double> train_all(Trainer& t) {
    std::vector<double> losses;
    while (!t.done()) losses.push_back(t.train_step().loss);
    return losses;
}

bool same_batch(const Batch& a, const Batch& b) {
    return a.B == b.B && a.T == b.T && a.kind == b.kind && same_bits(a.value, b.value) &&
           same_bits(a.target, b.target) && same_bits(a.weight, b.weight) && a.sep_pos == b.sep_pos;
}

}  // namespace

TEST_CASE("the same config and seed train to bit-identical parameters", "[training]") {
    for (const char* optimizer : {"adamw", "sgd"}) {
        INFO("optimizer " << optimizer);
        const Config cfg = small_config({std::string("train.optimizer=") + optimizer, "seed=7", "train.grad_clip=1.0"});
        Trainer a(cfg), b(cfg);
        const std::vector<double> la = train_all(a), lb = train_all(b);
        REQUIRE(la.size() == 120);
        CHECK(same_bits(la, lb));
        CHECK(same_bits(a.state().params, b.state().params));
        CHECK(same_bits(a.state().opt.m, b.state().opt.m));
        CHECK(same_bits(a.state().opt.v, b.state().opt.v));
        CHECK(a.state().order == b.state().order);
        const EvalStats ea = a.evaluate(), eb = b.evaluate();
        CHECK(std::memcmp(&ea.loss, &eb.loss, sizeof(double)) == 0);
    }
}

TEST_CASE("a Trainer continued from a copied TrainState equals one that never stopped", "[training]") {
    // What a checkpoint must hold: a fresh Trainer given the state after 50 steps
    // (mid-epoch: 8 batches per epoch) continues exactly like the original.
    const Config cfg = small_config({"seed=3"});
    Trainer straight(cfg);
    train_all(straight);

    Trainer first(cfg);
    for (int i = 0; i < 50; ++i) first.train_step();
    Trainer second(cfg);
    second.state() = first.state();
    train_all(second);
    CHECK(second.state().step == 120);
    CHECK(same_bits(second.state().params, straight.state().params));
    CHECK(same_bits(second.state().opt.m, straight.state().opt.m));
    CHECK(same_bits(second.state().opt.v, straight.state().opt.v));
}

TEST_CASE("a short run lowers the eval loss", "[training]") {
    const Config cfg = small_config({"seed=4", "train.steps=200"});
    Trainer t(cfg);
    const EvalStats before = t.evaluate();
    train_all(t);
    const EvalStats after = t.evaluate();
    INFO("eval loss " << before.loss << " -> " << after.loss << ", rel_error " << before.rel_error << " -> "
                      << after.rel_error);
    CHECK(std::isfinite(after.loss));
    CHECK(after.loss < 0.7 * before.loss);
    CHECK(after.rel_error < before.rel_error);
}

TEST_CASE("the minimal config with seed 4 solves the task in its 1600 steps", "[training][minimal]") {
    // configs/minimal.yaml is the paper's setting: 50 epochs of 8192 sequences in batches
    // of 256. Seeds 4, 5 and 9 reach a relative error below 1e-2; seeds 0-3 stall near
    // 0.4-0.6, so this also pins the random streams of init, data and shuffling.
    const Config cfg = load_config(minimal_yaml(), {"seed=4"});
    Trainer t(cfg);
    REQUIRE(t.total_steps() == 1600);
    train_all(t);
    const EvalStats e = t.evaluate();
    INFO("eval loss " << e.loss << ", rel_error " << e.rel_error);
    CHECK(e.rel_error < 1e-2);
    CHECK(e.rel_error > 0);
}

TEST_CASE("a different seed gives different parameters", "[training]") {
    Trainer a(small_config({"seed=1"})), b(small_config({"seed=2"}));
    CHECK_FALSE(same_bits(a.state().params, b.state().params));  // at init
    CHECK_FALSE(same_batch(a.probe_batch(), b.probe_batch()));
    train_all(a);
    train_all(b);
    CHECK_FALSE(same_bits(a.state().params, b.state().params));
    // Seeds far apart in value still get unrelated streams (the largest seed included).
    Trainer c(small_config({"seed=18446744073709551615"}));
    CHECK_FALSE(same_bits(a.state().params, c.state().params));
}

TEST_CASE("the probe batch, eval set and init do not move when task.train_size changes", "[training]") {
    // Each of init, training data, eval data, probe batch and shuffling has its own
    // stream: a longer training set (or fresh data every step) draws more from its own
    // stream only.
    const Config base = small_config({"seed=5", "task.train_size=1024"});
    Trainer t1024(base);
    Trainer t2048(small_config({"seed=5", "task.train_size=2048"}));
    Trainer fresh(small_config({"seed=5", "task.train_size=0"}));
    for (Trainer* other : {&t2048, &fresh}) {
        CHECK(same_batch(t1024.probe_batch(), other->probe_batch()));
        CHECK(same_bits(t1024.state().params, other->state().params));
        // Same parameters and the same eval set give the same eval loss, bit for bit.
        const double a = t1024.evaluate().loss, b = other->evaluate().loss;
        CHECK(std::memcmp(&a, &b, sizeof a) == 0);
    }
    // The training data itself does change with train_size (the first batches differ).
    const double l1024 = t1024.train_step().loss, l2048 = t2048.train_step().loss;
    CHECK(l1024 != l2048);
    // The probe batch is a real batch of the task: [SEP] once per sequence.
    const Batch& p = t1024.probe_batch();
    REQUIRE(p.B == 8);
    for (int b = 0; b < p.B; ++b) {
        int seps = 0;
        for (int i = 0; i < p.T; ++i) seps += p.kind[b * p.T + i] == kSep;
        CHECK(seps == 1);
        CHECK(p.kind[b * p.T + p.sep_pos[b]] == kSep);
    }
}
