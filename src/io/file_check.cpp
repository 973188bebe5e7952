#include "io/file_check.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace ctr {
namespace {

constexpr unsigned char kSignature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

std::string read_head(const std::string& path, size_t n) {
    std::ifstream in(path, std::ios::binary);
    std::string s(n, '\0');
    in.read(s.data(), static_cast<std::streamsize>(n));
    s.resize(static_cast<size_t>(in.gcount()));
    return s;
}

uint64_t little_endian(const std::string& s, size_t at, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(s[at + i])) << (8 * i);
    return v;
}

// HDF5_USE_FILE_LOCKING=FALSE (or 0) turns HDF5's own file locks off.
bool hdf5_locks_files() {
    const char* v = std::getenv("HDF5_USE_FILE_LOCKING");
    return !(v && (std::strcmp(v, "FALSE") == 0 || std::strcmp(v, "0") == 0));
}

}  // namespace

bool has_hdf5_signature(const std::string& path) {
    const std::string head = read_head(path, 8);
    return head.size() == 8 && std::memcmp(head.data(), kSignature, 8) == 0;
}

uint64_t recorded_hdf5_size(const std::string& path) {
    const std::string s = read_head(path, 128);
    if (s.size() < 16 || std::memcmp(s.data(), kSignature, 8) != 0) return 0;
    const int version = static_cast<unsigned char>(s[8]);
    size_t offsets, eof_at;
    if (version == 0 || version == 1) {
        // signature, 8 version/size bytes, group K values, flags (, v1: indexed K + reserved),
        // then base, free-space and end-of-file addresses.
        offsets = static_cast<unsigned char>(s[13]);
        eof_at = (version == 0 ? 24 : 28) + 2 * offsets;
    } else {
        // signature, version, sizes, flags, then base, extension and end-of-file addresses.
        offsets = static_cast<unsigned char>(s[9]);
        eof_at = 12 + 2 * offsets;
    }
    if (offsets == 0 || offsets > 8 || s.size() < eof_at + offsets) return 0;
    return little_endian(s, eof_at, offsets);
}

void check_run_file_path(const std::string& path, bool writable) {
    using h5::Cause;
    using h5::IoError;
    std::error_code ec;
    const fs::file_status st = fs::status(path, ec);
    if (!fs::exists(st)) {
        if (ec && ec != std::errc::no_such_file_or_directory)
            throw IoError(path + ": cannot look at it: " + ec.message(),
                          ec == std::errc::permission_denied ? Cause::kPermission : Cause::kOther);
        throw IoError("run file " + path + " does not exist", Cause::kNotFound);
    }
    if (fs::is_directory(st)) throw IoError(path + " is a directory, not a run file", Cause::kIsDirectory);
    if (::access(path.c_str(), R_OK) != 0)
        throw IoError(path + ": permission denied: this user cannot read it", Cause::kPermission);
    if (writable && ::access(path.c_str(), W_OK) != 0)
        throw IoError(path + ": permission denied: the file is read-only for this user (make it writable, e.g. chmod u+w " +
                          path + ", to continue the run)",
                      Cause::kPermission);
    const uintmax_t size = fs::file_size(path, ec);
    if (!ec && size == 0) throw IoError(path + " is empty (0 bytes), not a run file", Cause::kNotHdf5);
    if (!has_hdf5_signature(path))
        throw IoError(path + " is not an HDF5 file (it does not start with the HDF5 signature), so not a run file",
                      Cause::kNotHdf5);
    const uint64_t recorded = recorded_hdf5_size(path);
    if (!ec && recorded > size)
        throw IoError(path + " is truncated: it has " + std::to_string(size) + " bytes, HDF5 recorded " +
                          std::to_string(recorded) +
                          " (cut short by a full disk, a quota or an incomplete copy). What its last complete flush "
                          "wrote may be readable after extending it to the recorded size: truncate -s " +
                          std::to_string(recorded) + " " + path + " (keep a copy first)",
                      Cause::kTruncated);
}

h5::IoError open_failure(const std::string& path, bool writable) {
    if (writable && hdf5_locks_files()) {
        // HDF5 locks with flock(): if another process holds one, that is why.
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            const bool held = ::flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
            ::close(fd);
            if (held)
                return h5::IoError(path + " is locked by another process that has it open through HDF5 (h5py, HDFView, "
                                          "h5dump or a ctr of another version); close it there first",
                                   h5::Cause::kLocked);
        }
    }
    return h5::IoError(path + " is damaged: it is an HDF5 file, but HDF5 cannot open it (a run killed during a flush "
                              "can leave this; docs/hdf5-layout.md, Crash safety). ctr cannot recover anything from it; "
                              "start the run again (--overwrite replaces it)",
                       h5::Cause::kDamaged);
}

}  // namespace ctr
