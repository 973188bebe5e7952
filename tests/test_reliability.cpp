// No lost or silently wrong run (docs/reliability.md), with the real binaries: one
// writer per run file whatever HDF5_USE_FILE_LOCKING says, --overwrite that keeps the
// old run until the new one stands, divergence, resource limits, a message and exit
// code per cause, a run resumable from step 0, SIGHUP as SIGTERM.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <regex>
#include <thread>

#include "cli_helpers.hpp"

using namespace ctr_test;

namespace {

// A quick run: 40 steps, a checkpoint every 20.
const std::vector<std::string> kSmall = sets({"train.steps=40", "task.train_size=256", "train.batch_size=64",
                                              "task.eval_size=64", "task.probe_size=4", "train.eval_every=10",
                                              "log.checkpoint_every=20"});
// A run to act on while it trains, with a progress line every 10 steps: 6,000 steps
// (about 0.5 s, less as the step gets faster). A test acts on it once a progress line
// says where it is; Child's one-page pipe then holds it within 1,000 steps of that line
// until the test reads on, so it is still training when the test acts.
const std::vector<std::string> kLong = sets({"train.steps=6000", "task.train_size=1024", "train.batch_size=32",
                                             "task.eval_size=64", "task.probe_size=4", "train.eval_every=50",
                                             "log.checkpoint_every=100", "log.snapshot_dense=2",
                                             "log.snapshot_per_decade=2", "log.snapshot_every=30",
                                             "log.progress_every=10"});

// Sets an environment variable for the children started while it lives.
struct ScopedEnv {
    std::string name;
    ScopedEnv(std::string n, const char* value) : name(std::move(n)) {
        if (value) ::setenv(name.c_str(), value, 1);
        else ::unsetenv(name.c_str());
    }
    ~ScopedEnv() { ::unsetenv(name.c_str()); }
};

Result inspect(const std::vector<std::string>& args, const fs::path& cwd) {
    std::vector<std::string> argv{std::string(CTR_BINARY_DIR) + "/ctr-inspect"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, cwd);
}

std::string status_of(const std::string& path) {
    H5File f(path);
    return h5_attr_string(f.id(), "/", "status");
}

// Every dataset of two run files, bit for bit, and their status.
bool same_run(const std::string& a_path, const std::string& b_path) {
    H5File a(a_path), b(b_path);
    for (const char* group : {"/metrics", "/snapshots", "/checkpoint", "/probe"}) {
        const auto names = h5_datasets(a.id(), group);
        if (names != h5_datasets(b.id(), group)) return false;
        for (const std::string& n : names)
            if (h5_raw(a.id(), n) != h5_raw(b.id(), n)) return false;
    }
    return h5_attrs(a.id(), "/verdict") == h5_attrs(b.id(), "/verdict") &&
           h5_attr_string(a.id(), "/", "status") == h5_attr_string(b.id(), "/", "status");
}

// A child on its way: past its first checkpoint, so its file exists at its path; and,
// held by its pipe, short of its end (kLong) until the test reads its output again.
void wait_until_training(Child& c, long long step = 200) {
    REQUIRE(c.wait_for_line([&](const std::string& l) { return progress_step(l) >= step; }));
}

}  // namespace

TEST_CASE("a second writer, resume or overwrite of a run being written is refused, naming the holder",
          "[reliability][lock]") {
    for (const char* locking : {"TRUE", "FALSE"}) {
        DYNAMIC_SECTION("HDF5_USE_FILE_LOCKING=" << locking) {
            ScopedEnv env("HDF5_USE_FILE_LOCKING", locking);
            TempDir t("rel_lock");
            Child writer(with({minimal_config(), "--out", "run.h5"}, kLong), t.dir);
            wait_until_training(writer);
            const std::string holder = "pid " + std::to_string(writer.pid()) + " on host ";
            const std::vector<std::vector<std::string>> others = {
                {"--resume", "run.h5", "--quiet"},
                with({minimal_config(), "--out", "run.h5", "--overwrite", "--quiet"}, kSmall),
                with({minimal_config(), "--out", "run.h5", "--quiet"}, kSmall),
            };
            for (const auto& args : others) {
                const Result r = run_ctr(args, t.dir);
                INFO(Catch::Detail::stringify(args) << "\nstderr: " << r.err);
                CHECK(r.code == 4);
                CHECK_THAT(r.err, Catch::Matchers::Contains("run.h5 is being written by another process: " + holder));
            }
            writer.signal(SIGINT);
            REQUIRE(writer.wait() == 130);
            CHECK(status_of(t.path("run.h5")) == "interrupted");
            CHECK_FALSE(fs::exists(t.path("run.h5.lock")));
            // Once it has stopped, a resume goes ahead and finishes it.
            const Result r = run_ctr({"--resume", "run.h5", "--quiet"}, t.dir);
            INFO(r.err);
            CHECK(r.code == 0);
            CHECK(status_of(t.path("run.h5")) == "complete");
        }
    }
}

TEST_CASE("a run file another HDF5 program holds locked is refused as locked", "[reliability][lock]") {
    TempDir t("rel_flock");
    REQUIRE(run_ctr(with({minimal_config(), "--out", "run.h5"}, kSmall), t.dir).code == 0);
    const int fd = ::open(t.path("run.h5").c_str(), O_RDONLY);
    REQUIRE(fd >= 0);
    REQUIRE(::flock(fd, LOCK_EX) == 0);  // what HDF5 (h5py, HDFView) takes on open
    const std::string before = read_file_bytes(t.dir / "run.h5");
    const Result r = run_ctr({"--resume", "run.h5", "--set", "train.steps=60"}, t.dir);
    ::close(fd);
    INFO(r.err);
    CHECK(r.code == 4);
    CHECK_THAT(r.err, Catch::Matchers::Contains("is locked by another process"));
    CHECK(read_file_bytes(t.dir / "run.h5") == before);
}

TEST_CASE("overwrite: the old run stays until the new one holds a checkpoint, and replaces only run files",
          "[reliability][overwrite]") {
    TempDir t("rel_overwrite");
    REQUIRE(run_ctr(with({minimal_config(), "--out", "run.h5", "--quiet"}, kSmall), t.dir).code == 0);
    const std::string old_run = read_file_bytes(t.dir / "run.h5");

    SECTION("a new run refused before it starts leaves the old one") {
        const Result r = run_ctr(with({minimal_config(), "--out", "run.h5", "--overwrite", "--max-memory", "1K"}, kSmall),
                                 t.dir);
        INFO(r.err);
        CHECK(r.code == 2);
        CHECK(read_file_bytes(t.dir / "run.h5") == old_run);
        CHECK(files_under(t.dir) == std::vector<std::string>{"run.h5"});
    }
    SECTION("a new run killed at any moment leaves the old run or a resumable new one") {
        int old_kept = 0, new_resumable = 0;
        for (int delay_ms : {0, 2, 5, 10, 20, 40, 80}) {
            {
                Child c(with({minimal_config(), "--out", "run.h5", "--overwrite", "--seed", "7"}, kLong), t.dir);
                std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
                c.signal(SIGKILL);
                c.wait();
            }
            INFO("killed after " << delay_ms << " ms");
            REQUIRE(fs::exists(t.dir / "run.h5"));
            if (read_file_bytes(t.dir / "run.h5") == old_run) {
                ++old_kept;
                continue;
            }
            // The new run: it has its step-0 checkpoint, so it resumes.
            H5File f(t.path("run.h5"));
            CHECK(h5_attr_number<uint64_t>(f.id(), "/", "seed") == 7);
            CHECK(h5_exists(f.id(), "/checkpoint"));
            ++new_resumable;
            break;
        }
        CHECK(old_kept + new_resumable >= 1);
    }
    SECTION("a file that is not a run file is never replaced") {
        const std::string cfg = t.write("my.yaml", "seed: 1\n");
        const Result r = run_ctr(with({cfg, "--out", cfg, "--overwrite"}, kSmall), t.dir);
        INFO(r.err);
        CHECK(r.code == 2);
        CHECK_THAT(r.err, Catch::Matchers::Contains("refusing to replace"));
        CHECK_THAT(r.err, Catch::Matchers::Contains("not an HDF5 file"));
        CHECK(read_file_bytes(cfg) == "seed: 1\n");
        // Nor an HDF5 file of another program.
        const std::string other = t.path("other.h5");
        H5Fclose(H5Fcreate(other.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
        const std::string other_bytes = read_file_bytes(other);
        const Result r2 = run_ctr(with({minimal_config(), "--out", "other.h5", "--overwrite"}, kSmall), t.dir);
        INFO(r2.err);
        CHECK(r2.code == 2);
        CHECK_THAT(r2.err, Catch::Matchers::Contains("not a ctr run file"));
        CHECK(read_file_bytes(other) == other_bytes);
    }
}

TEST_CASE("a run is resumable from step 0 and a rerun of one killed early is not sent to --resume",
          "[reliability][resume]") {
    TempDir t("rel_step0");
    {
        // Its next checkpoint at step 5,000: the kill lands before it (within 1,000 steps of
        // step 10, the first progress line), however fast the run.
        Child c(with({minimal_config(), "--out", "run.h5"}, with(kLong, sets({"log.checkpoint_every=5000"}))), t.dir);
        wait_until_training(c, 1);
        c.signal(SIGKILL);
        c.wait();
    }
    {
        H5File f(t.path("run.h5"));
        CHECK(h5_attr_number<int64_t>(f.id(), "/checkpoint", "step") == 0);
    }
    const Result r = run_ctr({"--resume", "run.h5", "--quiet"}, t.dir);
    INFO(r.err);
    CHECK(r.code == 0);
    CHECK(status_of(t.path("run.h5")) == "complete");
    CHECK_FALSE(fs::exists(t.path("run.h5.creating")));
}

TEST_CASE("a no-op resume of a complete run changes nothing, a stale staging group is removed", "[reliability][resume]") {
    TempDir t("rel_noop");
    const Result first = run_ctr(with({minimal_config(), "--out", "run.h5"}, kSmall), t.dir);
    REQUIRE(first.code == 0);
    // The hint of a failed run quotes the peak catch or release of its snapshots; the
    // no-op resume, which reads them from the file, quotes the same.
    const auto hint = [](const std::string& out) {
        const size_t at = out.find("what this means: ");
        return at == std::string::npos ? std::string() : out.substr(at, out.find('\n', at) - at);
    };
    REQUIRE_FALSE(hint(first.out).empty());
    const std::string done = read_file_bytes(t.dir / "run.h5");
    for (int i = 0; i < 3; ++i) {
        const Result r = run_ctr({"--resume", "run.h5"}, t.dir);
        INFO(r.err);
        CHECK(r.code == 0);
        CHECK_THAT(r.out, Catch::Matchers::Contains("nothing to do"));
        CHECK_THAT(r.out, Catch::Matchers::Contains("verdict: "));
        CHECK(hint(r.out) == hint(first.out));
        CHECK(read_file_bytes(t.dir / "run.h5") == done);
    }
    // A half-written checkpoint a killed writer left: removed by the next resume.
    REQUIRE(run_ctr(with({minimal_config(), "--out", "b.h5", "--quiet"}, kSmall), t.dir).code == 0);
    {
        const hid_t f = H5Fopen(t.path("b.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
        REQUIRE(f >= 0);
        REQUIRE(H5Ocopy(f, "checkpoint", f, "checkpoint.new", H5P_DEFAULT, H5P_DEFAULT) >= 0);
        REQUIRE(H5Ocopy(f, "checkpoint", f, "checkpoint.new.1", H5P_DEFAULT, H5P_DEFAULT) >= 0);
        H5Fclose(f);
    }
    const Result r = run_ctr({"--resume", "b.h5", "--quiet", "--set", "train.steps=60"}, t.dir);
    INFO(r.err);
    REQUIRE(r.code == 0);
    H5File f(t.path("b.h5"));
    CHECK_FALSE(h5_exists(f.id(), "/checkpoint.new"));
    CHECK_FALSE(h5_exists(f.id(), "/checkpoint.new.1"));
    CHECK(h5_attr_number<int64_t>(f.id(), "/checkpoint", "step") == 60);
}

TEST_CASE("resume checks that the checkpoint belongs to the file's config and seed", "[reliability][resume]") {
    TempDir t("rel_foreign_ckpt");
    REQUIRE(run_ctr(with({minimal_config(), "--out", "a.h5", "--seed", "1", "--quiet"}, kSmall), t.dir).code == 0);
    REQUIRE(run_ctr(with({minimal_config(), "--out", "b.h5", "--seed", "2", "--quiet"}, kSmall), t.dir).code == 0);
    {
        const hid_t a = H5Fopen(t.path("a.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
        const hid_t b = H5Fopen(t.path("b.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
        REQUIRE(a >= 0);
        REQUIRE(b >= 0);
        REQUIRE(H5Ldelete(b, "checkpoint", H5P_DEFAULT) >= 0);
        REQUIRE(H5Ocopy(a, "checkpoint", b, "checkpoint", H5P_DEFAULT, H5P_DEFAULT) >= 0);
        H5Fclose(a);
        H5Fclose(b);
    }
    const std::string before = read_file_bytes(t.dir / "b.h5");
    const Result r = run_ctr({"--resume", "b.h5", "--set", "train.steps=60"}, t.dir);
    INFO(r.err);
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Catch::Matchers::Contains("checkpoint belongs to another run"));
    CHECK_THAT(r.err, Catch::Matchers::Contains("seed"));
    CHECK(read_file_bytes(t.dir / "b.h5") == before);
}

TEST_CASE("SIGHUP and SIGTERM stop a run like Ctrl-C, resumable", "[reliability][signals]") {
    for (int sig : {SIGHUP, SIGTERM}) {
        DYNAMIC_SECTION("signal " << sig) {
            TempDir t("rel_hup");
            {
                Child c(with({minimal_config(), "--out", "run.h5"}, kLong), t.dir);
                wait_until_training(c, 300);
                c.signal(sig);
                const int code = c.wait();
                INFO(c.err());
                CHECK(code == 130);
                CHECK_THAT(c.err(), Catch::Matchers::Contains("resume with: " + std::string(CTR_BINARY_DIR) + "/ctr-train --resume run.h5"));
            }
            CHECK(status_of(t.path("run.h5")) == "interrupted");
            const Result r = run_ctr({"--resume", "run.h5", "--quiet"}, t.dir);
            CHECK(r.code == 0);
        }
    }
}

TEST_CASE("divergence stops the run at that step with exit 3, status diverged and a verdict that says so",
          "[reliability][divergence]") {
    TempDir t("rel_diverge");
    const auto diverging = with(with({minimal_config(), "--out", "nan.h5", "--quiet"}, kSmall),
                                sets({"train.optimizer=sgd", "train.lr=1.0e+4"}));
    const Result r = run_ctr(diverging, t.dir);
    INFO(r.err);
    REQUIRE(r.code == 3);
    std::smatch m;
    REQUIRE(std::regex_search(r.err, m, std::regex("the run diverged: (training loss|gradient norm) is -?(nan|inf) at step (\\d+)")));
    const long long step = std::stoll(m[3]);
    CHECK(step >= 1);
    CHECK_THAT(r.out, Catch::Matchers::Contains("verdict: diverged: "));
    {
        H5File f(t.path("nan.h5"));
        CHECK(h5_attr_string(f.id(), "/", "status") == "diverged");
        CHECK(h5_attr_string(f.id(), "/verdict", "summary").rfind("diverged: ", 0) == 0);
        CHECK(h5_attr_number<int64_t>(f.id(), "/verdict", "success") == 0);
        const auto steps = h5_read<int64_t>(f.id(), "/metrics/step");
        CHECK(steps.back() == step);  // the row of the step that diverged, everything before it
        const auto loss = h5_read<double>(f.id(), "/metrics/train_loss");
        for (size_t i = 1; i + 1 < loss.size(); ++i) CHECK(std::isfinite(loss[i]));
        CHECK(h5_attr_number<int64_t>(f.id(), "/checkpoint", "step") < step);
    }
    const Result shown = inspect({"nan.h5"}, t.dir);
    CHECK(shown.code == 0);
    CHECK_THAT(shown.out, Catch::Matchers::Contains("status: diverged"));
    const std::string bytes = read_file_bytes(t.dir / "nan.h5");
    const Result again = run_ctr({"--resume", "nan.h5"}, t.dir);
    CHECK(again.code == 2);
    CHECK_THAT(again.err, Catch::Matchers::Contains("diverge again"));
    CHECK(read_file_bytes(t.dir / "nan.h5") == bytes);

    SECTION("train.stop_on_divergence=false trains on, and the verdict still says it diverged") {
        const Result on = run_ctr(with(with({minimal_config(), "--out", "on.h5", "--quiet"}, kSmall),
                                       sets({"train.optimizer=sgd", "train.lr=1.0e+4", "train.stop_on_divergence=false"})),
                                  t.dir);
        INFO(on.err);
        CHECK(on.code == 0);
        CHECK_THAT(on.err, Catch::Matchers::Contains("warning: the run diverged at step"));
        H5File f(t.path("on.h5"));
        CHECK(h5_attr_string(f.id(), "/", "status") == "complete");
        CHECK(h5_attr_string(f.id(), "/verdict", "summary").rfind("diverged: ", 0) == 0);
        CHECK(h5_read<int64_t>(f.id(), "/metrics/step").back() == 40);
    }
}

TEST_CASE("a NaN that stops a run is written nan, never -nan (docs/reliability.md quotes the message)",
          "[reliability][divergence]") {
    TempDir t("rel_diverge_nan");
    // AdamW at lr 1e200 turns the loss into a NaN with its sign bit set at step 2.
    const Result r = run_ctr(with(with({minimal_config(), "--out", "nan.h5", "--quiet"}, kSmall), sets({"train.lr=1e200"})),
                             t.dir);
    INFO(r.err);
    REQUIRE(r.code == 3);
    CHECK(std::regex_search(r.err, std::regex("the run diverged: (training loss|gradient norm) is (nan|inf|-inf) at step \\d+")));
    CHECK(std::regex_search(r.out, std::regex("verdict: diverged: (training loss|gradient norm) (nan|inf|-inf) at step \\d+")));
    CHECK(r.err.find("-nan") == std::string::npos);
    CHECK(r.out.find("-nan") == std::string::npos);
    H5File f(t.path("nan.h5"));
    CHECK(h5_attr_string(f.id(), "/verdict", "summary").find("-nan") == std::string::npos);
}

TEST_CASE("resource estimates refuse oversized runs by key, before allocating or writing", "[reliability][limits]") {
    TempDir t("rel_limits");
    struct Case {
        std::vector<std::string> args;
        std::vector<std::string> expect;
    };
    const std::vector<Case> cases = {
        {sets({"train.batch_size=4000000", "task.train_size=0", "train.steps=10"}),
         {"memory", "train.batch_size=4000000", "--max-memory"}},
        {sets({"model.n_layers=1000000"}), {"memory", "model.n_layers=1000000"}},
        {sets({"task.seq_len=100000"}), {"task.seq_len=100000"}},
        {sets({"task.probe_size=100000"}), {"task.probe_size=100000"}},
        {sets({"train.steps=100000000", "log.snapshot_every=1"}), {"run file", "log.snapshot_every=1", "--max-file-size"}},
        {{"--max-file-size", "1M"}, {"run file", "above the limit of 1 MiB", "log.snapshots"}},
        {{"--max-memory", "1K"}, {"memory", "above the limit of 1 KiB"}},
        {sets({"model.d_model=2000000000"}), {"more than ctr can index"}},
    };
    for (const Case& c : cases) {
        const Result r = run_ctr(with({minimal_config(), "--out", "x.h5"}, c.args), t.dir);
        INFO(Catch::Detail::stringify(c.args) << "\nstderr: " << r.err);
        CHECK(r.code == 2);
        for (const std::string& e : c.expect) CHECK_THAT(r.err, Catch::Matchers::Contains(e));
        CHECK(files_under(t.dir).empty());
    }
    // Raised, the same run goes ahead.
    const Result ok = run_ctr(with({minimal_config(), "--out", "x.h5", "--quiet", "--max-file-size", "1G"}, kSmall), t.dir);
    CHECK(ok.code == 0);
}

TEST_CASE("bad flags and overflowing values are messages, never signals", "[reliability][limits]") {
    TempDir t("rel_flags");
    struct Case {
        std::vector<std::string> args;
        std::string expect;
    };
    const std::string cfg = minimal_config();
    const std::vector<Case> cases = {
        {{cfg, "--threads", "100000"}, "--threads: expected a whole number from 1 to 64"},
        {{cfg, "--threads", "0"}, "--threads"},
        {{cfg, "--seed", ""}, "--seed: expected a value, got an empty string"},
        {{cfg, "--out", ""}, "--out: expected a value, got an empty string"},
        {{"--resume", ""}, "--resume: expected a value, got an empty string"},
        {{cfg, "--max-memory", "lots"}, "--max-memory: expected a size"},
        {{cfg, "--set", "task.bos=true", "--set", "task.min_before_sep=2147483647"}, "task.min_before_sep"},
        {{cfg, "--set", "task.min_after_sep=2147483647"}, "task.min_after_sep"},
    };
    for (const Case& c : cases) {
        const Result r = run_ctr(c.args, t.dir);
        INFO(Catch::Detail::stringify(c.args) << "\nstderr: " << r.err);
        CHECK(r.code == 2);
        CHECK_THAT(r.err, Catch::Matchers::Contains(c.expect));
        CHECK(files_under(t.dir).empty());
    }
}

TEST_CASE("huge or deeply nested config files are refused", "[reliability][limits]") {
    TempDir t("rel_yaml");
    const std::string deep = t.write("deep.yaml", "model: " + std::string(100000, '[') + "\n");
    const std::string big = t.write("big.yaml", "# " + std::string(20 << 20, 'x') + "\n");
    const std::string nested = t.write("nested.yaml", "seed: 0\nx: " + std::string(5000, '{') + "\n");
    for (const std::string& f : {deep, big, nested}) {
        const Result r = run_ctr({f, "--out", "x.h5"}, t.dir);
        INFO(f << "\nstderr: " << r.err);
        CHECK(r.code == 2);
        CHECK_THAT(r.err, Catch::Matchers::Contains(fs::path(f).filename().string()));
        CHECK_FALSE(fs::exists(t.dir / "x.h5"));
    }
}

TEST_CASE("every cause of an unreadable run file has its own message and the same exit code in both tools",
          "[reliability][messages]") {
    TempDir t("rel_causes");
    REQUIRE(run_ctr(with({minimal_config(), "--out", "good.h5", "--quiet"}, kSmall), t.dir).code == 0);
    const std::string good = read_file_bytes(t.dir / "good.h5");
    t.write("empty.h5", "");
    t.write("text.h5", "hello\n");
    t.write("cut.h5", good.substr(0, good.size() / 2));
    std::string broken = good;
    for (size_t i = 96; i < 4096 && i < broken.size(); ++i) broken[i] = static_cast<char>(0xA5);  // object headers
    t.write("broken.h5", broken);
    fs::create_directories(t.dir / "dir.h5");
    struct Case {
        std::string file, expect;
    };
    const std::vector<Case> cases = {
        {"missing.h5", "does not exist"},
        {"dir.h5", "is a directory"},
        {"empty.h5", "is empty (0 bytes)"},
        {"text.h5", "is not an HDF5 file"},
        {"cut.h5", "is truncated"},
        {"broken.h5", "is damaged"},
    };
    for (const Case& c : cases) {
        const std::string before = fs::is_regular_file(t.dir / c.file) ? read_file_bytes(t.dir / c.file) : "";
        const Result train = run_ctr({"--resume", c.file}, t.dir);
        const Result shown = inspect({c.file}, t.dir);
        INFO(c.file << "\nctr-train: " << train.err << "ctr-inspect: " << shown.err);
        CHECK(train.code == 2);
        CHECK(shown.code == 2);
        CHECK_THAT(train.err, Catch::Matchers::Contains(c.expect));
        CHECK_THAT(shown.err, Catch::Matchers::Contains(c.expect));
        if (fs::is_regular_file(t.dir / c.file)) CHECK(read_file_bytes(t.dir / c.file) == before);
    }
    CHECK(fs::file_size(t.dir / "empty.h5") == 0);
}

TEST_CASE("a file-size limit reached mid-run is a message and exit 1, not SIGXFSZ", "[reliability][messages]") {
    TempDir t("rel_fsize");
    Child c(with({minimal_config(), "--out", "run.h5"}, kLong), t.dir);
    wait_until_training(c, 100);
    const auto size = fs::file_size(t.dir / "run.h5");
    struct rlimit lim {};
    lim.rlim_cur = lim.rlim_max = size + 4096;
    REQUIRE(::prlimit(c.pid(), RLIMIT_FSIZE, &lim, nullptr) == 0);
    const int code = c.wait();
    INFO(c.err());
    CHECK(code == 1);
    CHECK_THAT(c.err(), Catch::Matchers::Contains("file-size limit"));
    CHECK_THAT(c.err(), Catch::Matchers::Contains("ctr-train --resume run.h5"));
    const Result r = run_ctr({"--resume", "run.h5", "--quiet"}, t.dir);
    INFO(r.err);
    CHECK(r.code == 0);
}
