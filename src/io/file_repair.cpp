#include "io/file_repair.hpp"

#include <hdf5.h>

#include <filesystem>

#include "io/file_walk.hpp"
#include "io/h5.hpp"
#include "io/run_file_reader.hpp"

namespace fs = std::filesystem;

namespace ctr {

namespace {

// True when every numeric dataset below the file's root reads back: a chunk whose bytes
// were never written (the kill came before them) fails its filter or its read here.
bool every_dataset_reads(hid_t file) {
    FileWalk walk;
    walk.dataset = [](const char*, const WalkValues& v) {
        const H5T_class_t cls = H5Tget_class(v.type);
        if (cls != H5T_INTEGER && cls != H5T_FLOAT) return true;  // strings are written once, at creation
        return v.read_native({});
    };
    const bool ok = walk_file(file, walk);
    H5Eclear2(H5E_DEFAULT);
    return ok;
}

}  // namespace

std::optional<std::string> repair_unrecorded_end(const std::string& path) {
    std::optional<std::string> past;
    try {
        past = RunFileReader::open(path).data_past_end();
    } catch (const h5::IoError&) {
        return std::nullopt;  // not this problem: the resume reports what it is
    }
    if (!past) return std::nullopt;
    haddr_t eoa = 0;
    {
        h5::Handle f(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
        const bool known = f.valid() && H5Fget_eoa(f.get(), &eoa) >= 0;
        H5Eclear2(H5E_DEFAULT);
        if (!known) return past;
    }
    std::error_code ec;
    if (fs::file_size(path, ec) <= eoa || ec) return past;  // nothing on disk past the end to give back

    const std::string copy = path + ".repair";
    fs::copy_file(path, copy, fs::copy_options::overwrite_existing, ec);
    if (ec) return past;
    bool ok = false;
    {
        h5::Handle f(H5Fopen(copy.c_str(), H5F_ACC_RDWR, H5P_DEFAULT));
        ok = f.valid() && H5Fincrement_filesize(f.get(), 0) >= 0;
        H5Eclear2(H5E_DEFAULT);
    }
    if (ok) {
        try {
            ok = !RunFileReader::open(copy).data_past_end();
        } catch (const h5::IoError&) {
            ok = false;
        }
    }
    if (ok) {
        h5::Handle f(H5Fopen(copy.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
        ok = f.valid() && every_dataset_reads(f.get());
        H5Eclear2(H5E_DEFAULT);
    }
    if (ok) fs::rename(copy, path, ec);
    if (!ok || ec) {
        fs::remove(copy, ec);
        return past;
    }
    return std::nullopt;
}

}  // namespace ctr
