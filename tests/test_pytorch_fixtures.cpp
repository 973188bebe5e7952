// The C++ forward and backward against an independent PyTorch float64 implementation
// (tools/make_fixtures.py -> data/fixture_<name>.h5): attention patterns, residual
// streams and the other hooks, the output, the loss and every parameter gradient.
// Set CTR_FIXTURE_VERBOSE=1 to print the largest differences seen.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fixture_reader.hpp"
#include "model/transformer.hpp"
#include "task/averaging.hpp"

using namespace ctr;
using ctr::test::Array;
using ctr::test::FixtureFile;

namespace {

const char* kFixtures[] = {"minimal", "full", "rms_relu_sin"};
constexpr double kAbs = 1e-10, kRel = 1e-10;

std::string fixture_path(const std::string& name) {
    return std::string(CTR_SOURCE_DIR) + "/data/fixture_" + name + ".h5";
}

struct Fixture {
    ModelConfig model;
    TaskConfig task;
    Batch batch;
};

// A config option stored in the fixture by its YAML spelling.
template <class E>
E option(const FixtureFile& f, const char* name) {
    const std::string text = f.attr_string(name);
    const std::optional<E> e = enum_from_name<E>(text);
    if (!e) throw std::runtime_error(std::string("fixture attribute ") + name + ": unknown value '" + text + "'");
    return *e;
}

Fixture load_fixture(const FixtureFile& f) {
    Fixture x;
    ModelConfig& m = x.model;
    m.n_layers = static_cast<int>(f.attr_int("n_layers"));
    m.n_heads = static_cast<int>(f.attr_int("n_heads"));
    m.d_model = static_cast<int>(f.attr_int("d_model"));
    m.d_head = static_cast<int>(f.attr_int("d_head"));
    m.d_mlp = static_cast<int>(f.attr_int("d_mlp"));
    m.act = option<Activation>(f, "act");
    m.norm = option<Norm>(f, "norm");
    m.qk_norm = f.attr_int("qk_norm") != 0;
    m.attn_scale = option<AttnScale>(f, "attn_scale");
    m.attn_bias = f.attr_int("attn_bias") != 0;
    m.positions = option<Positions>(f, "positions");
    TaskConfig& t = x.task;
    t.seq_len = static_cast<int>(f.attr_int("seq_len"));
    t.bos = f.attr_int("bos") != 0;
    t.supervise = option<Supervise>(f, "supervise");
    if (f.has_attr("numbers")) t.numbers = option<NumberDist>(f, "numbers");
    if (f.has_attr("min_before_sep")) t.min_before_sep = static_cast<int>(f.attr_int("min_before_sep"));
    if (f.has_attr("min_after_sep")) t.min_after_sep = static_cast<int>(f.attr_int("min_after_sep"));

    const Array<int> kind = f.read_int("inputs/kind");
    REQUIRE(kind.shape.size() == 2);
    const int B = kind.shape[0], T = kind.shape[1];
    x.batch.resize(B, T);
    std::copy(kind.data.begin(), kind.data.end(), x.batch.kind.begin());
    for (const char* name : {"value", "target", "weight"}) {
        const Array<double> a = f.read_double(std::string("inputs/") + name);
        REQUIRE(a.shape == std::vector<int>{B, T});
        std::vector<real>& dst = name == std::string("value")    ? x.batch.value
                                 : name == std::string("target") ? x.batch.target
                                                                 : x.batch.weight;
        std::transform(a.data.begin(), a.data.end(), dst.begin(), [](double v) { return static_cast<real>(v); });
    }
    const Array<int> sep = f.read_int("inputs/sep_pos");
    REQUIRE(sep.shape == std::vector<int>{B});
    std::copy(sep.data.begin(), sep.data.end(), x.batch.sep_pos.begin());
    return x;
}

// Largest differences over one fixture, for the report.
struct ErrorStats {
    double max_abs = 0, max_rel = 0;
    std::string where_abs;
    void add(const std::string& what, double got, double want) {
        const double e = std::abs(got - want);
        if (e > max_abs || std::isnan(e)) {
            max_abs = e;
            where_abs = what;
        }
        if (std::abs(want) > 1e-300) max_rel = std::max(max_rel, e / std::abs(want));
    }
};

// Element-wise |got - want| <= kAbs + kRel |want|; reports the first mismatch of a tensor.
void check_tensor(const std::string& what, const real* got, const Array<double>& want,
                  const std::vector<int>& shape, ErrorStats& stats) {
    INFO(what);
    REQUIRE(want.shape == shape);
    size_t bad = 0, first_bad = 0;
    for (size_t i = 0; i < want.size(); ++i) {
        const double g = got[i], w = want.data[i];
        stats.add(what, g, w);
        if (!(std::abs(g - w) <= kAbs + kRel * std::abs(w))) {
            if (bad++ == 0) first_bad = i;
        }
    }
    INFO(bad << " of " << want.size() << " elements differ; first at flat index " << first_bad << ": C++ "
             << got[first_bad] << " vs PyTorch " << want.data[first_bad]);
    CHECK(bad == 0);
}

struct Hook {
    const real* data;
    std::vector<int> shape;
};

// Every activation the C++ model keeps that has a PyTorch counterpart, under its hook name.
std::map<std::string, Hook> cpp_hooks(const Transformer& model) {
    const Activations& a = model.activations();
    const ModelConfig& c = model.config();
    const int B = a.B, T = a.T, D = c.d_model, H = c.n_heads, Dh = c.d_head, M = c.d_mlp;
    std::map<std::string, Hook> h;
    for (int l = 0; l < c.n_layers; ++l) {
        const BlockActivations& b = a.blocks[static_cast<size_t>(l)];
        const std::string p = "blocks." + std::to_string(l) + ".";
        h[p + "hook_resid_pre"] = {b.resid_pre.data(), {B, T, D}};
        h[p + "attn.hook_q"] = {b.q.data(), {B, T, H, Dh}};
        h[p + "attn.hook_k"] = {b.k.data(), {B, T, H, Dh}};
        h[p + "attn.hook_v"] = {b.v.data(), {B, T, H, Dh}};
        h[p + "attn.hook_pattern"] = {b.pattern.data(), {B, H, T, T}};
        h[p + "attn.hook_z"] = {b.z.data(), {B, T, H, Dh}};
        h[p + "hook_attn_out"] = {b.attn_out.data(), {B, T, D}};
        h[p + "hook_resid_mid"] = {b.resid_mid.data(), {B, T, D}};
        if (M > 0) {
            h[p + "mlp.hook_pre"] = {b.mlp_pre.data(), {B, T, M}};
            h[p + "mlp.hook_post"] = {b.mlp_post.data(), {B, T, M}};
            h[p + "hook_mlp_out"] = {b.mlp_out.data(), {B, T, D}};
        }
        h[p + "hook_resid_post"] = {b.resid_post.data(), {B, T, D}};
    }
    if (c.norm != Norm::kNone) h["ln_final.hook_normalized"] = {a.ln_final.data(), {B, T, D}};
    return h;
}

std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (const std::string& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
}

// The fixture's group `what` must hold exactly the names the C++ side has.
void check_same_names(const std::string& what, std::vector<std::string> fixture, std::vector<std::string> cpp) {
    std::sort(fixture.begin(), fixture.end());
    std::sort(cpp.begin(), cpp.end());
    std::vector<std::string> missing, extra;
    std::set_difference(cpp.begin(), cpp.end(), fixture.begin(), fixture.end(), std::back_inserter(missing));
    std::set_difference(fixture.begin(), fixture.end(), cpp.begin(), cpp.end(), std::back_inserter(extra));
    INFO(what << ": in C++ but not in the fixture: [" << join(missing) << "]; in the fixture but not in C++: ["
              << join(extra) << "]");
    CHECK(missing.empty());
    CHECK(extra.empty());
}

}  // namespace

TEST_CASE("PyTorch fixtures follow the task definition", "[fixtures]") {
    for (const char* name : kFixtures) {
        SECTION(name) {
            FixtureFile f(fixture_path(name));
            const Fixture x = load_fixture(f);
            const Batch& b = x.batch;
            REQUIRE(b.T == x.task.seq_len);
            const SepRange range = sep_range(x.task);
            int count = 0;
            for (int i = 0; i < b.B; ++i)
                for (int t = 0; t < b.T; ++t) count += b.weight[static_cast<size_t>(i) * b.T + t] > 0;
            REQUIRE(count > 0);
            for (int i = 0; i < b.B; ++i) {
                const size_t row = static_cast<size_t>(i) * b.T;
                const int s = b.sep_pos[static_cast<size_t>(i)];
                INFO("sequence " << i << ", [SEP] at " << s);
                CHECK(s >= range.first);
                CHECK(s <= range.last);
                double sum = 0;
                for (int t = 0; t < b.T; ++t) {
                    const int want_kind = t == s ? kSep : (x.task.bos && t == 0 ? kBos : kNumber);
                    CHECK(b.kind[row + t] == want_kind);
                    if (want_kind != kNumber) CHECK(b.value[row + t] == 0);
                    const bool supervised = t > s && (x.task.supervise == Supervise::kAfterSep || t == b.T - 1);
                    CHECK(b.weight[row + t] == Approx(supervised ? 1.0 / count : 0.0).margin(1e-15));
                    if (t > s) {
                        sum += b.value[row + t];
                        CHECK(b.target[row + t] == Approx(sum / (t - s)).epsilon(1e-14).margin(1e-15));
                    } else {
                        CHECK(b.target[row + t] == 0);
                    }
                }
            }
        }
    }
}

TEST_CASE("forward and backward match the PyTorch fixtures", "[fixtures][gradients]") {
    const bool verbose = std::getenv("CTR_FIXTURE_VERBOSE") != nullptr;
    for (const char* name : kFixtures) {
        SECTION(name) {
            FixtureFile f(fixture_path(name));
            const Fixture x = load_fixture(f);
            const Batch& batch = x.batch;
            REQUIRE(batch.T == x.task.seq_len);
            Transformer model(x.model, x.task.seq_len, x.task.bos, batch.B);
            const ParamLayout& layout = model.layout();

            // The parameter names of both sides must agree exactly, and so must grads/.
            std::vector<std::string> cpp_names;
            for (const TensorSpec& t : layout.tensors()) cpp_names.push_back(t.name);
            const std::vector<std::string> py_params = f.list("params");
            const std::vector<std::string> py_grads = f.list("grads");
            check_same_names("params", py_params, cpp_names);
            check_same_names("grads", py_grads, cpp_names);

            // NaN everywhere first, so a tensor the fixture does not fill shows up.
            std::vector<real> params(layout.total(), std::numeric_limits<real>::quiet_NaN());
            for (const std::string& n : py_params) {
                INFO("params/" << n);
                const TensorSpec* t = layout.find(n);
                REQUIRE(t != nullptr);
                const Array<double> a = f.read_double("params/" + n);
                REQUIRE(a.shape == t->shape);
                for (size_t i = 0; i < a.size(); ++i) params[t->offset + i] = static_cast<real>(a.data[i]);
            }
            REQUIRE(std::count_if(params.begin(), params.end(), [](real v) { return std::isnan(v); }) == 0);

            ErrorStats stats;
            const real loss = model.forward(params.data(), batch);
            stats.add("loss", loss, f.read_double("loss").data.at(0));
            CHECK(std::abs(loss - f.read_double("loss").data.at(0)) <= kAbs + kRel * std::abs(loss));
            check_tensor("output", model.activations().output.data(), f.read_double("output"), {batch.B, batch.T},
                         stats);

            // Activations: the same hook names on both sides, then every value.
            const std::map<std::string, Hook> hooks = cpp_hooks(model);
            std::vector<std::string> hook_names;
            for (const auto& [n, h] : hooks) hook_names.push_back(n);
            const std::vector<std::string> py_acts = f.list("acts");
            check_same_names("acts", py_acts, hook_names);
            for (const std::string& n : py_acts) {
                INFO("acts/" << n);
                const auto it = hooks.find(n);
                REQUIRE(it != hooks.end());
                check_tensor("acts/" + n, it->second.data, f.read_double("acts/" + n), it->second.shape, stats);
            }

            std::vector<real> grads(layout.total(), real(0));
            model.backward(params.data(), grads.data(), batch);
            for (const TensorSpec& t : layout.tensors()) {
                INFO("grads/" << t.name);
                REQUIRE(f.has("grads/" + t.name));
                check_tensor("grads/" + t.name, grads.data() + t.offset, f.read_double("grads/" + t.name), t.shape,
                             stats);
            }
            if (verbose)
                std::printf("fixture %-13s max |C++ - PyTorch| = %.3g (at %s), max relative = %.3g\n", name,
                            stats.max_abs, stats.where_abs.c_str(), stats.max_rel);

            // A model with room for longer sequences and bigger batches must give the same
            // numbers on this batch (the workspaces are indexed by the batch's B and T).
            const int extra_ctx = 3;
            Transformer big(x.model, x.task.seq_len + extra_ctx, x.task.bos, batch.B + 2);
            std::vector<real> big_params(big.layout().total(), real(0));
            for (const TensorSpec& t : layout.tensors()) {
                const TensorSpec* bt = big.layout().find(t.name);
                REQUIRE(bt != nullptr);
                std::copy_n(params.begin() + static_cast<std::ptrdiff_t>(t.offset), t.size,
                            big_params.begin() + static_cast<std::ptrdiff_t>(bt->offset));
            }
            if (const TensorSpec* wp = big.layout().find("pos_embed.W_pos"))  // rows past T: any value
                for (size_t i = static_cast<size_t>(batch.T) * x.model.d_model; i < wp->size; ++i)
                    big_params[wp->offset + i] = real(0.7);
            const real big_loss = big.forward(big_params.data(), batch);
            CHECK(std::abs(big_loss - loss) <= kAbs + kRel * std::abs(loss));
            std::vector<real> big_grads(big.layout().total(), real(0));
            big.backward(big_params.data(), big_grads.data(), batch);
            ErrorStats big_stats;
            for (const TensorSpec& t : layout.tensors()) {
                const TensorSpec* bt = big.layout().find(t.name);
                Array<double> want;
                want.shape = t.shape;
                want.data.assign(grads.begin() + static_cast<std::ptrdiff_t>(t.offset),
                                 grads.begin() + static_cast<std::ptrdiff_t>(t.offset + t.size));
                std::vector<int> shape = bt->shape;
                if (t.name == "pos_embed.W_pos") {
                    for (size_t i = t.size; i < bt->size; ++i) {
                        INFO("W_pos gradient of a position past the batch");
                        CHECK(big_grads[bt->offset + i] == 0);
                    }
                    shape = t.shape;
                }
                check_tensor("big-workspace grads/" + t.name, big_grads.data() + bt->offset, want, shape, big_stats);
            }
        }
    }
}
