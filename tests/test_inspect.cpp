// ctr-inspect on real run files: a finished run, the Theorem 7.1 construction, and bad input.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "cli_helpers.hpp"

using namespace ctr_test;

namespace {

// ctr-inspect's exit code and everything it printed, stdout then stderr.
Result inspect(const std::vector<std::string>& args, const fs::path& cwd) {
    std::vector<std::string> argv{std::string(CTR_BINARY_DIR) + "/ctr-inspect"};
    argv.insert(argv.end(), args.begin(), args.end());
    Result r = run_command(argv, cwd);
    r.out += r.err;
    return r;
}

}  // namespace

TEST_CASE("ctr-inspect summarises a finished run and the construction", "[cli][inspect]") {
    TempDir tmp("inspect");
    REQUIRE(run_ctr({source_path("configs/theorem71.yaml"), "--quiet", "--out", "t71.h5"}, tmp.dir).code == 0);
    const Result r = inspect({"t71.h5"}, tmp.dir);
    INFO(r.out);
    CHECK(r.code == 0);
    CHECK(r.out.find("status: complete") != std::string::npos);
    CHECK(r.out.find("init theorem71") != std::string::npos);
    CHECK(r.out.find("verdict: success") != std::string::npos);
    CHECK(r.out.find("emergence: catch held from step 0; tag held from step 0; release held from step 0; solved held from step 0") !=
          std::string::npos);

    REQUIRE(run_ctr({minimal_config(), "--quiet", "--set", "train.steps=40", "--out", "short.h5"}, tmp.dir).code == 0);
    const Result s = inspect({"short.h5"}, tmp.dir);
    INFO(s.out);
    CHECK(s.code == 0);
    CHECK(s.out.find("last metrics (step 40)") != std::string::npos);
    CHECK(s.out.find("verdict: failure") != std::string::npos);
}

TEST_CASE("ctr-inspect refuses what is not a run file", "[cli][inspect]") {
    TempDir tmp("inspect_bad");
    const Result missing = inspect({"/nonexistent/run.h5"}, tmp.dir);
    CHECK(missing.code == 2);
    CHECK(missing.out.find("does not exist") != std::string::npos);
    const Result yaml = inspect({minimal_config()}, tmp.dir);
    CHECK(yaml.code == 2);
    CHECK(yaml.out.find("is not an HDF5 file") != std::string::npos);
    const Result none = inspect({}, tmp.dir);
    CHECK(none.code == 2);
    CHECK(none.out.find("usage") != std::string::npos);
}
