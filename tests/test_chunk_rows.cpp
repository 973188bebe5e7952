// Series of one-row chunks written as finished chunks (src/io/chunk_rows.hpp) hold the
// same values as HDF5's own write path gives, with the same filters, readable by any
// HDF5 reader; other layouts keep HDF5's path.
#include <catch2/catch.hpp>
#include <cfloat>
#include <cmath>
#include <filesystem>
#include <limits>
#include <random>

#include <unistd.h>

#include "helpers/h5_read.hpp"
#include "io/chunk_rows.hpp"
#include "io/series_file.hpp"

using namespace ctr_test;
namespace fs = std::filesystem;

namespace {

// Values that every conversion rule touches: ordinary numbers, the edges of float32's
// range (just above FLT_MAX is infinity in HDF5, FLT_MAX in a C cast), float32
// subnormals and underflow, signed zeros, infinities and NaN.
std::vector<double> awkward_rows(size_t row, size_t rows) {
    std::mt19937_64 rng(7);
    std::normal_distribution<double> normal(0.0, 1.0);
    std::vector<double> v(row * rows);
    for (double& x : v) x = normal(rng);
    const double inf = std::numeric_limits<double>::infinity();
    const double specials[] = {double(FLT_MAX), std::nextafter(double(FLT_MAX), inf), double(FLT_MAX) * 1.0000001,
                               -double(FLT_MAX) * 1.0000001, 1e300, -1e300, 1e-40, -1e-45, 1e-46, 1e-300, 0.0, -0.0,
                               inf, -inf, std::numeric_limits<double>::quiet_NaN(), 1.0 / 3.0};
    for (size_t i = 0; i < std::size(specials); ++i) v[i * 5 % v.size()] = specials[i];
    // Half zeros in the second row, as in an attention pattern.
    for (size_t i = row; i < row + row / 2; ++i) v[i] = 0.0;
    return v;
}

}  // namespace

TEST_CASE("rows written as whole chunks equal HDF5's own writes, with the same filters", "[runfile][chunks]") {
    const fs::path dir = fs::temp_directory_path() / ("ctr-chunk-rows-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const std::string path = (dir / "rows.h5").string();
    const std::vector<hsize_t> row_shape{3, 4, 8};
    const size_t row = 3 * 4 * 8, rows = 5;
    const std::vector<double> values = awkward_rows(row, rows);

    struct Case {
        const char* name;
        hid_t file_type;
        bool compress;
    };
    const Case cases[] = {{"f32_deflate", H5T_IEEE_F32LE, true}, {"f32_plain", H5T_IEEE_F32LE, false},
                          {"f64_deflate", H5T_IEEE_F64LE, true}, {"f64_plain", H5T_IEEE_F64LE, false}};
    {
        ctr::SeriesFile f = ctr::SeriesFile::create(path, "test file", [&](ctr::SeriesFile& sf) {
            for (const Case& c : cases) {
                ctr::h5::create_series(sf.root(), std::string("direct_") + c.name, c.file_type, row_shape, 1, c.compress, {});
                ctr::h5::create_series(sf.root(), std::string("hdf5_") + c.name, c.file_type, row_shape, 1, c.compress, {});
            }
            ctr::h5::create_series(sf.root(), "many_rows_a_chunk", H5T_IEEE_F64LE, row_shape, 4, false, {});
        });
        for (const Case& c : cases) {
            // Through SeriesFile (whole chunks), in two flushes; and through H5Dwrite.
            const std::string direct = std::string("direct_") + c.name;
            f.append(direct, H5T_NATIVE_DOUBLE, values.data());
            f.flush();
            for (size_t r = 1; r < rows; ++r) f.append(direct, H5T_NATIVE_DOUBLE, values.data() + r * row);
            ctr::h5::Handle ds(H5Dopen2(f.root(), (std::string("hdf5_") + c.name).c_str(), H5P_DEFAULT));
            ctr::h5::append_rows(ds.get(), H5T_NATIVE_DOUBLE, values.data(), rows);
            // The plan: every one-row-chunk layout of the run file is written as chunks.
            ctr::h5::Handle d(H5Dopen2(f.root(), direct.c_str(), H5P_DEFAULT));
            CHECK(ctr::ChunkRows::plan(d.get(), H5T_NATIVE_DOUBLE).has_value());
        }
        ctr::h5::Handle many(H5Dopen2(f.root(), "many_rows_a_chunk", H5P_DEFAULT));
        CHECK_FALSE(ctr::ChunkRows::plan(many.get(), H5T_NATIVE_DOUBLE).has_value());
        for (size_t r = 0; r < rows; ++r) f.append("many_rows_a_chunk", H5T_NATIVE_DOUBLE, values.data() + r * row);
        f.publish();
    }
    H5File f(path);
    for (const Case& c : cases) {
        INFO(c.name);
        const std::string direct = std::string("direct_") + c.name, hdf5 = std::string("hdf5_") + c.name;
        CHECK(h5_shape(f.id(), direct) == std::vector<hsize_t>{rows, 3, 4, 8});
        const std::vector<unsigned char> a = h5_raw(f.id(), direct), b = h5_raw(f.id(), hdf5);
        CHECK(a.size() == b.size());
        const bool same_bytes = a == b;
        CHECK(same_bytes);
        // The same filters, and the compressed ones smaller than their raw bytes.
        for (const std::string& name : {direct, hdf5}) {
            const hid_t ds = H5Dopen2(f.id(), name.c_str(), H5P_DEFAULT);
            const hid_t dcpl = H5Dget_create_plist(ds);
            CHECK(H5Pget_nfilters(dcpl) == (c.compress ? 2 : 0));
            if (c.compress) {
                unsigned flags = 0, cd[4] = {};
                size_t ncd = 4;
                CHECK(H5Pget_filter2(dcpl, 0, &flags, &ncd, cd, 0, nullptr, nullptr) == H5Z_FILTER_SHUFFLE);
                ncd = 4;
                CHECK(H5Pget_filter2(dcpl, 1, &flags, &ncd, cd, 0, nullptr, nullptr) == H5Z_FILTER_DEFLATE);
                CHECK(H5Dget_storage_size(ds) < rows * row * H5Tget_size(c.file_type));
            }
            H5Pclose(dcpl);
            H5Dclose(ds);
        }
    }
    // Float32 values are HDF5's conversion of the doubles: spot-check the edges.
    std::vector<float> f32(row * rows);
    const hid_t ds = H5Dopen2(f.id(), "direct_f32_deflate", H5P_DEFAULT);
    REQUIRE(H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, f32.data()) >= 0);
    H5Dclose(ds);
    CHECK(f32[0] == FLT_MAX);
    CHECK(std::isinf(f32[10]));  // FLT_MAX * 1.0000001: infinity, where a C cast rounds to FLT_MAX
    CHECK(std::isnan(f32[14 * 5 % f32.size()]));
    CHECK(h5_raw(f.id(), "many_rows_a_chunk").size() == rows * row * sizeof(double));
    fs::remove_all(dir);
}
