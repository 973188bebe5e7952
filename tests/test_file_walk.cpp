// walk_file: the one walk over a whole HDF5 file that the tail check (io/file_tail.cpp)
// and the repair's read-back (io/file_repair.cpp) share: every object in name order,
// its attributes, then a dataset's values; a callback's false stops it.
#include <catch2/catch.hpp>
#include <cstring>
#include <string>
#include <vector>

#include "helpers/process.hpp"
#include "io/file_walk.hpp"
#include "io/h5.hpp"

using namespace ctr_test;

namespace {

// A file with a group g holding the dataset g/d (3 doubles) and the attributes n (an
// integer, on d) and s (a string, on g).
void make_file(const std::string& path) {
    ctr::h5::Handle f(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
    ctr::h5::Handle g = ctr::h5::create_group(f.get(), "g");
    ctr::h5::set_attr(g.get(), "s", std::string("text"));
    const hsize_t n = 3;
    ctr::h5::Handle space(H5Screate_simple(1, &n, nullptr));
    ctr::h5::Handle d(H5Dcreate2(g.get(), "d", H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    const double values[3] = {1.5, -2.0, 4.25};
    REQUIRE(H5Dwrite(d.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values) >= 0);
    ctr::h5::set_attr(d.get(), "n", int64_t{7});
}

}  // namespace

TEST_CASE("walk_file: every object, its attributes and a dataset's values, in order", "[io][walk]") {
    TempDir t("file_walk");
    const std::string path = t.path("w.h5");
    make_file(path);
    ctr::h5::Handle f(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
    REQUIRE(f.valid());

    std::vector<std::string> seen;
    std::vector<double> d_values;
    ctr::FileWalk walk;
    walk.object = [&](const char* p, const H5O_info_t& info) {
        seen.push_back(std::string("object ") + p + (info.type == H5O_TYPE_DATASET ? " (dataset)" : "") + " attrs " +
                       std::to_string(info.num_attrs));
        return true;
    };
    walk.attribute = [&](const char* name, const ctr::WalkValues& v) {
        seen.push_back(std::string("attribute ") + name + " n " + std::to_string(v.n));
        return v.is_attribute && v.read_native({});
    };
    walk.dataset = [&](const char* p, const ctr::WalkValues& v) {
        seen.push_back(std::string("dataset ") + p + " n " + std::to_string(v.n));
        return !v.is_attribute && v.read_native([&](hid_t mem, const unsigned char* bytes, size_t size) {
            REQUIRE(H5Tequal(mem, H5T_NATIVE_DOUBLE) > 0);
            d_values.resize(size / sizeof(double));
            std::memcpy(d_values.data(), bytes, size);
        });
    };
    CHECK(ctr::walk_file(f.get(), walk));
    CHECK(seen == std::vector<std::string>{"object . attrs 0", "object g attrs 1", "attribute s n 1",
                                           "object g/d (dataset) attrs 1", "attribute n n 1", "dataset g/d n 3"});
    CHECK(d_values == std::vector<double>{1.5, -2.0, 4.25});

    // A callback's false stops the walk there, and the walk fails.
    seen.clear();
    walk.attribute = [&](const char* name, const ctr::WalkValues&) {
        seen.push_back(std::string("attribute ") + name);
        return false;
    };
    CHECK_FALSE(ctr::walk_file(f.get(), walk));
    CHECK(seen == std::vector<std::string>{"object . attrs 0", "object g attrs 1", "attribute s"});

    // Only datasets: nothing else is handed over.
    seen.clear();
    walk.object = nullptr;
    walk.attribute = nullptr;
    CHECK(ctr::walk_file(f.get(), walk));
    CHECK(seen == std::vector<std::string>{"dataset g/d n 3"});
    H5Eclear2(H5E_DEFAULT);
}
