#pragma once
// The run file: one HDF5 file per run holding the config, the probe batch, the metrics
// table, the snapshots and the latest checkpoint. Layout: docs/hdf5-layout.md.
//
// Crash safety: the file is flushed after every metrics row and checkpoint, and the
// only things rewritten in place are uncompressed metric chunks (whose old bytes are
// rewritten unchanged) and checkpoints (written beside the old one, then swapped), so a
// run killed between flushes leaves the state of its last flush. A kill during a flush
// can still damage the file: HDF5 1.10 does not order a flush's writes for crash
// safety (docs/hdf5-layout.md gives the measured odds).
#include <cstdint>
#include <map>
#include <string>

#include "analysis/causal.hpp"
#include "analysis/mechanism.hpp"
#include "analysis/verdict.hpp"
#include "io/h5.hpp"
#include "training/trainer.hpp"

namespace ctr {

struct MetricsRow {
    int64_t step;
    double train_loss;    // mean training loss over the steps since the previous row
    double grad_norm;     // mean gradient norm over the same steps
    double lr;            // learning rate of the last of those steps
    double eval_loss;
    double eval_rel_error;
};

class RunFile {
public:
    // Creates path (which must not exist) for a new run of trainer's config.
    static RunFile create(const std::string& path, const Trainer& trainer, const std::string& config_yaml);
    // Opens an existing run file for resuming; config_yaml() then holds its config.
    static RunFile open(const std::string& path, bool writable);

    RunFile(RunFile&&) = default;
    RunFile& operator=(RunFile&&) = default;

    const std::string& path() const { return path_; }
    hid_t handle() const { return file_.get(); }
    std::string config_yaml() const;
    void set_config_yaml(const std::string& yaml);
    std::string status() const;
    void set_status(const std::string& status);

    void append_metrics(const MetricsRow& row);
    // The probe model must hold the activations of a forward pass on the probe batch;
    // m and headline are the mechanism metrics of that pass.
    void append_snapshot(int64_t step, const Trainer& trainer, const MechanismMetrics& m, const Snapshot& headline);
    // The headline metrics of every snapshot so far, in step order.
    std::vector<Snapshot> read_headlines();
    // The end-of-run verdict, replacing any earlier one.
    void write_verdict(const Verdict& v, const Emergence& e, const CausalResult& c);
    // Writes the full training state. The metrics and snapshot rows written so far are
    // recorded with it, so a resume can drop rows written after it.
    void write_checkpoint(const TrainState& state);
    // Restores the state of the last checkpoint and drops the rows written after it.
    void restore_checkpoint(TrainState& state);
    bool has_checkpoint() const;

    void flush();

    // After a failed write (a full disk): HDF5 may have recorded space it could not
    // write, and then refuses the file as truncated. Extending the file to that size
    // (a sparse hole, which needs no disk space) keeps what was flushed readable.
    // The process should then exit without closing the file.
    void salvage_after_failure() noexcept;

private:
    RunFile(std::string path, h5::Handle file) : path_(std::move(path)), file_(std::move(file)) {}
    // The open dataset at path, kept open for the run: opening a dataset for every row
    // cost more than writing the row.
    hid_t series(const std::string& path);
    // Queues a row; flush() writes each series' queued rows in one call (per-call cost
    // dominated the snapshots' logging time). Nothing unflushed counts as written.
    void append(const std::string& path, hid_t mem_type, const void* row);
    void write_pending();
    // Throws IoError, before anything is written, when the disk cannot take the next flush.
    void ensure_space() const;

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
