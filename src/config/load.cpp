// Reading YAML files and --set overrides into a Config, validating it, and writing it
// back. Knows no key by name except in the cross-key checks of validate_config: the
// keys, their types and ranges come from the table in keys.cpp.
#include "config/load.hpp"

// GCC 12 flags yaml-cpp 0.7's Node accessors with a false -Wdangling-pointer.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wdangling-pointer"
#endif
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "config/keys.hpp"

namespace ctr {

namespace {

std::string where_at(const std::string& file, const YAML::Mark& m) {
    if (m.is_null() || m.line < 0) return file;
    return file + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

std::string node_kind(const YAML::Node& n) {
    switch (n.Type()) {
        case YAML::NodeType::Null: return "nothing (null)";
        case YAML::NodeType::Sequence: return "a sequence";
        case YAML::NodeType::Map: return "a map";
        case YAML::NodeType::Scalar: return "'" + n.Scalar() + "'";
        default: return "nothing";
    }
}

std::string list(const std::vector<std::string>& names) {
    std::string s;
    for (size_t i = 0; i < names.size(); ++i) s += (i ? ", " : "") + names[i];
    return s;
}

// `unknown key "x" (did you mean "y"?)`, or the valid names of the enclosing section.
std::string unknown_key_message(const std::string& path) {
    std::string s = "unknown key \"" + path + "\"";
    if (const auto near = nearest_key(path)) return s + " (did you mean \"" + *near + "\"?)";
    const size_t dot = path.rfind('.');
    const std::string parent = dot == std::string::npos ? std::string() : path.substr(0, dot);
    if (!parent.empty() && !is_config_section(parent)) {
        const std::string top = path.substr(0, path.find('.'));
        if (is_config_section(top)) return s;  // e.g. model.zz.x: sections hold no sections
        return s + " (no section \"" + top + "\"; valid top-level keys: " + list(section_children("")) + ")";
    }
    return s + " (valid " + (parent.empty() ? std::string("top-level keys") : "keys in " + parent) + ": " +
           list(section_children(parent)) + ")";
}

std::string section_expectation(const std::string& section) {
    const std::vector<std::string> kids = section_children(section);
    return "expected a section (a map of keys such as " + section + "." + kids.front() + ")";
}

struct FileReader {
    const std::string& file;
    Config& cfg;
    KeyOrigins& origins;
    std::map<std::string, std::string> seen;  // path -> where, to catch duplicates

    void read_map(const YAML::Node& map, const std::string& prefix) {
        for (auto it = map.begin(); it != map.end(); ++it) {
            const YAML::Node& k = it->first;
            const YAML::Node& v = it->second;
            const std::string kwhere = where_at(file, k.Mark());
            if (!k.IsScalar())
                throw ConfigError(kwhere + ": " + (prefix.empty() ? std::string("top level") : prefix) +
                                  ": expected a key name, got " + node_kind(k));
            const std::string path = prefix.empty() ? k.Scalar() : prefix + "." + k.Scalar();
            if (k.Scalar().find('.') != std::string::npos) {  // one spelling per key: nested
                const std::string sec = path.substr(0, path.rfind('.'));
                throw ConfigError(kwhere + ": " + path + ": dotted names are for --set; in a file, nest the key: " +
                                  sec + ": { " + path.substr(path.rfind('.') + 1) + ": ... }");
            }
            if (const auto prev = seen.find(path); prev != seen.end())
                throw ConfigError(kwhere + ": " + path + ": key given twice (first at " + prev->second + ")");
            seen[path] = kwhere;

            if (const KeySpec* key = find_key(path)) {
                const YAML::Mark vm = v.Mark();
                // a null value's mark is wherever the parser went next: use the key's
                const std::string vwhere = v.IsNull() || vm.is_null() || vm.line < 0 ? kwhere : where_at(file, vm);
                if (!v.IsScalar())
                    throw ConfigError(vwhere + ": " + path + ": " + key_expectation(*key) + ", got " + node_kind(v));
                if (const auto err = set_key_from_text(*key, cfg, v.Scalar()))
                    throw ConfigError(vwhere + ": " + path + ": " + *err);
                origins[path] = kwhere;
            } else if (is_config_section(path)) {
                if (v.IsNull()) continue;  // an empty section: all its keys keep their defaults
                if (!v.IsMap())
                    throw ConfigError(kwhere + ": " + path + ": " + section_expectation(path) + ", got " +
                                      node_kind(v));
                read_map(v, path);
            } else {
                throw ConfigError(kwhere + ": " + unknown_key_message(path));
            }
        }
    }
};

// A config is a few kilobytes; anything this large is not one, and parsing it whole
// could exhaust memory.
constexpr size_t kMaxConfigBytes = 1 << 20;
// Flow collections nested deeper than this ([[[[...) are refused before yaml-cpp, whose
// parser recurses once per level.
constexpr int kMaxNesting = 64;

std::string read_text(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::exists(path, ec)) throw ConfigError(path + ": cannot read config file: no such file");
    if (fs::is_directory(path, ec)) throw ConfigError(path + ": cannot read config file: it is a directory");
    if (fs::is_regular_file(path, ec) && fs::file_size(path, ec) > kMaxConfigBytes)
        throw ConfigError(path + ": cannot read config file: it has " + std::to_string(fs::file_size(path, ec)) +
                          " bytes, more than a config's limit of " + std::to_string(kMaxConfigBytes) + " (1 MiB)");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ConfigError(path + ": cannot read config file: " + std::strerror(errno));
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) throw ConfigError(path + ": cannot read config file: " + std::strerror(errno));
    return ss.str();
}

std::string trim(const std::string& s) {
    const size_t b = s.find_first_not_of(" \t");
    if (b == std::string::npos) return {};
    const size_t e = s.find_last_not_of(" \t");
    return s.substr(b, e - b + 1);
}

std::string describe_origin(const std::string& path, const Config& cfg, const KeyOrigins& origins) {
    const KeySpec* key = find_key(path);
    const auto it = origins.find(path);
    return path + " = " + key_value_text(*key, cfg) + " (" + (it == origins.end() ? "default" : it->second) + ")";
}

}  // namespace

void apply_overrides(Config& cfg, const std::vector<std::string>& overrides, KeyOrigins* origins) {
    for (const std::string& ov : overrides) {
        const std::string where = "--set " + ov;
        const size_t eq = ov.find('=');
        const std::string path = trim(ov.substr(0, eq));
        if (eq == std::string::npos || path.empty())
            throw ConfigError(where + ": expected key=value, e.g. --set model.d_model=4");
        set_key_at(cfg, path, trim(ov.substr(eq + 1)), where, origins);
    }
}

void set_key_at(Config& cfg, const std::string& path, const std::string& value, const std::string& where,
                KeyOrigins* origins) {
    const KeySpec* key = find_key(path);
    if (!key) {
        if (is_config_section(path))
            throw ConfigError(where + ": " + path + ": is a section, not a key; set one of its keys, e.g. " + path + "." +
                              section_children(path).front() + "=...");
        throw ConfigError(where + ": " + unknown_key_message(path));
    }
    if (const auto err = set_key_from_text(*key, cfg, value)) throw ConfigError(where + ": " + path + ": " + *err);
    if (origins) (*origins)[path] = where;
}

LoadedConfig load_config_traced(const std::string& path, const std::vector<std::string>& overrides) {
    return load_config_text(read_text(path), path, overrides);
}

// Refuses text too large or too deeply nested for a config, naming the line.
void check_yaml_size(const std::string& text, const std::string& path) {
    if (text.size() > kMaxConfigBytes)
        throw ConfigError(path + ": config has " + std::to_string(text.size()) + " bytes, more than the limit of " +
                          std::to_string(kMaxConfigBytes) + " (1 MiB)");
    int depth = 0, line = 1, indent = 0;
    bool comment = false, at_line_start = true;
    char quote = 0;
    for (const char c : text) {
        if (c == '\n') {
            ++line;
            comment = false;
            at_line_start = true;
            indent = 0;
            if (quote == '\'') quote = 0;  // a quoted scalar this long is not a config value anyway
            continue;
        }
        if (at_line_start && c == ' ') {
            // Block nesting: yaml-cpp recurses once per indented level too.
            if (++indent > 4 * kMaxNesting)
                throw ConfigError(path + ":" + std::to_string(line) + ": malformed YAML: indented deeper than a config can be");
            continue;
        }
        at_line_start = false;
        if (comment) continue;
        if (quote) {
            if (c == quote) quote = 0;
            continue;
        }
        if (c == '#') comment = true;
        else if (c == '"' || c == '\'') quote = c;
        else if (c == '[' || c == '{') {
            if (++depth > kMaxNesting)
                throw ConfigError(path + ":" + std::to_string(line) + ": malformed YAML: nested more than " +
                                  std::to_string(kMaxNesting) + " levels deep");
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
}

namespace {

// The keys a YAML text sets (before overrides and validation).
LoadedConfig parse_config_text(const std::string& text, const std::string& path) {
    check_yaml_size(text, path);
    std::vector<YAML::Node> docs;
    try {
        docs = YAML::LoadAll(text);
    } catch (const YAML::ParserException& e) {
        throw ConfigError(where_at(path, e.mark) + ": malformed YAML: " + e.msg);
    } catch (const YAML::Exception& e) {
        throw ConfigError(where_at(path, e.mark) + ": malformed YAML: " + e.msg);
    }
    if (docs.size() > 1)
        throw ConfigError(where_at(path, docs[1].Mark()) + ": expected a single YAML document, found " +
                          std::to_string(docs.size()));

    LoadedConfig out;
    if (!docs.empty() && !docs[0].IsNull()) {  // an empty file gives the defaults
        const YAML::Node& root = docs[0];
        if (!root.IsMap())
            throw ConfigError(where_at(path, root.Mark()) + ": expected a map of keys at the top level (" +
                              list(section_children("")) + "), got " + node_kind(root));
        FileReader reader{path, out.config, out.origins, {}};
        reader.read_map(root, "");
    }
    return out;
}

}  // namespace

LoadedConfig load_config_text(const std::string& text, const std::string& path, const std::vector<std::string>& overrides) {
    // The last text parsed, kept: a sweep loads its base config once for every run (in
    // the driver and again in the worker), and yaml-cpp's parse was most of that cost
    // (about 4 M instructions a config; docs/performance.md).
    thread_local struct {
        std::string text, path;
        std::optional<LoadedConfig> parsed;
    } last;
    if (!last.parsed || last.text != text || last.path != path) {
        last.parsed.reset();
        last.parsed = parse_config_text(text, path);
        last.text = text;
        last.path = path;
    }
    LoadedConfig out = *last.parsed;
    apply_overrides(out.config, overrides, &out.origins);
    validate_config(out.config, path, out.origins);
    return out;
}

Config load_config(const std::string& path, const std::vector<std::string>& overrides) {
    return load_config_traced(path, overrides).config;
}

Config config_from_overrides(const std::vector<std::string>& overrides) {
    Config cfg;
    KeyOrigins origins;
    apply_overrides(cfg, overrides, &origins);
    validate_config(cfg, "defaults", origins);
    return cfg;
}

void validate_config(const Config& cfg, const std::string& source) { validate_config(cfg, source, {}); }

void validate_config(const Config& cfg, const std::string& source, const KeyOrigins& origins) {
    // Each key's own range (values read by load_config are already checked; this
    // catches values set in code).
    for (const KeySpec& key : config_keys())
        if (const auto err = check_key_range(key, cfg)) {
            const auto it = origins.find(key.path);
            throw ConfigError((it == origins.end() ? source : it->second) + ": " + key.path + ": " + *err);
        }

    // Cross-key checks. The message names every key involved, its value and origin.
    auto fail = [&](const std::vector<std::string>& keys, const std::string& problem) {
        std::string msg = source + ": ";
        for (size_t i = 0; i < keys.size(); ++i) msg += (i ? ", " : "") + keys[i];
        msg += ": " + problem + " [";
        for (size_t i = 0; i < keys.size(); ++i) msg += (i ? "; " : "") + describe_origin(keys[i], cfg, origins);
        throw ConfigError(msg + "]");
    };
    const ModelConfig& m = cfg.model;
    const TaskConfig& t = cfg.task;
    const TrainConfig& tr = cfg.train;

    // In 64 bits: the sum of these int keys can pass INT_MAX.
    const int64_t need = int64_t{t.bos ? 1 : 0} + t.min_before_sep + 1 + t.min_after_sep;
    const SepRange sep = need > t.seq_len ? SepRange{1, 0} : sep_range(t);
    if (sep.first > sep.last)
        fail({"task.seq_len", "task.bos", "task.min_before_sep", "task.min_after_sep"},
             "no position is left for [SEP]" +
                 (need > t.seq_len ? std::string()
                                   : " (allowed positions " + std::to_string(sep.first) + ".." + std::to_string(sep.last) + ")") +
                 "; need seq_len >= bos + min_before_sep + 1 + min_after_sep = " + std::to_string(need));
    if (t.train_size > 0 && tr.batch_size > t.train_size)
        fail({"train.batch_size", "task.train_size"}, "expected batch_size <= train_size when train_size > 0");
    // A hand-built model may be run for 0 steps: the run file then holds its metrics.
    if (tr.steps == 0 && tr.epochs == 0 && m.init != ModelInit::kTheorem71)
        fail({"train.steps", "train.epochs"},
             "nothing to train: expected steps > 0 or epochs > 0 (0 steps only with model.init theorem71)");
    if (t.train_size == 0 && tr.steps == 0)
        fail({"task.train_size", "train.steps"},
             "train_size = 0 (fresh sequences every step) has no epochs: expected steps > 0");
    if (tr.schedule == LrSchedule::kCosine && tr.min_lr > tr.lr)
        fail({"train.min_lr", "train.lr"}, "expected min_lr <= lr for the cosine schedule");
    if (m.init == ModelInit::kTheorem71) {
        const bool ok = m.n_layers >= 2 && m.d_model >= 2 && m.n_heads == 1 && m.d_mlp == 0 && m.norm == Norm::kNone &&
                        !m.qk_norm && m.positions == Positions::kNone;
        if (!ok)
            fail({"model.init", "model.n_layers", "model.d_model", "model.n_heads", "model.d_mlp", "model.norm",
                  "model.qk_norm", "model.positions"},
                 "init theorem71 expects n_layers >= 2, d_model >= 2, n_heads 1, d_mlp 0, norm none, qk_norm "
                 "false, positions none");
    }
}

std::string config_to_yaml(const Config& cfg) {
    // Lines "indent leaf: value" with the doc as a comment, aligned within each section.
    struct Line {
        std::string text, comment;
        int group;
    };
    std::vector<Line> lines;
    std::vector<std::string> open;  // the sections currently open, outermost first
    int group = 0;
    for (const KeySpec& key : config_keys()) {
        std::vector<std::string> parts;
        for (size_t b = 0, e; b <= key.path.size(); b = e + 1) {
            e = key.path.find('.', b);
            if (e == std::string::npos) e = key.path.size();
            parts.push_back(key.path.substr(b, e - b));
        }
        const std::vector<std::string> secs(parts.begin(), parts.end() - 1);
        size_t common = 0;
        while (common < open.size() && common < secs.size() && open[common] == secs[common]) ++common;
        if (common != open.size() || common != secs.size()) ++group;
        for (size_t d = common; d < secs.size(); ++d) {
            if (d == 0) lines.push_back({"", "", -1});  // blank line before a top-level section
            lines.push_back({std::string(2 * d, ' ') + secs[d] + ":", "", -1});
        }
        open = secs;
        lines.push_back({std::string(2 * secs.size(), ' ') + parts.back() + ": " + key_value_text(key, cfg), key.doc,
                         group});
    }
    std::map<int, size_t> width;
    for (const Line& l : lines)
        if (l.group >= 0) width[l.group] = std::max(width[l.group], l.text.size());
    std::string out = "# ctr config, every key resolved (docs/config.md)\n";
    for (const Line& l : lines) {
        out += l.text;
        if (!l.comment.empty()) out += std::string(width[l.group] - l.text.size() + 2, ' ') + "# " + l.comment;
        out += "\n";
    }
    return out;
}

std::vector<std::string> config_diff(const Config& a, const Config& b) {
    std::vector<std::string> out;
    for (const KeySpec& key : config_keys())
        if (key_value_text(key, a) != key_value_text(key, b)) out.push_back(key.path);
    return out;
}

}  // namespace ctr
