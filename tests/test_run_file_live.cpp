// A run file read while its run trains: ctr-inspect and h5dump, without HDF5's lock.
#include <catch2/catch.hpp>
#include <thread>

#include "cli_helpers.hpp"
#include "helpers/run_file.hpp"

using namespace ctr_test;

TEST_CASE("a run can be read while it trains: ctr-inspect and h5dump without the lock", "[runfile][reader]") {
    TempDir t("runfile_reader");
    // kLong made long enough that it is still training while the readers below start
    // (its 3,000 steps take about 0.1 s now); the test stops it with SIGINT.
    Child child(with({minimal_config(), "--out", "live.h5"}, with(kLong, sets({"train.steps=1000000"}))), t.dir);
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
