#pragma once
// Reads a run file (layout: docs/hdf5-layout.md): the one place, with the writer, that
// knows its names (io/run_schema.hpp). Used by ctr-inspect, the resume of a run and the
// tests. Opening takes no HDF5 file lock, so a run can be read while it is written: the
// reader sees the writer's last flush, and a table is cut to the rows all its columns
// have (a flush may be caught half way; read again a moment later for a whole one).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "analysis/verdict.hpp"
#include "io/h5.hpp"
#include "io/run_data.hpp"

namespace ctr {

class RunFileReader {
public:
    // Opens path read-only. Throws h5::IoError naming the file and its cause (h5::Cause)
    // when it does not exist, cannot be read, is not HDF5, is truncated or damaged, is not
    // a ctr run file, or has a format_version this ctr does not read (io/file_check.hpp).
    static RunFileReader open(const std::string& path);

    RunFileReader(RunFileReader&&) = default;
    RunFileReader& operator=(RunFileReader&&) = default;

    const std::string& path() const { return path_; }

    RunInfo info() const;                  // the root attributes
    std::string config_yaml() const;       // the run's full config (YAML)
    std::string status() const;            // "running", "complete", "interrupted" or "diverged"

    MetricsTable metrics() const;          // /metrics
    std::vector<int64_t> snapshot_steps() const;
    std::vector<Headline> headlines() const;  // /snapshots/headline, one per snapshot, in step order
    // One snapshot series (e.g. "blocks.0.attn.hook_pattern", "params/W_U",
    // "metrics/catch") as doubles, all rows; shape gets [snapshots, row shape...].
    std::vector<double> snapshot_series(const std::string& name, std::vector<hsize_t>* shape = nullptr) const;

    // The checkpoint a resume continues from: the newest complete one of /checkpoint
    // and the groups a killed writer may have left beside it (/checkpoint.old,
    // /checkpoint.new[.N]); normally /checkpoint. Its name, step and contents.
    std::optional<std::string> checkpoint_name() const;
    std::optional<int64_t> checkpoint_step() const;
    std::optional<Checkpoint> checkpoint() const;
    // The first object of /metrics, /snapshots or the checkpoint with data or a header
    // past the end of the file HDF5 recorded (a writer killed inside a flush, after
    // writing the index of new data but before the new end), or nullopt. Such a file
    // opens, but writing to it would overwrite or run past that data.
    std::optional<std::string> data_past_end() const;
    // The names of the root's links that are /checkpoint or start with "checkpoint.".
    std::vector<std::string> checkpoint_groups() const;
    std::optional<RunVerdict> verdict() const;   // only a finished run has one

    // The open file, for reading what this class does not cover (raw HDF5).
    hid_t handle() const { return file_.get(); }

    // Throws the reader's error when path is missing, unreadable, not HDF5 or truncated
    // (before HDF5 is asked).
    static void check_openable(const std::string& path);
    // A reader of a file already open in this process (the writer's): shares the handle.
    static RunFileReader of_open_file(hid_t file, const std::string& path);

private:
    RunFileReader(std::string path, h5::Handle file);
    std::string path_;
    h5::Handle file_;
};

}  // namespace ctr
