// ctr-train as a user meets it: the real binary, run in a fresh temp directory. Bad
// input exits 2 with a message naming the file and line (or the flag), the key and what
// was expected, and writes no run file; existing output is refused unless --overwrite;
// an unwritable output fails cleanly; a resumed run only accepts a new length.
#include <catch2/catch.hpp>
#include <sstream>

#include "cli_helpers.hpp"

using namespace ctr_test;

namespace {

// A small, quick run (about 0.1 s): 40 steps of a minimal model on few sequences.
const std::vector<std::string> kSmall = {"--quiet",
                                         "--set", "train.steps=40",
                                         "--set", "task.train_size=256",
                                         "--set", "train.batch_size=64",
                                         "--set", "task.eval_size=64",
                                         "--set", "task.probe_size=4",
                                         "--set", "train.eval_every=10",
                                         "--set", "log.checkpoint_every=20"};

// Nothing that looks like a run file (or the default runs/ directory) below dir, other
// than the files the test put there itself.
void require_no_run_file(const TempDir& t, const std::vector<std::string>& allowed = {}) {
    INFO("files in " << t.dir.string());
    for (const std::string& f : files_under(t.dir)) {
        if (std::find(allowed.begin(), allowed.end(), f) != allowed.end()) continue;
        INFO("unexpected file " << f);
        CHECK_FALSE(f.find(".h5") != std::string::npos);
    }
    CHECK_FALSE(fs::exists(t.dir / "runs"));
}

struct BadInput {
    std::string name;
    std::vector<std::string> args;          // "CFG" stands for the test's config file
    std::string yaml;                        // written to cfg.yaml when not empty
    std::vector<std::string> expect;         // substrings of stderr
};

}  // namespace

TEST_CASE("ctr-train: bad input exits 2, says where and what, and writes nothing", "[cli]") {
    const std::string minimal = minimal_config();
    const std::vector<BadInput> cases = {
        {"unknown key in the YAML",
         {"CFG"},
         "model:\n  n_layers: 2\n  d_modle: 4\n",
         {"cfg.yaml:3:3", "model.d_modle", "did you mean", "\"model.d_model\""}},
        {"wrong type",
         {"CFG"},
         "model:\n  d_model: abc\n",
         {"cfg.yaml:2:12", "model.d_model", "expected an integer", "'abc'"}},
        {"out-of-range value",
         {"CFG"},
         "train:\n  lr: -1\n",
         {"cfg.yaml:2:7", "train.lr", "expected a number > 0", "'-1'"}},
        {"cross-key constraint",
         {"CFG"},
         "task:\n  train_size: 64\ntrain:\n  batch_size: 128\n",
         {"cfg.yaml", "train.batch_size", "task.train_size", "batch_size <= train_size"}},
        {"missing config file", {"no_such.yaml"}, "", {"no_such.yaml", "cannot read config file"}},
        {"malformed YAML",
         {"CFG"},
         "model:\n  d_model: [1, 2\n",
         {"cfg.yaml:", "malformed YAML"}},
        {"--set of a nonexistent key",
         {minimal, "--set", "model.d_modle=3"},
         "",
         {"--set model.d_modle=3", "unknown key \"model.d_modle\"", "did you mean \"model.d_model\""}},
        {"--set of a bad value",
         {minimal, "--set", "model.d_model=0"},
         "",
         {"--set model.d_model=0", "model.d_model", "expected an integer >= 1", "'0'"}},
        {"--set without '='",
         {minimal, "--set", "model.d_model"},
         "",
         {"--set model.d_model", "expected key=value"}},
        {"--seed abc", {minimal, "--seed", "abc"}, "", {"--seed abc", "seed", "expected an integer", "'abc'"}},
        {"an unknown flag", {minimal, "--bogus"}, "", {"--bogus", "usage: ctr-train"}},
        {"no config given", {}, "", {"missing CONFIG.yaml", "usage: ctr-train"}},
        {"--set without a value", {minimal, "--set"}, "", {"--set", "usage: ctr-train"}},
        {"two configs", {minimal, minimal}, "", {"usage: ctr-train"}},
        {"--out of an existing directory",
         {minimal, "--out", "adir"},
         "",
         {"--out adir", "is a directory"}},
    };
    for (const BadInput& c : cases) {
        SECTION(c.name) {
            TempDir t("cli_bad");
            std::vector<std::string> allowed;
            if (!c.yaml.empty()) {
                t.write("cfg.yaml", c.yaml);
                allowed.push_back("cfg.yaml");
            }
            fs::create_directories(t.dir / "adir");
            std::vector<std::string> args;
            for (const std::string& a : c.args) args.push_back(a == "CFG" ? "cfg.yaml" : a);
            const Result r = run_ctr(with(args, {"--set", "train.steps=5", "--quiet"}), t.dir);
            INFO("stderr: " << r.err);
            CHECK(r.code == 2);
            CHECK(r.err.rfind("ctr-train: error: ", 0) == 0);
            for (const std::string& e : c.expect) CHECK_THAT(r.err, Catch::Matchers::Contains(e));
            CHECK(r.out.empty());
            require_no_run_file(t, allowed);
            CHECK(fs::is_empty(t.dir / "adir"));
        }
    }
}

TEST_CASE("ctr-train --help exits 0 and prints the usage", "[cli]") {
    TempDir t("cli_help");
    const Result r = run_ctr({"--help"}, t.dir);
    CHECK(r.code == 0);
    CHECK_THAT(r.out, Catch::Matchers::Contains("usage: ctr-train CONFIG.yaml"));
    CHECK_THAT(r.out, Catch::Matchers::Contains("--resume"));
    CHECK_THAT(r.out, Catch::Matchers::Contains("--overwrite"));
    require_no_run_file(t);
}

TEST_CASE("ctr-train writes the default run file, refuses to replace it, and --overwrite replaces it", "[cli]") {
    TempDir t("cli_out");
    // The small run's settings in the file: --set flags would enter the default name.
    const std::string cfg = t.write("tiny.yaml", "seed: 3\ntrain: {steps: 40, batch_size: 64, eval_every: 10}\n"
                                                 "task: {train_size: 256, eval_size: 64, probe_size: 4}\n"
                                                 "log: {checkpoint_every: 20}\n");
    const std::vector<std::string> kSmall = {"--quiet"};
    // Default output: runs/<config stem>-seed<seed>.h5 below the working directory.
    const Result first = run_ctr(with({cfg}, kSmall), t.dir);
    INFO("stderr: " << first.err);
    REQUIRE(first.code == 0);
    const fs::path out = t.dir / "runs" / "tiny-seed3.h5";
    REQUIRE(fs::exists(out));
    CHECK_THAT(first.out, Catch::Matchers::Contains("runs/tiny-seed3.h5"));
    const std::string before = read_file_bytes(out);

    SECTION("the same command again is refused and leaves the file byte-identical") {
        const Result again = run_ctr(with({cfg}, kSmall), t.dir);
        INFO("stderr: " << again.err);
        CHECK(again.code == 2);
        CHECK_THAT(again.err, Catch::Matchers::Contains("runs/tiny-seed3.h5"));
        CHECK_THAT(again.err, Catch::Matchers::Contains("--overwrite"));
        CHECK_THAT(again.err, Catch::Matchers::Contains("--resume runs/tiny-seed3.h5"));
        CHECK(read_file_bytes(out) == before);
        // Also with an explicit --out naming it.
        const Result explicit_out = run_ctr(with({cfg, "--out", out.string()}, kSmall), t.dir);
        CHECK(explicit_out.code == 2);
        CHECK(read_file_bytes(out) == before);
    }
    SECTION("--overwrite replaces it with the new run") {
        const Result over = run_ctr(with({cfg, "--overwrite", "--out", "runs/tiny-seed3.h5", "--seed", "11"}, kSmall), t.dir);
        INFO("stderr: " << over.err);
        REQUIRE(over.code == 0);
        CHECK(read_file_bytes(out) != before);
        H5File f(out.string());
        CHECK(h5_attr_number<uint64_t>(f.id(), "/", "seed") == 11);
        CHECK(h5_attr_string(f.id(), "/", "status") == "complete");
        CHECK(h5_read<int64_t>(f.id(), "/metrics/step").back() == 40);
    }
    // No temporary or stray files beside the run file.
    CHECK(files_under(t.dir / "runs") == std::vector<std::string>{"tiny-seed3.h5"});
}

TEST_CASE("ctr-train: an unwritable output location fails cleanly", "[cli]") {
    TempDir t("cli_unwritable");
    const std::string blocker = t.write("plain_file", "not a directory\n");
    const std::string minimal = minimal_config();
    // The tests run as root, for whom permissions do not stop writes: use paths whose
    // parent is a regular file, or a file system nobody can create files in.
    for (const std::string& out : {blocker + "/x.h5", blocker + "/sub/dir/x.h5", std::string("/proc/ctr_test_run.h5")}) {
        const Result r = run_ctr(with({minimal, "--out", out}, kSmall), t.dir);
        INFO("--out " << out << "\nstderr: " << r.err);
        CHECK(r.code == 1);
        CHECK(r.err.rfind("ctr-train: error: --out " + out + ": ", 0) == 0);
        CHECK(r.err.find('\n') == r.err.size() - 1);  // one clear line, no HDF5 error stack
        CHECK_FALSE(fs::exists(out));
    }
    CHECK(read_file_bytes(blocker) == "not a directory\n");
    require_no_run_file(t);
}

TEST_CASE("ctr-train --resume only lengthens a run", "[cli]") {
    TempDir t("cli_resume");
    const std::string minimal = minimal_config();
    const Result made = run_ctr(with({minimal, "--out", "run.h5"}, kSmall), t.dir);
    INFO("stderr: " << made.err);
    REQUIRE(made.code == 0);
    const std::string before = read_file_bytes(t.dir / "run.h5");

    struct Refused {
        std::vector<std::string> args;
        std::vector<std::string> expect;
    };
    const std::vector<Refused> refused = {
        {{"--set", "train.lr=0.1"}, {"--set train.lr=0.1", "train.epochs or train.steps"}},
        {{"--set", "train.steps=80", "--set", "model.d_model=4"}, {"--set model.d_model=4", "lengthened"}},
        {{"--set", "seed=5"}, {"--set seed=5", "lengthened"}},
        {{"--seed", "5"}, {"--seed", "do not apply"}},
        {{"--out", "other.h5"}, {"--out", "do not apply"}},
        {{"--overwrite"}, {"--overwrite", "do not apply"}},
        {{"--set", "train.steps=20"}, {"planned for 40 steps", "give 20", "lengthened"}},
        {{"--set", "train.steps=abc"}, {"train.steps", "'abc'"}},
        {{minimal}, {"either a config or --resume"}},
    };
    for (const Refused& c : refused) {
        const Result r = run_ctr(with({"--resume", "run.h5", "--quiet"}, c.args), t.dir);
        INFO("args: " << Catch::Detail::stringify(c.args) << "\nstderr: " << r.err);
        CHECK(r.code == 2);
        for (const std::string& e : c.expect) CHECK_THAT(r.err, Catch::Matchers::Contains(e));
        CHECK(read_file_bytes(t.dir / "run.h5") == before);
    }

    SECTION("a missing or foreign resume file is a clear error") {
        const Result missing = run_ctr({"--resume", "nothing.h5"}, t.dir);
        CHECK(missing.code != 0);
        CHECK_THAT(missing.err, Catch::Matchers::Contains("nothing.h5"));
        CHECK_THAT(missing.err, Catch::Matchers::Contains("does not exist"));
        t.write("notes.txt", "hello\n");
        const Result foreign = run_ctr({"--resume", "notes.txt"}, t.dir);
        CHECK(foreign.code != 0);
        CHECK_THAT(foreign.err, Catch::Matchers::Contains("notes.txt"));
        CHECK(read_file_bytes(t.dir / "notes.txt") == "hello\n");
    }
    SECTION("lengthening is accepted") {
        const Result r = run_ctr({"--resume", "run.h5", "--quiet", "--set", "train.steps=60"}, t.dir);
        INFO("stderr: " << r.err);
        CHECK(r.code == 0);
        // the speed counts this session's 20 steps, not the run's 60
        CHECK_THAT(r.out, Catch::Matchers::Contains("done: step 60, resumed at step 40: 20 steps in"));
        H5File f(t.path("run.h5"));
        CHECK(h5_read<int64_t>(f.id(), "/metrics/step").back() == 60);
        CHECK(h5_attr_string(f.id(), "/", "status") == "complete");
        // provenance: the resume is the second session and the last command line
        CHECK(h5_attr_number<int64_t>(f.id(), "/", "sessions") == 2);
        CHECK_THAT(h5_attr_string(f.id(), "/", "last_command_line"), Catch::Matchers::Contains("--resume run.h5"));
        CHECK_THAT(h5_attr_string(f.id(), "/", "command_line"), !Catch::Matchers::Contains("--resume"));
    }
}

TEST_CASE("a failed run says what it means and what to try, with commands that work as printed", "[cli]") {
    TempDir t("cli_failure");
    // Seed 0 of the paper's config stalls; 300 steps are enough to see it.
    const Result r = run_ctr({minimal_config(), "--seed", "0", "--set", "train.steps=300", "--out", "s0.h5"}, t.dir);
    INFO("stdout: " << r.out << "stderr: " << r.err);
    REQUIRE(r.code == 0);
    CHECK_THAT(r.out, Catch::Matchers::Contains("verdict: failure"));
    CHECK_THAT(r.out, Catch::Matchers::Contains("stalled before catch"));
    CHECK_THAT(r.out, Catch::Matchers::Contains("what this means: the run stalled before catch"));
    CHECK_THAT(r.out, Catch::Matchers::Contains("only part of the seeds"));
    // The hint repeats the run's own --set flags and names this very binary.
    const std::string prog = std::string(CTR_BINARY_DIR) + "/ctr-train";
    const std::string hint = prog + " " + minimal_config() + " --set train.steps=300 --seed 4";
    CHECK_THAT(r.out, Catch::Matchers::Contains("what to try: another seed:  " + hint));
    // ... and works as printed.
    std::vector<std::string> words;
    const size_t at = r.out.find(hint);
    std::istringstream line(r.out.substr(at, r.out.find('\n', at) - at));
    for (std::string w; line >> w;) words.push_back(w);
    REQUIRE(words.front() == prog);
    const Result again = run_command(with(words, {"--quiet"}), t.dir);
    INFO("hint run: " << again.out << again.err);
    CHECK(again.code == 0);
    CHECK_THAT(again.out, Catch::Matchers::Contains("done: 300 steps"));
}

TEST_CASE("a run that formed the mechanism and lost it points at ctr-plot, which exists, to see it", "[cli]") {
    TempDir t("cli_lost");
    // Seed 0's first steps, with thresholds low enough that catch and release hold at
    // step 0 and release is lost by step 120 (the analysis keys change no trained number).
    const Result r = run_ctr({minimal_config(), "--seed", "0", "--set", "train.steps=300", "--set",
                              "analysis.catch_threshold=0.05", "--set", "analysis.release_threshold=0.2", "--out",
                              "lost.h5", "--quiet"},
                             t.dir);
    INFO("stdout: " << r.out << "stderr: " << r.err);
    REQUIRE(r.code == 0);
    CHECK_THAT(r.out, Catch::Matchers::Contains("what this means: the mechanism formed at step 0 and was lost for good"));
    const std::string label = "the model when it had the mechanism:  ";
    const size_t at = r.out.find(label);
    REQUIRE(at != std::string::npos);
    std::vector<std::string> words;
    std::istringstream line(r.out.substr(at + label.size(), r.out.find('\n', at) - at - label.size()));
    for (std::string w; line >> w;) words.push_back(w);
    REQUIRE(words.size() == 3);
    CHECK(words[0] == std::string(CTR_BINARY_DIR) + "/ctr-plot");
    CHECK(fs::exists(words[0]));
    CHECK(words[1] == "run");
    CHECK(fs::exists(t.dir / words[2]));
}
