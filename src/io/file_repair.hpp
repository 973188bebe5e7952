#pragma once
// Giving back what a kill inside an HDF5 flush hid: HDF5 writes a flush's new data first
// and the superblock's end-of-file address (EOA) after it, so a kill in between leaves
// objects that point past the recorded end although their bytes are on disk, and HDF5
// then refuses to read them. Raising the recorded end to the file's real size (what
// hdf5-tools' `h5clear --increment=0` does) gives them back.
#include <optional>
#include <string>

namespace ctr {

// Repairs path when something in it points past its recorded end and the file on disk
// is longer than that end. The repair is made on a copy (PATH.repair) and replaces path
// only when every object then lies inside the file and every numeric dataset reads back
// whole; otherwise path is left as it was. Returns the object that still points past the
// end (the file could not be repaired), or nothing: all lies inside, repaired or not, or
// the file cannot be read as a run file at all (the caller reports that). The caller holds
// the run's lock.
std::optional<std::string> repair_unrecorded_end(const std::string& path);

}  // namespace ctr
