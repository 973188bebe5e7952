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
#include <optional>
#include <string>
#include <vector>

#include "io/chunk_rows.hpp"
#include "io/h5.hpp"

namespace ctr {

class SeriesFile {
public:
    // Creates a file for path, under the name path + ".creating" (staged_path()), where
    // build() writes the skeleton. It is renamed to path only by publish(), which its owner
    // calls once the file can stand on its own (the run file: at its first checkpoint), so
    // a process killed or failing before that leaves no half-made file at path and an old
    // file at path (replace) intact. `what` names the file in errors ("run file").
    // Unless replace, path must not exist. A stale staged file is overwritten. image: the
    // bytes of an HDF5 file the staged file starts as (build() then fills it in), else
    // it starts empty.
    static SeriesFile create(const std::string& path, const std::string& what,
                             const std::function<void(SeriesFile&)>& build, bool replace = false,
                             const std::string* image = nullptr);
    // Opens an existing file (after check_run_file_path: every reason it cannot be opened
    // has its own message); read-only opens take no file lock, so they can watch a file
    // being written (they see its writer's last flush).
    static SeriesFile open(const std::string& path, bool writable);
    static std::string staged_path(const std::string& path) { return path + ".creating"; }

    SeriesFile(SeriesFile&&) = default;
    SeriesFile& operator=(SeriesFile&&) = default;
    // A created file that was never published is closed and removed.
    ~SeriesFile();

    // Where the file is now: the staged name until publish(), then its path.
    const std::string& path() const { return path_; }
    bool published() const { return final_path_.empty(); }
    // Flushes, then renames the staged file to its path, replacing what is there (one
    // atomic rename: the old file stays whole until the new one takes its place).
    void publish();
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
    // Flushes, closes the file and opens it again. HDF5 1.10 keeps the space it freed in
    // memory only, and reuses it at once (raw chunks and the global heap of
    // variable-length strings share it), while the flushed file on disk may still point
    // there until the next flush has written every header; a kill in between then leaves
    // headers pointing at other data. After a reopen that freed space is forgotten (left
    // unused), so a resume's edits that free space (stale checkpoints, rows cut, root
    // strings replaced) cannot be overwritten before the file on disk stops using them.
    // Every object of the file must be closed (forget_series closes the series).
    void reopen();

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
        std::optional<ChunkRows> chunks;  // a series of one-row chunks: written as whole chunks
    };

    std::string path_;
    std::string final_path_;  // while staged: the path publish() renames to
    h5::Handle file_;  // declared first, so closed after the datasets
    std::map<std::string, h5::Handle> series_;
    std::map<std::string, Pending> pending_;   // rows queued since the last flush, by series
    uintmax_t last_flush_growth_ = 0;          // the most a flush has grown the file, bytes
    static constexpr uintmax_t kFlushMargin = 256 * 1024;
    static constexpr unsigned kRootLinks = 24;  // links the root group's header holds in place
};

}  // namespace ctr
