// The mechanism metrics in a run file agree with catch and release recomputed here, from
// the attention patterns and probe batch logged in the same file.
#include <hdf5.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

template <class T>
std::vector<T> read_all(hid_t file, const std::string& name, hid_t type, std::vector<hsize_t>* shape = nullptr) {
    const hid_t ds = H5Dopen2(file, name.c_str(), H5P_DEFAULT);
    REQUIRE(ds >= 0);
    const hid_t space = H5Dget_space(ds);
    const int rank = H5Sget_simple_extent_ndims(space);
    std::vector<hsize_t> dims(rank);
    H5Sget_simple_extent_dims(space, dims.data(), nullptr);
    size_t n = 1;
    for (hsize_t d : dims) n *= d;
    std::vector<T> out(n);
    REQUIRE(H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) >= 0);
    H5Sclose(space);
    H5Dclose(ds);
    if (shape) *shape = dims;
    return out;
}

}  // namespace

TEST_CASE("logged catch and release match a recomputation from the logged patterns", "[runfile][analysis]") {
    const fs::path dir = fs::temp_directory_path() / "ctr_run_metrics_test";
    fs::remove_all(dir);
    fs::create_directories(dir);
    const std::string out = (dir / "run.h5").string();
    // Seed 4 catches and releases by the end of its run; 800 steps cover the change.
    const std::string cmd = std::string(CTR_BINARY_DIR) + "/ctr-train " + CTR_SOURCE_DIR +
                            "/configs/minimal.yaml --seed 4 --quiet --set train.epochs=25 --out " + out + " > /dev/null";
    REQUIRE(std::system(cmd.c_str()) == 0);

    const hid_t file = H5Fopen(out.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    REQUIRE(file >= 0);
    std::vector<hsize_t> pshape;
    const auto kind = read_all<int>(file, "probe/kind", H5T_NATIVE_INT, &pshape);
    const auto sep = read_all<int>(file, "probe/sep_pos", H5T_NATIVE_INT);
    const int B = static_cast<int>(pshape[0]), T = static_cast<int>(pshape[1]);
    const auto logged_catch = read_all<double>(file, "snapshots/metrics/catch", H5T_NATIVE_DOUBLE);
    const auto logged_release = read_all<double>(file, "snapshots/metrics/release", H5T_NATIVE_DOUBLE);
    double max_catch_seen = 0;
    for (int layer = 0; layer < 2; ++layer) {
        std::vector<hsize_t> shape;
        const auto A = read_all<double>(file, "snapshots/blocks." + std::to_string(layer) + ".attn.hook_pattern",
                                        H5T_NATIVE_DOUBLE, &shape);
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
    fs::remove_all(dir);
}
