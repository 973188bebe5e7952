// Reading and checking sweep files. The config keys, their values and the messages come
// from the config layer (key table, set_key_at, validate_config), so a sweep accepts
// exactly what ctr-train accepts and says so in the same words.
#include "run/sweep_spec.hpp"

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wdangling-pointer"
#endif
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "config/keys.hpp"
#include "config/load.hpp"
#include "run/run_name.hpp"

namespace ctr {

namespace fs = std::filesystem;

namespace {

// More runs than this is a typo (a seed range with one digit too many), not a sweep.
constexpr size_t kMaxRuns = 10'000'000;

std::string where_at(const std::string& file, const YAML::Mark& m) {
    if (m.is_null() || m.line < 0) return file;
    return file + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

std::string trim(const std::string& s) {
    const size_t b = s.find_first_not_of(" \t");
    if (b == std::string::npos) return {};
    return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    size_t b = 0;
    for (size_t e; (e = s.find(sep, b)) != std::string::npos; b = e + 1) out.push_back(trim(s.substr(b, e - b)));
    out.push_back(trim(s.substr(b)));
    return out;
}

// The canonical text of value for key (what a run file's config would say), or a
// ConfigError from the config layer naming where, the key and what was expected.
std::string canonical_value(const std::string& key, const std::string& value, const std::string& where) {
    Config scratch;
    set_key_at(scratch, key, value, where);
    return key_value_text(*find_key(key), scratch);
}

const char* const kTopKeys[] = {"config", "set", "grid", "seeds", "log"};

std::string nearest_top_key(const std::string& k) {
    std::string best;
    size_t best_d = SIZE_MAX;
    for (const char* c : kTopKeys) {
        // edit distance, small strings
        const std::string b = c;
        std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
        for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
        for (size_t i = 1; i <= k.size(); ++i) {
            cur[0] = i;
            for (size_t j = 1; j <= b.size(); ++j)
                cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (k[i - 1] == b[j - 1] ? 0 : 1)});
            std::swap(prev, cur);
        }
        if (prev[b.size()] < best_d) {
            best_d = prev[b.size()];
            best = b;
        }
    }
    return best_d <= 2 ? best : std::string();
}

std::string read_text(const std::string& path) {
    std::error_code ec;
    if (!fs::exists(path, ec)) throw ConfigError(path + ": cannot read sweep file: no such file");
    if (fs::is_directory(path, ec)) throw ConfigError(path + ": cannot read sweep file: it is a directory");
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    if (!in && !in.eof()) throw ConfigError(path + ": cannot read sweep file");
    return ss.str();
}

void add_fixed(SweepSpec& spec, const std::string& key, const std::string& value, const std::string& where) {
    const std::string v = canonical_value(key, value, where);
    for (SweepSetting& s : spec.fixed)
        if (s.key == key) {  // a later setting of the same key wins (sweep defaults < log: < set: < --set)
            s = {key, v, where};
            return;
        }
    spec.fixed.push_back({key, v, where});
}

void check_not_seed(const std::string& key, const std::string& where) {
    if (key == "seed")
        throw ConfigError(where + ": seed: a sweep gives its seeds under seeds: (e.g. seeds: 0..99) or with --seeds");
}

// Reads `set:` or `log:` (a map of key -> scalar; log: keys are log.* leaves).
void read_settings(SweepSpec& spec, const YAML::Node& map, const std::string& file, const std::string& section) {
    if (map.IsNull()) return;
    if (!map.IsMap())
        throw ConfigError(where_at(file, map.Mark()) + ": " + section + ": expected a map of " +
                          (section == "log" ? "log keys (e.g. snapshot_every: 100)" : "config keys (e.g. train.lr: 0.01)"));
    std::set<std::string> seen;
    for (auto it = map.begin(); it != map.end(); ++it) {
        const std::string kwhere = where_at(file, it->first.Mark());
        if (!it->first.IsScalar()) throw ConfigError(kwhere + ": " + section + ": expected a key name");
        const std::string key = section == "log" ? "log." + it->first.Scalar() : it->first.Scalar();
        check_not_seed(key, kwhere);
        if (!seen.insert(key).second) throw ConfigError(kwhere + ": " + section + ": " + key + " given twice");
        const YAML::Node& v = it->second;
        const std::string vwhere = v.IsNull() ? kwhere : where_at(file, v.Mark());
        if (!v.IsScalar()) {
            Config scratch;
            if (!find_key(key)) set_key_at(scratch, key, "", kwhere);  // unknown key: throws its message
            throw ConfigError(vwhere + ": " + key + ": " + key_expectation(*find_key(key)) +
                              (v.IsSequence() && section == "set" ? " (a list of values to sweep goes under grid:)" : ""));
        }
        add_fixed(spec, key, v.Scalar(), vwhere);
    }
}

void read_grid(SweepSpec& spec, const YAML::Node& map, const std::string& file) {
    if (map.IsNull()) return;
    if (!map.IsMap())
        throw ConfigError(where_at(file, map.Mark()) + ": grid: expected a map of config keys to lists of values " +
                          "(e.g. train.lr: [0.01, 0.05])");
    for (auto it = map.begin(); it != map.end(); ++it) {
        const std::string kwhere = where_at(file, it->first.Mark());
        if (!it->first.IsScalar()) throw ConfigError(kwhere + ": grid: expected a key name");
        const std::string key = it->first.Scalar();
        check_not_seed(key, kwhere);
        for (const SweepAxis& a : spec.grid)
            if (a.key == key) throw ConfigError(kwhere + ": grid: " + key + " given twice");
        const YAML::Node& v = it->second;
        Config scratch;
        if (!find_key(key)) set_key_at(scratch, key, "", kwhere);  // unknown key: throws its message
        if (!v.IsSequence() || v.size() == 0)
            throw ConfigError((v.IsNull() ? kwhere : where_at(file, v.Mark())) + ": grid: " + key +
                              ": expected a non-empty list of values, e.g. [1, 2]");
        SweepAxis axis{key, {}, {}};
        for (const YAML::Node& e : v) {
            const std::string ewhere = where_at(file, e.Mark());
            if (!e.IsScalar()) throw ConfigError(ewhere + ": grid: " + key + ": " + key_expectation(*find_key(key)));
            const std::string c = canonical_value(key, e.Scalar(), ewhere);
            if (std::find(axis.values.begin(), axis.values.end(), c) != axis.values.end())
                throw ConfigError(ewhere + ": grid: " + key + ": value " + c + " given twice");
            axis.values.push_back(c);
            axis.wheres.push_back(ewhere);
        }
        spec.grid.push_back(std::move(axis));
    }
}

std::string seeds_from_node(const YAML::Node& n, const std::string& file) {
    const std::string where = where_at(file, n.Mark());
    if (n.IsScalar()) return n.Scalar();
    if (n.IsSequence() && n.size() > 0) {
        std::string s;
        for (const YAML::Node& e : n) {
            if (!e.IsScalar())
                throw ConfigError(where_at(file, e.Mark()) + ": seeds: expected whole numbers, e.g. [0, 4, 5]");
            s += (s.empty() ? "" : ",") + e.Scalar();
        }
        return s;
    }
    throw ConfigError(where + ": seeds: expected a range A..B (e.g. 0..999) or a list of seeds (e.g. [0, 4, 5])");
}

}  // namespace

const std::vector<SweepSetting>& sweep_log_defaults() {
    // A snapshot every 200 steps and none in between (9 for the paper's 1,600 steps), and
    // no copy of the evaluation set (it follows from the seed): 0.94 MB a run instead of
    // 5.5 MB with ctr-train's defaults, so 1,000 seeds stay under 1 GB. Emergence steps
    // are then known to the nearest 200 steps (docs/sweeps.md). A checkpoint every 1,000
    // steps instead of 200: each costs about as much as 20 training steps of the paper's
    // config, and a stopped or killed driver's runs checkpoint on their way out anyway.
    static const std::vector<SweepSetting> defaults = {
        {"log.snapshot_dense", "0", "sweep default"},
        {"log.snapshot_per_decade", "0", "sweep default"},
        {"log.snapshot_every", "200", "sweep default"},
        {"log.eval_set", "false", "sweep default"},
        {"log.checkpoint_every", "1000", "sweep default"},
    };
    return defaults;
}

std::vector<uint64_t> parse_seeds(const std::string& text, const std::string& where) {
    const std::string expected = "expected a range A..B (e.g. 0..999), a seed, or a list (e.g. 0,4,5)";
    auto number = [&](const std::string& s) -> uint64_t {
        if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos)
            throw ConfigError(where + ": seeds: " + expected + ", got '" + text + "'");
        try {
            size_t used = 0;
            const unsigned long long v = std::stoull(s, &used);
            return v;
        } catch (const std::exception&) {
            throw ConfigError(where + ": seeds: " + s + " is above the largest seed, 2^64-1");
        }
    };
    std::vector<uint64_t> seeds;
    const size_t dots = text.find("..");
    if (dots != std::string::npos) {
        const uint64_t a = number(trim(text.substr(0, dots))), b = number(trim(text.substr(dots + 2)));
        if (b < a) throw ConfigError(where + ": seeds: range " + text + " is empty: expected A <= B");
        if (b - a >= kMaxRuns)
            throw ConfigError(where + ": seeds: range " + text + " has more than " + std::to_string(kMaxRuns) + " seeds");
        for (uint64_t s = a;; ++s) {
            seeds.push_back(s);
            if (s == b) break;
        }
        return seeds;
    }
    for (const std::string& part : split(text, ',')) {
        const uint64_t s = number(part);
        if (std::find(seeds.begin(), seeds.end(), s) != seeds.end())
            throw ConfigError(where + ": seeds: seed " + part + " given twice");
        seeds.push_back(s);
    }
    return seeds;
}

SweepSpec load_sweep(const std::string& path, const std::vector<std::string>& cli_sets, const std::string& cli_seeds,
                     bool check_configs) {
    SweepSpec spec;
    spec.source = path;
    const std::string text = read_text(path);
    YAML::Node root;
    try {
        const std::vector<YAML::Node> docs = YAML::LoadAll(text);
        if (docs.size() != 1 || !docs[0].IsMap())
            throw ConfigError(path + ": expected one YAML map with config:, grid:, seeds: (and optionally set:, log:)");
        root = docs[0];
    } catch (const YAML::Exception& e) {
        throw ConfigError(where_at(path, e.mark) + ": malformed YAML: " + e.msg);
    }
    for (const SweepSetting& s : sweep_log_defaults()) spec.fixed.push_back(s);

    std::map<std::string, YAML::Node> top;
    for (auto it = root.begin(); it != root.end(); ++it) {
        const std::string kwhere = where_at(path, it->first.Mark());
        const std::string k = it->first.IsScalar() ? it->first.Scalar() : std::string();
        if (std::find(std::begin(kTopKeys), std::end(kTopKeys), k) == std::end(kTopKeys)) {
            const std::string near = nearest_top_key(k);
            throw ConfigError(kwhere + ": unknown sweep key \"" + k + "\"" +
                              (near.empty() ? "" : " (did you mean \"" + near + "\"?)") +
                              " (valid: config, set, grid, seeds, log)");
        }
        if (top.count(k)) throw ConfigError(kwhere + ": " + k + " given twice");
        top[k] = it->second;
    }
    const bool has_config = top.count("config") > 0;
    const YAML::Node config_node = has_config ? top["config"] : YAML::Node();
    if (!has_config || !config_node.IsScalar() || config_node.Scalar().empty())
        throw ConfigError((has_config ? where_at(path, config_node.Mark()) : path) +
                          ": config: expected the base config's path (relative to the sweep file), e.g. config: ../minimal.yaml");
    fs::path base = config_node.Scalar();
    if (base.is_relative()) base = fs::absolute(fs::path(path)).parent_path() / base;
    spec.base_config = base.lexically_normal().string();
    if (check_configs && !fs::is_regular_file(spec.base_config))
        throw ConfigError(where_at(path, config_node.Mark()) + ": config: " + spec.base_config + ": no such file");

    if (top.count("log")) read_settings(spec, top["log"], path, "log");
    if (top.count("set")) read_settings(spec, top["set"], path, "set");
    if (top.count("grid")) read_grid(spec, top["grid"], path);
    if (!top.count("seeds") && cli_seeds.empty())
        throw ConfigError(path + ": seeds: missing; give a range (seeds: 0..99) or a list (seeds: [0, 4, 5]), or --seeds");
    if (top.count("seeds")) {
        spec.seeds_text = seeds_from_node(top["seeds"], path);
        spec.seeds = parse_seeds(spec.seeds_text, where_at(path, top["seeds"].Mark()));
    }
    if (!cli_seeds.empty()) {
        spec.seeds_text = cli_seeds;
        spec.seeds = parse_seeds(cli_seeds, "--seeds " + cli_seeds);
    }

    for (const std::string& ov : cli_sets) {
        const std::string where = "--set " + ov;
        const size_t eq = ov.find('=');
        const std::string key = trim(ov.substr(0, eq));
        if (eq == std::string::npos || key.empty())
            throw ConfigError(where + ": expected key=value or key=a,b,c, e.g. --set train.lr=0.01,0.05");
        check_not_seed(key, where);
        const std::vector<std::string> values = split(ov.substr(eq + 1), ',');
        SweepAxis axis{key, {}, {}};
        for (const std::string& v : values) {
            const std::string c = canonical_value(key, v, where);
            if (std::find(axis.values.begin(), axis.values.end(), c) != axis.values.end())
                throw ConfigError(where + ": " + key + ": value " + c + " given twice");
            axis.values.push_back(c);
            axis.wheres.push_back(where);
        }
        auto existing = std::find_if(spec.grid.begin(), spec.grid.end(), [&](const SweepAxis& a) { return a.key == key; });
        if (existing != spec.grid.end()) {
            *existing = std::move(axis);  // the command line replaces the file's values
        } else if (values.size() == 1) {
            add_fixed(spec, key, values[0], where);
        } else {
            spec.grid.push_back(std::move(axis));
        }
    }
    // A key both fixed and swept: the grid's values win, which would silently ignore the
    // fixed one; say so instead.
    for (const SweepAxis& a : spec.grid)
        for (const SweepSetting& s : spec.fixed)
            if (s.key == a.key && s.where != "sweep default")
                throw ConfigError(s.where + ": " + s.key + " is also swept (grid at " + a.wheres.front() +
                                  "); give it in one place");

    size_t n_points = 1;
    for (const SweepAxis& a : spec.grid) {
        if (n_points > kMaxRuns / a.values.size())
            throw ConfigError(path + ": grid: more than " + std::to_string(kMaxRuns) + " points");
        n_points *= a.values.size();
    }
    if (n_points > kMaxRuns / spec.seeds.size())
        throw ConfigError(path + ": " + std::to_string(n_points) + " points x " + std::to_string(spec.seeds.size()) +
                          " seeds is more than " + std::to_string(kMaxRuns) + " runs");

    if (check_configs) {
        // Every point's config, with each key's origin in the sweep file, before any run.
        const LoadedConfig base_cfg = load_config_traced(spec.base_config);
        for (const SweepPoint& p : sweep_points(spec)) {
            Config cfg = base_cfg.config;
            KeyOrigins origins = base_cfg.origins;
            for (const SweepSetting& s : spec.fixed) set_key_at(cfg, s.key, s.value, s.where, &origins);
            for (size_t a = 0; a < spec.grid.size(); ++a) {
                const SweepAxis& axis = spec.grid[a];
                const size_t vi = std::find(axis.values.begin(), axis.values.end(), p.values[a]) - axis.values.begin();
                set_key_at(cfg, axis.key, p.values[a], axis.wheres[vi] + " (grid point " + p.name + ")", &origins);
            }
            validate_config(cfg, path + " (grid point " + p.name + ")", origins);
        }
    }
    return spec;
}

std::vector<SweepPoint> sweep_points(const SweepSpec& spec) {
    std::vector<SweepPoint> points;
    size_t n = 1;
    for (const SweepAxis& a : spec.grid) n *= a.values.size();
    for (size_t i = 0; i < n; ++i) {
        // Mixed radix, last axis fastest: the order a nested loop over the file's axes gives.
        SweepPoint p;
        p.values.resize(spec.grid.size());
        size_t rest = i;
        for (size_t a = spec.grid.size(); a-- > 0;) {
            p.values[a] = spec.grid[a].values[rest % spec.grid[a].values.size()];
            rest /= spec.grid[a].values.size();
        }
        std::vector<std::pair<std::string, std::string>> kv;
        for (size_t a = 0; a < spec.grid.size(); ++a) kv.emplace_back(spec.grid[a].key, p.values[a]);
        p.name = kv.empty() ? "base" : overrides_name(kv);
        points.push_back(std::move(p));
    }
    return points;
}

std::vector<SweepRun> sweep_runs(const SweepSpec& spec) {
    std::vector<SweepRun> runs;
    const std::vector<SweepPoint> points = sweep_points(spec);
    for (size_t p = 0; p < points.size(); ++p)
        for (uint64_t seed : spec.seeds)
            runs.push_back({runs.size(), p, seed, points[p].name + "/seed" + std::to_string(seed) + ".h5"});
    return runs;
}

std::vector<std::string> sweep_run_overrides(const SweepSpec& spec, const SweepPoint& point, uint64_t seed) {
    std::vector<std::string> out;
    for (const SweepSetting& s : spec.fixed) out.push_back(s.key + "=" + s.value);
    for (size_t a = 0; a < spec.grid.size(); ++a) out.push_back(spec.grid[a].key + "=" + point.values[a]);
    out.push_back("seed=" + std::to_string(seed));
    return out;
}

Config sweep_run_config(const SweepSpec& spec, const SweepPoint& point, uint64_t seed) {
    return load_config(spec.base_config, sweep_run_overrides(spec, point, seed));
}

std::string sweep_plan_yaml(const SweepSpec& spec) {
    YAML::Emitter y;
    y << YAML::BeginMap;
    y << YAML::Key << "config" << YAML::Value << spec.base_config;
    y << YAML::Key << "set" << YAML::Value << YAML::BeginMap;
    for (const SweepSetting& s : spec.fixed)  // a swept key's default would clash with its axis on reload
        if (std::none_of(spec.grid.begin(), spec.grid.end(), [&](const SweepAxis& a) { return a.key == s.key; }))
            y << YAML::Key << s.key << YAML::Value << s.value;
    y << YAML::EndMap;
    y << YAML::Key << "grid" << YAML::Value << YAML::BeginMap;
    for (const SweepAxis& a : spec.grid) {
        y << YAML::Key << a.key << YAML::Value << YAML::Flow << YAML::BeginSeq;
        for (const std::string& v : a.values) y << v;
        y << YAML::EndSeq;
    }
    y << YAML::EndMap;
    y << YAML::Key << "seeds" << YAML::Value << spec.seeds_text;
    y << YAML::EndMap;
    return "# The sweep as ctr-sweep runs it (docs/sweeps.md); ctr-sweep status and collect read it.\n" +
           std::string(y.c_str()) + "\n";
}

std::vector<std::string> sweep_fixed_diff(const SweepSpec& a, const SweepSpec& b) {
    std::vector<std::string> out;
    if (a.base_config != b.base_config) out.push_back("config: " + a.base_config + " vs " + b.base_config);
    std::map<std::string, std::string> fa, fb;
    for (const SweepSetting& s : a.fixed) fa[s.key] = s.value;
    for (const SweepSetting& s : b.fixed) fb[s.key] = s.value;
    for (const auto& [k, v] : fa)
        if (!fb.count(k) || fb[k] != v) out.push_back(k + ": " + v + " vs " + (fb.count(k) ? fb[k] : "(not set)"));
    for (const auto& [k, v] : fb)
        if (!fa.count(k)) out.push_back(k + ": (not set) vs " + v);
    return out;
}

}  // namespace ctr
