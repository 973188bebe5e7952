// log.train_set: the training set is stored in /train only on request, and it is the set
// the run trained on: the evaluation set's baseline_mse (the MSE of predicting the mean
// supervised training target) recomputes from /train and /eval to rounding.
#include <catch2/catch.hpp>
#include <cmath>
#include <string>
#include <vector>

#include "cli_helpers.hpp"

using namespace ctr_test;

namespace {
// Mean of the supervised (weight > 0) targets.
double mean_supervised(const std::vector<double>& target, const std::vector<double>& weight) {
    double sum = 0;
    long n = 0;
    for (size_t i = 0; i < target.size(); ++i)
        if (weight[i] > 0) sum += target[i], ++n;
    return sum / n;
}
}  // namespace

TEST_CASE("log.train_set stores the training set the run used, and only on request", "[runfile]") {
    TempDir tmp("train_set");
    const std::vector<std::string> common{minimal_config(), "--quiet", "--set", "train.steps=2", "--set", "log.snapshots=false"};
    const std::string with_set = tmp.path("with.h5"), without = tmp.path("without.h5"), fresh = tmp.path("fresh.h5");
    REQUIRE(run_ctr(with(common, {"--set", "log.train_set=true", "--out", with_set}), tmp.dir).code == 0);
    REQUIRE(run_ctr(with(common, {"--out", without}), tmp.dir).code == 0);
    REQUIRE(run_ctr(with(common, {"--set", "log.train_set=true", "--set", "task.train_size=0", "--out", fresh}), tmp.dir).code == 0);

    {
        H5File f(without);
        CHECK_FALSE(h5_exists(f.id(), "train"));
    }
    {
        H5File f(fresh);
        REQUIRE(h5_exists(f.id(), "train"));
        CHECK_FALSE(h5_exists(f.id(), "train/kind"));
        CHECK(h5_attr_string(f.id(), "train", "note").find("train_size 0") != std::string::npos);
    }
    H5File f(with_set);
    CHECK(h5_shape(f.id(), "train/kind") == std::vector<hsize_t>{8192, 16});
    CHECK(h5_dim_names(f.id(), "train/value") == std::vector<std::string>{"batch", "pos"});
    const auto kind = h5_read<int32_t>(f.id(), "train/kind");
    const auto sep = h5_read<int32_t>(f.id(), "train/sep_pos");
    for (size_t b = 0; b < sep.size(); ++b) REQUIRE(kind[b * 16 + static_cast<size_t>(sep[b])] == 1);

    const double mean = mean_supervised(h5_read<double>(f.id(), "train/target"), h5_read<double>(f.id(), "train/weight"));
    const auto et = h5_read<double>(f.id(), "eval/target"), ew = h5_read<double>(f.id(), "eval/weight");
    double se = 0, w = 0;
    for (size_t i = 0; i < et.size(); ++i) se += ew[i] * (et[i] - mean) * (et[i] - mean), w += ew[i];
    const double baseline = h5_attr_number<double>(f.id(), "eval", "baseline_mse");
    CHECK(std::abs(se / w - baseline) <= 1e-12 * baseline);
}
