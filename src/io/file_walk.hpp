#pragma once
// One walk over everything an HDF5 file holds: its objects, their attributes and the
// datasets' values. The checks that read a whole file (io/file_tail.hpp: does anything
// read the bytes past the recorded end; io/file_repair.hpp: does every dataset read back
// after a repair) share it and differ only in what they do with each value.
#include <hdf5.h>

#include <cstddef>
#include <functional>

namespace ctr {

// An attribute or a dataset the walk met, not yet read. type and space are the file's
// (negative when HDF5 could not give them); n: the number of values (negative when the
// space could not be read).
struct WalkValues {
    hid_t holder;       // the attribute or the dataset, open
    bool is_attribute;
    hid_t type, space;
    hssize_t n;
    // Reads the n values in the native memory type of `type` and hands them to use(mem,
    // bytes, size) (variable-length strings and sequences as HDF5 lays them out in memory,
    // reclaimed after use returns). True when there are no values or they read back;
    // false when the memory type cannot be made or the read fails.
    bool read_native(const std::function<void(hid_t mem, const unsigned char* bytes, size_t size)>& use) const;
};

// What to do along the walk; each callback returns false to stop it (the walk then
// fails). Empty callbacks are skipped, and what they would need is not opened.
struct FileWalk {
    // Every object below the root (groups, datasets, named types), in H5Ovisit's name
    // order, before its attributes and values; info has the basic fields and num_attrs.
    std::function<bool(const char* path, const H5O_info_t& info)> object;
    // Every attribute of every object, in name order; name: the attribute's.
    std::function<bool(const char* name, const WalkValues& v)> attribute;
    // Every dataset, after its attributes; path: its path from the root.
    std::function<bool(const char* path, const WalkValues& v)> dataset;
};

// Walks file (open for reading) with walk. True when the walk went through the whole
// file: every object (and attribute) it had to open opened and every callback returned
// true. HDF5's error stack may hold the failure: the caller clears it.
bool walk_file(hid_t file, const FileWalk& walk);

}  // namespace ctr
