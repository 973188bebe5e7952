#include "io/h5.hpp"

#include <algorithm>

#include <hdf5_hl.h>

#include <numeric>
#include <cerrno>
#include <cstring>

namespace ctr::h5 {

namespace {

// The first errno HDF5's error stack recorded ("..., errno = 28, error message = ...")
// by its file driver, or 0.
herr_t find_errno(unsigned, const H5E_error2_t* e, void* data) {
    int& found = *static_cast<int*>(data);
    if (found || !e->desc) return 0;
    const char* at = std::strstr(e->desc, "errno = ");
    if (at) found = std::atoi(at + 8);
    return 0;
}

}  // namespace

IoError failure(const std::string& what) {
    int err = 0;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, find_errno, &err);
    H5Eclear2(H5E_DEFAULT);
    return errno_failure(what, err);
}

IoError errno_failure(const std::string& what, int err) {
    switch (err) {
        case 0: return IoError("HDF5: " + what + " failed");
        case ENOSPC:
        case EDQUOT:
            return IoError(what + " failed: the disk is full (" + std::strerror(err) + ")", Cause::kDiskFull);
        case EFBIG:
            return IoError(what + " failed: the file-size limit of this process is reached (" + std::strerror(err) +
                               "; see ulimit -f)",
                           Cause::kFileSizeLimit);
        case EACCES:
        case EPERM:
            return IoError(what + " failed: permission denied", Cause::kPermission);
        default: return IoError(what + " failed: " + std::strerror(err));
    }
}

void Handle::reset() {
    if (id_ < 0) return;
    switch (H5Iget_type(id_)) {
        case H5I_FILE: H5Fclose(id_); break;
        case H5I_GROUP: H5Gclose(id_); break;
        case H5I_DATASET: H5Dclose(id_); break;
        case H5I_DATASPACE: H5Sclose(id_); break;
        case H5I_DATATYPE: H5Tclose(id_); break;
        case H5I_ATTR: H5Aclose(id_); break;
        case H5I_GENPROP_LST: H5Pclose(id_); break;
        default: break;
    }
    id_ = -1;
}

void quiet_errors() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

void init_library() {
    H5dont_atexit();
    quiet_errors();
}

hid_t check(hid_t id, const std::string& what) {
    if (id < 0) throw failure(what);
    return id;
}

void check(herr_t status, const std::string& what) {
    if (status < 0) throw failure(what);
}

Handle create_group(hid_t parent, const std::string& name) {
    return Handle(check(H5Gcreate2(parent, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "creating group " + name));
}

Handle open_group(hid_t parent, const std::string& name) {
    return Handle(check(H5Gopen2(parent, name.c_str(), H5P_DEFAULT), "opening group " + name));
}

bool exists(hid_t parent, const std::string& path) {
    // H5Lexists needs every intermediate link to exist, so walk the path.
    std::string prefix;
    size_t start = 0;
    while (start <= path.size()) {
        const size_t slash = path.find('/', start);
        prefix = path.substr(0, slash == std::string::npos ? path.size() : slash);
        if (!prefix.empty() && H5Lexists(parent, prefix.c_str(), H5P_DEFAULT) <= 0) return false;
        if (slash == std::string::npos) break;
        start = slash + 1;
    }
    return true;
}

Handle write_array(hid_t parent, const std::string& name, hid_t mem_type, const std::vector<hsize_t>& shape,
                   const void* data, const Axes& axes) {
    Handle space(check(H5Screate_simple(static_cast<int>(shape.size()), shape.data(), nullptr), "dataspace for " + name));
    Handle ds(check(H5Dcreate2(parent, name.c_str(), mem_type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                    "creating dataset " + name));
    check(H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), "writing " + name);
    if (!axes.empty()) set_attr(ds.get(), "axes", axes);
    return ds;
}

Handle index_scale(hid_t parent, const std::string& name, hsize_t n) {
    std::vector<int64_t> index(n);
    std::iota(index.begin(), index.end(), int64_t{0});
    Handle ds = write_array(parent, name, {n}, index.data(), Axes{});
    make_scale(ds.get(), name);
    return ds;
}

void make_scale(hid_t dataset, const std::string& name) {
    check(H5DSset_scale(dataset, name.c_str()), "making " + name + " a dimension scale");
}

void attach_scale(hid_t dataset, hid_t scale, unsigned dim, const std::string& name) {
    check(H5DSattach_scale(dataset, scale, dim), "attaching dimension scale " + name);
}

std::vector<hsize_t> dataset_shape(hid_t parent, const std::string& name) {
    Handle ds(check(H5Dopen2(parent, name.c_str(), H5P_DEFAULT), "opening dataset " + name));
    Handle space(check(H5Dget_space(ds.get()), "dataspace of " + name));
    const int rank = H5Sget_simple_extent_ndims(space.get());
    std::vector<hsize_t> dims(rank > 0 ? rank : 0);
    if (rank > 0) H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
    return dims;
}

// A whole-dataset read or rewrite must move exactly the dataset's elements.
static void check_elements(hid_t parent, const std::string& name, size_t count) {
    size_t n = 1;
    for (hsize_t d : dataset_shape(parent, name)) n *= d;
    if (n != count)
        throw IoError("HDF5: dataset " + name + " has " + std::to_string(n) + " elements, expected " + std::to_string(count));
}

void read_array(hid_t parent, const std::string& name, hid_t mem_type, void* out, size_t count) {
    check_elements(parent, name, count);
    Handle ds(check(H5Dopen2(parent, name.c_str(), H5P_DEFAULT), "opening dataset " + name));
    check(H5Dread(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out), "reading " + name);
}

void rewrite_array(hid_t parent, const std::string& name, hid_t mem_type, const void* data, size_t count) {
    check_elements(parent, name, count);
    Handle ds(check(H5Dopen2(parent, name.c_str(), H5P_DEFAULT), "opening dataset " + name));
    check(H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), "writing " + name);
}

Handle create_series(hid_t parent, const std::string& name, hid_t file_type, const std::vector<hsize_t>& row_shape,
                     hsize_t chunk_rows, bool compress, const Axes& axes) {
    std::vector<hsize_t> dims{0}, maxdims{H5S_UNLIMITED}, chunk{chunk_rows};
    for (hsize_t d : row_shape) {
        dims.push_back(d);
        maxdims.push_back(d);
        chunk.push_back(d);
    }
    Handle space(check(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), maxdims.data()), "dataspace for " + name));
    Handle dcpl(check(H5Pcreate(H5P_DATASET_CREATE), "property list"));
    check(H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data()), "chunking " + name);
    // Rows are always written whole, so HDF5 need not fill new chunks first; filling cost
    // more than the rest of an append (measured: docs/performance.md).
    check(H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER), "fill time of " + name);
    if (compress) {
        check(H5Pset_shuffle(dcpl.get()), "shuffle filter");
        check(H5Pset_deflate(dcpl.get(), 1), "deflate filter");
    }
    Handle ds(check(H5Dcreate2(parent, name.c_str(), file_type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                    "creating dataset " + name));
    if (!axes.empty()) set_attr(ds.get(), "axes", axes);
    return ds;
}

void append_rows(hid_t ds, hid_t mem_type, const void* rows, hsize_t n) {
    auto fail = [ds](const char* what) {
        char name[512] = "?";
        H5Iget_name(ds, name, sizeof name);
        return failure(std::string(what) + " " + name);
    };
    Handle space(H5Dget_space(ds));
    const int rank = space.valid() ? H5Sget_simple_extent_ndims(space.get()) : -1;
    if (rank < 1) throw fail("reading the shape of");
    std::vector<hsize_t> dims(rank);
    H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
    std::vector<hsize_t> start(rank, 0), count = dims;
    start[0] = dims[0];
    count[0] = n;
    dims[0] += n;
    if (H5Dset_extent(ds, dims.data()) < 0) throw fail("extending");
    Handle file_space(H5Dget_space(ds));
    Handle mem_space(H5Screate_simple(rank, count.data(), nullptr));
    if (!file_space.valid() || !mem_space.valid() ||
        H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr) < 0 ||
        H5Dwrite(ds, mem_type, mem_space.get(), file_space.get(), H5P_DEFAULT, rows) < 0)
        throw fail("appending rows to");
}

void resize_rows(hid_t parent, const std::string& name, hsize_t n) {
    Handle ds(check(H5Dopen2(parent, name.c_str(), H5P_DEFAULT), "opening dataset " + name));
    Handle space(check(H5Dget_space(ds.get()), "dataspace of " + name));
    const int rank = H5Sget_simple_extent_ndims(space.get());
    std::vector<hsize_t> dims(rank);
    H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
    dims[0] = n;
    check(H5Dset_extent(ds.get(), dims.data()), "resizing " + name);
}

hsize_t n_rows(hid_t parent, const std::string& name) { return dataset_shape(parent, name).at(0); }

namespace {
void replace_attr(hid_t obj, const std::string& name) {
    if (H5Aexists(obj, name.c_str()) > 0) check(H5Adelete(obj, name.c_str()), "replacing attribute " + name);
}
}  // namespace

namespace {
Handle vlen_utf8() {
    Handle type(check(H5Tcopy(H5T_C_S1), "string type"));
    check(H5Tset_size(type.get(), H5T_VARIABLE), "string size");
    check(H5Tset_cset(type.get(), H5T_CSET_UTF8), "string charset");
    return type;
}

Handle bool_type() {
    Handle type(check(H5Tenum_create(H5T_NATIVE_INT8), "bool type"));
    const int8_t f = 0, t = 1;
    check(H5Tenum_insert(type.get(), "FALSE", &f), "bool type");
    check(H5Tenum_insert(type.get(), "TRUE", &t), "bool type");
    return type;
}
}  // namespace

void set_attr(hid_t obj, const std::string& name, const std::string& value) {
    replace_attr(obj, name);
    Handle type = vlen_utf8();
    Handle space(check(H5Screate(H5S_SCALAR), "scalar space"));
    Handle attr(check(H5Acreate2(obj, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), "attribute " + name));
    const char* p = value.c_str();
    check(H5Awrite(attr.get(), type.get(), &p), "writing attribute " + name);
}

void set_attr(hid_t obj, const std::string& name, const char* value) { set_attr(obj, name, std::string(value)); }

void set_attr_inline(hid_t obj, const std::string& name, const std::string& value) {
    replace_attr(obj, name);
    Handle type(check(H5Tcopy(H5T_C_S1), "string type"));
    check(H5Tset_size(type.get(), std::max<size_t>(value.size(), 1)), "string type");
    check(H5Tset_strpad(type.get(), H5T_STR_NULLPAD), "string type");
    check(H5Tset_cset(type.get(), H5T_CSET_UTF8), "string type");
    Handle space(check(H5Screate(H5S_SCALAR), "scalar space"));
    Handle attr(check(H5Acreate2(obj, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), "attribute " + name));
    std::string buf = value.empty() ? std::string(1, '\0') : value;
    check(H5Awrite(attr.get(), type.get(), buf.data()), "writing attribute " + name);
}

void set_attr(hid_t obj, const std::string& name, const std::vector<std::string>& values) {
    replace_attr(obj, name);
    Handle type = vlen_utf8();
    const hsize_t n = values.size();
    Handle space(check(H5Screate_simple(1, &n, nullptr), "dataspace of attribute " + name));
    Handle attr(check(H5Acreate2(obj, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), "attribute " + name));
    std::vector<const char*> ptrs;
    for (const std::string& v : values) ptrs.push_back(v.c_str());
    check(H5Awrite(attr.get(), type.get(), ptrs.data()), "writing attribute " + name);
}

template <class T>
static void set_scalar_attr(hid_t obj, const std::string& name, hid_t type, T value) {
    replace_attr(obj, name);
    Handle space(check(H5Screate(H5S_SCALAR), "scalar space"));
    Handle attr(check(H5Acreate2(obj, name.c_str(), type, space.get(), H5P_DEFAULT, H5P_DEFAULT), "attribute " + name));
    check(H5Awrite(attr.get(), type, &value), "writing attribute " + name);
}

void set_attr(hid_t obj, const std::string& name, int64_t value) { set_scalar_attr(obj, name, H5T_NATIVE_INT64, value); }
void set_attr(hid_t obj, const std::string& name, uint64_t value) { set_scalar_attr(obj, name, H5T_NATIVE_UINT64, value); }
void set_attr(hid_t obj, const std::string& name, double value) { set_scalar_attr(obj, name, H5T_NATIVE_DOUBLE, value); }
void set_attr(hid_t obj, const std::string& name, bool value) {
    Handle type = bool_type();
    set_scalar_attr(obj, name, type.get(), static_cast<int8_t>(value));
}

bool has_attr(hid_t obj, const std::string& name) { return H5Aexists(obj, name.c_str()) > 0; }

std::string get_attr_string(hid_t obj, const std::string& name) {
    Handle attr(check(H5Aopen(obj, name.c_str(), H5P_DEFAULT), "opening attribute " + name));
    Handle type(check(H5Aget_type(attr.get()), "type of attribute " + name));
    if (H5Tget_class(type.get()) != H5T_STRING) throw IoError("HDF5: attribute " + name + " is not a string");
    if (H5Tis_variable_str(type.get()) > 0) {
        char* buf = nullptr;
        // HDF5 converts no string between character sets: read with the file's own type.
        check(H5Aread(attr.get(), type.get(), &buf), "reading attribute " + name);
        std::string s = buf ? buf : "";
        H5free_memory(buf);
        return s;
    }
    const size_t n = H5Tget_size(type.get());
    std::string s(n, '\0');
    check(H5Aread(attr.get(), type.get(), s.data()), "reading attribute " + name);
    const size_t end = s.find('\0');
    if (end != std::string::npos) s.resize(end);
    return s;
}

template <class T>
static T get_scalar_attr(hid_t obj, const std::string& name, hid_t type) {
    Handle attr(check(H5Aopen(obj, name.c_str(), H5P_DEFAULT), "opening attribute " + name));
    T v{};
    check(H5Aread(attr.get(), type, &v), "reading attribute " + name);
    return v;
}

int64_t get_attr_int(hid_t obj, const std::string& name) { return get_scalar_attr<int64_t>(obj, name, H5T_NATIVE_INT64); }
uint64_t get_attr_u64(hid_t obj, const std::string& name) { return get_scalar_attr<uint64_t>(obj, name, H5T_NATIVE_UINT64); }

bool get_attr_bool(hid_t obj, const std::string& name) {
    Handle attr(check(H5Aopen(obj, name.c_str(), H5P_DEFAULT), "opening attribute " + name));
    Handle type(check(H5Aget_type(attr.get()), "type of attribute " + name));
    if (H5Tget_class(type.get()) == H5T_ENUM) {
        Handle mem = bool_type();
        int8_t v = 0;
        check(H5Aread(attr.get(), mem.get(), &v), "reading attribute " + name);
        return v != 0;
    }
    int64_t v = 0;  // an integer 0/1
    check(H5Aread(attr.get(), H5T_NATIVE_INT64, &v), "reading attribute " + name);
    return v != 0;
}

std::vector<std::string> get_attr_strings(hid_t obj, const std::string& name) {
    Handle attr(check(H5Aopen(obj, name.c_str(), H5P_DEFAULT), "opening attribute " + name));
    Handle space(check(H5Aget_space(attr.get()), "dataspace of attribute " + name));
    if (H5Sget_simple_extent_ndims(space.get()) == 0) return {get_attr_string(obj, name)};
    const hssize_t n = H5Sget_simple_extent_npoints(space.get());
    Handle type(check(H5Aget_type(attr.get()), "type of attribute " + name));
    if (H5Tis_variable_str(type.get()) <= 0) throw IoError("HDF5: attribute " + name + " is not a list of strings");
    std::vector<char*> ptrs(static_cast<size_t>(n), nullptr);
    check(H5Aread(attr.get(), type.get(), ptrs.data()), "reading attribute " + name);
    std::vector<std::string> out;
    for (char* p : ptrs) {
        out.emplace_back(p ? p : "");
        H5free_memory(p);
    }
    return out;
}
double get_attr_double(hid_t obj, const std::string& name) { return get_scalar_attr<double>(obj, name, H5T_NATIVE_DOUBLE); }

}  // namespace ctr::h5
