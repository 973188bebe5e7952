#pragma once
// Writes the run file (layout: docs/hdf5-layout.md; names: io/run_schema.hpp): the
// config, the probe batch, the metrics table, the snapshots, the latest checkpoint and
// the verdict. It takes plain data and knows nothing of how a run computes it; the
// application layer (src/run/) decides what to write when. Crash safety: io/series_file.hpp.
#include <cstdint>
#include <string>
#include <vector>

#include "analysis/mechanism.hpp"
#include "analysis/verdict.hpp"
#include "config/config.hpp"
#include "io/run_data.hpp"
#include "io/run_file_reader.hpp"
#include "io/series_file.hpp"
#include "model/params.hpp"
#include "model/transformer.hpp"
#include "task/batch.hpp"

namespace ctr {

// One row of /snapshots: the model on the probe batch at one step.
struct SnapshotRecord {
    int64_t step;
    const Activations& probe;                 // of a forward pass on the probe batch with `params`
    const std::vector<TensorSpec>& tensors;   // the views of params (ParamLayout::tensors)
    const real* params;                       // (P) flat
    const MechanismMetrics& metrics;          // of that forward pass
    const Headline& headline;                 // of those metrics
};

// The skeleton of the last new run file a process made (its bytes as first flushed:
// groups, empty series, dimension scales, attributes), kept by a process that makes
// many runs of the same shapes, such as a ctr-sweep worker: the next run file of the
// same shapes starts as a copy of it, and only its attributes and the probe (and
// evaluation and training) sets are written again. That spares making some 100
// datasets and 160 dimension-scale attachments (H5DSattach_scale), most of a sweep
// run's start-up (docs/performance.md). The skeleton also holds two checkpoint groups,
// unlinked and held, that the run's first two checkpoints rewrite instead of making
// theirs (from the third on, a checkpoint rewrites the group the previous swap retired;
// write_checkpoint). The file holds the same objects, names, shapes, types, filters,
// scales and values as one made from scratch; only where HDF5 put them in the file may
// differ.
class SkeletonCache {
    friend class RunFileWriter;
    static constexpr int kCheckpoints = 2;
    std::string key_;    // the shapes the skeleton is for
    std::string bytes_;  // the file, empty if none
    std::vector<haddr_t> checkpoints_;  // its unlinked checkpoint groups
};

// What a new run file is made from.
struct RunStart {
    const Config& config;
    std::string config_yaml;                 // stored as the config
    const Batch& probe;                      // fixes the snapshots' shapes
    const Batch& eval;                       // the evaluation set, stored as /eval
    const Batch* train;                      // the training set, stored as /train (log.train_set); else null
    double baseline_mse;                     // eval_rel_error = eval_loss / baseline_mse
    const std::vector<TensorSpec>& tensors;  // the parameter views
    Provenance provenance;                   // sessions, ended and wall_time are set by the writer
    SkeletonCache* skeletons = nullptr;      // else the skeleton is made from scratch
    const Checkpoint* checkpoint = nullptr;  // with skeletons: the run's first checkpoint (its shapes)
};

class RunFileWriter {
public:
    // Creates the run file of a new run at path. It is written under a staged name
    // (SeriesFile::create) and takes path only with its first checkpoint, replacing what
    // is there (replace; else path must not exist): an old run survives a new one that
    // fails before it can be resumed.
    static RunFileWriter create(const std::string& path, const RunStart& start, bool replace = false);
    // Opens a run file to continue it (its format version must be this ctr's). The caller
    // holds its RunLock (io/run_lock.hpp).
    static RunFileWriter open(const std::string& path);

    RunFileWriter(RunFileWriter&&) = default;
    RunFileWriter& operator=(RunFileWriter&&) = default;

    const std::string& path() const { return path_; }
    // A reader of this file as written so far (queued rows are written first).
    RunFileReader reader();

    void set_config_yaml(const std::string& yaml);
    void set_status(const std::string& status);  // schema::kRunning, kComplete, kInterrupted
    // A resume: records its command line and host, and counts the session.
    void begin_session(const Provenance& p);
    // The end of a session (finished or interrupted): the time, and its training seconds
    // added to the wall time. Flush after it.
    void end_session(double seconds);
    // The parameter views, for the checkpoint's named tensors (given by create; a writer
    // that open()ed a file needs them before its first checkpoint).
    void set_tensors(const std::vector<TensorSpec>& tensors) { tensors_ = tensors; }

    void append_metrics(const MetricsRow& row);
    void append_snapshot(const SnapshotRecord& s);
    // Replaces any earlier verdict.
    void write_verdict(const RunVerdict& v);
    // Writes c as the checkpoint, recording the metrics and snapshot rows written so far
    // (c's own row counts are ignored) and the config it belongs to, and flushes. The
    // first checkpoint of a new file moves it from its staged name to its path.
    void write_checkpoint(const Checkpoint& c);
    // Cuts /metrics and /snapshots to the rows the checkpoint recorded: rows written
    // after it (before a crash, or off-schedule rows at the end of a finished run) are
    // written again by the resumed run.
    void drop_rows_after_checkpoint();
    // On resume: makes the checkpoint a resume continues from (RunFileReader::
    // checkpoint_name, the newest complete one) /checkpoint again, and deletes the other
    // checkpoint groups a killed writer left (older or incomplete ones) when all their
    // data lie inside the file's recorded extent (else their space may overlap live
    // data, and they stay). Flushes. Returns how many it deleted.
    int settle_checkpoints();

    void flush() { file_.flush(); }
    // Flushes and opens the file again: see SeriesFile::reopen. Only while no checkpoint
    // group is held (on resume, before the first checkpoint).
    void reopen();
    // After a failed write: see SeriesFile::salvage_after_failure.
    void salvage_after_failure() noexcept { file_.salvage_after_failure(); }

private:
    explicit RunFileWriter(SeriesFile file, std::string path);
    SeriesFile file_;
    std::vector<TensorSpec> tensors_;  // the parameter views, for the checkpoint's named tensors
    std::string path_;  // the run file's path (the file itself is staged until its first checkpoint)
    bool resid_mid_ = false;  // blocks have an MLP, so snapshots keep hook_resid_mid
    // The checkpoint group the last swap retired, unlinked and kept open: the next
    // checkpoint rewrites its datasets instead of making new ones (write_checkpoint).
    // Declared after file_, so closed before it. Only groups this writer made are kept.
    h5::Handle spare_;
    bool current_is_ours_ = false;  // /checkpoint was written by this writer
    // Checkpoint groups made with the skeleton (SkeletonCache), unlinked and held, for
    // the first checkpoints to rewrite.
    std::vector<h5::Handle> premade_;
};

}  // namespace ctr
