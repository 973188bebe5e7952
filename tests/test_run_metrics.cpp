// The mechanism metrics in a run file agree with catch and release recomputed here, from
// the attention patterns and probe batch logged in the same file.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "cli_helpers.hpp"

using namespace ctr_test;

TEST_CASE("logged catch and release match a recomputation from the logged patterns", "[runfile][analysis]") {
    TempDir tmp("run_metrics");
    const std::string out = tmp.path("run.h5");
    // Seed 4 catches and releases by the end of its run; 800 steps cover the change.
    const Result r = run_ctr({minimal_config(), "--seed", "4", "--quiet", "--set", "train.epochs=25", "--out", out}, tmp.dir);
    INFO(r.err);
    REQUIRE(r.code == 0);

    const hid_t file = H5Fopen(out.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    REQUIRE(file >= 0);
    const std::vector<hsize_t> pshape = h5_shape(file, "probe/kind");
    const auto kind = h5_read<int32_t>(file, "probe/kind");
    const auto sep = h5_read<int32_t>(file, "probe/sep_pos");
    const int B = static_cast<int>(pshape[0]), T = static_cast<int>(pshape[1]);
    const auto logged_catch = h5_read<double>(file, "snapshots/metrics/catch");
    const auto logged_release = h5_read<double>(file, "snapshots/metrics/release");
    double max_catch_seen = 0;
    for (int layer = 0; layer < 2; ++layer) {
        const std::string pattern = "snapshots/blocks." + std::to_string(layer) + ".attn.hook_pattern";
        const std::vector<hsize_t> shape = h5_shape(file, pattern);
        const auto A = h5_read<double>(file, pattern);
        REQUIRE(shape.size() == 5);  // [snapshot, batch, head, query, key]
        REQUIRE(static_cast<int>(shape[1]) == B);
        REQUIRE(static_cast<int>(shape[3]) == T);
        const size_t n_snap = shape[0];
        REQUIRE(logged_catch.size() == n_snap * 2);  // [snapshot, layer, head] with 2 layers, 1 head
        for (size_t n = 0; n < n_snap; ++n) {
            double catch_sum = 0, release_sum = 0;
            int queries = 0;
            for (int b = 0; b < B; ++b) {
                REQUIRE(kind[static_cast<size_t>(b) * T + sep[b]] == 1);  // the [SEP] token
                for (int i = sep[b] + 1; i < T; ++i) {
                    const double* row = A.data() + (((n * B + b) * 1 + 0) * T + i) * T;
                    catch_sum += row[sep[b]];
                    for (int j = sep[b] + 1; j <= i; ++j) release_sum += row[j];
                    ++queries;
                }
            }
            const double catch_score = catch_sum / queries, release = release_sum / queries;
            max_catch_seen = std::max(max_catch_seen, catch_score);
            INFO("snapshot " << n << " layer " << layer);
            // Patterns are stored as float32; the metrics were computed in float64.
            CHECK(std::abs(catch_score - logged_catch[n * 2 + layer]) < 1e-6);
            CHECK(std::abs(release - logged_release[n * 2 + layer]) < 1e-6);
        }
    }
    CHECK(max_catch_seen > 0.9);  // the comparison covered a run that does catch
    H5Fclose(file);
}
