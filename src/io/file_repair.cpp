#include "io/file_repair.hpp"

#include <hdf5.h>

#include <filesystem>
#include <vector>

#include "io/h5.hpp"
#include "io/run_file_reader.hpp"

namespace fs = std::filesystem;

namespace ctr {

namespace {

// True when every numeric dataset below the file's root reads back: a chunk whose bytes
// were never written (the kill came before them) fails its filter or its read here.
bool every_dataset_reads(hid_t file) {
    auto visit = [](hid_t root, const char* name, const H5O_info_t* info, void* ok) -> herr_t {
        if (info->type != H5O_TYPE_DATASET) return 0;
        h5::Handle ds(H5Dopen2(root, name, H5P_DEFAULT));
        if (!ds.valid()) return *static_cast<bool*>(ok) = false, 1;
        h5::Handle type(H5Dget_type(ds.get()));
        const H5T_class_t cls = H5Tget_class(type.get());
        if (cls != H5T_INTEGER && cls != H5T_FLOAT) return 0;  // strings are written once, at creation
        h5::Handle native(H5Tget_native_type(type.get(), H5T_DIR_ASCEND));
        h5::Handle space(H5Dget_space(ds.get()));
        const hssize_t n = H5Sget_simple_extent_npoints(space.get());
        std::vector<unsigned char> buf(static_cast<size_t>(std::max<hssize_t>(n, 1)) * H5Tget_size(native.get()));
        if (n > 0 && H5Dread(ds.get(), native.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()) < 0)
            return *static_cast<bool*>(ok) = false, 1;
        return 0;
    };
    bool ok = true;
    if (H5Ovisit2(file, H5_INDEX_NAME, H5_ITER_INC, visit, &ok, H5O_INFO_BASIC) < 0) ok = false;
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
