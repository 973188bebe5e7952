// A run file shorter than its superblock records (docs/reliability.md, "Resume"): the
// short tail a kill inside a flush leaves held nothing and is put back by --resume; a
// file cut short by a copy, a quota or `truncate` lost part of the run, and is refused as
// truncated (exit 2, unchanged) by both tools, whatever the cut, never padded and passed
// off as good.
#include <hdf5.h>

#include <catch2/catch.hpp>

#include "cli_helpers.hpp"

using namespace ctr_test;

namespace {

const std::vector<std::string> kSmall = sets({"train.steps=40", "task.train_size=256", "train.batch_size=64",
                                              "task.eval_size=64", "task.probe_size=4", "train.eval_every=10",
                                              "log.checkpoint_every=20"});

Result inspect_cmd(const std::vector<std::string>& args, const fs::path& cwd) {
    std::vector<std::string> argv{std::string(CTR_BINARY_DIR) + "/ctr-inspect"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, cwd);
}

}  // namespace

TEST_CASE("a run file cut short at its end is refused as truncated by --resume and ctr-inspect, whatever the cut",
          "[reliability][resume]") {
    TempDir t("short_cut");
    const Result made = run_ctr(with({minimal_config(), "--out", "good.h5", "--quiet"}, kSmall), t.dir);
    INFO(made.err);
    REQUIRE(made.code == 0);
    const std::string good = read_file_bytes(t.dir / "good.h5");
    // 1 byte and 100 bytes cut the end of the finished run's /verdict; 4 KiB and 16 KiB are
    // within what a kill can leave short (16 KiB), half the file is far beyond it.
    for (const size_t cut : {size_t{1}, size_t{100}, size_t{4096}, size_t{16384}, good.size() / 2}) {
        const std::string name = "cut" + std::to_string(cut) + ".h5";
        const std::string before = good.substr(0, good.size() - cut);
        t.write(name, before);
        const Result resumed = run_ctr({"--resume", name, "--quiet"}, t.dir);
        const Result lengthened = run_ctr({"--resume", name, "--quiet", "--set", "train.steps=60"}, t.dir);
        const Result shown = inspect_cmd({name}, t.dir);
        INFO("cut " << cut << "\n--resume: " << resumed.out << resumed.err << "lengthened: " << lengthened.err
                    << "ctr-inspect: " << shown.err);
        for (const Result* r : {&resumed, &lengthened}) {
            CHECK(r->code == 2);
            CHECK(r->err.rfind("ctr-train: error: " + name + " is truncated: it has " + std::to_string(before.size()) +
                                   " bytes, HDF5 recorded " + std::to_string(good.size()),
                               0) == 0);
        }
        CHECK(resumed.out.empty());
        CHECK(shown.code == 2);
        CHECK_THAT(shown.err, Catch::Matchers::Contains(name + " is truncated"));
        CHECK(read_file_bytes(t.dir / name) == before);  // not padded, not changed
    }
    for (const std::string& f : files_under(t.dir)) CHECK(f.find(".repair") == std::string::npos);  // no copies left
}

TEST_CASE("a short tail that held nothing (a kill between HDF5's cut of the file and its superblock) is put back "
          "by --resume",
          "[reliability][resume]") {
    TempDir t("short_tail");
    const Result made = run_ctr(with({minimal_config(), "--out", "run.h5", "--quiet"}, kSmall), t.dir);
    INFO(made.err);
    REQUIRE(made.code == 0);
    const auto size = fs::file_size(t.dir / "run.h5");
    // Record an end 4 KiB past the file's (what h5clear --increment does), then cut those
    // 4 KiB off again: the file is short of its recorded end by space nothing uses.
    {
        const hid_t f = H5Fopen(t.path("run.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
        REQUIRE(f >= 0);
        REQUIRE(H5Fincrement_filesize(f, 4096) >= 0);
        REQUIRE(H5Fclose(f) >= 0);
    }
    fs::resize_file(t.dir / "run.h5", size);
    const Result shown = inspect_cmd({"run.h5"}, t.dir);
    CHECK(shown.code == 2);  // readers do not repair
    CHECK_THAT(shown.err, Catch::Matchers::Contains("is truncated"));
    const Result r = run_ctr({"--resume", "run.h5", "--quiet", "--set", "train.steps=60"}, t.dir);
    INFO(r.err);
    CHECK(r.code == 0);
    H5File f(t.path("run.h5"));
    CHECK(h5_attr_string(f.id(), "/", "status") == "complete");
    CHECK(h5_read<int64_t>(f.id(), "/metrics/step").back() == 60);
}
