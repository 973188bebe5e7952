#include "run/sweep_index.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "io/run_file_reader.hpp"
#include "io/table.hpp"

namespace ctr {

namespace fs = std::filesystem;

namespace {

constexpr const char* kStepNames[4] = {"catch_step", "tag_step", "release_step", "solved_step"};

// The driver's last line in a run's log: "ctr-sweep: exit CODE after SECONDS s",
// "ctr-sweep: killed by signal N after SECONDS s" or "ctr-sweep: not run: WHY"; and the
// run's own last "error:" line.
void read_log(const std::string& log_path, RunRecord& r, bool& ended_badly) {
    ended_badly = false;
    std::ifstream in(log_path);
    if (!in) return;
    std::string line, last_error, last_end;
    while (std::getline(in, line)) {
        if (line.find("error: ") != std::string::npos) last_error = line.substr(line.find("error: ") + 7);
        else if (line.rfind("ctr-sweep: ", 0) == 0) last_end = line;
        else if (line.rfind("terminate called", 0) == 0) last_error = line;
    }
    int code = 0, sig = 0;
    double secs = 0;
    if (std::sscanf(last_end.c_str(), "ctr-sweep: exit %d after %lf s", &code, &secs) == 2) {
        r.wall_s = secs;
        // 3: diverged, a result (the file says "diverged"), with its message as the error.
        ended_badly = code != 0 && code != 130 && code != 3;
        if (ended_badly || code == 3) r.error = last_error.empty() ? "exit code " + std::to_string(code) : last_error;
    } else if (last_end.rfind("ctr-sweep: not run: ", 0) == 0) {
        ended_badly = true;
        r.error = last_end.substr(20);
    } else if (std::sscanf(last_end.c_str(), "ctr-sweep: killed by signal %d after %lf s", &sig, &secs) == 2) {
        r.wall_s = secs;
        ended_badly = true;
        r.error = "killed by signal " + std::to_string(sig) + (last_error.empty() ? "" : ": " + last_error);
    }
}

}  // namespace

std::string run_log_path(const std::string& run_path) {
    fs::path p(run_path);
    return p.replace_extension(".log").string();
}

RunRecord read_run_record(const std::string& dir, const std::string& path) {
    RunRecord r;
    const std::string full = (fs::path(dir) / path).string();
    bool ended_badly = false;
    read_log(run_log_path(full), r, ended_badly);
    std::error_code ec;
    if (!fs::exists(full, ec)) {
        if (ended_badly) r.status = "failed";
        return r;
    }
    try {
        const RunFileReader f = RunFileReader::open(full);
        r.status = f.status();
        if (r.status == "complete") {
            if (const std::optional<RunVerdict> rv = f.verdict()) {
                const Verdict& v = rv->verdict;
                r.success = v.success;
                r.solved = v.solved;
                r.mechanism = v.mechanism;
                r.rel_error = v.rel_error;
                r.catch_score = v.catch_score;
                r.release = v.release;
                r.tag_separation = v.tag_separation;
                r.catch_step = rv->emergence.catch_step;
                r.tag_step = rv->emergence.tag_step;
                r.release_step = rv->emergence.release_step;
                r.solved_step = rv->emergence.solved_step;
                r.causal_layer = rv->causal.layer;
                r.causal_head = rv->causal.head;
                r.clean_loss = rv->causal.clean_loss;
                r.catch_ablated_loss = rv->causal.catch_ablated_loss;
                r.tag_ablated_loss = rv->causal.tag_ablated_loss;
                r.error.clear();
                return r;
            }
        }
    } catch (const std::exception& e) {
        // Not a readable run file (damaged, not HDF5, a directory): the log tells why it
        // ended, else the reader's message does.
        r.status = "failed";
        if (r.error.empty()) r.error = std::string("cannot read the run file: ") + e.what();
        return r;
    }
    if (ended_badly) r.status = "failed";
    return r;
}

Wilson wilson_interval(int64_t k, int64_t n) {
    if (n <= 0) return {RunRecord::kNaN, RunRecord::kNaN};
    const double z = 1.959963984540054, z2 = z * z;
    const double nn = static_cast<double>(n), p = static_cast<double>(k) / nn;
    const double denom = 1 + z2 / nn;
    const double center = (p + z2 / (2 * nn)) / denom;
    const double half = z / denom * std::sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn));
    // The ends are exactly 0 and 1 at k = 0 and k = n (rounding would leave 1 - 1e-16).
    return {k == 0 ? 0.0 : center - half, k == n ? 1.0 : center + half};
}

double quantile(std::vector<double> xs, double q) {
    if (xs.empty()) return RunRecord::kNaN;
    std::sort(xs.begin(), xs.end());
    const double pos = q * static_cast<double>(xs.size() - 1);
    const size_t i = static_cast<size_t>(std::floor(pos));
    const double frac = pos - static_cast<double>(i);
    return i + 1 < xs.size() ? xs[i] + frac * (xs[i + 1] - xs[i]) : xs[i];
}

std::vector<PointSummary> summarize_points(const SweepSpec& spec, const std::vector<SweepRun>& runs,
                                           const std::vector<RunRecord>& records) {
    const size_t n_points = sweep_points(spec).size();
    std::vector<PointSummary> out(n_points);
    std::vector<std::vector<double>> steps[4];
    for (auto& s : steps) s.assign(n_points, {});
    for (size_t i = 0; i < runs.size(); ++i) {
        PointSummary& p = out[runs[i].point];
        const RunRecord& r = records[i];
        ++p.runs;
        if (r.status == "failed") ++p.failed;
        if (r.status != "complete") continue;
        ++p.complete;
        p.successes += r.success == 1;
        const int64_t st[4] = {r.catch_step, r.tag_step, r.release_step, r.solved_step};
        for (int k = 0; k < 4; ++k)
            if (st[k] >= 0) steps[k][runs[i].point].push_back(static_cast<double>(st[k]));
    }
    for (size_t p = 0; p < n_points; ++p) {
        PointSummary& s = out[p];
        if (s.complete > 0) s.rate = static_cast<double>(s.successes) / static_cast<double>(s.complete);
        s.interval = wilson_interval(s.successes, s.complete);
        for (int k = 0; k < 4; ++k) {
            s.steps[k][0] = quantile(steps[k][p], 0.5);
            s.steps[k][1] = quantile(steps[k][p], 0.25);
            s.steps[k][2] = quantile(steps[k][p], 0.75);
        }
    }
    return out;
}

void write_sweep_index(const std::string& dir, const SweepSpec& spec, const std::vector<SweepRun>& runs,
                       const std::vector<RunRecord>& records) {
    const std::vector<SweepPoint> points = sweep_points(spec);
    using Ints = std::vector<int64_t>;
    using Reals = std::vector<double>;
    using Texts = std::vector<std::string>;

    // One row per run.
    Table t;
    auto text_col = [&](Table& tab, const std::string& name, const std::string& doc, auto get) {
        Texts v;
        for (size_t i = 0; i < (&tab == &t ? runs.size() : points.size()); ++i) v.push_back(get(i));
        tab.columns.push_back({name, doc, std::move(v)});
    };
    auto int_col = [&](Table& tab, const std::string& name, const std::string& doc, auto get) {
        Ints v;
        for (size_t i = 0; i < (&tab == &t ? runs.size() : points.size()); ++i) v.push_back(get(i));
        tab.columns.push_back({name, doc, std::move(v)});
    };
    auto real_col = [&](Table& tab, const std::string& name, const std::string& doc, auto get) {
        Reals v;
        for (size_t i = 0; i < (&tab == &t ? runs.size() : points.size()); ++i) v.push_back(get(i));
        tab.columns.push_back({name, doc, std::move(v)});
    };
    text_col(t, "point", "grid point: the swept keys' values", [&](size_t i) { return points[runs[i].point].name; });
    for (size_t a = 0; a < spec.grid.size(); ++a)
        text_col(t, spec.grid[a].key, "swept key's value", [&](size_t i) { return points[runs[i].point].values[a]; });
    int_col(t, "seed", "master seed", [&](size_t i) { return static_cast<int64_t>(runs[i].seed); });
    text_col(t, "path", "run file, relative to the sweep directory", [&](size_t i) { return runs[i].path; });
    text_col(t, "status", "complete, diverged, failed, interrupted, running or pending", [&](size_t i) { return records[i].status; });
    int_col(t, "success", "verdict: solved and mechanism (0/1; -1 unless complete)", [&](size_t i) { return records[i].success; });
    int_col(t, "solved", "rel_error below analysis.success_rel_error (0/1; -1)", [&](size_t i) { return records[i].solved; });
    int_col(t, "mechanism", "catch and release above their thresholds (0/1; -1)", [&](size_t i) { return records[i].mechanism; });
    real_col(t, "rel_error", "final relative error", [&](size_t i) { return records[i].rel_error; });
    real_col(t, "catch", "final catch score", [&](size_t i) { return records[i].catch_score; });
    real_col(t, "release", "final release score", [&](size_t i) { return records[i].release; });
    real_col(t, "tag_separation", "final tag separation d'", [&](size_t i) { return records[i].tag_separation; });
    const int64_t RunRecord::*step_fields[4] = {&RunRecord::catch_step, &RunRecord::tag_step, &RunRecord::release_step,
                                                &RunRecord::solved_step};
    for (int k = 0; k < 4; ++k)
        int_col(t, kStepNames[k],
                k < 3 ? "emergence: first snapshot step from which it holds (-1: never)"
                      : "emergence: first /metrics step from which it holds (-1: never)",
                [&](size_t i) { return records[i].*step_fields[k]; });
    int_col(t, "causal_layer", "layer of the catching head (-1: none)", [&](size_t i) { return records[i].causal_layer; });
    int_col(t, "causal_head", "the catching head (-1: none)", [&](size_t i) { return records[i].causal_head; });
    real_col(t, "clean_loss", "probe loss of the final model", [&](size_t i) { return records[i].clean_loss; });
    real_col(t, "catch_ablated_loss", "probe loss with the catch ablated", [&](size_t i) { return records[i].catch_ablated_loss; });
    real_col(t, "tag_ablated_loss", "probe loss with the tag ablated", [&](size_t i) { return records[i].tag_ablated_loss; });
    real_col(t, "wall_s", "wall time of the run's last attempt, seconds", [&](size_t i) { return records[i].wall_s; });
    text_col(t, "error", "why a failed run failed", [&](size_t i) { return records[i].error; });

    // One row per point.
    const std::vector<PointSummary> sums = summarize_points(spec, runs, records);
    Table p;
    text_col(p, "point", "grid point", [&](size_t i) { return points[i].name; });
    for (size_t a = 0; a < spec.grid.size(); ++a)
        text_col(p, spec.grid[a].key, "swept key's value", [&](size_t i) { return points[i].values[a]; });
    int_col(p, "runs", "runs planned", [&](size_t i) { return sums[i].runs; });
    int_col(p, "complete", "runs complete", [&](size_t i) { return sums[i].complete; });
    int_col(p, "failed", "runs failed", [&](size_t i) { return sums[i].failed; });
    int_col(p, "successes", "complete runs with success 1", [&](size_t i) { return sums[i].successes; });
    real_col(p, "rate", "successes / complete", [&](size_t i) { return sums[i].rate; });
    real_col(p, "rate_lo", "Wilson 95% interval, lower end", [&](size_t i) { return sums[i].interval.lo; });
    real_col(p, "rate_hi", "Wilson 95% interval, upper end", [&](size_t i) { return sums[i].interval.hi; });
    const char* stat_names[3] = {"median", "q1", "q3"};
    for (int k = 0; k < 4; ++k)
        for (int s = 0; s < 3; ++s)
            real_col(p, std::string(kStepNames[k]) + "_" + stat_names[s],
                     "over complete runs that reached it (NaN: none)", [&](size_t i) { return sums[i].steps[k][s]; });

    write_table_csv(t, (fs::path(dir) / "index.csv").string());
    write_table_csv(p, (fs::path(dir) / "points.csv").string());
    write_tables_h5({{"runs", &t}, {"points", &p}}, (fs::path(dir) / "index.h5").string());
}

std::string format_point_table(const SweepSpec& spec, const std::vector<PointSummary>& points) {
    const std::vector<SweepPoint> names = sweep_points(spec);
    size_t w = 5;
    for (const SweepPoint& p : names) w = std::max(w, p.name.size());
    auto num = [](double v, const char* fmt) {
        if (std::isnan(v)) return std::string("-");
        char b[32];
        std::snprintf(b, sizeof b, fmt, v);
        return std::string(b);
    };
    char line[512];
    std::snprintf(line, sizeof line, "%-*s %5s %8s %6s %9s %5s %15s %14s\n", static_cast<int>(w), "point", "runs",
                  "complete", "failed", "successes", "rate", "95% interval", "solved_step");
    std::string out = line;
    for (size_t i = 0; i < names.size(); ++i) {
        const PointSummary& s = points[i];
        char ci[64] = "-", steps[64] = "-";
        if (!std::isnan(s.interval.lo)) std::snprintf(ci, sizeof ci, "[%.3f, %.3f]", s.interval.lo, s.interval.hi);
        if (!std::isnan(s.steps[3][0]))
            std::snprintf(steps, sizeof steps, "%.0f (%.0f-%.0f)", s.steps[3][0], s.steps[3][1], s.steps[3][2]);
        std::snprintf(line, sizeof line, "%-*s %5lld %8lld %6lld %9lld %5s %15s %14s\n", static_cast<int>(w),
                      names[i].name.c_str(), static_cast<long long>(s.runs), static_cast<long long>(s.complete),
                      static_cast<long long>(s.failed), static_cast<long long>(s.successes), num(s.rate, "%.3f").c_str(),
                      ci, steps);
        out += line;
    }
    return out;
}

}  // namespace ctr
