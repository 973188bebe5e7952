#include "io/file_tail.hpp"

#include <fcntl.h>
#include <hdf5.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <optional>
#include <vector>

#include "io/h5.hpp"

namespace fs = std::filesystem;

namespace ctr {
namespace {

// Everything read from the file, folded into one FNV-1a hash; ok false once a read failed.
struct Digest {
    uint64_t hash = 1469598103934665603ull;
    bool ok = true;
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

// Reads the n values of an attribute or dataset of file type `type` through read(mem_type,
// buffer) and adds them to g: numbers and fixed strings as bytes, variable-length strings
// and sequences by their contents (their bytes live in the global heap).
template <class Read>
void add_values(Digest& g, hid_t type, hid_t space, hssize_t n, Read&& read) {
    if (n <= 0) return;
    const H5T_class_t cls = H5Tget_class(type);
    const bool vlen_string = cls == H5T_STRING && H5Tis_variable_str(type) > 0;
    h5::Handle mem(H5Tget_native_type(type, H5T_DIR_ASCEND));
    if (!mem.valid()) return void(g.ok = false);
    const size_t size = H5Tget_size(mem.get());
    std::vector<unsigned char> buf(static_cast<size_t>(n) * size, 0);
    if (read(mem.get(), buf.data()) < 0) return void(g.ok = false);
    if (vlen_string) {
        for (hssize_t i = 0; i < n; ++i) g.add_text(reinterpret_cast<char**>(buf.data())[i]);
    } else if (cls == H5T_VLEN) {
        h5::Handle base(H5Tget_super(mem.get()));
        const size_t base_size = base.valid() ? H5Tget_size(base.get()) : 0;
        for (hssize_t i = 0; i < n; ++i) {
            const hvl_t& v = reinterpret_cast<hvl_t*>(buf.data())[i];
            g.add_value(v.len);
            if (v.p) g.add(v.p, v.len * base_size);
        }
    } else {
        g.add(buf.data(), buf.size());
    }
    if (vlen_string || cls == H5T_VLEN) H5Dvlen_reclaim(mem.get(), space, H5P_DEFAULT, buf.data());
}

herr_t add_attribute(hid_t obj, const char* name, const H5A_info_t*, void* data) {
    Digest& g = *static_cast<Digest*>(data);
    g.add_text(name);
    h5::Handle attr(H5Aopen(obj, name, H5P_DEFAULT));
    if (!attr.valid()) return g.ok = false, 1;
    h5::Handle type(H5Aget_type(attr.get())), space(H5Aget_space(attr.get()));
    if (!type.valid() || !space.valid()) return g.ok = false, 1;
    add_values(g, type.get(), space.get(), H5Sget_simple_extent_npoints(space.get()),
               [&](hid_t mem, void* buf) { return H5Aread(attr.get(), mem, buf); });
    return g.ok ? 0 : 1;
}

herr_t add_object(hid_t root, const char* name, const H5O_info_t* info, void* data) {
    Digest& g = *static_cast<Digest*>(data);
    g.add_text(name);
    g.add_value(info->type);
    g.add_value(info->addr);
    g.add_value(info->num_attrs);
    h5::Handle obj(H5Oopen(root, name, H5P_DEFAULT));
    if (!obj.valid() || H5Aiterate2(obj.get(), H5_INDEX_NAME, H5_ITER_INC, nullptr, add_attribute, &g) < 0 || !g.ok)
        return g.ok = false, 1;
    if (info->type != H5O_TYPE_DATASET) return 0;
    h5::Handle type(H5Dget_type(obj.get())), space(H5Dget_space(obj.get()));
    if (!type.valid() || !space.valid()) return g.ok = false, 1;
    add_values(g, type.get(), space.get(), H5Sget_simple_extent_npoints(space.get()),
               [&](hid_t mem, void* buf) { return H5Dread(obj.get(), mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf); });
    return g.ok ? 0 : 1;
}

// Everything the file holds, read afresh (the file is closed again before it returns);
// nothing when something cannot be read.
std::optional<uint64_t> digest(const std::string& path) {
    Digest g;
    {
        h5::Handle fapl(H5Pcreate(H5P_FILE_ACCESS));
        if (!fapl.valid() || H5Pset_file_locking(fapl.get(), false, true) < 0) return std::nullopt;
        h5::Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()));
        if (!file.valid() ||
            H5Ovisit2(file.get(), H5_INDEX_NAME, H5_ITER_INC, add_object, &g, H5O_INFO_BASIC | H5O_INFO_NUM_ATTRS) < 0)
            g.ok = false;
    }
    H5Eclear2(H5E_DEFAULT);
    if (!g.ok) return std::nullopt;
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
