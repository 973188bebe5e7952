#pragma once
// Whether the end of a file that is shorter than its superblock records held anything.
// A kill inside an HDF5 flush, between HDF5's cut of unused space at the end of the file
// and its rewrite of the superblock, leaves the file a few KiB short of the recorded end,
// and the missing bytes held nothing; a file cut short by a copy, a quota or `truncate`
// lost bytes that held part of the run (at the end of a finished run: /verdict). Both
// look the same from outside, so the check reads everything.
#include <cstdint>
#include <string>

namespace ctr {

// path has been extended with zeros from `from` to its recorded end. True when every
// object, attribute and dataset of the file reads back the same with those bytes as
// zeros and as 0xFF (so nothing in the file points into them), and reads back whole;
// the bytes are zeros again after. False when something reads them, or the file does
// not read back whole either way. The caller holds the run's lock.
bool tail_unused(const std::string& path, uintmax_t from);

}  // namespace ctr
