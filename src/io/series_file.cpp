#include "io/series_file.hpp"

#include <algorithm>
#include <filesystem>

#include <unistd.h>

namespace ctr {

SeriesFile SeriesFile::create(const std::string& path, const std::string& what,
                              const std::function<void(SeriesFile&)>& build) {
    h5::quiet_errors();
    if (std::filesystem::exists(path)) throw h5::IoError("cannot create " + what + " " + path + ": it exists");
    const std::string tmp_path = path + ".creating";
    h5::Handle file(H5Fcreate(tmp_path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
    if (!file.valid()) throw h5::IoError("cannot create " + what + " " + path);
    SeriesFile out(path, std::move(file));
    struct RemoveOnError {  // the half-made file goes when creating it throws
        const std::string& path;
        bool keep = false;
        ~RemoveOnError() {
            std::error_code ec;
            if (!keep) std::filesystem::remove(path, ec);
        }
    } remove_on_error{tmp_path};
    // The path the flush measures while the skeleton is written is the temporary one.
    out.path_ = tmp_path;
    build(out);
    out.flush();
    out.path_ = path;
    out.last_flush_growth_ = 0;  // the skeleton is written once; rows grow the file by less
    std::error_code ec;
    std::filesystem::rename(tmp_path, path, ec);
    if (ec) throw h5::IoError("cannot create " + what + " " + path + ": " + ec.message());
    remove_on_error.keep = true;
    return out;
}

SeriesFile SeriesFile::open(const std::string& path, bool writable) {
    h5::quiet_errors();
    h5::Handle fapl(h5::check(H5Pcreate(H5P_FILE_ACCESS), "file access list"));
    if (!writable) h5::check(H5Pset_file_locking(fapl.get(), false, true), "file locking");
    h5::Handle file(H5Fopen(path.c_str(), writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, fapl.get()));
    if (!file.valid()) throw h5::IoError("cannot open " + path + " as an HDF5 run file");
    return SeriesFile(path, std::move(file));
}

hid_t SeriesFile::series(const std::string& path) {
    auto it = series_.find(path);
    if (it == series_.end())
        it = series_.emplace(path, h5::Handle(h5::check(H5Dopen2(file_.get(), path.c_str(), H5P_DEFAULT),
                                                        "opening dataset " + path))).first;
    return it->second.get();
}

void SeriesFile::append(const std::string& path, hid_t mem_type, const void* row) {
    auto it = pending_.find(path);
    if (it == pending_.end()) {
        const hid_t ds = series(path);
        h5::Handle space(h5::check(H5Dget_space(ds), "dataspace of " + path));
        const int rank = H5Sget_simple_extent_ndims(space.get());
        std::vector<hsize_t> dims(rank);
        H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
        size_t elements = 1;
        for (int i = 1; i < rank; ++i) elements *= dims[i];
        h5::Handle file_type(h5::check(H5Dget_type(ds), "type of " + path));
        it = pending_.emplace(path, Pending{mem_type, elements * H5Tget_size(mem_type),
                                            elements * H5Tget_size(file_type.get()), 0, {}})
                 .first;
    }
    Pending& p = it->second;
    const auto* bytes = static_cast<const unsigned char*>(row);
    p.bytes.insert(p.bytes.end(), bytes, bytes + p.row_bytes);
    p.rows += 1;
}

void SeriesFile::write_pending() {
    for (auto& [path, p] : pending_) {
        if (p.rows == 0) continue;
        h5::append_rows(series(path), p.mem_type, p.bytes.data(), p.rows);
        p.rows = 0;
        p.bytes.clear();
    }
}

void SeriesFile::forget_series() {
    series_.clear();
    pending_.clear();
}

void SeriesFile::salvage_after_failure() noexcept {
    haddr_t eoa = 0;
    if (H5Fget_eoa(file_.get(), &eoa) < 0) return;
    std::error_code ec;
    const auto size = std::filesystem::file_size(path_, ec);
    if (!ec && size < eoa) ::truncate(path_.c_str(), static_cast<off_t>(eoa));
}

void SeriesFile::ensure_space() const {
    // HDF5 writes a flush in no crash-safe order, so a disk that fills up during one can
    // leave a file it cannot open. Stop before, while the file still holds the last
    // flush: the next flush needs about its queued rows plus what the last one added.
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::space_info space = fs::space(fs::absolute(path_).parent_path(), ec);
    uintmax_t queued = 0;
    for (const auto& [name, p] : pending_) queued += p.rows * p.file_row_bytes;
    const uintmax_t needed = queued + last_flush_growth_ + kFlushMargin;
    if (!ec && space.available < needed)
        throw h5::IoError("the disk of " + path_ + " is almost full (" + std::to_string(space.available / 1024) +
                          " KiB free, the next write needs about " + std::to_string(needed / 1024) +
                          " KiB); stopped before writing, so the file keeps its last flush");
}

void SeriesFile::flush() {
    namespace fs = std::filesystem;
    std::error_code ec;
    const uintmax_t size_before = fs::file_size(path_, ec);
    ensure_space();
    write_pending();
    h5::check(H5Fflush(file_.get(), H5F_SCOPE_GLOBAL), "flushing " + path_);
    const uintmax_t size_after = fs::file_size(path_, ec);
    if (!ec && size_after > size_before) last_flush_growth_ = std::max(last_flush_growth_, size_after - size_before);
}

}  // namespace ctr
