// The run file as the training loop writes it: the metrics table, snapshots and checkpoint
// it documents, and a restored checkpoint dropping the rows written after it.
// Layout: docs/hdf5-layout.md.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>

#include "cli_helpers.hpp"
#include "config/load.hpp"
#include "io/run_file_reader.hpp"
#include "run/snapshot_schedule.hpp"
#include "run/start.hpp"
#include "training/trainer.hpp"

using namespace ctr_test;
using ctr::Config;
using ctr::Trainer;

namespace {

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
    return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

bool same_double(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

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
