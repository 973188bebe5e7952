#pragma once
// A sweep: a base config, fixed overrides, a grid of values over config keys and a list
// of seeds (docs/sweeps.md). Parsing checks every key and value, and every grid point's
// resolved config, before anything runs; errors are ConfigErrors naming file:line:col.
#include <cstdint>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace ctr {

// One fixed override or grid value, in canonical text (key_value_text), with its origin.
struct SweepSetting {
    std::string key;    // "train.lr"
    std::string value;  // "0.01"
    std::string where;  // "sweep.yaml:7:9" or "--set train.lr=0.01"
};

struct SweepAxis {
    std::string key;
    std::vector<std::string> values;  // canonical text, distinct, in the order given
    std::vector<std::string> wheres;  // origin of each value
};

struct SweepSpec {
    std::string source;                // the sweep file, for messages
    std::string base_config;           // absolute path of the base config
    std::vector<SweepSetting> fixed;   // sweep log defaults, log:, set:, then single-valued --set
    std::vector<SweepAxis> grid;       // in file order, then new --set axes
    std::vector<uint64_t> seeds;       // in the order given
    std::string seeds_text;            // "0..999" or "0,4,5"
};

// One grid point: a value index per axis.
struct SweepPoint {
    std::string name;                 // "d_model=4,lr=0.01", or "base" for an empty grid
    std::vector<std::string> values;  // one per axis
};

struct SweepRun {
    size_t index;      // position in sweep order (points major, seeds minor)
    size_t point;      // into sweep_points()
    uint64_t seed;
    std::string path;  // relative to the sweep directory: "d_model=4,lr=0.01/seed17.h5"
};

// The log keys every sweep run starts from, before the sweep file's own: fewer snapshots,
// so that 1,000 runs of the paper's config stay under 1 GB (docs/sweeps.md).
const std::vector<SweepSetting>& sweep_log_defaults();

// Reads SWEEP.yaml, then applies the command line's --set key=a,b,c (one value: a fixed
// override, or the only value of an axis the file sweeps; several: an axis) and --seeds
// (replaces the file's). With check_configs, loads the base config and validates every
// point's resolved config.
SweepSpec load_sweep(const std::string& path, const std::vector<std::string>& cli_sets, const std::string& cli_seeds,
                     bool check_configs = true);

std::vector<SweepPoint> sweep_points(const SweepSpec& spec);
std::vector<SweepRun> sweep_runs(const SweepSpec& spec);

// The resolved config of a run: base config, fixed settings, the point's values, the seed.
Config sweep_run_config(const SweepSpec& spec, const SweepPoint& point, uint64_t seed);
// The same as override strings "key=value" over the base config (fixed, then point, then seed).
std::vector<std::string> sweep_run_overrides(const SweepSpec& spec, const SweepPoint& point, uint64_t seed);

// The plan file written into the sweep directory (DIR/sweep.yaml): the sweep with the base
// config's absolute path, every fixed setting under set:, and the command line merged in.
// Loading it gives the same spec.
std::string sweep_plan_yaml(const SweepSpec& spec);

// The settings of a and b that make their runs differ (base config, fixed settings); empty
// when runs of the same point and seed would be identical.
std::vector<std::string> sweep_fixed_diff(const SweepSpec& a, const SweepSpec& b);

// Parses "0..99" (inclusive), "7" or "1,5,9"; `where` names the source in errors.
std::vector<uint64_t> parse_seeds(const std::string& text, const std::string& where);

}  // namespace ctr
