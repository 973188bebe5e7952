#pragma once
// A thin layer over the HDF5 C API: owned handles and the few operations the run file
// needs (extendible datasets that grow along their first axis, string attributes).
// Every failure throws IoError naming the file and the object, and its cause when the
// operating system gave one (a full disk, the file-size limit).
#include <hdf5.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace ctr::h5 {

// Why a file could not be opened, read or written: the CLIs map it to an exit code
// (run/exit_codes.hpp) and every cause has its own message.
enum class Cause {
    kOther,          // any other failure (an I/O error, a failed HDF5 call)
    kNotFound,       // no such file
    kIsDirectory,    // a directory where a file was expected
    kPermission,     // the operating system refused access
    kNotHdf5,        // no HDF5 signature (incl. an empty file)
    kTruncated,      // shorter than HDF5 recorded: cut by a full disk or a copy
    kDamaged,        // HDF5 signature, but HDF5 cannot open or read it
    kNotRunFile,     // an HDF5 file, but not a ctr run file
    kFormatVersion,  // a ctr run file of another format_version
    kLocked,         // another process is writing it
    kDiskFull,       // no space left on the device
    kFileSizeLimit,  // the process's file-size limit (ulimit -f) was reached
};

class IoError : public std::runtime_error {
public:
    explicit IoError(const std::string& what, Cause cause = Cause::kOther) : std::runtime_error(what), cause_(cause) {}
    Cause cause() const { return cause_; }

private:
    Cause cause_;
};

// An IoError for a failed HDF5 call: the cause and the system's words for it when
// HDF5's error stack recorded an errno (disk full, file-size limit, I/O error).
IoError failure(const std::string& what);
// The same for a failure of ours with errno err (0: no errno).
IoError errno_failure(const std::string& what, int err);

// Owns one hid_t and closes it with the matching H5*close.
class Handle {
public:
    Handle() = default;
    explicit Handle(hid_t id) : id_(id) {}
    Handle(Handle&& o) noexcept : id_(o.id_) { o.id_ = -1; }
    Handle& operator=(Handle&& o) noexcept {
        if (this != &o) {
            reset();
            id_ = o.id_;
            o.id_ = -1;
        }
        return *this;
    }
    Handle(const Handle&) = delete;
    Handle& operator=(const Handle&) = delete;
    ~Handle() { reset(); }
    hid_t get() const { return id_; }
    bool valid() const { return id_ >= 0; }
    void reset();

private:
    hid_t id_ = -1;
};

// Silences HDF5's own error printing: errors reach the user as one IoError message.
void quiet_errors();
// Call first thing in main: quiet errors, and no HDF5 clean-up at exit, which crashes
// when a file could not be closed (a full disk); the kernel closes the file instead.
void init_library();

hid_t check(hid_t id, const std::string& what);
void check(herr_t status, const std::string& what);

Handle create_group(hid_t parent, const std::string& name);
Handle open_group(hid_t parent, const std::string& name);
bool exists(hid_t parent, const std::string& path);

template <class T> hid_t native_type();
template <> inline hid_t native_type<double>() { return H5T_NATIVE_DOUBLE; }
template <> inline hid_t native_type<float>() { return H5T_NATIVE_FLOAT; }
template <> inline hid_t native_type<int32_t>() { return H5T_NATIVE_INT32; }
template <> inline hid_t native_type<int64_t>() { return H5T_NATIVE_INT64; }
template <> inline hid_t native_type<uint64_t>() { return H5T_NATIVE_UINT64; }
template <> inline hid_t native_type<uint8_t>() { return H5T_NATIVE_UINT8; }

// The names of a dataset's axes, outermost first: stored as its `axes` attribute (a
// list of strings) and as the dimension scales attach_scale() attaches.
using Axes = std::vector<std::string>;

// A fixed-shape dataset written once (row-major data).
Handle write_array(hid_t parent, const std::string& name, hid_t mem_type, const std::vector<hsize_t>& shape,
                   const void* data, const Axes& axes);
template <class T>
Handle write_array(hid_t parent, const std::string& name, const std::vector<hsize_t>& shape, const T* data,
                   const Axes& axes) {
    return write_array(parent, name, native_type<T>(), shape, data, axes);
}
// Reads a whole dataset into out (row-major); its element count must be `count`.
void read_array(hid_t parent, const std::string& name, hid_t mem_type, void* out, size_t count);
// Writes count elements over the whole of an existing dataset (its size must be count).
void rewrite_array(hid_t parent, const std::string& name, hid_t mem_type, const void* data, size_t count);
template <class T>
void rewrite_array(hid_t parent, const std::string& name, const T* data, size_t count) {
    rewrite_array(parent, name, native_type<T>(), data, count);
}
std::vector<hsize_t> dataset_shape(hid_t parent, const std::string& name);

// An extendible dataset [n, row_shape...] with n growing by one row per append.
// chunk_rows rows per chunk; compressed with shuffle + deflate when compress is set.
Handle create_series(hid_t parent, const std::string& name, hid_t file_type, const std::vector<hsize_t>& row_shape,
                     hsize_t chunk_rows, bool compress, const Axes& axes);

// Dimension scales (HDF5's netCDF-4 convention, which xarray's h5netcdf engine reads):
// a 1-D dataset named after its dimension, holding its coordinate values.
// index_scale: a fixed dimension of n, coordinates 0 .. n-1.
Handle index_scale(hid_t parent, const std::string& name, hsize_t n);
// Makes an existing 1-D dataset (e.g. a growing `step` series) the scale of its name.
void make_scale(hid_t dataset, const std::string& name);
// Attaches the open scale (named name, for errors) to dimension dim of dataset.
void attach_scale(hid_t dataset, hid_t scale, unsigned dim, const std::string& name);
// Appends n rows at once (rows: n consecutive rows, row-major).
void append_rows(hid_t dataset, hid_t mem_type, const void* rows, hsize_t n);
// Shrinks (or grows) the first axis to n rows.
void resize_rows(hid_t parent, const std::string& name, hsize_t n);
hsize_t n_rows(hid_t parent, const std::string& name);

// Strings are variable-length UTF-8 (h5py reads str, not bytes).
void set_attr(hid_t obj, const std::string& name, const std::string& value);
void set_attr(hid_t obj, const std::string& name, const char* value);
// A string stored in the attribute itself (fixed length, UTF-8, null-padded) instead of
// in the file's shared global heap, which a kill during a flush can tear: HDF5 then loops
// forever reading a variable-length string there. Readers get the same text.
void set_attr_inline(hid_t obj, const std::string& name, const std::string& value);
void set_attr(hid_t obj, const std::string& name, const std::vector<std::string>& values);
void set_attr(hid_t obj, const std::string& name, int64_t value);
void set_attr(hid_t obj, const std::string& name, uint64_t value);
void set_attr(hid_t obj, const std::string& name, double value);
// A boolean as h5py stores one (an 8-bit enum FALSE = 0, TRUE = 1): numpy.bool_ in Python.
void set_attr(hid_t obj, const std::string& name, bool value);
bool get_attr_bool(hid_t obj, const std::string& name);
uint64_t get_attr_u64(hid_t obj, const std::string& name);
std::vector<std::string> get_attr_strings(hid_t obj, const std::string& name);
std::string get_attr_string(hid_t obj, const std::string& name);
int64_t get_attr_int(hid_t obj, const std::string& name);
double get_attr_double(hid_t obj, const std::string& name);
bool has_attr(hid_t obj, const std::string& name);

}  // namespace ctr::h5
