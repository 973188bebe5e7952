// The run file: what the training loop writes (metrics rows, snapshots, checkpoint),
// resuming bit for bit, surviving SIGKILL and Ctrl-C, row-major data as an independent
// reader (h5dump) sees it, and the root attributes. Layout: docs/hdf5-layout.md.
#include <yaml-cpp/yaml.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <ctime>
#include <limits>
#include <optional>
#include <regex>
#include <set>
#include <thread>

#include "cli_helpers.hpp"
#include "ctr_git_describe.hpp"
#include "config/load.hpp"
#include "io/run_file_reader.hpp"
#include "run/snapshot_schedule.hpp"
#include "run/start.hpp"
#include "training/schedule.hpp"
#include "training/trainer.hpp"

using namespace ctr_test;
using ctr::Config;
using ctr::Trainer;

namespace {

// Every dataset of a and b below group: the same names, shapes and bytes. Also
// compares the attributes of /checkpoint.
void require_same_datasets(const std::string& a_path, const std::string& b_path, const std::string& group) {
    H5File a(a_path), b(b_path);
    const std::vector<std::string> names = h5_datasets(a.id(), group);
    REQUIRE(names == h5_datasets(b.id(), group));
    REQUIRE_FALSE(names.empty());
    for (const std::string& n : names) {
        INFO(n);
        CHECK(h5_shape(a.id(), n) == h5_shape(b.id(), n));
        const std::vector<unsigned char> ra = h5_raw(a.id(), n), rb = h5_raw(b.id(), n);
        const auto diff = std::mismatch(ra.begin(), ra.end(), rb.begin(), rb.end());
        INFO("bytes " << ra.size() << " vs " << rb.size() << ", first difference at byte "
                      << (diff.first - ra.begin()));
        const bool same_bytes = ra == rb;
        CHECK(same_bytes);
    }
}

void require_same_checkpoint_attrs(const std::string& a_path, const std::string& b_path) {
    H5File a(a_path), b(b_path);
    for (const char* name : {"step", "epoch", "batch_in_epoch", "opt_t", "row_steps", "metrics_rows", "snapshot_rows"}) {
        INFO(name);
        CHECK(h5_attr_number<int64_t>(a.id(), "/checkpoint", name) == h5_attr_number<int64_t>(b.id(), "/checkpoint", name));
    }
    for (const char* name : {"row_loss_sum", "row_grad_norm_sum"}) {
        INFO(name);
        const double x = h5_attr_number<double>(a.id(), "/checkpoint", name);
        const double y = h5_attr_number<double>(b.id(), "/checkpoint", name);
        CHECK(std::memcmp(&x, &y, sizeof x) == 0);
    }
    for (const char* name : {"shuffle_rng", "fresh_rng"}) {
        INFO(name);
        CHECK(h5_attr_string(a.id(), "/checkpoint", name) == h5_attr_string(b.id(), "/checkpoint", name));
    }
}

// Everything a finished run writes, compared bit for bit.
void require_same_run(const std::string& a, const std::string& b) {
    for (const char* group : {"/metrics", "/snapshots", "/checkpoint", "/probe"}) {
        INFO("group " << group);
        require_same_datasets(a, b, group);
    }
    require_same_checkpoint_attrs(a, b);
    H5File fa(a), fb(b);
    // The end-of-run verdict (attributes of /verdict) is computed from the same history.
    REQUIRE(h5_exists(fa.id(), "/verdict"));
    REQUIRE(h5_exists(fb.id(), "/verdict"));
    CHECK(h5_attrs(fa.id(), "/verdict") == h5_attrs(fb.id(), "/verdict"));
    CHECK(h5_attrs(fa.id(), "/checkpoint") == h5_attrs(fb.id(), "/checkpoint"));
    CHECK(h5_attr_string(fa.id(), "/", "status") == "complete");
    CHECK(h5_attr_string(fb.id(), "/", "status") == "complete");
    CHECK(h5_attr_string(fa.id(), "/", "config") == h5_attr_string(fb.id(), "/", "config"));
}

std::string status_of(const std::string& path) {
    H5File f(path);
    return h5_attr_string(f.id(), "/", "status");
}

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
    return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

bool same_double(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// A run long enough to signal mid-way (3000 steps, about 0.5 s). It flushes only at
// multiples of 50 steps (metrics rows; every other one also a checkpoint), takes
// snapshots in between (every 30 steps), and prints a progress line every 10 steps on
// stderr, so a test knows where it is.
const std::vector<std::string> kLong = sets({"train.steps=3000", "task.train_size=1024", "train.batch_size=32",
                                             "task.eval_size=64", "task.probe_size=4", "train.eval_every=50",
                                             "log.checkpoint_every=100", "log.snapshot_dense=2",
                                             "log.snapshot_per_decade=2", "log.snapshot_every=30",
                                             "log.progress_every=10"});

// The uninterrupted run of kLong, made once per test process.
const std::string& straight_long_run() {
    static TempDir dir("runfile_straight");
    static const std::string path = [] {
        const Result r = run_ctr(with({minimal_config(), "--quiet", "--out", "straight.h5"}, kLong), dir.dir);
        INFO("stderr: " << r.err);
        REQUIRE(r.code == 0);
        return dir.path("straight.h5");
    }();
    return path;
}

// What a killed run must leave: a file h5dump opens, a consistent metrics table, and
// either a checkpoint that resumes to the straight run's result bit for bit, or no
// checkpoint and a clear refusal to resume. Returns whether it resumed.
bool check_killed_run(const TempDir& t, const std::string& name, const std::string& straight,
                      int64_t* rows_after = nullptr) {
    int64_t rows_after_checkpoint = 0;
    const std::string path = t.path(name);
    const Result header = h5dump({"-H"}, path);
    INFO("h5dump -H stderr: " << header.err);
    REQUIRE(header.code == 0);
    bool has_checkpoint;
    {
        H5File f(path);
        CHECK(h5_attr_string(f.id(), "/", "status") == "running");
        const auto steps = h5_read<int64_t>(f.id(), "/metrics/step");
        REQUIRE_FALSE(steps.empty());
        CHECK(steps[0] == 0);
        for (size_t i = 1; i < steps.size(); ++i) CHECK(steps[i] > steps[i - 1]);
        for (const std::string& m : h5_series(f.id(), "/metrics")) {
            INFO(m);
            CHECK(h5_read<double>(f.id(), m).size() == steps.size());
        }
        const auto snaps = h5_read<int64_t>(f.id(), "/snapshots/step");
        for (size_t i = 1; i < snaps.size(); ++i) CHECK(snaps[i] > snaps[i - 1]);
        for (const std::string& d : h5_series(f.id(), "/snapshots")) {
            INFO(d);
            CHECK(h5_shape(f.id(), d).at(0) == snaps.size());
        }
        has_checkpoint = h5_exists(f.id(), "/checkpoint");
        if (has_checkpoint) {
            const auto rows = h5_attr_number<int64_t>(f.id(), "/checkpoint", "metrics_rows");
            CHECK(rows <= static_cast<int64_t>(steps.size()));
            rows_after_checkpoint = static_cast<int64_t>(steps.size()) - rows;
        }
    }
    const Result r = run_ctr({"--resume", name, "--quiet"}, t.dir);
    INFO("resume stderr: " << r.err);
    if (!has_checkpoint) {
        CHECK(r.code == 2);
        CHECK_THAT(r.err, Catch::Matchers::Contains("no checkpoint"));
        CHECK(h5dump({"-H"}, path).code == 0);
        return false;
    }
    if (rows_after) *rows_after = rows_after_checkpoint;
    REQUIRE(r.code == 0);
    CHECK(status_of(path) == "complete");
    require_same_run(path, straight);
    return true;
}

}  // namespace

TEST_CASE("the training loop writes the metrics table, snapshots and checkpoint it documents", "[runfile]") {
    // 23 steps, a row every 5: rows at 0, 5, 10, 15, 20 and the off-schedule final 23.
    const Config cfg = ctr::config_from_overrides(
        {"task.train_size=256", "train.batch_size=32", "task.eval_size=64", "task.probe_size=3", "train.steps=23",
         "train.eval_every=5", "log.checkpoint_every=10", "log.snapshot_dense=2", "log.snapshot_per_decade=3",
         "log.snapshot_every=7", "train.schedule=cosine", "train.warmup_steps=4", "seed=2"});
    TempDir t("runfile_loop");
    const std::string path = t.path("loop.h5");
    {
        ctr::Run run = ctr::start_run({cfg, path, false});
        // Staged until its first checkpoint (step 0, written by train()).
        CHECK(fs::exists(path + ".creating"));
        CHECK_FALSE(fs::exists(path));
        CHECK(fs::exists(path + ".lock"));
        REQUIRE(run.train().end == ctr::LoopEnd::kFinished);
        CHECK_FALSE(fs::exists(path + ".creating"));
    }
    CHECK_FALSE(fs::exists(path + ".lock"));

    // The same run stepped by hand: the expected rows.
    Trainer ref(cfg);
    std::vector<int64_t> row_steps{0}, snap_steps;
    std::vector<double> train_loss{std::numeric_limits<double>::quiet_NaN()}, grad_norm{train_loss[0]},
        lr{train_loss[0]}, eval_loss{ref.evaluate().loss};
    std::vector<std::vector<double>> snap_params;
    if (ctr::is_snapshot_step(cfg.log, 0)) {
        snap_steps.push_back(0);
        snap_params.push_back(ref.state().params);
    }
    double loss_sum = 0, norm_sum = 0;
    int n = 0;
    while (!ref.done()) {
        const ctr::StepStats s = ref.train_step();
        loss_sum += s.loss;
        norm_sum += s.grad_norm;
        ++n;
        const bool last = ref.done();
        if (s.step % 5 == 0 || last) {
            row_steps.push_back(s.step);
            train_loss.push_back(loss_sum / n);
            grad_norm.push_back(norm_sum / n);
            lr.push_back(s.lr);
            eval_loss.push_back(ref.evaluate().loss);
            loss_sum = norm_sum = 0;
            n = 0;
        }
        if (ctr::is_snapshot_step(cfg.log, s.step) || last) {
            snap_steps.push_back(s.step);
            snap_params.push_back(ref.state().params);
        }
    }
    REQUIRE(row_steps == std::vector<int64_t>{0, 5, 10, 15, 20, 23});
    REQUIRE(snap_steps.back() == 23);
    REQUIRE_FALSE(ctr::is_snapshot_step(cfg.log, 23));  // so the last snapshot is off-schedule

    const ctr::RunFileReader reader = ctr::RunFileReader::open(path);
    const hid_t id = reader.handle();
    const ctr::MetricsTable metrics = reader.metrics();
    CHECK(metrics.step == row_steps);
    const auto& got_loss = metrics.train_loss;
    const auto& got_norm = metrics.grad_norm;
    const auto& got_lr = metrics.lr;
    const auto& got_eval = metrics.eval_loss;
    const auto& got_rel = metrics.eval_rel_error;
    REQUIRE(got_loss.size() == row_steps.size());
    CHECK(std::isnan(got_loss[0]));
    CHECK(std::isnan(got_norm[0]));
    CHECK(std::isnan(got_lr[0]));
    for (size_t i = 1; i < row_steps.size(); ++i) {
        INFO("row " << i << " (step " << row_steps[i] << ")");
        CHECK(same_double(got_loss[i], train_loss[i]));  // mean over the steps since the previous row
        CHECK(same_double(got_norm[i], grad_norm[i]));
        CHECK(same_double(got_lr[i], lr[i]));            // the lr of the row's last step
    }
    for (size_t i = 0; i < row_steps.size(); ++i) {
        CHECK(same_double(got_eval[i], eval_loss[i]));
        CHECK(got_rel[i] > 0);
    }
    CHECK(got_lr[1] != got_lr[5]);  // cosine: the column follows the schedule

    CHECK(reader.snapshot_steps() == snap_steps);
    const ctr::TensorSpec* wq = ref.layout().find("blocks.1.attn.W_Q");
    REQUIRE(wq);
    const auto snap_wq = reader.snapshot_series("params/blocks.1.attn.W_Q");
    REQUIRE(snap_wq.size() == snap_steps.size() * wq->size);
    for (size_t k = 0; k < snap_steps.size(); ++k) {
        INFO("snapshot of step " << snap_steps[k]);
        CHECK(std::memcmp(snap_wq.data() + k * wq->size, snap_params[k].data() + wq->offset, wq->size * sizeof(double)) == 0);
    }
    const size_t n_snap = snap_steps.size();
    for (const std::string& name : h5_series(id, "/snapshots")) {
        INFO(name);
        CHECK(h5_shape(id, name).at(0) == n_snap);
    }

    // The checkpoint holds the final state and the row counts written before it: the
    // off-schedule rows of step 23 come after it.
    const std::optional<ctr::Checkpoint> checkpoint = reader.checkpoint();
    REQUIRE(checkpoint);
    CHECK(same_bits(checkpoint->params, ref.state().params));
    CHECK(same_bits(checkpoint->opt_m, ref.state().opt.m));
    CHECK(same_bits(checkpoint->opt_v, ref.state().opt.v));
    CHECK(checkpoint->step == 23);
    CHECK(checkpoint->metrics_rows == 5);
    CHECK(checkpoint->snapshot_rows == static_cast<int64_t>(n_snap - 1));
    CHECK_FALSE(h5_exists(id, "/checkpoint.new"));
    CHECK(reader.status() == "complete");
}

TEST_CASE("restoring a checkpoint drops the rows written after it", "[runfile]") {
    const Config cfg = ctr::config_from_overrides({"task.train_size=256", "train.batch_size=32", "task.eval_size=64",
                                                   "task.probe_size=3", "train.steps=23", "train.eval_every=5",
                                                   "log.snapshot_dense=1", "log.snapshot_per_decade=0",
                                                   "log.snapshot_every=5"});
    TempDir t("runfile_restore");
    const std::string path = t.path("r.h5");
    ctr::start_run({cfg, path, false}).train();
    {
        H5File f(path);
        REQUIRE(h5_read<int64_t>(f.id(), "/metrics/step") == std::vector<int64_t>{0, 5, 10, 15, 20, 23});
        REQUIRE(h5_read<int64_t>(f.id(), "/snapshots/step") == std::vector<int64_t>{0, 1, 5, 10, 15, 20, 23});
    }
    std::vector<double> restored;
    {
        // Lengthened: a complete run resumed as it is is left untouched.
        const ctr::Run run = ctr::resume_run(path, {"train.steps=30"});
        CHECK(run.trainer().state().step == 23);
        restored = run.trainer().state().params;
    }
    CHECK(same_bits(restored, ctr::RunFileReader::open(path).checkpoint()->params));
    H5File f(path);
    CHECK(h5_read<int64_t>(f.id(), "/metrics/step") == std::vector<int64_t>{0, 5, 10, 15, 20});
    CHECK(h5_read<int64_t>(f.id(), "/snapshots/step") == std::vector<int64_t>{0, 1, 5, 10, 15, 20});
    for (const std::string& name : h5_series(f.id(), "/metrics")) CHECK(h5_shape(f.id(), name).at(0) == 5);
    for (const std::string& name : h5_series(f.id(), "/snapshots")) CHECK(h5_shape(f.id(), name).at(0) == 6);
}

TEST_CASE("resuming a run equals running it straight, bit for bit", "[runfile]") {
    // 8 steps per epoch. The epoch-2 end (step 16) is on neither the metrics (5), the
    // checkpoint (6) nor the snapshot schedule, so the shorter run ends with off-schedule
    // rows that its resume must drop and rewrite as the straight run has them.
    const std::vector<std::string> common =
        with({minimal_config(), "--quiet"},
             sets({"task.train_size=512", "train.batch_size=64", "task.eval_size=64", "task.probe_size=4",
                   "train.eval_every=5", "log.checkpoint_every=6", "log.snapshot_dense=3", "log.snapshot_per_decade=4",
                   "log.snapshot_every=5", "seed=6"}));
    TempDir t("runfile_resume");
    const Result a = run_ctr(with(common, {"--out", "a.h5", "--set", "train.epochs=4"}), t.dir);
    INFO("stderr A: " << a.err);
    REQUIRE(a.code == 0);
    const Result b = run_ctr(with(common, {"--out", "b.h5", "--set", "train.epochs=2"}), t.dir);
    INFO("stderr B: " << b.err);
    REQUIRE(b.code == 0);
    {
        H5File f(t.path("b.h5"));
        CHECK(h5_read<int64_t>(f.id(), "/metrics/step") == std::vector<int64_t>{0, 5, 10, 15, 16});
        CHECK(h5_read<int64_t>(f.id(), "/snapshots/step").back() == 16);
        CHECK(h5_attr_number<int64_t>(f.id(), "/checkpoint", "step") == 16);
        CHECK(h5_attr_number<int64_t>(f.id(), "/checkpoint", "epoch") == 2);
        CHECK(h5_attr_number<int64_t>(f.id(), "/checkpoint", "metrics_rows") == 4);
    }
    const Result resumed = run_ctr({"--resume", "b.h5", "--quiet", "--set", "train.epochs=4"}, t.dir);
    INFO("stderr resume: " << resumed.err);
    REQUIRE(resumed.code == 0);
    {
        H5File f(t.path("a.h5"));
        const auto steps = h5_read<int64_t>(f.id(), "/metrics/step");
        CHECK(steps == std::vector<int64_t>{0, 5, 10, 15, 20, 25, 30, 32});
        const auto snaps = h5_read<int64_t>(f.id(), "/snapshots/step");
        CHECK(std::find(snaps.begin(), snaps.end(), 16) == snaps.end());
    }
    require_same_run(t.path("a.h5"), t.path("b.h5"));
    // The resumed file records its new length.
    H5File f(t.path("b.h5"));
    const Config recorded = ctr::load_config_text(h5_attr_string(f.id(), "/", "config"), "b.h5:/config").config;
    CHECK(recorded.train.epochs == 4);
}

TEST_CASE("a run killed with SIGKILL leaves a readable file that resumes to the straight result", "[runfile][crash]") {
    // The kills land between flushes (every 50 steps; a kill comes a step or two after
    // step 10, 1260, or 2460 + 1 ms, some 3-5 ms before the next flush), while the run
    // trains, evaluates, snapshots or writes a checkpoint's data. The last two files
    // hold rows written after their last checkpoint (the metrics row of step 1250 or
    // 2450, snapshots), which the resume must drop and write again. A kill inside an
    // HDF5 flush is not covered: see docs/hdf5-layout.md, "Crash safety", and the hidden
    // test [crash-stress] below.
    const std::string& straight = straight_long_run();
    TempDir t("runfile_kill");
    struct Kill {
        long long after_step;  // after the progress line of this step,
        int then_ms;           // and this many milliseconds
        bool expect_checkpoint;
    };
    // Every run is resumable from its step-0 checkpoint on.
    const std::vector<Kill> kills = {{10, 0, true}, {1260, 0, true}, {2460, 1, true}};
    int resumed = 0;
    for (size_t k = 0; k < kills.size(); ++k) {
        const Kill& kill = kills[k];
        INFO("kill after step " << kill.after_step << " + " << kill.then_ms << " ms");
        const std::string name = "kill" + std::to_string(k) + ".h5";
        int code;
        {
            Child child(with({minimal_config(), "--out", name}, kLong), t.dir);
            REQUIRE(child.wait_for_line([&](const std::string& l) { return progress_step(l) >= kill.after_step; }));
            if (kill.then_ms) std::this_thread::sleep_for(std::chrono::milliseconds(kill.then_ms));
            child.signal(SIGKILL);
            code = child.wait();
        }
        REQUIRE(code == 128 + SIGKILL);
        int64_t rows_after = 0;
        const bool did_resume = check_killed_run(t, name, straight, &rows_after);
        CHECK(did_resume == kill.expect_checkpoint);
        if (did_resume && kill.after_step > 100) CHECK(rows_after == 1);  // the row of step 1250 or 2450
        resumed += did_resume;
    }
    CHECK(resumed == 3);
}

// The first difference between two finished run files ("" when they are equal bit for
// bit), without asserting: for the stress test, which counts rather than stops.
std::string first_difference(const std::string& a_path, const std::string& b_path) {
    try {
        H5File a(a_path), b(b_path);
        for (const char* group : {"/metrics", "/snapshots", "/checkpoint"}) {
            const auto names = h5_datasets(a.id(), group);
            if (names != h5_datasets(b.id(), group)) return std::string("datasets of ") + group;
            for (const std::string& n : names)
                if (h5_raw(a.id(), n) != h5_raw(b.id(), n)) return n;
        }
        if (h5_attrs(a.id(), "/checkpoint") != h5_attrs(b.id(), "/checkpoint")) return "/checkpoint attributes";
        if (h5_attr_string(a.id(), "/", "status") != "complete") return "status";
    } catch (const std::exception& e) {
        return e.what();
    }
    return "";
}

TEST_CASE("SIGKILL at random moments, flushes included", "[.][crash-stress]") {
    // Hidden (run it by its tag; about a minute): kills 60 runs at random moments and
    // counts the outcomes. A kill inside an HDF5 flush can leave a file HDF5 cannot open
    // (the documented limit); the test fails only when a file resumes without error to
    // a result that differs from the straight run, or the resume crashes.
    const std::string& straight = straight_long_run();
    TempDir t("runfile_stress");
    uint64_t x = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) | 1;
    int no_file = 0, unreadable = 0, no_checkpoint = 0, resumed = 0, resume_failed = 0;
    std::vector<std::string> diverged, crashed;
    const int n = 60;
    for (int i = 0; i < n; ++i) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        const int delay_ms = 5 + static_cast<int>(x % 450);
        const std::string name = "stress" + std::to_string(i) + ".h5";
        {
            Child child(with({minimal_config(), "--out", name, "--quiet"}, kLong), t.dir);
            std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
            child.signal(SIGKILL);
            child.wait();
        }
        const std::string path = t.path(name);
        if (!fs::exists(path)) {
            ++no_file;
            continue;
        }
        if (h5dump({"-H"}, path).code != 0) {
            ++unreadable;
            continue;
        }
        fs::copy_file(path, t.path("before_resume.h5"), fs::copy_options::overwrite_existing);
        const Result r = run_ctr({"--resume", name, "--quiet"}, t.dir);
        const std::string what = "kill after " + std::to_string(delay_ms) + " ms";
        if (r.code == 2) {
            ++no_checkpoint;
        } else if (r.code == 1) {
            ++resume_failed;  // a clear error message from a damaged file
        } else if (r.code != 0) {
            crashed.push_back(what + ": resume exit " + std::to_string(r.code));
        } else if (const std::string d = first_difference(path, straight); !d.empty()) {
            diverged.push_back(what + ": " + d);
        } else {
            ++resumed;
        }
        fs::remove(path);
    }
    WARN(n << " kills: " << resumed << " resumed to the straight result, " << no_checkpoint
           << " before the first checkpoint, " << no_file << " before the file existed, " << unreadable
           << " left a file HDF5 cannot open, " << resume_failed << " a file the resume refused (exit 1), "
           << diverged.size() << " resumed to a different result, " << crashed.size() << " crashed the resume");
    for (const std::string& d : diverged) WARN("diverged: " << d);
    for (const std::string& c : crashed) WARN("crashed: " << c);
    CHECK(diverged.empty());
    CHECK(crashed.empty());
}

TEST_CASE("Ctrl-C stops a run with exit 130, status interrupted, and it resumes to the straight result", "[runfile]") {
    const std::string& straight = straight_long_run();
    TempDir t("runfile_sigint");
    long long stop_step = -1;
    {
        Child child(with({minimal_config(), "--out", "int.h5"}, kLong), t.dir);
        REQUIRE(child.wait_for_line([](const std::string& l) { return progress_step(l) >= 1500; }));
        child.signal(SIGINT);
        const int code = child.wait();
        INFO("stderr: " << child.err());
        REQUIRE(code == 130);
        CHECK_THAT(child.err(), Catch::Matchers::Contains("--resume"));
        std::smatch m;
        REQUIRE(std::regex_search(child.err(), m, std::regex("interrupted at step (\\d+)")));
        stop_step = std::stoll(m[1]);
        CHECK(stop_step >= 1500);
        CHECK(stop_step < 3000);
    }
    const std::string path = t.path("int.h5");
    {
        H5File f(path);
        CHECK(h5_attr_string(f.id(), "/", "status") == "interrupted");
        // The interrupted run checkpointed the step it stopped at.
        CHECK(h5_attr_number<int64_t>(f.id(), "/checkpoint", "step") == stop_step);
        CHECK(h5_read<int64_t>(f.id(), "/metrics/step").back() <= stop_step);
    }
    const Result r = run_ctr({"--resume", "int.h5", "--quiet"}, t.dir);
    INFO("resume stderr: " << r.err);
    REQUIRE(r.code == 0);
    require_same_run(path, straight);
}

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
    // (The probe model's buffers are sized for the larger eval batch; the probe's
    // pattern is their first [3, 2, 6, 6] elements.)
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

TEST_CASE("a run can be read while it trains: ctr-inspect and h5dump without the lock", "[runfile][reader]") {
    TempDir t("runfile_reader");
    Child child(with({minimal_config(), "--out", "live.h5"}, kLong), t.dir);
    REQUIRE(child.wait_for_line([](const std::string& l) { return progress_step(l) >= 600; }));
    // ctr-inspect opens without HDF5's file lock and sees the writer's last flush.
    const Result inspect = run_command({std::string(CTR_BINARY_DIR) + "/ctr-inspect", "live.h5"}, t.dir);
    INFO("ctr-inspect: " << inspect.out << inspect.err);
    CHECK(inspect.code == 0);
    CHECK_THAT(inspect.out, Catch::Matchers::Contains("status: running"));
    CHECK_THAT(inspect.out, Catch::Matchers::Contains("last metrics (step"));
    // A read that overlaps one of the writer's flushes can fail; a reader retries
    // (docs/hdf5-layout.md), and so does this one, a few times.
    Result dump;
    for (int attempt = 0; attempt < 3; ++attempt) {
        dump = run_command({"/usr/bin/env", "HDF5_USE_FILE_LOCKING=FALSE", "h5dump", "-d", "/metrics/step", "live.h5"}, t.dir);
        if (dump.code == 0) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    INFO("h5dump: " << dump.err);
    CHECK(dump.code == 0);
    child.signal(SIGINT);
    CHECK(child.wait() == 130);
}
