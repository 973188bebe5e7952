#pragma once
// Reading run files with the HDF5 C API only (independent of ctr's own reader).
#include <hdf5.h>
#include <hdf5_hl.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace ctr_test {

// A run file opened read-only. Close it (let it go out of scope) before a child opens
// the same file: HDF5's file locks would make the child's open fail.
class H5File {
public:
    explicit H5File(const std::string& path) {
        H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
        id_ = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
        if (id_ < 0) throw std::runtime_error("cannot open " + path + " with the HDF5 C API");
    }
    ~H5File() {
        if (id_ >= 0) H5Fclose(id_);
    }
    H5File(const H5File&) = delete;
    H5File& operator=(const H5File&) = delete;
    hid_t id() const { return id_; }

private:
    hid_t id_ = -1;
};

inline bool h5_exists(hid_t loc, const std::string& path) {
    std::string prefix;
    size_t start = 0;
    for (;;) {
        const size_t slash = path.find('/', start);
        prefix = path.substr(0, slash);
        if (!prefix.empty() && H5Lexists(loc, prefix.c_str(), H5P_DEFAULT) <= 0) return false;
        if (slash == std::string::npos) return true;
        start = slash + 1;
    }
}

inline std::vector<hsize_t> h5_shape(hid_t loc, const std::string& path) {
    const hid_t ds = H5Dopen2(loc, path.c_str(), H5P_DEFAULT);
    if (ds < 0) throw std::runtime_error("cannot open dataset " + path);
    const hid_t space = H5Dget_space(ds);
    const int rank = H5Sget_simple_extent_ndims(space);
    std::vector<hsize_t> dims(rank > 0 ? rank : 0);
    if (rank > 0) H5Sget_simple_extent_dims(space, dims.data(), nullptr);
    H5Sclose(space);
    H5Dclose(ds);
    return dims;
}

// The whole dataset as the bytes of its native memory type (for bit-for-bit compares).
inline std::vector<unsigned char> h5_raw(hid_t loc, const std::string& path) {
    const hid_t ds = H5Dopen2(loc, path.c_str(), H5P_DEFAULT);
    if (ds < 0) throw std::runtime_error("cannot open dataset " + path);
    const hid_t ftype = H5Dget_type(ds);
    const hid_t mtype = H5Tget_native_type(ftype, H5T_DIR_ASCEND);
    const hid_t space = H5Dget_space(ds);
    const hssize_t n = H5Sget_simple_extent_npoints(space);
    std::vector<unsigned char> bytes(static_cast<size_t>(n) * H5Tget_size(mtype));
    herr_t st = 0;
    if (n > 0) st = H5Dread(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes.data());
    H5Sclose(space);
    H5Tclose(mtype);
    H5Tclose(ftype);
    H5Dclose(ds);
    if (st < 0) throw std::runtime_error("cannot read dataset " + path);
    return bytes;
}

template <class T>
std::vector<T> h5_read(hid_t loc, const std::string& path) {
    hid_t mtype;
    if constexpr (std::is_same_v<T, double>) mtype = H5T_NATIVE_DOUBLE;
    else if constexpr (std::is_same_v<T, float>) mtype = H5T_NATIVE_FLOAT;
    else if constexpr (std::is_same_v<T, int64_t>) mtype = H5T_NATIVE_INT64;
    else mtype = H5T_NATIVE_INT32;
    const hid_t ds = H5Dopen2(loc, path.c_str(), H5P_DEFAULT);
    if (ds < 0) throw std::runtime_error("cannot open dataset " + path);
    const hid_t space = H5Dget_space(ds);
    std::vector<T> v(static_cast<size_t>(H5Sget_simple_extent_npoints(space)));
    herr_t st = 0;
    if (!v.empty()) st = H5Dread(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
    H5Sclose(space);
    H5Dclose(ds);
    if (st < 0) throw std::runtime_error("cannot read dataset " + path);
    return v;
}

// Full paths of every dataset below group (recursively), sorted.
inline std::vector<std::string> h5_datasets(hid_t loc, const std::string& group) {
    std::vector<std::string> out;
    const hid_t g = H5Gopen2(loc, group.c_str(), H5P_DEFAULT);
    if (g < 0) throw std::runtime_error("cannot open group " + group);
    H5G_info_t info;
    H5Gget_info(g, &info);
    for (hsize_t i = 0; i < info.nlinks; ++i) {
        char name[1024];
        H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT);
        const std::string full = group + "/" + name;
        H5O_info_t oi;
        H5Oget_info_by_name2(loc, full.c_str(), &oi, H5O_INFO_BASIC, H5P_DEFAULT);
        if (oi.type == H5O_TYPE_GROUP) {
            for (auto& s : h5_datasets(loc, full)) out.push_back(s);
        } else {
            out.push_back(full);
        }
    }
    H5Gclose(g);
    std::sort(out.begin(), out.end());
    return out;
}

// The series below group: its datasets except the fixed dimension scales (batch, pos,
// ...: every dimension but `step`, which is itself a series).
inline std::vector<std::string> h5_series(hid_t loc, const std::string& group) {
    std::vector<std::string> out;
    for (const std::string& name : h5_datasets(loc, group)) {
        const hid_t ds = H5Dopen2(loc, name.c_str(), H5P_DEFAULT);
        const bool fixed_scale = H5DSis_scale(ds) > 0 && name.substr(name.rfind('/') + 1) != "step";
        H5Dclose(ds);
        if (!fixed_scale) out.push_back(name);
    }
    return out;
}

inline bool h5_has_attr(hid_t loc, const std::string& obj, const std::string& name) {
    return H5Aexists_by_name(loc, obj.c_str(), name.c_str(), H5P_DEFAULT) > 0;
}

inline std::string h5_attr_string(hid_t loc, const std::string& obj, const std::string& name) {
    const hid_t a = H5Aopen_by_name(loc, obj.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) throw std::runtime_error("no attribute " + obj + "@" + name);
    const hid_t t = H5Aget_type(a);
    std::string s;
    if (H5Tget_class(t) == H5T_STRING) {
        if (H5Tis_variable_str(t) > 0) {
            char* buf = nullptr;
            H5Aread(a, t, &buf);
            s = buf ? buf : "";
            H5free_memory(buf);
        } else {
            s.assign(H5Tget_size(t), '\0');
            H5Aread(a, t, s.data());
            s.resize(std::strlen(s.c_str()));
        }
    }
    H5Tclose(t);
    H5Aclose(a);
    return s;
}

// A list-of-strings attribute (variable-length UTF-8), e.g. `axes`.
inline std::vector<std::string> h5_attr_strings(hid_t loc, const std::string& obj, const std::string& name) {
    const hid_t a = H5Aopen_by_name(loc, obj.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) throw std::runtime_error("no attribute " + obj + "@" + name);
    const hid_t t = H5Aget_type(a), space = H5Aget_space(a);
    std::vector<char*> ptrs(static_cast<size_t>(H5Sget_simple_extent_npoints(space)), nullptr);
    const bool ok = H5Tis_variable_str(t) > 0 && H5Aread(a, t, ptrs.data()) >= 0;
    std::vector<std::string> out;
    for (char* p : ptrs) {
        out.emplace_back(p ? p : "");
        H5free_memory(p);
    }
    H5Sclose(space);
    H5Tclose(t);
    H5Aclose(a);
    if (!ok) throw std::runtime_error("attribute " + obj + "@" + name + " is not a list of strings");
    return out;
}

// The names of the dimension scales attached to each axis of a dataset ("" for none).
inline std::vector<std::string> h5_dim_names(hid_t loc, const std::string& dataset) {
    const hid_t ds = H5Dopen2(loc, dataset.c_str(), H5P_DEFAULT);
    if (ds < 0) throw std::runtime_error("no dataset " + dataset);
    const hid_t space = H5Dget_space(ds);
    const int rank = H5Sget_simple_extent_ndims(space);
    H5Sclose(space);
    std::vector<std::string> out;
    for (int i = 0; i < rank; ++i) {
        std::string name;
        if (H5DSget_num_scales(ds, static_cast<unsigned>(i)) == 1) {
            H5DSiterate_scales(ds, static_cast<unsigned>(i), nullptr,
                               [](hid_t, unsigned, hid_t scale, void* out) -> herr_t {
                                   char buf[256] = {};
                                   H5DSget_scale_name(scale, buf, sizeof buf);
                                   *static_cast<std::string*>(out) = buf;
                                   return 1;
                               },
                               &name);
        }
        out.push_back(name);
    }
    H5Dclose(ds);
    return out;
}

// A scalar numeric attribute, read as T (HDF5 converts); also tells its class and sign.
template <class T>
T h5_attr_number(hid_t loc, const std::string& obj, const std::string& name) {
    hid_t mtype;
    if constexpr (std::is_same_v<T, double>) mtype = H5T_NATIVE_DOUBLE;
    else if constexpr (std::is_same_v<T, uint64_t>) mtype = H5T_NATIVE_UINT64;
    else mtype = H5T_NATIVE_INT64;
    const hid_t a = H5Aopen_by_name(loc, obj.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) throw std::runtime_error("no attribute " + obj + "@" + name);
    T v{};
    const herr_t st = H5Aread(a, mtype, &v);
    H5Aclose(a);
    if (st < 0) throw std::runtime_error("cannot read attribute " + obj + "@" + name);
    return v;
}

// Every attribute of obj, name -> its value as bytes (strings as their text, numbers in
// their native memory type), for bit-for-bit compares.
inline std::map<std::string, std::string> h5_attrs(hid_t loc, const std::string& obj) {
    std::map<std::string, std::string> out;
    H5O_info_t oi;
    if (H5Oget_info_by_name2(loc, obj.c_str(), &oi, H5O_INFO_NUM_ATTRS, H5P_DEFAULT) < 0)
        throw std::runtime_error("cannot inspect " + obj);
    for (hsize_t i = 0; i < oi.num_attrs; ++i) {
        char name[1024];
        H5Aget_name_by_idx(loc, obj.c_str(), H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT);
        const hid_t a = H5Aopen_by_name(loc, obj.c_str(), name, H5P_DEFAULT, H5P_DEFAULT);
        const hid_t t = H5Aget_type(a);
        std::string value;
        if (H5Tget_class(t) == H5T_STRING) {
            value = "string:" + h5_attr_string(loc, obj, name);
        } else {
            const hid_t mt = H5Tget_native_type(t, H5T_DIR_ASCEND);
            const hid_t space = H5Aget_space(a);
            value.assign(H5Tget_size(mt) * static_cast<size_t>(H5Sget_simple_extent_npoints(space)), '\0');
            H5Aread(a, mt, value.data());
            H5Sclose(space);
            H5Tclose(mt);
        }
        H5Tclose(t);
        H5Aclose(a);
        out[name] = value;
    }
    return out;
}

}  // namespace ctr_test
