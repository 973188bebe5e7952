// ctr-inspect: what run files hold (config, provenance, progress, final metrics,
// emergence, verdict), as text for people or JSON / CSV for programs, without Python.
#include <boost/program_options.hpp>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "run/exit_codes.hpp"
#include "cli/common/flags.hpp"
#include "config/load.hpp"
#include "io/run_file_reader.hpp"
#include "training/trainer.hpp"

namespace po = boost::program_options;
using namespace ctr;

namespace {

const char* const kUsage = "usage: ctr-inspect RUN.h5 [RUN.h5 ...] [--json | --csv] [--quiet]\n";

const char* const kHelp =
    "Prints what ctr run files hold: status, provenance, config, the last metrics row,\n"
    "snapshots and checkpoint, when catch, tag, release and the solution emerged (or were\n"
    "lost), the causal tests and the verdict (docs/hdf5-layout.md, docs/metrics.md). Runs\n"
    "that are still being written are read as of their writer's last flush.\n"
    "\n"
    "Output, one run after another in the order given:\n"
    "  (default)  a few lines of text per run\n"
    "  --json     one JSON array, one object per run (fields below), to stdout\n"
    "  --csv      a header line, then one row per run, the same fields\n"
    "  --quiet    text, one line per run: PATH: STATUS; the verdict summary (or\n"
    "             \"no verdict yet\"); errors still go to stderr\n"
    "Fields of --json/--csv: path, error, status, format_version, ctr_version,\n"
    "git_describe, created, ended, wall_time, sessions, host, command_line,\n"
    "config_file, overrides, seed, n_layers, n_heads, d_model, d_head, d_mlp, lr,\n"
    "steps (planned), last_step, train_loss, eval_loss, eval_rel_error, snapshots,\n"
    "checkpoint_step, success, solved, mechanism, rel_error, catch, release,\n"
    "tag_separation, tag_lda, summary, then for each of catch, tag, release, mechanism,\n"
    "solved: <m>_emergence (held / lost / never / not measured), <m>_first_step,\n"
    "<m>_held_from_step, <m>_lost_step, <m>_switches; then clean_loss,\n"
    "catch_ablated_loss, tag_ablated_loss. Missing values are null in JSON, empty in CSV;\n"
    "seed is a string in JSON (a uint64 keeps every digit).\n"
    "\n"
    "Exit status (README.md's table): 0 every file read; 2 a bad flag, or a file that\n"
    "is missing, not a run file, damaged or of another format_version. It takes no\n"
    "lock, so a run being written is read, not refused. The code is the first failing\n"
    "file's; the other files are still printed, and each error goes to stderr and to\n"
    "the `error` field in JSON/CSV.\n"
    "\n"
    "Examples:\n"
    "  ctr-inspect runs/minimal-seed4.h5\n"
    "  ctr-inspect --quiet runs/*.h5\n"
    "  ctr-inspect --csv runs/*.h5 > runs.csv\n";

template <class... Args>
void appendf(std::string& out, const char* fmt, Args... args) {
    char buf[1024];
    std::snprintf(buf, sizeof buf, fmt, args...);
    out += buf;
}

// An option's spelling as a C string for printf.
template <class E>
const char* name(E e) {
    return name_of(e).data();  // EnumNames are string literals: NUL-terminated
}

// One field of a run for JSON/CSV: absent, a number, a boolean or text.
struct Value {
    enum Kind { kNone, kNumber, kInt, kBool, kText } kind = kNone;
    double number = 0;
    long long integer = 0;
    bool flag = false;
    std::string text;
};
Value num(double v) { return std::isfinite(v) ? Value{Value::kNumber, v, 0, false, {}} : Value{}; }
Value integer(long long v) { return Value{Value::kInt, 0, v, false, {}}; }
Value step(int64_t v) { return v >= 0 ? integer(v) : Value{}; }
Value boolean(bool v) { return Value{Value::kBool, 0, 0, v, {}}; }
Value text(std::string v) { return Value{Value::kText, 0, 0, false, std::move(v)}; }

using Record = std::vector<std::pair<std::string, Value>>;

// Everything the report says about one run, in field order.
struct Report {
    Record fields;
    std::string text;   // the human-readable report
    std::string line;   // the --quiet line
};

Report inspect(const std::string& path) {
    Report rep;
    Record& f = rep.fields;
    std::string& out = rep.text;
    const RunFileReader run = RunFileReader::open(path);
    const RunInfo info = run.info();
    const Provenance& p = info.provenance;
    const Config cfg = load_config_text(info.config_yaml, path + ":/config").config;
    const ModelConfig& m = cfg.model;
    const TrainConfig& t = cfg.train;
    f = {{"path", text(path)}, {"error", {}}, {"status", text(info.status)},
         {"format_version", integer(info.format_version)}, {"ctr_version", text(info.ctr_version)},
         {"git_describe", text(info.git_describe)}, {"created", text(info.created)},
         {"ended", p.ended.empty() ? Value{} : text(p.ended)}, {"wall_time", num(p.wall_time)},
         {"sessions", integer(p.sessions)}, {"host", text(p.host)}, {"command_line", text(p.command_line)},
         {"config_file", text(p.config_file)}, {"overrides", text(p.overrides)},
         {"seed", text(std::to_string(cfg.seed))},  // uint64: text, so that JSON readers keep every digit
         {"n_layers", integer(m.n_layers)}, {"n_heads", integer(m.n_heads)}, {"d_model", integer(m.d_model)},
         {"d_head", integer(m.d_head)}, {"d_mlp", integer(m.d_mlp)}, {"lr", num(t.lr)},
         {"steps", integer(planned_steps(cfg))}};
    appendf(out, "%s  status: %s  ctr %s  created %s\n", path.c_str(),
            info.status == "running" ? "running (or stopped without a clean exit)" : info.status.c_str(),
            info.git_describe.c_str(), info.created.c_str());
    appendf(out, "made by: %s  (host %s, %lld session%s, %.1f s of training)\n", p.last_command_line.c_str(),
            p.host.c_str(), static_cast<long long>(p.sessions), p.sessions == 1 ? "" : "s", p.wall_time);
    appendf(out, "model: %d layers x %d heads, d_model %d, d_head %d, %s, norm %s%s, positions %s, init %s\n", m.n_layers,
            m.n_heads, m.d_model, m.d_head,
            m.d_mlp > 0 ? ("MLP " + std::to_string(m.d_mlp) + " " + std::string(name_of(m.act))).c_str() : "attention-only",
            name(m.norm), m.qk_norm ? " + qk-norm" : "", name(m.positions), name(m.init));
    appendf(out, "task: T %d%s, numbers %s, supervise %s;  train: %s lr %g wd %g, batch %d, %s, seed %llu\n",
            cfg.task.seq_len, cfg.task.bos ? " with [BOS]" : "", name(cfg.task.numbers), name(cfg.task.supervise),
            name(t.optimizer), t.lr, t.weight_decay, t.batch_size,
            t.steps > 0 ? (std::to_string(t.steps) + " steps").c_str() : (std::to_string(t.epochs) + " epochs").c_str(),
            static_cast<unsigned long long>(cfg.seed));

    const MetricsTable metrics = run.metrics();
    if (const size_t rows = metrics.rows(); rows > 0) {
        appendf(out, "last metrics (step %lld): train loss %.4g  eval loss %.4g  eval rel_error %.4g\n",
                static_cast<long long>(metrics.step[rows - 1]), metrics.train_loss[rows - 1],
                metrics.eval_loss[rows - 1], metrics.eval_rel_error[rows - 1]);
        f.insert(f.end(), {{"last_step", integer(metrics.step[rows - 1])}, {"train_loss", num(metrics.train_loss[rows - 1])},
                           {"eval_loss", num(metrics.eval_loss[rows - 1])},
                           {"eval_rel_error", num(metrics.eval_rel_error[rows - 1])}});
    } else {
        f.insert(f.end(), {{"last_step", {}}, {"train_loss", {}}, {"eval_loss", {}}, {"eval_rel_error", {}}});
    }
    const size_t n_snapshots = run.snapshot_steps().size();
    const std::optional<int64_t> checkpoint = run.checkpoint_step();
    appendf(out, "snapshots: %zu;  checkpoint: %s\n", n_snapshots,
            checkpoint ? ("step " + std::to_string(*checkpoint)).c_str() : "none");
    f.insert(f.end(), {{"snapshots", integer(static_cast<long long>(n_snapshots))},
                       {"checkpoint_step", checkpoint ? integer(*checkpoint) : Value{}}});

    const std::optional<RunVerdict> rv = run.verdict();
    if (rv) {
        const Verdict& v = rv->verdict;
        const Emergence& e = rv->emergence;
        appendf(out, "emergence: catch %s; tag %s; release %s; solved %s\n", crossing_text(e[Milestone::kCatch]).c_str(),
                crossing_text(e[Milestone::kTag]).c_str(), crossing_text(e[Milestone::kRelease]).c_str(),
                crossing_text(e[Milestone::kSolved]).c_str());
        if (rv->causal.layer >= 0)
            appendf(out, "causal: probe loss %.3g -> %.3g without catch, -> %.3g without the tag\n", rv->causal.clean_loss,
                    rv->causal.catch_ablated_loss, rv->causal.tag_ablated_loss);
        appendf(out, "verdict: %s\n", v.summary.c_str());
        rep.line = path + ": " + info.status + "; " + v.summary;
        f.insert(f.end(), {{"success", boolean(v.success)}, {"solved", boolean(v.solved)},
                           {"mechanism", boolean(v.mechanism)}, {"rel_error", num(v.rel_error)},
                           {"catch", num(v.catch_score)}, {"release", num(v.release)},
                           {"tag_separation", num(v.tag_separation)}, {"tag_lda", num(v.tag_lda)},
                           {"summary", text(v.summary)}});
        for (size_t k = 0; k < kMilestones; ++k) {
            const std::string n = kMilestoneNames[k];
            const Crossing& c = e.of[k];
            f.insert(f.end(), {{n + "_emergence", text(c.word())}, {n + "_first_step", step(c.first)},
                               {n + "_held_from_step", step(c.held_from)}, {n + "_lost_step", step(c.lost)},
                               {n + "_switches", c.measured ? integer(c.switches) : Value{}}});
        }
        const bool causal = rv->causal.layer >= 0;
        f.insert(f.end(), {{"clean_loss", causal ? num(rv->causal.clean_loss) : Value{}},
                           {"catch_ablated_loss", causal ? num(rv->causal.catch_ablated_loss) : Value{}},
                           {"tag_ablated_loss", causal ? num(rv->causal.tag_ablated_loss) : Value{}}});
    } else {
        appendf(out, "verdict: none yet (the run has not finished)\n");
        rep.line = path + ": " + info.status + "; no verdict yet";
    }
    return rep;
}

// The field names of a full record, for runs that could not be read and the CSV header.
std::vector<std::string> field_names() {
    std::vector<std::string> names = {
        "path", "error", "status", "format_version", "ctr_version", "git_describe", "created", "ended",
        "wall_time", "sessions", "host", "command_line", "config_file", "overrides", "seed", "n_layers",
        "n_heads", "d_model", "d_head", "d_mlp", "lr", "steps", "last_step", "train_loss", "eval_loss",
        "eval_rel_error", "snapshots", "checkpoint_step", "success", "solved", "mechanism", "rel_error",
        "catch", "release", "tag_separation", "tag_lda", "summary"};
    for (const char* m : kMilestoneNames)
        for (const char* s : {"_emergence", "_first_step", "_held_from_step", "_lost_step", "_switches"})
            names.push_back(std::string(m) + s);
    for (const char* n : {"clean_loss", "catch_ablated_loss", "tag_ablated_loss"}) names.push_back(n);
    return names;
}

// The record's value of each field name (absent ones empty), in field_names() order.
std::vector<Value> complete(const Record& r) {
    std::vector<Value> out;
    for (const std::string& n : field_names()) {
        Value v;
        for (const auto& [k, x] : r)
            if (k == n) v = x;
        out.push_back(v);
    }
    return out;
}

// JSON and CSV by hand: Debian 12's Boost (1.74) predates Boost.JSON, and
// property_tree writes numbers as strings; these are flat records of a few types.
std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (const unsigned char c : s) {
        if (c == '"' || c == '\\') out += '\\', out += static_cast<char>(c);
        else if (c == '\n') out += "\\n";
        else if (c == '\t') out += "\\t";
        else if (c < 0x20) appendf(out, "\\u%04x", c);
        else out += static_cast<char>(c);
    }
    return out + "\"";
}

std::string format(const Value& v, bool json) {
    char buf[40];
    switch (v.kind) {
        case Value::kNone: return json ? "null" : "";
        case Value::kNumber: return std::string(buf, std::to_chars(buf, buf + sizeof buf, v.number).ptr);  // shortest exact
        case Value::kInt: return std::to_string(v.integer);
        case Value::kBool: return v.flag ? "true" : "false";
        case Value::kText: break;
    }
    if (json) return json_string(v.text);
    if (v.text.find_first_of(",\"\n\r") == std::string::npos) return v.text;
    std::string out = "\"";
    for (char c : v.text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

// A run file caught mid-flush can fail to read; a fresh look a moment later is whole.
// code: the exit code of the failure (run/exit_codes.hpp).
std::optional<Report> inspect_with_retry(const std::string& path, std::string& error, int& code) {
    for (int attempt = 1;; ++attempt) {
        try {
            return inspect(path);
        } catch (const std::exception& e) {
            const auto* io = dynamic_cast<const h5::IoError*>(&e);
            const bool retry = !io || io->cause() == h5::Cause::kOther || io->cause() == h5::Cause::kTruncated ||
                               io->cause() == h5::Cause::kDamaged;
            if (retry && attempt < 3 && std::filesystem::exists(path)) {
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
                continue;
            }
            if (io && io->cause() == h5::Cause::kOther) {
                // It opened as a run file, then a read failed: damaged.
                error = path + " is damaged: " + e.what();
                code = kExitUsage;
            } else {
                error = e.what();
                code = exit_code_of(e);
            }
            return std::nullopt;
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    ignore_fatal_signals();
    h5::init_library();
    po::options_description flags("options");
    flags.add_options()
        ("help,h", "show this help")
        ("json", "print one JSON array, an object per run")
        ("csv", "print a CSV table, a row per run")
        ("quiet,q", "print one line per run: path, status and verdict summary");
    std::vector<std::string> paths;
    po::variables_map vm;
    try {
        vm = parse_command_line({argv + 1, argv + argc}, flags, "run", po::value(&paths)->composing(), -1, kUsage);
    } catch (const UsageError& e) {
        std::fprintf(stderr, "ctr-inspect: error: %s", e.what());
        return kExitUsage;
    }
    if (vm.count("help")) {
        std::cout << kUsage << "\n" << kHelp << "\n" << flags;
        return 0;
    }
    const bool json = vm.count("json") > 0, csv = vm.count("csv") > 0, quiet = vm.count("quiet") > 0;
    if (json && csv) {
        std::fprintf(stderr, "ctr-inspect: error: --json and --csv: choose one\n%s", kUsage);
        return kExitUsage;
    }
    if (paths.empty()) {
        std::fprintf(stderr, "ctr-inspect: error: missing RUN.h5\n%s", kUsage);
        return kExitUsage;
    }

    int code = 0;
    std::vector<std::vector<Value>> rows;
    for (const std::string& path : paths) {
        std::string error;
        int failure = kExitUsage;
        const std::optional<Report> rep = inspect_with_retry(path, error, failure);
        if (!rep) {
            std::fprintf(stderr, "ctr-inspect: error: %s\n", error.c_str());
            if (code == 0) code = failure;
            rows.push_back(complete({{"path", text(path)}, {"error", text(error)}}));
            continue;
        }
        rows.push_back(complete(rep->fields));
        if (quiet) std::printf("%s\n", rep->line.c_str());
        else if (!json && !csv) std::printf("%s%s", paths.size() > 1 && &path != &paths.front() ? "\n" : "", rep->text.c_str());
    }
    const std::vector<std::string> names = field_names();
    if (json && !quiet) {
        std::printf("[");
        for (size_t r = 0; r < rows.size(); ++r) {
            std::printf("%s\n  {", r ? "," : "");
            for (size_t i = 0; i < names.size(); ++i)
                std::printf("%s%s: %s", i ? ", " : "", json_string(names[i]).c_str(), format(rows[r][i], true).c_str());
            std::printf("}");
        }
        std::printf("\n]\n");
    } else if (csv && !quiet) {
        for (size_t i = 0; i < names.size(); ++i) std::printf("%s%s", i ? "," : "", names[i].c_str());
        std::printf("\n");
        for (const auto& row : rows) {
            for (size_t i = 0; i < row.size(); ++i) std::printf("%s%s", i ? "," : "", format(row[i], false).c_str());
            std::printf("\n");
        }
    }
    return code;
}
