#pragma once
// A small read-only view of an HDF5 fixture (tools/make_fixtures.py) through the HDF5
// C API: scalar attributes (int or string, fixed- or variable-length), datasets read
// as double or int with their shape, and the names in a group.
#include <hdf5.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace ctr::test {

template <class T>
struct Array {
    std::vector<int> shape;
    std::vector<T> data;
    size_t size() const { return data.size(); }
};

class FixtureFile {
public:
    explicit FixtureFile(const std::string& path) : path_(path) {
        H5E_auto2_t func;
        void* data;
        H5Eget_auto2(H5E_DEFAULT, &func, &data);
        H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // we report errors ourselves
        file_ = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
        H5Eset_auto2(H5E_DEFAULT, func, data);
        if (file_ < 0) throw std::runtime_error("cannot open fixture " + path);
    }
    ~FixtureFile() {
        if (file_ >= 0) H5Fclose(file_);
    }
    FixtureFile(const FixtureFile&) = delete;
    FixtureFile& operator=(const FixtureFile&) = delete;

    bool has_attr(const std::string& name) const { return H5Aexists(file_, name.c_str()) > 0; }

    long attr_int(const std::string& name) const {
        const hid_t a = open_attr(name);
        long v = 0;
        const herr_t st = H5Aread(a, H5T_NATIVE_LONG, &v);
        H5Aclose(a);
        if (st < 0) fail("attribute " + name + " is not an integer");
        return v;
    }

    std::string attr_string(const std::string& name) const {
        const hid_t a = open_attr(name);
        const hid_t ft = H5Aget_type(a);
        if (H5Tget_class(ft) != H5T_STRING) {
            H5Tclose(ft);
            H5Aclose(a);
            fail("attribute " + name + " is not a string");
        }
        std::string out;
        if (H5Tis_variable_str(ft) > 0) {
            const hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, H5T_VARIABLE);
            char* s = nullptr;
            if (H5Aread(a, mt, &s) >= 0 && s) {
                out = s;
                H5free_memory(s);
            }
            H5Tclose(mt);
        } else {
            const size_t n = H5Tget_size(ft);
            std::vector<char> buf(n + 1, '\0');
            const hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, n + 1);
            H5Tset_strpad(mt, H5T_STR_NULLTERM);
            H5Aread(a, mt, buf.data());
            H5Tclose(mt);
            out = buf.data();
        }
        H5Tclose(ft);
        H5Aclose(a);
        return out;
    }

    bool has(const std::string& path) const {
        // H5Lexists on "a/b" needs "a" to exist; check each level.
        size_t pos = 0;
        while (true) {
            pos = path.find('/', pos + 1);
            const std::string prefix = path.substr(0, pos);
            if (H5Lexists(file_, prefix.c_str(), H5P_DEFAULT) <= 0) return false;
            if (pos == std::string::npos) return true;
        }
    }

    Array<double> read_double(const std::string& path) const { return read<double>(path, H5T_NATIVE_DOUBLE); }
    Array<int> read_int(const std::string& path) const { return read<int>(path, H5T_NATIVE_INT); }

    // Names of the members of a group, in HDF5's (alphabetical) order.
    std::vector<std::string> list(const std::string& group) const {
        const hid_t g = H5Gopen2(file_, group.c_str(), H5P_DEFAULT);
        if (g < 0) fail("no group " + group);
        H5G_info_t info;
        H5Gget_info(g, &info);
        std::vector<std::string> names;
        for (hsize_t i = 0; i < info.nlinks; ++i) {
            const ssize_t n = H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
            std::string s(static_cast<size_t>(n), '\0');
            H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, s.data(), s.size() + 1, H5P_DEFAULT);
            names.push_back(s);
        }
        H5Gclose(g);
        return names;
    }

private:
    [[noreturn]] void fail(const std::string& what) const { throw std::runtime_error(path_ + ": " + what); }

    hid_t open_attr(const std::string& name) const {
        if (!has_attr(name)) fail("no attribute " + name);
        return H5Aopen(file_, name.c_str(), H5P_DEFAULT);
    }

    template <class T>
    Array<T> read(const std::string& path, hid_t mem_type) const {
        if (!has(path)) fail("no dataset " + path);
        const hid_t d = H5Dopen2(file_, path.c_str(), H5P_DEFAULT);
        if (d < 0) fail("cannot open dataset " + path);
        const hid_t sp = H5Dget_space(d);
        const int rank = H5Sget_simple_extent_ndims(sp);
        std::vector<hsize_t> dims(static_cast<size_t>(rank));
        H5Sget_simple_extent_dims(sp, dims.data(), nullptr);
        Array<T> out;
        size_t n = 1;
        for (hsize_t x : dims) {
            out.shape.push_back(static_cast<int>(x));
            n *= static_cast<size_t>(x);
        }
        out.data.resize(n);
        const herr_t st = n ? H5Dread(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data.data()) : 0;
        H5Sclose(sp);
        H5Dclose(d);
        if (st < 0) fail("cannot read dataset " + path);
        return out;
    }

    std::string path_;
    hid_t file_ = -1;
};

}  // namespace ctr::test
