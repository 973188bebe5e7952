#pragma once
// The plain data a run file holds, as the writer takes it and the reader returns it.
// Nothing here knows how it is computed (training/, analysis/) or stored (io/*.cpp).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "analysis/causal.hpp"
#include "analysis/verdict.hpp"
#include "util/real.hpp"

namespace ctr {

// One row of /metrics.
struct MetricsRow {
    int64_t step;
    double train_loss;    // mean training loss over the steps since the previous row
    double grad_norm;     // mean gradient norm over the same steps
    double lr;            // learning rate of the last of those steps
    double eval_loss;
    double eval_rel_error;
};

// The whole /metrics table, one vector per column (all the same length).
struct MetricsTable {
    std::vector<int64_t> step;
    std::vector<double> train_loss, grad_norm, lr, eval_loss, eval_rel_error;
    size_t rows() const { return step.size(); }
};

// /checkpoint: everything a resume needs beyond the config (training/trainer.hpp's
// TrainState, with its random-number generators as text).
struct Checkpoint {
    std::vector<real> params;     // (P) flat, ParamLayout order
    std::vector<real> opt_m;      // (P)
    std::vector<real> opt_v;      // (P) AdamW; empty for SGD
    std::vector<int> order;       // (train_size) empty with fresh data
    int64_t step = 0, epoch = 0, batch_in_epoch = 0, opt_t = 0;
    double row_loss_sum = 0, row_grad_norm_sum = 0;
    int64_t row_steps = 0;
    std::string shuffle_rng, fresh_rng;
    // The rows of /metrics and /snapshots written when it was taken (filled by the
    // writer; a resume drops the rows after them).
    int64_t metrics_rows = 0, snapshot_rows = 0;
    // The run's config (YAML) when it was taken, filled by the writer; empty in files
    // written before ctr recorded it.
    std::string config_yaml;
};

// /verdict: the end of a finished run.
struct RunVerdict {
    Verdict verdict;
    Emergence emergence;
    CausalResult causal;   // catch_increase / tag_increase are recomputed on reading
};

// How, where and with what a run was made (root attributes; docs/hdf5-layout.md).
struct Provenance {
    std::string command_line;        // the invocation that created the file, shell-quoted
    std::string last_command_line;   // the latest invocation that wrote it (a resume), else command_line
    std::string config_file;         // the config file the run started from
    std::string overrides;           // YAML mapping of the keys the command line set, as resolved ("{}": none)
    std::string host;                // of the latest session
    std::string started, ended;      // UTC; ended "" until a session ends (finished or interrupted)
    double wall_time = 0;            // seconds of training, summed over sessions
    int64_t sessions = 0;            // 1 + the number of resumes
    std::string compiler, eigen_version, hdf5_version, boost_version;
};

// The root attributes.
struct RunInfo {
    std::string ctr_version, git_describe, created, status, config_yaml;
    uint64_t seed = 0;
    int64_t format_version = 0;
    Provenance provenance;
};

}  // namespace ctr
