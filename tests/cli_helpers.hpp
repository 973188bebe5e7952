#pragma once
// Helpers for the tests that run the real ctr-train binary ([cli], [runfile]) and read
// its run files, one header per concern. No Python: the run files are checked with the
// HDF5 C library and hdf5-tools only.
#include "helpers/h5dump.hpp"   // h5dump as an independent reader
#include "helpers/h5_read.hpp"  // HDF5 C API readers
#include "helpers/process.hpp"  // temp dirs, running commands, a child to signal
