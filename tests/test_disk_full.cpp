// A disk that fills up mid-run: ctr-train stops with a clear error and exit 1, and the
// run file still opens with everything flushed before the failure. The full disk is a
// small tmpfs, so this needs root (as CI and the developers' machines run).
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>

#include "cli_helpers.hpp"
#include "helpers/tmpfs.hpp"

using namespace ctr_test;

TEST_CASE("a full disk stops the run cleanly and keeps what was flushed", "[cli][runfile][diskfull]") {
    TempDir tmp("diskfull");
    const fs::path mnt = tmp.dir / "small_disk";
    fs::create_directories(mnt);
    // 3 MB: the file's skeleton and first rows fit, the default run's 6 MB do not.
    const Tmpfs disk(mnt, 3 * 1024);
    if (!disk.mounted()) {
        WARN("cannot mount a tmpfs here (" << std::strerror(errno) << "): disk-full test not run");
        return;
    }

    const std::string run = (mnt / "run.h5").string();
    const Result r = run_ctr({minimal_config(), "--quiet", "--out", run}, tmp.dir);
    INFO(r.err);
    CHECK(r.code == 1);
    CHECK(r.err.find("ctr-train: error: the disk of " + run + " is almost full") != std::string::npos);
    CHECK(r.err.find("keeps what was written up to its last flush") != std::string::npos);
    CHECK(r.err.find("--resume " + run) != std::string::npos);

    // The file opens for an independent reader, and its rows are the flushed ones.
    REQUIRE(h5dump({"-H"}, run).code == 0);
    const hid_t file = H5Fopen(run.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    REQUIRE(file >= 0);
    CHECK(h5_attr_string(file, "/", "status") == "running");
    const auto steps = h5_read<int64_t>(file, "metrics/step");
    REQUIRE(steps.size() >= 2);
    for (size_t i = 0; i < steps.size(); ++i) CHECK(steps[i] == static_cast<int64_t>(i) * 50);
    const auto loss = h5_read<double>(file, "metrics/eval_loss");
    CHECK(loss.size() == steps.size());
    H5Fclose(file);
}
