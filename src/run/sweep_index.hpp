#pragma once
// The sweep index: what each run of a sweep gave (read from its run file and the log the
// driver keeps beside it), and per grid point the success rate with its Wilson interval
// and the spread of the emergence steps. Written as DIR/index.csv, DIR/points.csv and
// DIR/index.h5 (/runs, /points); columns in docs/sweeps.md.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "run/sweep_spec.hpp"

namespace ctr {

// Run status in the index: the run file's (complete, interrupted, running), or failed
// (the run ended with an error; see error), or pending (no run file yet).
struct RunRecord {
    static constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
    std::string status = "pending";
    int64_t success = -1, solved = -1, mechanism = -1;  // 0/1; -1 until complete
    double rel_error = kNaN, catch_score = kNaN, release = kNaN, tag_separation = kNaN;
    int64_t catch_step = -1, tag_step = -1, release_step = -1, solved_step = -1;
    int64_t causal_layer = -1, causal_head = -1;
    double clean_loss = kNaN, catch_ablated_loss = kNaN, tag_ablated_loss = kNaN;
    double wall_s = kNaN;  // the last attempt's wall time (the driver's log)
    std::string error;     // why a failed run failed
};

// Reads run `path` (relative to dir) and its log "<path without .h5>.log".
RunRecord read_run_record(const std::string& dir, const std::string& path);

// The log beside a run file: its output, ended by the driver's "ctr-sweep: ..." line.
std::string run_log_path(const std::string& run_path);

struct Wilson {
    double lo, hi;
};
// Wilson score interval for k successes in n trials at 95% (z = 1.959964); NaN for n = 0.
Wilson wilson_interval(int64_t k, int64_t n);

// Quantile q of xs by linear interpolation between order statistics (numpy's default);
// NaN for none.
double quantile(std::vector<double> xs, double q);

struct PointSummary {
    int64_t runs = 0, complete = 0, failed = 0, successes = 0;
    double rate = RunRecord::kNaN;
    Wilson interval{RunRecord::kNaN, RunRecord::kNaN};
    // median, q1, q3 of each emergence step over complete runs that reached it
    double steps[4][3];  // catch, tag, release, solved
};

// Summaries of the runs of each point (runs in sweep_runs order).
std::vector<PointSummary> summarize_points(const SweepSpec& spec, const std::vector<SweepRun>& runs,
                                           const std::vector<RunRecord>& records);

// Writes DIR/index.csv, DIR/points.csv and DIR/index.h5.
void write_sweep_index(const std::string& dir, const SweepSpec& spec, const std::vector<SweepRun>& runs,
                       const std::vector<RunRecord>& records);

// The per-point table as text, one line per point, for ctr-sweep status.
std::string format_point_table(const SweepSpec& spec, const std::vector<PointSummary>& points);

}  // namespace ctr
