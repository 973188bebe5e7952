#include "io/file_walk.hpp"

#include <vector>

#include "io/h5.hpp"

namespace ctr {

bool WalkValues::read_native(const std::function<void(hid_t, const unsigned char*, size_t)>& use) const {
    if (n <= 0) return true;
    h5::Handle mem(H5Tget_native_type(type, H5T_DIR_ASCEND));
    if (!mem.valid()) return false;
    std::vector<unsigned char> buf(static_cast<size_t>(n) * H5Tget_size(mem.get()), 0);
    const herr_t read = is_attribute ? H5Aread(holder, mem.get(), buf.data())
                                     : H5Dread(holder, mem.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data());
    if (read < 0) return false;
    if (use) use(mem.get(), buf.data(), buf.size());
    // Variable-length data was allocated by the read, outside buf.
    const H5T_class_t cls = H5Tget_class(type);
    if (cls == H5T_VLEN || (cls == H5T_STRING && H5Tis_variable_str(type) > 0))
        H5Dvlen_reclaim(mem.get(), space, H5P_DEFAULT, buf.data());
    return true;
}

namespace {

struct Walk {
    const FileWalk& walk;
    bool ok = true;
};

herr_t visit_attribute(hid_t obj, const char* name, const H5A_info_t*, void* data) {
    Walk& w = *static_cast<Walk*>(data);
    h5::Handle attr(H5Aopen(obj, name, H5P_DEFAULT));
    if (!attr.valid()) return w.ok = false, 1;
    h5::Handle type(H5Aget_type(attr.get())), space(H5Aget_space(attr.get()));
    const WalkValues v{attr.get(), true, type.get(), space.get(),
                       space.valid() ? H5Sget_simple_extent_npoints(space.get()) : -1};
    if (!w.walk.attribute(name, v)) return w.ok = false, 1;
    return 0;
}

herr_t visit_object(hid_t root, const char* path, const H5O_info_t* info, void* data) {
    Walk& w = *static_cast<Walk*>(data);
    if (w.walk.object && !w.walk.object(path, *info)) return w.ok = false, 1;
    const bool dataset = info->type == H5O_TYPE_DATASET && w.walk.dataset;
    if (!w.walk.attribute && !dataset) return 0;
    h5::Handle obj(H5Oopen(root, path, H5P_DEFAULT));
    if (!obj.valid()) return w.ok = false, 1;
    if (w.walk.attribute &&
        (H5Aiterate2(obj.get(), H5_INDEX_NAME, H5_ITER_INC, nullptr, visit_attribute, &w) < 0 || !w.ok))
        return w.ok = false, 1;
    if (!dataset) return 0;
    h5::Handle type(H5Dget_type(obj.get())), space(H5Dget_space(obj.get()));
    const WalkValues v{obj.get(), false, type.get(), space.get(),
                       space.valid() ? H5Sget_simple_extent_npoints(space.get()) : -1};
    if (!w.walk.dataset(path, v)) return w.ok = false, 1;
    return 0;
}

}  // namespace

bool walk_file(hid_t file, const FileWalk& walk) {
    Walk w{walk};
    // Only the object callback sees num_attrs: a walk without one asks for the basic fields alone.
    const unsigned fields = H5O_INFO_BASIC | (walk.object ? H5O_INFO_NUM_ATTRS : 0u);
    if (H5Ovisit2(file, H5_INDEX_NAME, H5_ITER_INC, visit_object, &w, fields) < 0) w.ok = false;
    return w.ok;
}

}  // namespace ctr
