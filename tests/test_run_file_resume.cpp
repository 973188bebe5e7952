// Resuming a run file: a resumed run equals the straight run bit for bit, and Ctrl-C stops
// a run with exit 130 and status interrupted, from where it resumes to the same result.
#include <catch2/catch.hpp>
#include <regex>

#include "cli_helpers.hpp"
#include "config/load.hpp"
#include "helpers/run_file.hpp"

using namespace ctr_test;
using ctr::Config;

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

TEST_CASE("Ctrl-C stops a run with exit 130, status interrupted, and it resumes to the straight result", "[runfile]") {
    const std::string& straight = straight_long_run();
    TempDir t("runfile_sigint");
    long long stop_step = -1;
    {
        // Held by its pipe within 1,000 steps of the line of step 1500 (kLong): the signal
        // finds it training, before step 3000.
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
