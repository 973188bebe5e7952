#include "io/series_file.hpp"

#include "io/file_check.hpp"

#include <algorithm>
#include <cerrno>
#include <filesystem>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

namespace ctr {

SeriesFile SeriesFile::create(const std::string& path, const std::string& what,
                              const std::function<void(SeriesFile&)>& build, bool replace,
                              const std::string* image) {
    h5::quiet_errors();
    if (!replace && std::filesystem::exists(path)) throw h5::IoError("cannot create " + what + " " + path + ": it exists");
    const std::string tmp_path = staged_path(path);
    // The root group keeps its links in its own object header (HDF5 1.8's link messages;
    // tracking their creation order is what makes HDF5 use them), sized for every name a
    // run file has: a checkpoint swap then rewrites one header block, one write, instead
    // of a symbol-table node and a name heap that a kill can tear apart
    // (docs/hdf5-layout.md#crash-safety). Every other object keeps the oldest format:
    // HDF5 1.10's H5Ocopy crashes on the newer format's dense string attributes.
    h5::Handle fcpl(h5::check(H5Pcreate(H5P_FILE_CREATE), "file creation list"));
    h5::check(H5Pset_link_creation_order(fcpl.get(), H5P_CRT_ORDER_TRACKED), "root group links");
    h5::check(H5Pset_link_phase_change(fcpl.get(), kRootLinks, kRootLinks - 2), "root group links");
    // The estimate sizes the root's first header block: room for the links and for the
    // root's attributes, so that no change needs a second block (a second write).
    h5::check(H5Pset_est_link_info(fcpl.get(), 4 * kRootLinks, 32), "root group links");
    h5::Handle file;
    if (image) {  // a file made with the same creation list
        int err = 0;
        const int fd = ::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) err = errno;
        for (size_t done = 0; fd >= 0 && !err && done < image->size();) {
            const ssize_t n = ::write(fd, image->data() + done, image->size() - done);
            if (n < 0 && errno != EINTR) err = errno;
            if (n > 0) done += static_cast<size_t>(n);
        }
        if (fd >= 0 && ::close(fd) != 0 && !err) err = errno;
        if (err) {
            std::error_code ec;
            std::filesystem::remove(tmp_path, ec);
            const h5::IoError e = h5::errno_failure("writing " + tmp_path, err);
            throw h5::IoError("cannot create " + what + " " + path + ": " + e.what(), e.cause());
        }
        file = h5::Handle(H5Fopen(tmp_path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT));
    } else {
        file = h5::Handle(H5Fcreate(tmp_path.c_str(), H5F_ACC_TRUNC, fcpl.get(), H5P_DEFAULT));
    }
    if (!file.valid()) {
        const h5::IoError e = h5::failure("creating " + what + " " + tmp_path);
        throw h5::IoError("cannot create " + what + " " + path + ": " + e.what(), e.cause());
    }
    SeriesFile out(tmp_path, std::move(file));
    out.final_path_ = path;  // the destructor removes the staged file if build() throws
    build(out);
    out.flush();
    out.last_flush_growth_ = 0;  // the skeleton is written once; rows grow the file by less
    return out;
}

SeriesFile::~SeriesFile() {
    if (published() || !file_.valid()) return;
    series_.clear();
    pending_.clear();
    file_.reset();
    std::error_code ec;
    std::filesystem::remove(path_, ec);
}

void SeriesFile::publish() {
    if (published()) return;
    flush();
    std::error_code ec;
    std::filesystem::rename(path_, final_path_, ec);
    if (ec) throw h5::IoError("cannot move " + path_ + " to " + final_path_ + ": " + ec.message());
    path_ = final_path_;
    final_path_.clear();
}

SeriesFile SeriesFile::open(const std::string& path, bool writable) {
    h5::quiet_errors();
    check_run_file_path(path, writable);
    h5::Handle fapl(h5::check(H5Pcreate(H5P_FILE_ACCESS), "file access list"));
    if (!writable) h5::check(H5Pset_file_locking(fapl.get(), false, true), "file locking");
    h5::Handle file(H5Fopen(path.c_str(), writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, fapl.get()));
    H5Eclear2(H5E_DEFAULT);
    if (!file.valid()) throw open_failure(path, writable);
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
                                            elements * H5Tget_size(file_type.get()), 0, {}, ChunkRows::plan(ds, mem_type)})
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
        if (p.chunks)
            p.chunks->append(series(path), p.bytes.data(), p.rows);
        else
            h5::append_rows(series(path), p.mem_type, p.bytes.data(), p.rows);
        p.rows = 0;
        p.bytes.clear();
    }
}

void SeriesFile::forget_series() {
    series_.clear();
    pending_.clear();
}

void SeriesFile::reopen() {
    flush();
    forget_series();
    // With an object still open, H5Fclose would keep the file open (and its free space).
    const ssize_t open_objects = H5Fget_obj_count(file_.get(), H5F_OBJ_ALL) - 1;  // but the file itself
    if (open_objects != 0)
        throw h5::IoError("reopening " + path_ + ": " + std::to_string(open_objects) + " HDF5 objects are still open");
    file_.reset();
    h5::Handle file(H5Fopen(path_.c_str(), H5F_ACC_RDWR, H5P_DEFAULT));
    H5Eclear2(H5E_DEFAULT);
    if (!file.valid()) throw open_failure(path_, true);
    file_ = std::move(file);
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
                              " KiB); stopped before writing, so the file keeps its last flush",
                          h5::Cause::kDiskFull);
    // The same for the process's file-size limit: a write past it fails (EFBIG) half way.
    struct rlimit limit {};
    const uintmax_t size = fs::file_size(path_, ec);
    if (!ec && ::getrlimit(RLIMIT_FSIZE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY &&
        size + needed > static_cast<uintmax_t>(limit.rlim_cur))
        throw h5::IoError("the file-size limit of this process (ulimit -f: " + std::to_string(limit.rlim_cur / 1024) +
                              " KiB) is almost reached by " + path_ + " (" + std::to_string(size / 1024) +
                              " KiB, the next write needs about " + std::to_string(needed / 1024) +
                              " KiB); stopped before writing, so the file keeps its last flush",
                          h5::Cause::kFileSizeLimit);
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
