// The config system: loading, errors (with file:line, key and expectation),
// overrides, validation, round-trip, and that docs/config.md and configs/*.yaml
// agree with the key table.
#include <yaml-cpp/yaml.h>

#include <catch2/catch.hpp>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <set>
#include <sstream>
#include <unistd.h>

#include "config/keys.hpp"
#include "config/load.hpp"

namespace fs = std::filesystem;
using namespace ctr;

namespace {

// A fresh directory under the system temp dir, removed at the end of the test.
struct TempDir {
    fs::path dir;
    TempDir() {
        static int counter = 0;
        dir = fs::temp_directory_path() /
              ("ctr_test_config_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        fs::remove_all(dir);
        fs::create_directories(dir);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
    std::string write(const std::string& name, const std::string& text) const {
        const fs::path p = dir / name;
        std::ofstream(p) << text;
        return p.string();
    }
};

// The ConfigError message f throws; fails the test when f does not throw one.
std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const ConfigError& e) {
        return e.what();
    }
    FAIL("expected a ConfigError");
    return {};
}

std::string load_error(const std::string& path, const std::vector<std::string>& overrides = {}) {
    return error_of([&] { load_config(path, overrides); });
}

// Checks that msg contains every part.
void require_all(const std::string& msg, std::initializer_list<std::string> parts) {
    INFO("message: " << msg);
    for (const std::string& p : parts) {
        INFO("missing: " << p);
        CHECK(msg.find(p) != std::string::npos);
    }
}

std::string read_file(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

const fs::path kSource = CTR_SOURCE_DIR;

}  // namespace

// ---------------------------------------------------------------------------------
// the table itself

TEST_CASE("config key table is consistent", "[config]") {
    const Config defaults;
    std::set<std::string> paths;
    std::vector<std::string> section_order;
    for (const KeySpec& k : config_keys()) {
        INFO(k.path);
        CHECK(paths.insert(k.path).second);       // unique
        CHECK_FALSE(is_config_section(k.path));   // not also a section
        CHECK_FALSE(k.doc.empty());
        CHECK((k.type == KeyType::kEnum ? k.enum_field.get != nullptr : k.field != nullptr));
        CHECK_FALSE(check_key_range(k, defaults));  // defaults in range
        // sections contiguous: once left, a section never comes back
        const std::string sec = k.section();
        if (section_order.empty() || section_order.back() != sec) {
            CHECK(std::find(section_order.begin(), section_order.end(), sec) == section_order.end());
            section_order.push_back(sec);
        }
    }
    CHECK(section_order == std::vector<std::string>{"", "model", "task", "train", "log", "analysis"});
    CHECK(find_key("model.d_model") != nullptr);
    CHECK(find_key("model") == nullptr);
    CHECK(is_config_section("train"));
    CHECK_FALSE(is_config_section("seed"));
}

TEST_CASE("defaults validate and equal an empty override list", "[config]") {
    const Config defaults;
    REQUIRE_NOTHROW(validate_config(defaults, "defaults"));
    CHECK(config_diff(config_from_overrides({}), defaults).empty());
}

TEST_CASE("empty file and empty sections give the defaults", "[config]") {
    TempDir tmp;
    CHECK(config_diff(load_config(tmp.write("empty.yaml", "")), Config{}).empty());
    CHECK(config_diff(load_config(tmp.write("comments.yaml", "# nothing\n")), Config{}).empty());
    CHECK(config_diff(load_config(tmp.write("sec.yaml", "model:\ntask:\n")), Config{}).empty());
}

TEST_CASE("a file sets keys over the defaults", "[config]") {
    TempDir tmp;
    const std::string p = tmp.write("ok.yaml",
                                    "seed: 18446744073709551615\n"
                                    "model:\n  d_model: 8\n  qk_norm: True\n  norm: rmsnorm\n"
                                    "train:\n  lr: \"5e-2\"\n  beta2: 0.95\n  steps: +100\n");
    const LoadedConfig lc = load_config_traced(p);
    const Config& c = lc.config;
    CHECK(c.seed == UINT64_MAX);
    CHECK(c.model.d_model == 8);
    CHECK(c.model.qk_norm);
    CHECK(c.model.norm == Norm::kRmsNorm);
    CHECK(c.train.lr == 5e-2);  // quoting does not change the type
    CHECK(c.train.beta2 == 0.95);
    CHECK(c.train.steps == 100);
    CHECK(c.model.n_layers == 2);  // untouched
    CHECK(lc.origins.at("model.d_model") == p + ":3:3");
    CHECK(lc.origins.at("train.steps") == p + ":9:3");
    CHECK(lc.origins.count("model.n_layers") == 0);
}

// ---------------------------------------------------------------------------------
// bad files

TEST_CASE("missing or unreadable file", "[config]") {
    TempDir tmp;
    const std::string missing = (tmp.dir / "nope.yaml").string();
    require_all(load_error(missing), {missing, "cannot read config file"});
    require_all(load_error(tmp.dir.string()), {tmp.dir.string(), "cannot read config file", "directory"});
}

TEST_CASE("malformed YAML names file and 1-based line", "[config]") {
    TempDir tmp;
    const std::string p = tmp.write("bad.yaml", "model:\n  d_model: 2\n  n_heads: [1, 2\n");
    const std::string msg = load_error(p);
    require_all(msg, {p + ":", "malformed YAML"});
    // the parser reports where it gave up: on or after line 3, never the 0-based line
    const std::string line = msg.substr(p.size() + 1, msg.find(':', p.size() + 1) - p.size() - 1);
    CHECK(std::stoi(line) >= 3);

    const std::string p2 = tmp.write("bad2.yaml", "seed: 1\nmodel: {d_model: 2\n");
    require_all(load_error(p2), {p2 + ":", "malformed YAML"});
    const std::string p3 = tmp.write("tab.yaml", "model:\n  d_model: 2\n n_heads: 1\n");
    require_all(load_error(p3), {p3 + ":3:", "malformed YAML"});
}

TEST_CASE("more than one YAML document", "[config]") {
    TempDir tmp;
    const std::string p = tmp.write("two.yaml", "seed: 1\n---\nseed: 2\n");
    require_all(load_error(p), {p + ":", "single YAML document", "found 2"});
}

TEST_CASE("top level must be a map", "[config]") {
    TempDir tmp;
    const std::string p = tmp.write("scalar.yaml", "# comment\nhello\n");
    require_all(load_error(p), {p + ":2:1:", "expected a map of keys at the top level", "'hello'"});
    const std::string p2 = tmp.write("seq.yaml", "- 1\n- 2\n");
    require_all(load_error(p2), {p2 + ":1:", "top level", "got a sequence"});
}

TEST_CASE("unknown key suggests the nearest valid key", "[config]") {
    TempDir tmp;
    const std::string p = tmp.write("typo.yaml", "seed: 1\nmodel:\n  n_layers: 2\n  d_modle: 4\n");
    require_all(load_error(p), {p + ":4:3:", "unknown key \"model.d_modle\" (did you mean \"model.d_model\"?)"});

    // a key in the wrong section finds its section
    const std::string p2 = tmp.write("wrongsec.yaml", "model:\n  lr: 0.1\n");
    require_all(load_error(p2), {p2 + ":2:3:", "unknown key \"model.lr\"", "did you mean \"train.lr\""});

    // nothing close: the valid keys of the section are listed
    const std::string p3 = tmp.write("far.yaml", "task:\n  completely_different: 1\n");
    require_all(load_error(p3), {p3 + ":2:3:", "unknown key \"task.completely_different\"", "valid keys in task:",
                                 "seq_len", "probe_size"});

    CHECK(nearest_key("train.batchsize") == std::optional<std::string>("train.batch_size"));
    CHECK(nearest_key("sed") == std::optional<std::string>("seed"));
    CHECK_FALSE(nearest_key("zzzzzzzzzz.qqqqqqq"));
}

TEST_CASE("unknown section is an error with a suggestion", "[config]") {
    TempDir tmp;
    const std::string p = tmp.write("sec.yaml", "seed: 1\nmodle:\n  d_model: 4\n");
    require_all(load_error(p), {p + ":2:1:", "unknown key \"modle\" (did you mean \"model\"?)"});
    const std::string p2 = tmp.write("sec2.yaml", "logging:\n  every: 4\n");
    require_all(load_error(p2), {p2 + ":1:1:", "unknown key \"logging\"", "valid top-level keys: seed, model, task, train"});
    // --set of a key under a section that does not exist, with nothing close: the sections are listed
    const std::string ok = tmp.write("ok.yaml", "seed: 1\n");
    require_all(load_error(ok, {"qqqqqqqq.bar=3"}),
                {"--set qqqqqqqq.bar=3", "unknown key \"qqqqqqqq.bar\"", "no section \"qqqqqqqq\"",
                 "valid top-level keys: seed, model, task, train, log, analysis"});
}

TEST_CASE("a section that is not a map", "[config]") {
    TempDir tmp;
    const std::string p = tmp.write("sec.yaml", "seed: 1\nmodel: 3\n");
    require_all(load_error(p), {p + ":2:1:", "model: expected a section", "model.n_layers", "got '3'"});
    const std::string p2 = tmp.write("sec2.yaml", "train:\n  - lr\n");
    require_all(load_error(p2), {p2 + ":1:1:", "train: expected a section", "got a sequence"});
}

TEST_CASE("dotted keys are not accepted in files", "[config]") {
    TempDir tmp;
    const std::string p = tmp.write("dot.yaml", "seed: 1\nmodel.d_model: 4\n");
    require_all(load_error(p), {p + ":2:1:", "model.d_model: dotted names are for --set", "model: { d_model: ... }"});
}

TEST_CASE("a key given twice", "[config]") {
    TempDir tmp;
    const std::string p = tmp.write("dup.yaml", "model:\n  d_model: 2\n  d_model: 3\n");
    require_all(load_error(p), {p + ":3:3:", "model.d_model", "given twice", p + ":2:3"});
}

TEST_CASE("wrong types", "[config]") {
    TempDir tmp;
    struct Case {
        std::string yaml, where, key, expect;
    };
    const std::vector<Case> cases = {
        {"model:\n  d_model: abc\n", ":2:12:", "model.d_model", "expected an integer >= 1, got 'abc'"},
        {"model:\n  d_model: 2.5\n", ":2:12:", "model.d_model", "expected an integer >= 1, got '2.5'"},
        {"model:\n  d_model: 1e3\n", ":2:12:", "model.d_model", "expected an integer >= 1, got '1e3'"},
        {"model:\n  d_model: 0x10\n", ":2:12:", "model.d_model", "expected an integer >= 1, got '0x10'"},
        {"model:\n  d_model:\n", ":2:3:", "model.d_model", "expected an integer >= 1, got nothing (null)"},
        {"model:\n  d_model: [2]\n", ":2:12:", "model.d_model", "expected an integer >= 1, got a sequence"},
        {"model:\n  d_model: {a: 1}\n", ":2:12:", "model.d_model", "got a map"},
        {"model:\n  qk_norm: yes\n", ":2:12:", "model.qk_norm", "expected true or false, got 'yes'"},
        {"model:\n  qk_norm: 1\n", ":2:12:", "model.qk_norm", "expected true or false, got '1'"},
        {"model:\n  qk_norm: off\n", ":2:12:", "model.qk_norm", "expected true or false, got 'off'"},
        {"train:\n  lr: fast\n", ":2:7:", "train.lr", "expected a number > 0, got 'fast'"},
        {"train:\n  lr: .inf\n", ":2:7:", "train.lr", "expected a number > 0, got '.inf'"},
        {"train:\n  lr: nan\n", ":2:7:", "train.lr", "expected a number > 0, got 'nan'"},
        {"train:\n  lr: 0.1.2\n", ":2:7:", "train.lr", "got '0.1.2'"},
        {"model:\n  act: GELU\n", ":2:8:", "model.act", "expected one of gelu, relu, got 'GELU'"},
        {"model:\n  norm: batchnorm\n", ":2:9:", "model.norm", "expected one of none, layernorm, rmsnorm"},
        {"seed: -1\n", ":1:7:", "seed", "expected an integer in [0, 18446744073709551615], got '-1'"},
        {"seed: 1.5\n", ":1:7:", "seed", "got '1.5'"},
    };
    for (size_t i = 0; i < cases.size(); ++i) {
        const Case& c = cases[i];
        const std::string p = tmp.write("type" + std::to_string(i) + ".yaml", c.yaml);
        INFO(c.yaml);
        require_all(load_error(p), {p + c.where, c.key + ": ", c.expect});
    }
}

TEST_CASE("values out of range", "[config]") {
    TempDir tmp;
    struct Case {
        std::string yaml, where, key, expect;
    };
    const std::vector<Case> cases = {
        {"model:\n  d_model: 0\n", ":2:12:", "model.d_model", "expected an integer >= 1, got '0'"},
        {"model:\n  n_layers: 0\n", ":2:13:", "model.n_layers", "expected an integer >= 1, got '0'"},
        {"model:\n  n_heads: -2\n", ":2:12:", "model.n_heads", "expected an integer >= 1, got '-2'"},
        {"model:\n  d_mlp: -1\n", ":2:10:", "model.d_mlp", "expected an integer >= 0, got '-1'"},
        {"model:\n  d_model: 3000000000\n", ":2:12:", "model.d_model", "got '3000000000'"},
        {"model:\n  init_tag_scale: 0\n", ":2:19:", "model.init_tag_scale", "expected a number > 0, got '0'"},
        {"train:\n  lr: 0\n", ":2:7:", "train.lr", "expected a number > 0, got '0'"},
        {"train:\n  lr: -1e-3\n", ":2:7:", "train.lr", "expected a number > 0, got '-1e-3'"},
        {"train:\n  beta1: 1.0\n", ":2:10:", "train.beta1", "expected a number in [0, 1), got '1.0'"},
        {"train:\n  beta2: -0.1\n", ":2:10:", "train.beta2", "expected a number in [0, 1), got '-0.1'"},
        {"train:\n  momentum: 1\n", ":2:13:", "train.momentum", "expected a number in [0, 1)"},
        {"train:\n  eps: 0\n", ":2:8:", "train.eps", "expected a number > 0"},
        {"train:\n  weight_decay: -0.5\n", ":2:17:", "train.weight_decay", "expected a number >= 0"},
        {"train:\n  batch_size: 0\n", ":2:15:", "train.batch_size", "expected an integer >= 1, got '0'"},
        {"train:\n  eval_every: 0\n", ":2:15:", "train.eval_every", "expected an integer >= 1"},
        {"train:\n  steps: -5\n", ":2:10:", "train.steps", "expected an integer >= 0"},
        {"task:\n  seq_len: 1\n", ":2:12:", "task.seq_len", "expected an integer >= 2, got '1'"},
        {"task:\n  min_after_sep: 0\n", ":2:18:", "task.min_after_sep", "expected an integer >= 1"},
        {"task:\n  eval_size: 0\n", ":2:14:", "task.eval_size", "expected an integer >= 1"},
        {"seed: 18446744073709551616\n", ":1:7:", "seed", "got '18446744073709551616'"},
    };
    for (size_t i = 0; i < cases.size(); ++i) {
        const Case& c = cases[i];
        const std::string p = tmp.write("range" + std::to_string(i) + ".yaml", c.yaml);
        INFO(c.yaml);
        require_all(load_error(p), {p + c.where, c.key + ": ", c.expect});
    }
}

TEST_CASE("error line points at the value on a later line", "[config]") {
    TempDir tmp;
    const std::string p = tmp.write("later.yaml", "# header\n\nmodel:\n  # width\n  d_model:\n    abc\n");
    require_all(load_error(p), {p + ":6:5:", "model.d_model", "expected an integer"});
}

// ---------------------------------------------------------------------------------
// overrides

TEST_CASE("overrides apply after the file, in order", "[config]") {
    TempDir tmp;
    const std::string p = tmp.write("base.yaml", "model:\n  d_model: 4\ntrain:\n  lr: 0.1\n");
    const LoadedConfig lc =
        load_config_traced(p, {"model.d_model=8", "train.lr = 1e-3", "model.d_model=16", "task.bos=true"});
    CHECK(lc.config.model.d_model == 16);  // the last --set wins
    CHECK(lc.config.train.lr == 1e-3);
    CHECK(lc.config.task.bos);
    CHECK(lc.origins.at("model.d_model") == "--set model.d_model=16");
    CHECK(lc.origins.at("train.lr") == "--set train.lr = 1e-3");

    const Config c = config_from_overrides({"train.optimizer=sgd", "train.momentum=0.5", "seed=42"});
    CHECK(c.train.optimizer == OptimizerKind::kSgd);
    CHECK(c.train.momentum == 0.5);
    CHECK(c.seed == 42);
    CHECK(config_diff(c, Config{}) == std::vector<std::string>{"seed", "train.optimizer", "train.momentum"});
}

TEST_CASE("bad overrides", "[config]") {
    auto err = [](const std::vector<std::string>& ov) { return error_of([&] { config_from_overrides(ov); }); };
    require_all(err({"model.d_model"}), {"--set model.d_model", "expected key=value"});
    require_all(err({"=4"}), {"--set =4", "expected key=value"});
    require_all(err({"model.d_modle=4"}),
                {"--set model.d_modle=4", "unknown key \"model.d_modle\" (did you mean \"model.d_model\"?)"});
    require_all(err({"model=4"}), {"--set model=4", "model: is a section", "model.n_layers"});
    require_all(err({"model.d_model=abc"}), {"--set model.d_model=abc", "model.d_model: ", "expected an integer >= 1, got 'abc'"});
    require_all(err({"model.d_model="}), {"--set model.d_model=", "model.d_model: ", "got ''"});
    require_all(err({"task.bos=yes"}), {"--set task.bos=yes", "task.bos: ", "expected true or false"});
    require_all(err({"train.lr=0"}), {"--set train.lr=0", "train.lr: ", "expected a number > 0"});
    // the first bad override is reported, even with a good one after it
    require_all(err({"model.n_heads=x", "model.d_model=4"}), {"--set model.n_heads=x"});
    // overrides are checked for a file load too
    TempDir tmp;
    const std::string p = tmp.write("ok.yaml", "seed: 3\n");
    require_all(load_error(p, {"train.learning_rate=0.1"}), {"--set train.learning_rate=0.1", "unknown key"});
}

// ---------------------------------------------------------------------------------
// cross-key checks

TEST_CASE("cross-key: [SEP] range must be non-empty", "[config]") {
    CHECK_NOTHROW(config_from_overrides({"task.seq_len=3"}));  // 1 before, [SEP], 1 after
    require_all(error_of([] { config_from_overrides({"task.seq_len=3", "task.bos=true"}); }),
                {"task.seq_len", "task.min_before_sep", "task.min_after_sep", "no position is left for [SEP]",
                 "task.seq_len = 3 (--set task.seq_len=3)", "task.bos = true (--set task.bos=true)",
                 "task.min_after_sep = 1 (default)"});
    TempDir tmp;
    const std::string p = tmp.write("sep.yaml", "task:\n  seq_len: 6\n  min_before_sep: 3\n  min_after_sep: 3\n");
    require_all(load_error(p), {p + ": ", "no position is left for [SEP]", "task.seq_len = 6 (" + p + ":2:3)",
                                "task.min_after_sep = 3 (" + p + ":4:3)"});
}

TEST_CASE("cross-key: batch_size <= train_size", "[config]") {
    TempDir tmp;
    const std::string p = tmp.write("batch.yaml", "task:\n  train_size: 100\ntrain:\n  batch_size: 256\n");
    require_all(load_error(p), {p + ": ", "train.batch_size, task.train_size", "batch_size <= train_size",
                                "train.batch_size = 256 (" + p + ":4:3)", "task.train_size = 100 (" + p + ":2:3)"});
    CHECK_NOTHROW(load_config(p, {"train.batch_size=100"}));
    // fresh data (train_size 0) has no such limit, but needs steps
    require_all(error_of([] { config_from_overrides({"task.train_size=0"}); }),
                {"task.train_size, train.steps", "expected steps > 0"});
    CHECK_NOTHROW(config_from_overrides({"task.train_size=0", "train.steps=1000"}));
}

TEST_CASE("cross-key: something to train", "[config]") {
    require_all(error_of([] { config_from_overrides({"train.epochs=0"}); }),
                {"train.steps, train.epochs", "nothing to train"});
    CHECK_NOTHROW(config_from_overrides({"train.epochs=0", "train.steps=10"}));
    // a hand-built model needs no training: its run file holds its metrics
    CHECK_NOTHROW(config_from_overrides({"train.epochs=0", "model.init=theorem71"}));
}

TEST_CASE("cross-key: cosine floor below lr", "[config]") {
    require_all(error_of([] { config_from_overrides({"train.schedule=cosine", "train.min_lr=1"}); }),
                {"train.min_lr, train.lr", "min_lr <= lr"});
    CHECK_NOTHROW(config_from_overrides({"train.min_lr=1"}));  // unused with a constant schedule
}

TEST_CASE("cross-key: theorem71 needs the minimal shape", "[config]") {
    CHECK_NOTHROW(config_from_overrides({"model.init=theorem71"}));
    CHECK_NOTHROW(config_from_overrides({"model.init=theorem71", "model.d_model=4", "model.d_head=3"}));
    for (const char* bad : {"model.n_heads=2", "model.d_mlp=4", "model.norm=layernorm", "model.qk_norm=true",
                            "model.positions=learned", "model.n_layers=1", "model.d_model=1"}) {
        INFO(bad);
        require_all(error_of([&] { config_from_overrides({"model.init=theorem71", bad}); }),
                    {"model.init", "init theorem71 expects", std::string(bad).substr(0, std::string(bad).find('='))});
    }
}

TEST_CASE("validate_config checks values set in code", "[config]") {
    Config c;
    c.model.d_model = 0;
    require_all(error_of([&] { validate_config(c, "code"); }), {"code: model.d_model: ", "expected an integer >= 1"});
    c = Config{};
    c.train.lr = std::nan("");
    require_all(error_of([&] { validate_config(c, "code"); }), {"train.lr", "expected a number > 0"});
}

// ---------------------------------------------------------------------------------
// output

TEST_CASE("config_to_yaml round-trips exactly", "[config]") {
    TempDir tmp;
    Config c;
    c.seed = UINT64_MAX;
    c.model.d_model = 7;
    c.model.norm = Norm::kRmsNorm;
    c.model.qk_norm = true;
    c.model.init_tag_scale = 1.0 / 3.0;
    c.train.lr = 0.1 + 0.2;        // 0.30000000000000004
    c.train.weight_decay = 5e-324;  // smallest subnormal
    c.train.eps = DBL_MIN;
    c.train.min_lr = 1e300;
    c.train.beta1 = std::nextafter(1.0, 0.0);
    c.train.grad_clip = 12345678.0;
    c.train.schedule = LrSchedule::kConstant;
    c.task.supervise = Supervise::kAfterSep;
    REQUIRE_NOTHROW(validate_config(c, "test"));

    const std::string yaml = config_to_yaml(c);
    const std::string p = tmp.write("out.yaml", yaml);
    const Config back = load_config(p);
    CHECK(config_diff(back, c).empty());
    CHECK(back.train.lr == c.train.lr);
    CHECK(back.train.weight_decay == c.train.weight_decay);
    CHECK(back.train.beta1 == c.train.beta1);
    CHECK(config_to_yaml(back) == yaml);

    // every key is present, and the defaults round-trip too
    const LoadedConfig lc = load_config_traced(tmp.write("def.yaml", config_to_yaml(Config{})));
    CHECK(lc.origins.size() == config_keys().size());
    CHECK(config_diff(lc.config, Config{}).empty());
}

TEST_CASE("config_to_yaml: sections in table order, readable doubles", "[config]") {
    const std::string y = config_to_yaml(Config{});
    const size_t seed = y.find("\nseed: 0"), model = y.find("\nmodel:\n"), task = y.find("\ntask:\n"),
                 train = y.find("\ntrain:\n");
    REQUIRE(seed != std::string::npos);
    CHECK(seed < model);
    CHECK(model < task);
    CHECK(task < train);
    CHECK(y.find("  lr: 0.05 ") != std::string::npos);
    CHECK(y.find("  eps: 1.0e-08 ") != std::string::npos);
    CHECK(y.find("  init_tag_scale: 10.0 ") != std::string::npos);
    CHECK(y.find("  d_model: 2 ") != std::string::npos);
}

TEST_CASE("config doubles read as floats under YAML 1.1 and 1.2, bit for bit", "[config]") {
    // YAML 1.1's float (what PyYAML's safe_load implements): a dot, and a signed exponent.
    const std::regex yaml11_float(R"([-+]?([0-9][0-9_]*)?\.[0-9.]*([eE][-+][0-9]+)?)");
    const KeySpec* key = find_key("train.eps");
    REQUIRE(key != nullptr);
    for (const double v : {1e-8, 0.05, 10.0, 1.0, 2.5e20, 1e-300, 5e-324, 123456789.0, 1e22, 0.1 + 0.2, DBL_MAX}) {
        Config cfg;
        cfg.train.eps = v;
        const std::string text = key_value_text(*key, cfg);
        INFO(text);
        CHECK(std::regex_match(text, yaml11_float));
        CHECK(YAML::Load("k: " + text)["k"].as<double>() == v);
    }
    Config cfg;
    cfg.train.eps = 1e-8;
    CHECK(key_value_text(*key, cfg) == "1.0e-08");
    cfg.train.eps = 2.5e20;
    CHECK(key_value_text(*key, cfg) == "2.5e+20");
}

// ---------------------------------------------------------------------------------
// the shipped files must agree with the table

TEST_CASE("every configs/*.yaml loads and validates", "[config]") {
    int n = 0;
    for (const auto& e : fs::directory_iterator(kSource / "configs")) {
        if (e.path().extension() != ".yaml") continue;
        ++n;
        INFO(e.path().string());
        LoadedConfig lc;
        REQUIRE_NOTHROW(lc = load_config_traced(e.path().string()));
        if (e.path().filename() == "minimal.yaml") continue;
        // the variants give only keys that differ from the defaults
        const std::vector<std::string> diff = config_diff(lc.config, Config{});
        CHECK(lc.origins.size() == diff.size());
        for (const auto& [key, where] : lc.origins) {
            INFO(key << " set at " << where);
            CHECK(std::find(diff.begin(), diff.end(), key) != diff.end());
        }
    }
    CHECK(n >= 5);
}

TEST_CASE("configs/minimal.yaml gives every key and equals the defaults", "[config][minimal]") {
    const std::string p = (kSource / "configs" / "minimal.yaml").string();
    const LoadedConfig lc = load_config_traced(p);
    for (const KeySpec& k : config_keys()) {
        INFO("configs/minimal.yaml is missing " << k.path << ": " << k.leaf() << ": "
                                                << key_value_text(k, Config{}));
        CHECK(lc.origins.count(k.path) == 1);
    }
    const std::vector<std::string> diff = config_diff(lc.config, Config{});
    for (const std::string& key : diff)
        FAIL_CHECK("configs/minimal.yaml disagrees with config.hpp on " << key << ": file "
                                                                          << key_value_text(*find_key(key), lc.config)
                                                                          << ", code "
                                                                          << key_value_text(*find_key(key), Config{}));
    CHECK(diff.empty());
}

TEST_CASE("docs/config.md has the row of every key", "[config][docs]") {
    const std::string docs = read_file(kSource / "docs" / "config.md");
    REQUIRE_FALSE(docs.empty());
    bool all = true;
    for (const KeySpec& k : config_keys()) {
        const std::string row = key_doc_row(k);
        INFO("docs/config.md lacks this row (or it is out of date):\n" << row);
        const bool found = docs.find(row + "\n") != std::string::npos;
        CHECK(found);
        all = all && found;
    }
    if (!all) {
        // The full generated table, to paste into docs/config.md.
        const fs::path out = fs::path(CTR_BINARY_DIR) / "config-keys.md";
        std::ofstream(out) << config_keys_markdown();
        WARN("generated table written to " << out.string());
    }
    // and no row for a key that no longer exists
    std::istringstream lines(docs);
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind("| `", 0) != 0) continue;
        const std::string path = line.substr(3, line.find('`', 3) - 3);
        INFO("docs/config.md documents a key the table does not have: " << path);
        CHECK(find_key(path) != nullptr);
    }
}
