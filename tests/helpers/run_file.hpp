#pragma once
// Run files compared bit for bit or changed by hand, and the long run the kill, interrupt
// and live-reading tests share (tests/test_run_file_*.cpp).
#include <catch2/catch.hpp>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "h5_read.hpp"
#include "process.hpp"

namespace ctr_test {

// Every dataset of a and b below group: the same names, shapes and bytes. Also
// compares the attributes of /checkpoint.
inline void require_same_datasets(const std::string& a_path, const std::string& b_path, const std::string& group) {
    H5File a(a_path), b(b_path);
    const std::vector<std::string> names = h5_datasets(a.id(), group);
    REQUIRE(names == h5_datasets(b.id(), group));
    REQUIRE_FALSE(names.empty());
    for (const std::string& n : names) {
        INFO(n);
        CHECK(h5_shape(a.id(), n) == h5_shape(b.id(), n));
        const std::vector<unsigned char> ra = h5_raw(a.id(), n), rb = h5_raw(b.id(), n);
        const auto diff = std::mismatch(ra.begin(), ra.end(), rb.begin(), rb.end());
        INFO("bytes " << ra.size() << " vs " << rb.size() << ", first difference at byte "
                      << (diff.first - ra.begin()));
        const bool same_bytes = ra == rb;
        CHECK(same_bytes);
    }
}

inline void require_same_checkpoint_attrs(const std::string& a_path, const std::string& b_path) {
    H5File a(a_path), b(b_path);
    for (const char* name : {"step", "epoch", "batch_in_epoch", "opt_t", "row_steps", "metrics_rows", "snapshot_rows"}) {
        INFO(name);
        CHECK(h5_attr_number<int64_t>(a.id(), "/checkpoint", name) == h5_attr_number<int64_t>(b.id(), "/checkpoint", name));
    }
    for (const char* name : {"row_loss_sum", "row_grad_norm_sum"}) {
        INFO(name);
        const double x = h5_attr_number<double>(a.id(), "/checkpoint", name);
        const double y = h5_attr_number<double>(b.id(), "/checkpoint", name);
        CHECK(std::memcmp(&x, &y, sizeof x) == 0);
    }
    for (const char* name : {"shuffle_rng", "fresh_rng"}) {
        INFO(name);
        CHECK(h5_attr_string(a.id(), "/checkpoint", name) == h5_attr_string(b.id(), "/checkpoint", name));
    }
}

// Everything a finished run writes, compared bit for bit.
inline void require_same_run(const std::string& a, const std::string& b) {
    for (const char* group : {"/metrics", "/snapshots", "/checkpoint", "/probe"}) {
        INFO("group " << group);
        require_same_datasets(a, b, group);
    }
    require_same_checkpoint_attrs(a, b);
    H5File fa(a), fb(b);
    // The end-of-run verdict (attributes of /verdict) is computed from the same history.
    REQUIRE(h5_exists(fa.id(), "/verdict"));
    REQUIRE(h5_exists(fb.id(), "/verdict"));
    CHECK(h5_attrs(fa.id(), "/verdict") == h5_attrs(fb.id(), "/verdict"));
    CHECK(h5_attrs(fa.id(), "/checkpoint") == h5_attrs(fb.id(), "/checkpoint"));
    CHECK(h5_attr_string(fa.id(), "/", "status") == "complete");
    CHECK(h5_attr_string(fb.id(), "/", "status") == "complete");
    CHECK(h5_attr_string(fa.id(), "/", "config") == h5_attr_string(fb.id(), "/", "config"));
}

// "" when the finished run file `got` holds the run `expected` bit for bit, else the
// first difference (or the error that stopped the reading), without asserting: for the
// tests that count outcomes rather than stop at the first. Compares the datasets below
// `groups` and the attributes of `attr_groups`, and that `got` is complete.
inline std::string run_difference(const std::string& expected, const std::string& got,
                                  const std::vector<std::string>& groups,
                                  const std::vector<std::string>& attr_groups) {
    try {
        H5File a(expected), b(got);
        for (const std::string& group : groups) {
            const auto names = h5_datasets(a.id(), group);
            if (names != h5_datasets(b.id(), group)) return "datasets of " + group;
            for (const std::string& n : names)
                if (h5_raw(a.id(), n) != h5_raw(b.id(), n)) return n;
        }
        for (const std::string& group : attr_groups)
            if (h5_attrs(a.id(), group) != h5_attrs(b.id(), group)) return "attributes of " + group;
        if (h5_attr_string(b.id(), "/", "status") != "complete") return "status";
    } catch (const std::exception& e) {
        return e.what();
    }
    return "";
}

// Overwrites the numeric attribute `name` of the root group of the run file at path
// (raw HDF5, stored as T): files ctr-train and its reader must refuse.
template <class T>
void set_root_attribute(const std::string& path, const std::string& name, T value) {
    static_assert(std::is_same_v<T, int64_t> || std::is_same_v<T, uint64_t>);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    REQUIRE(f >= 0);
    const hid_t a = H5Aopen(f, name.c_str(), H5P_DEFAULT);
    REQUIRE(a >= 0);
    REQUIRE(H5Awrite(a, std::is_same_v<T, int64_t> ? H5T_NATIVE_INT64 : H5T_NATIVE_UINT64, &value) >= 0);
    H5Aclose(a);
    H5Fclose(f);
}

inline std::string status_of(const std::string& path) {
    H5File f(path);
    return h5_attr_string(f.id(), "/", "status");
}

// A run to signal mid-way (3000 steps, about 0.3 s, less as the step gets faster). It
// flushes only at multiples of 50 steps (metrics rows; every other one also a
// checkpoint), takes snapshots in between (every 30 steps), and prints a progress line
// every 10 steps on stderr, so a test knows where it is. Run as a Child it stays within
// 1,000 steps of the last line the test read (the pipe holds it), so a signal sent after
// the line of step 1500 reaches it before its end whatever the speed or the load.
inline const std::vector<std::string> kLong = sets({"train.steps=3000", "task.train_size=1024", "train.batch_size=32",
                                             "task.eval_size=64", "task.probe_size=4", "train.eval_every=50",
                                             "log.checkpoint_every=100", "log.snapshot_dense=2",
                                             "log.snapshot_per_decade=2", "log.snapshot_every=30",
                                             "log.progress_every=10"});

// The uninterrupted run of kLong, made once per test process.
inline const std::string& straight_long_run() {
    static TempDir dir("runfile_straight");
    static const std::string path = [] {
        const Result r = run_ctr(with({minimal_config(), "--quiet", "--out", "straight.h5"}, kLong), dir.dir);
        INFO("stderr: " << r.err);
        REQUIRE(r.code == 0);
        return dir.path("straight.h5");
    }();
    return path;
}

}  // namespace ctr_test
