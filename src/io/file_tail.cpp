#include "io/file_tail.hpp"

#include <fcntl.h>
#include <hdf5.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <optional>
#include <vector>

#include "io/file_walk.hpp"
#include "io/h5.hpp"

namespace fs = std::filesystem;

namespace ctr {
namespace {

// Everything read from the file, folded into one FNV-1a hash.
struct Digest {
    uint64_t hash = 1469598103934665603ull;
    void add(const void* p, size_t n) {
        const auto* b = static_cast<const unsigned char*>(p);
        for (size_t i = 0; i < n; ++i) hash = (hash ^ b[i]) * 1099511628211ull;
    }
    template <class T>
    void add_value(const T& v) {
        add(&v, sizeof v);
    }
    void add_text(const char* s) {
        const size_t n = s ? std::strlen(s) : 0;
        add_value(n);
        add(s, n);
    }
};

// Reads the values of an attribute or dataset and adds them to g: numbers and fixed
// strings as bytes, variable-length strings and sequences by their contents (their bytes
// live in the global heap). False when they cannot be read.
bool add_values(Digest& g, const WalkValues& v) {
    if (v.type < 0 || v.space < 0) return false;
    const H5T_class_t cls = H5Tget_class(v.type);
    const bool vlen_string = cls == H5T_STRING && H5Tis_variable_str(v.type) > 0;
    return v.read_native([&](hid_t mem, const unsigned char* bytes, size_t size) {
        if (vlen_string) {
            for (hssize_t i = 0; i < v.n; ++i) g.add_text(reinterpret_cast<char* const*>(bytes)[i]);
        } else if (cls == H5T_VLEN) {
            h5::Handle base(H5Tget_super(mem));
            const size_t base_size = base.valid() ? H5Tget_size(base.get()) : 0;
            for (hssize_t i = 0; i < v.n; ++i) {
                const hvl_t& x = reinterpret_cast<const hvl_t*>(bytes)[i];
                g.add_value(x.len);
                if (x.p) g.add(x.p, x.len * base_size);
            }
        } else {
            g.add(bytes, size);
        }
    });
}

// Everything the file holds, read afresh (the file is closed again before it returns):
// every object's name, type, address and attribute count, every attribute's name and
// values, every dataset's values. Nothing when something cannot be read.
std::optional<uint64_t> digest(const std::string& path) {
    Digest g;
    FileWalk walk;
    walk.object = [&](const char* name, const H5O_info_t& info) {
        g.add_text(name);
        g.add_value(info.type);
        g.add_value(info.addr);
        g.add_value(info.num_attrs);
        return true;
    };
    walk.attribute = [&](const char* name, const WalkValues& v) {
        g.add_text(name);
        return add_values(g, v);
    };
    walk.dataset = [&](const char*, const WalkValues& v) { return add_values(g, v); };
    bool ok = true;
    {
        h5::Handle fapl(H5Pcreate(H5P_FILE_ACCESS));
        if (!fapl.valid() || H5Pset_file_locking(fapl.get(), false, true) < 0) return std::nullopt;
        h5::Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()));
        ok = file.valid() && walk_file(file.get(), walk);
    }
    H5Eclear2(H5E_DEFAULT);
    if (!ok) return std::nullopt;
    return g.hash;
}

bool fill(const std::string& path, uintmax_t from, uintmax_t to, unsigned char byte) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return false;
    const std::vector<unsigned char> buf(static_cast<size_t>(to - from), byte);
    const bool ok = ::pwrite(fd, buf.data(), buf.size(), static_cast<off_t>(from)) == static_cast<ssize_t>(buf.size());
    return ::close(fd) == 0 && ok;
}

}  // namespace

bool tail_unused(const std::string& path, uintmax_t from) {
    std::error_code ec;
    const uintmax_t size = fs::file_size(path, ec);
    if (ec || size <= from) return !ec;
    const std::optional<uint64_t> zeros = digest(path);
    if (!zeros || !fill(path, from, size, 0xFF)) return false;
    const std::optional<uint64_t> ones = digest(path);
    return fill(path, from, size, 0) && ones && *ones == *zeros;
}

}  // namespace ctr
