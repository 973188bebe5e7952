#pragma once
// A crash-safe HDF5 file of growing series, whatever their names: rows are queued and
// written once per flush, the file is created under a temporary name and renamed into
// place, and a flush the disk cannot take is refused before anything is written. The
// run file (io/run_file_writer.hpp) puts its schema on top of this.
//
// Crash safety: the only things rewritten in place are uncompressed chunks (whose old
// bytes are rewritten unchanged) and groups the owner replaces by writing beside them,
// then swapping, so a process killed between flushes leaves the state of its last
// flush. A kill during a flush can still damage the file: HDF5 1.10 does not order a
// flush's writes for crash safety (docs/hdf5-layout.md gives the measured odds).
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "io/h5.hpp"

namespace ctr {

class SeriesFile {
public:
    // Creates path (which must not exist): build() writes the skeleton into a file named
    // path + ".creating", which is flushed and renamed to path only when build() returns,
    // so a process killed meanwhile leaves no file at path that HDF5 cannot open. `what`
    // names the file in errors ("run file").
    static SeriesFile create(const std::string& path, const std::string& what,
                             const std::function<void(SeriesFile&)>& build);
    // Opens an existing file; read-only opens take no file lock, so they can watch a
    // file being written (they see its writer's last flush).
    static SeriesFile open(const std::string& path, bool writable);

    SeriesFile(SeriesFile&&) = default;
    SeriesFile& operator=(SeriesFile&&) = default;

    const std::string& path() const { return path_; }
    hid_t root() const { return file_.get(); }

    // Queues one row of the series at `series` (a dataset made by h5::create_series);
    // flush() writes each series' queued rows in one call (per-call cost dominated the
    // snapshots' logging time). Nothing unflushed counts as written.
    void append(const std::string& series, hid_t mem_type, const void* row);
    // Writes the queued rows without flushing (before counting or reading rows).
    void write_pending();
    // Throws IoError, before anything is written, when the disk cannot take the next flush.
    void ensure_space() const;
    // ensure_space(), the queued rows, then H5Fflush.
    void flush();
    // Forgets the open datasets and queued rows (before series are cut or replaced).
    void forget_series();

    // After a failed write (a full disk): HDF5 may have recorded space it could not
    // write, and then refuses the file as truncated. Extending the file to that size
    // (a sparse hole, which needs no disk space) keeps what was flushed readable.
    // The process should then exit without closing the file.
    void salvage_after_failure() noexcept;

private:
    SeriesFile(std::string path, h5::Handle file) : path_(std::move(path)), file_(std::move(file)) {}
    // The open dataset at path, kept open: opening a dataset for every row cost more
    // than writing the row.
    hid_t series(const std::string& path);

    struct Pending {
        hid_t mem_type;
        size_t row_bytes;        // in memory
        size_t file_row_bytes;   // in the file, before compression
        hsize_t rows = 0;
        std::vector<unsigned char> bytes;
    };

    std::string path_;
    h5::Handle file_;  // declared first, so closed after the datasets
    std::map<std::string, h5::Handle> series_;
    std::map<std::string, Pending> pending_;   // rows queued since the last flush, by series
    uintmax_t last_flush_growth_ = 0;          // the most a flush has grown the file, bytes
    static constexpr uintmax_t kFlushMargin = 256 * 1024;
};

}  // namespace ctr
