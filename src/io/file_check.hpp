#pragma once
// Why a file cannot be opened as a run file, told apart before and after HDF5 is asked:
// not found, a directory, permission denied, empty or not HDF5, truncated (shorter than
// its superblock says), locked by another HDF5 program, damaged. Every case throws an
// h5::IoError with its own h5::Cause and a message that says what can be done.
#include <cstdint>
#include <string>

#include "io/h5.hpp"

namespace ctr {

// Throws the IoError of the first problem HDF5 need not be asked about: path missing,
// a directory, not readable (or, when writable, not writable), empty, no HDF5
// signature, or shorter than the end-of-file address its superblock records.
void check_run_file_path(const std::string& path, bool writable);

// After H5Fopen failed on a file check_run_file_path accepted: locked by another
// process (HDF5's own flock, when HDF5 locking is on) or damaged.
h5::IoError open_failure(const std::string& path, bool writable);

// The end-of-file address the HDF5 superblock of path records, or 0 when path has no
// readable superblock.
uint64_t recorded_hdf5_size(const std::string& path);

// True when the file at path starts with the HDF5 signature.
bool has_hdf5_signature(const std::string& path);

}  // namespace ctr
