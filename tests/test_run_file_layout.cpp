// The run file as an independent reader sees it: row-major arrays with their documented
// shapes (h5dump), and the root attributes that describe the run. Layout:
// docs/hdf5-layout.md.
#include <catch2/catch.hpp>
#include <ctime>
#include <regex>
#include <yaml-cpp/yaml.h>

#include "cli_helpers.hpp"
#include "ctr_git_describe.hpp"
#include "config/load.hpp"
#include "run/start.hpp"
#include "training/trainer.hpp"

using namespace ctr_test;
using ctr::Config;
using ctr::Trainer;

TEST_CASE("arrays are row-major with their documented shapes, as h5dump reads them", "[runfile]") {
    // Every axis of W_Q [head 2, d_model 2, d_head 3] ... distinct where it matters:
    // W_O [2, 3, 2], W_pos [seq_len 6, d_model 2], the probe [batch 3, pos 6], the
    // pattern [batch 3, head 2, query 6, key 6].
    TempDir t("runfile_rowmajor");
    const Result r = run_ctr(with({minimal_config(), "--quiet", "--out", "rm.h5"},
                                  sets({"model.n_heads=2", "model.d_head=3", "model.positions=learned",
                                        "task.seq_len=6", "task.probe_size=3", "task.train_size=256",
                                        "train.batch_size=64", "task.eval_size=64", "train.steps=20", "seed=8"})),
                             t.dir);
    INFO("stderr: " << r.err);
    REQUIRE(r.code == 0);
    const std::string path = t.path("rm.h5");

    Config cfg;
    std::vector<double> params;
    size_t n_snap;
    {
        H5File f(path);
        cfg = ctr::load_config_text(h5_attr_string(f.id(), "/", "config"), "rm.h5:/config").config;
        params = h5_read<double>(f.id(), "/checkpoint/params");
        const auto snaps = h5_read<int64_t>(f.id(), "/snapshots/step");
        n_snap = snaps.size();
        REQUIRE(snaps.back() == 20);  // the last snapshot is of the final parameters
        using Names = std::vector<std::string>;
        const std::pair<const char*, Names> expected_axes[] = {
            {"/snapshots/params/blocks.0.attn.W_Q", {"step", "head", "d_model", "d_head"}},
            {"/snapshots/params/blocks.1.attn.W_O", {"step", "head", "d_head", "d_model"}},
            {"/snapshots/params/pos_embed.W_pos", {"step", "pos", "d_model"}},
            {"/snapshots/blocks.0.attn.hook_pattern", {"step", "batch", "head", "query", "key"}},
            {"/snapshots/blocks.1.attn.hook_z", {"step", "batch", "pos", "head", "d_head"}},
            {"/snapshots/metrics/catch", {"step", "layer", "head"}},
            {"/snapshots/headline/catch", {"step"}},
            {"/metrics/eval_loss", {"step"}},
            {"/probe/value", {"batch", "pos"}},
            {"/eval/kind", {"batch", "pos"}},
            {"/checkpoint/params", {"param"}},
            {"/checkpoint/tensors/blocks.0.attn.W_Q", {"head", "d_model", "d_head"}},
        };
        for (const auto& [name, axes] : expected_axes) {
            INFO(name);
            // `axes` lists pure names, and each axis has the dimension scale of that name.
            CHECK(h5_attr_strings(f.id(), name, "axes") == axes);
            CHECK(h5_dim_names(f.id(), name) == axes);
        }
        CHECK(h5_attr_string(f.id(), "/probe/kind", "note") == "token kind: 0 number, 1 [SEP], 2 [BOS]");
        // Every series of a group has its step as the first dimension scale (`step`
        // itself is that scale; subgroups hold a hard link to it).
        for (const std::string& name : h5_series(f.id(), "/snapshots")) {
            INFO(name);
            if (name.substr(name.rfind('/')) == "/step") {
                const hid_t ds = H5Dopen2(f.id(), name.c_str(), H5P_DEFAULT);
                CHECK(H5DSis_scale(ds) > 0);
                H5Dclose(ds);
            } else {
                CHECK(h5_dim_names(f.id(), name).at(0) == "step");
            }
        }
    }
    Trainer trainer(cfg);
    REQUIRE(params.size() == trainer.layout().total());
    const std::string last = std::to_string(n_snap - 1);

    struct Param {
        std::string name;
        std::vector<int> shape;
    };
    for (const Param& p : std::vector<Param>{{"blocks.0.attn.W_Q", {2, 2, 3}},
                                             {"blocks.1.attn.W_O", {2, 3, 2}},
                                             {"pos_embed.W_pos", {6, 2}}}) {
        INFO(p.name);
        const ctr::TensorSpec* spec = trainer.layout().find(p.name);
        REQUIRE(spec);
        REQUIRE(spec->shape == p.shape);
        const std::string ds = "/snapshots/params/" + p.name;
        std::string dims, start = last, count = "1";
        for (int d : p.shape) {
            dims += ", " + std::to_string(d);
            start += ",0";
            count += "," + std::to_string(d);
        }
        const Result head = h5dump({"-H", "-d", ds}, path);
        REQUIRE(head.code == 0);
        CHECK(h5dump_dataspace(head.out) ==
              "( " + std::to_string(n_snap) + dims + " ) / ( H5S_UNLIMITED" + dims + " )");
        CHECK_THAT(head.out, Catch::Matchers::Contains("H5T_IEEE_F64LE"));
        const Result data = h5dump({"-A", "0", "-y", "-w", "0", "-m", "%.17g", "-d", ds, "-s", start, "-c", count}, path);
        REQUIRE(data.code == 0);
        const std::vector<double> v = h5dump_values(data.out);
        REQUIRE(v.size() == spec->size);
        // Element [i, j, k] of the tensor is element offset + (i * n1 + j) * n2 + k of the
        // flat parameters: the same order, row-major.
        for (size_t i = 0; i < v.size(); ++i) {
            INFO("element " << i);
            CHECK(v[i] == params[spec->offset + i]);
        }
    }

    // The probe batch, [batch, pos], equals the one the config regenerates.
    const Result probe = h5dump({"-A", "0", "-y", "-w", "0", "-m", "%.17g", "-d", "/probe/value"}, path);
    REQUIRE(probe.code == 0);
    CHECK_THAT(probe.out, Catch::Matchers::Contains("( 3, 6 ) / ( 3, 6 )"));
    const std::vector<double> pv = h5dump_values(probe.out);
    REQUIRE(pv.size() == trainer.probe_batch().value.size());
    for (size_t i = 0; i < pv.size(); ++i) CHECK(pv[i] == trainer.probe_batch().value[i]);

    // The attention pattern of layer 0 at the last snapshot, [batch, head, query, key]:
    // causal (zero above the diagonal), rows summing to 1, and equal to the model's
    // pattern on the probe batch with the final parameters.
    const Result pat = h5dump({"-A", "0", "-y", "-w", "0", "-m", "%.17g", "-d", "/snapshots/blocks.0.attn.hook_pattern",
                               "-s", last + ",0,0,0,0", "-c", "1,3,2,6,6"},
                              path);
    REQUIRE(pat.code == 0);
    const std::vector<double> pattern = h5dump_values(pat.out);
    REQUIRE(pattern.size() == 3 * 2 * 6 * 6);
    trainer.state().params = params;
    trainer.run_probe();
    // (The probe's pattern is the first [3, 2, 6, 6] elements of the probe model's buffer.)
    const auto& expect = trainer.probe_model().activations().blocks.at(0).pattern;
    REQUIRE(expect.size() >= pattern.size());
    for (int b = 0; b < 3; ++b)
        for (int h = 0; h < 2; ++h)
            for (int q = 0; q < 6; ++q) {
                double row = 0;
                for (int k = 0; k < 6; ++k) {
                    const size_t i = ((static_cast<size_t>(b) * 2 + h) * 6 + q) * 6 + k;
                    if (k > q) CHECK(pattern[i] == 0);
                    row += pattern[i];
                    CHECK(pattern[i] == Approx(expect[i]).margin(1e-6));
                }
                CHECK(row == Approx(1).margin(1e-5));
            }
}

TEST_CASE("the root attributes describe the run", "[runfile]") {
    TempDir t("runfile_attrs");
    const std::vector<std::string> overrides = {"train.steps=12", "task.train_size=128", "train.batch_size=32",
                                                "task.eval_size=32",  "task.probe_size=2",   "model.d_model=3",
                                                "train.lr=0.0123456789"};
    const std::time_t before = std::time(nullptr);
    const Result r = run_ctr(with({minimal_config(), "--quiet", "--out", "attrs.h5", "--seed", "12345678901234567890"},
                                  sets(overrides)),
                             t.dir);
    INFO("stderr: " << r.err);
    REQUIRE(r.code == 0);
    std::vector<std::string> all = overrides;
    all.push_back("seed=12345678901234567890");
    const Config expected = ctr::load_config(minimal_config(), all);

    H5File f(t.path("attrs.h5"));
    const hid_t id = f.id();
    for (const char* name : {"ctr_version", "ctr_git_describe", "format_version", "config", "seed", "created", "status"})
        CHECK(h5_has_attr(id, "/", name));
    CHECK(h5_attr_string(id, "/", "ctr_version") == CTR_VERSION);
    CHECK(h5_attr_string(id, "/", "ctr_git_describe") == CTR_GIT_DESCRIBE);
    CHECK(h5_attr_number<int64_t>(id, "/", "format_version") == 2);
    CHECK(h5_attr_string(id, "/", "status") == "complete");
    // The seed is a uint64 and reads back whole, above 2^63 too.
    CHECK(h5_attr_number<uint64_t>(id, "/", "seed") == 12345678901234567890ULL);
    // The config is the resolved YAML: it parses back to the very same Config.
    const std::string yaml = h5_attr_string(id, "/", "config");
    const Config recorded = ctr::load_config_text(yaml, "attrs.h5:/config").config;
    CHECK(ctr::config_diff(recorded, expected).empty());
    CHECK(ctr::config_diff(recorded, Config{}).size() >= overrides.size());
    // created: UTC, ISO 8601, when the run started.
    const std::string created = h5_attr_string(id, "/", "created");
    REQUIRE(std::regex_match(created, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")));
    std::tm tm{};
    REQUIRE(strptime(created.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm) != nullptr);
    const std::time_t when = timegm(&tm);
    CHECK(when >= before - 1);
    CHECK(when <= std::time(nullptr) + 1);

    // Provenance: the command line as given, the overrides as resolved YAML, the build.
    const std::string cmd = h5_attr_string(id, "/", "command_line");
    CHECK_THAT(cmd, Catch::Contains("ctr-train") && Catch::Contains("--seed 12345678901234567890") &&
                        Catch::Contains("--set train.lr=0.0123456789"));
    CHECK(h5_attr_string(id, "/", "last_command_line") == cmd);
    CHECK(h5_attr_string(id, "/", "config_file") == minimal_config());
    const YAML::Node ov = YAML::Load(h5_attr_string(id, "/", "overrides"));
    CHECK(ov.size() == all.size());
    CHECK(ov["train.lr"].as<double>() == 0.0123456789);
    CHECK(ov["seed"].as<uint64_t>() == 12345678901234567890ULL);
    CHECK(ov["model.d_model"].as<int>() == 3);
    CHECK_FALSE(h5_attr_string(id, "/", "host").empty());
    CHECK(h5_attr_string(id, "/", "started") == created);
    CHECK(std::regex_match(h5_attr_string(id, "/", "ended"), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")));
    CHECK(h5_attr_number<double>(id, "/", "wall_time") > 0);
    CHECK(h5_attr_number<int64_t>(id, "/", "sessions") == 1);
    CHECK(std::regex_match(h5_attr_string(id, "/", "eigen_version"), std::regex(R"(3\.\d+\.\d+)")));
    CHECK(std::regex_match(h5_attr_string(id, "/", "hdf5_version"), std::regex(R"(1\.\d+\.\d+)")));
    CHECK(std::regex_match(h5_attr_string(id, "/", "boost_version"), std::regex(R"(1\.\d+\.\d+)")));
    CHECK_FALSE(h5_attr_string(id, "/", "compiler").empty());
}

TEST_CASE("the checkpoint's text attributes are stored in the attribute, not in the shared global heap", "[runfile]") {
    // A kill during a flush can tear the file's global heap, and HDF5 then loops forever
    // reading a variable-length string from it (docs/reliability.md): the checkpoint,
    // which a resume must read, keeps its strings as fixed-length text.
    TempDir t("runfile_ckpt_strings");
    const Result r = run_ctr(with({minimal_config(), "--quiet", "--out", "cs.h5"},
                                  sets({"task.train_size=256", "train.batch_size=64", "task.eval_size=64",
                                        "train.steps=8"})),
                             t.dir);
    INFO("stderr: " << r.err);
    REQUIRE(r.code == 0);
    H5File f(t.path("cs.h5"));
    const hid_t g = H5Gopen2(f.id(), "/checkpoint", H5P_DEFAULT);
    REQUIRE(g >= 0);
    for (const char* name : {"shuffle_rng", "fresh_rng", "config"}) {
        INFO(name);
        const hid_t a = H5Aopen(g, name, H5P_DEFAULT);
        REQUIRE(a >= 0);
        const hid_t type = H5Aget_type(a);
        CHECK(H5Tget_class(type) == H5T_STRING);
        CHECK(H5Tis_variable_str(type) == 0);
        CHECK(H5Tget_size(type) > 1);
        H5Tclose(type);
        H5Aclose(a);
    }
    H5Gclose(g);
    CHECK(h5_attr_string(f.id(), "/checkpoint", "config") == h5_attr_string(f.id(), "/", "config"));
}
