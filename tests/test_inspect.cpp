// ctr-inspect on real run files: a finished run, the Theorem 7.1 construction, and bad input.
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <unistd.h>

namespace fs = std::filesystem;

namespace {

struct Result {
    int code;
    std::string out;
};

// Runs a shell command, capturing stdout and stderr together.
Result run(const std::string& cmd) {
    static int counter = 0;
    const fs::path log = fs::temp_directory_path() /
                         ("ctr_inspect_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + ".log");
    const int status = std::system((cmd + " > " + log.string() + " 2>&1").c_str());
    std::ifstream in(log);
    std::stringstream ss;
    ss << in.rdbuf();
    fs::remove(log);
    return {WEXITSTATUS(status), ss.str()};
}

const std::string kBin = CTR_BINARY_DIR;
const std::string kSrc = CTR_SOURCE_DIR;

}  // namespace

TEST_CASE("ctr-inspect summarises a finished run and the construction", "[cli][inspect]") {
    // a directory of this process's own: ctest runs tests side by side
    const fs::path dir = fs::temp_directory_path() / ("ctr_inspect_test_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    const std::string t71 = (dir / "t71.h5").string();
    REQUIRE(run(kBin + "/ctr-train " + kSrc + "/configs/theorem71.yaml --quiet --out " + t71).code == 0);
    const Result r = run(kBin + "/ctr-inspect " + t71);
    INFO(r.out);
    CHECK(r.code == 0);
    CHECK(r.out.find("status: complete") != std::string::npos);
    CHECK(r.out.find("init theorem71") != std::string::npos);
    CHECK(r.out.find("verdict: success") != std::string::npos);
    CHECK(r.out.find("emergence (first step for good): catch 0  tag 0  release 0") != std::string::npos);

    const std::string short_run = (dir / "short.h5").string();
    REQUIRE(run(kBin + "/ctr-train " + kSrc + "/configs/minimal.yaml --quiet --set train.steps=40 --out " + short_run).code == 0);
    const Result s = run(kBin + "/ctr-inspect " + short_run);
    INFO(s.out);
    CHECK(s.code == 0);
    CHECK(s.out.find("last metrics (step 40)") != std::string::npos);
    CHECK(s.out.find("verdict: failure") != std::string::npos);
    fs::remove_all(dir);
}

TEST_CASE("ctr-inspect refuses what is not a run file", "[cli][inspect]") {
    const Result missing = run(kBin + "/ctr-inspect /nonexistent/run.h5");
    CHECK(missing.code == 2);
    CHECK(missing.out.find("does not exist") != std::string::npos);
    const Result yaml = run(kBin + "/ctr-inspect " + kSrc + "/configs/minimal.yaml");
    CHECK(yaml.code == 2);
    CHECK(yaml.out.find("cannot open") != std::string::npos);
    const Result none = run(kBin + "/ctr-inspect");
    CHECK(none.code == 2);
    CHECK(none.out.find("usage") != std::string::npos);
}
