// RunFileReader: reads back what a run wrote (verdict, emergence, causal tests, metrics,
// snapshots, checkpoint, root attributes), and refuses a file of another format_version
// or one that is not a run file, naming the file and the cause.
#include <catch2/catch.hpp>
#include <cstring>
#include <string>

#include "cli_helpers.hpp"
#include "config/load.hpp"
#include "helpers/run_file.hpp"
#include "io/run_file_reader.hpp"
#include "run/start.hpp"

using namespace ctr_test;

namespace {

ctr::Config short_config() {
    return ctr::config_from_overrides({"task.train_size=256", "train.batch_size=32", "task.eval_size=64",
                                       "task.probe_size=3", "train.steps=23", "train.eval_every=5",
                                       "log.checkpoint_every=10", "log.snapshot_dense=2", "log.snapshot_every=7",
                                       "log.snapshot_per_decade=0",
                                       "seed=3"});
}

bool same(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

}  // namespace

TEST_CASE("RunFileReader reads back the verdict, tables and checkpoint a run wrote", "[runfile][reader]") {
    TempDir t("reader");
    const std::string path = t.path("r.h5");
    const ctr::Config cfg = short_config();
    ctr::RunResult r;
    {
        ctr::Run run = ctr::start_run({cfg, path, false});
        r = run.train();
    }
    REQUIRE(r.end == ctr::LoopEnd::kFinished);
    CHECK(r.first_step == 0);
    CHECK(r.last_step == 23);

    const ctr::RunFileReader reader = ctr::RunFileReader::open(path);
    const ctr::RunInfo info = reader.info();
    CHECK(info.status == "complete");
    CHECK(info.seed == 3);
    CHECK(info.format_version == 2);
    CHECK(ctr::config_diff(ctr::load_config_text(info.config_yaml, "file").config, cfg).empty());

    const std::optional<ctr::RunVerdict> v = reader.verdict();
    REQUIRE(v);
    CHECK(v->verdict.summary == r.verdict.summary);
    CHECK(v->verdict.success == r.verdict.success);
    CHECK(v->verdict.catch_layer == r.verdict.catch_layer);
    CHECK(same(v->verdict.catch_score, r.verdict.catch_score));
    CHECK(same(v->verdict.release, r.verdict.release));
    CHECK(same(v->verdict.rel_error, r.verdict.rel_error));
    CHECK(v->emergence.catch_step == r.emergence.catch_step);
    CHECK(v->emergence.solved_step == r.emergence.solved_step);
    CHECK(v->causal.layer == r.causal.layer);
    CHECK(same(v->causal.clean_loss, r.causal.clean_loss));
    CHECK(same(v->causal.tag_ablated_loss, r.causal.tag_ablated_loss));

    const ctr::MetricsTable m = reader.metrics();
    CHECK(m.step == std::vector<int64_t>{0, 5, 10, 15, 20, 23});
    CHECK(m.eval_loss.size() == m.rows());
    CHECK(same(m.eval_loss.back(), r.final_eval.loss));  // the last row is the final state's

    const std::vector<int64_t> steps = reader.snapshot_steps();
    const std::vector<ctr::Headline> h = reader.headlines();
    REQUIRE(h.size() == steps.size());
    CHECK(steps == std::vector<int64_t>{0, 1, 2, 7, 14, 21, 23});
    for (size_t k = 0; k < h.size(); ++k) CHECK(h[k].step == steps[k]);
    std::vector<hsize_t> shape;
    const std::vector<double> pattern = reader.snapshot_series("blocks.0.attn.hook_pattern", &shape);
    CHECK(shape == std::vector<hsize_t>{7, 3, 1, 16, 16});
    CHECK(pattern.size() == 7 * 3 * 16 * 16);

    REQUIRE(reader.checkpoint_step() == std::optional<int64_t>(23));
    const std::optional<ctr::Checkpoint> c = reader.checkpoint();
    REQUIRE(c);
    CHECK(c->params.size() == ctr::Trainer(cfg).layout().total());
    CHECK(c->metrics_rows == 5);  // the off-schedule rows of step 23 come after it
    CHECK(c->snapshot_rows == 6);
    CHECK_THROWS_WITH(reader.snapshot_series("blocks.9.hook_resid_pre"), Catch::Contains("no snapshot series"));
}

TEST_CASE("a run file of another format_version is refused with a clear error", "[runfile][reader]") {
    TempDir t("reader_version");
    const std::string path = t.path("r.h5");
    ctr::start_run({short_config(), path, false}).train();
    set_root_attribute<int64_t>(path, "format_version", 3);  // the writer always writes its own
    CHECK_THROWS_WITH(ctr::RunFileReader::open(path),
                      Catch::Contains(path) && Catch::Contains("format_version 3") &&
                          Catch::Contains("reads format_version 2"));
    CHECK_THROWS_WITH(ctr::resume_run(path, {"train.steps=30"}), Catch::Contains("format_version 3"));

    std::vector<std::string> argv{std::string(CTR_BINARY_DIR) + "/ctr-inspect", path};
    const Result inspect = run_command(argv, t.dir);
    CHECK(inspect.code == 2);
    CHECK(inspect.err.find("format_version 3") != std::string::npos);
    const Result resume = run_ctr({"--resume", path, "--quiet"}, t.dir);
    CHECK(resume.code == 2);  // as ctr-inspect: the same input, the same code
    CHECK(resume.err.find("format_version 3") != std::string::npos);

    set_root_attribute<int64_t>(path, "format_version", 2);
    CHECK_NOTHROW(ctr::RunFileReader::open(path));
}

TEST_CASE("RunFileReader refuses what is not a run file", "[runfile][reader]") {
    TempDir t("reader_bad");
    CHECK_THROWS_WITH(ctr::RunFileReader::open(t.path("none.h5")), Catch::Contains("does not exist"));
    const std::string text = t.write("a.h5", "not hdf5");
    CHECK_THROWS_WITH(ctr::RunFileReader::open(text), Catch::Contains("is not an HDF5 file"));
    const std::string empty = t.path("empty.h5");
    H5Fclose(H5Fcreate(empty.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
    CHECK_THROWS_WITH(ctr::RunFileReader::open(empty), Catch::Contains("not a ctr run file"));
}
