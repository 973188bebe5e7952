// ctr-inspect: a run file's config, progress, final metrics, emergence and verdict in a
// few lines, without Python.
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>
#include <iostream>
#include <string>
#include <optional>

#include "cli/common/exit_codes.hpp"
#include "config/load.hpp"
#include "io/run_file_reader.hpp"

namespace po = boost::program_options;
using namespace ctr;

namespace {

const char* const kUsage = "usage: ctr-inspect RUN.h5\n";

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

// The whole report, printed only once it is complete (a retry must not repeat lines).
std::string inspect(const std::string& path) {
    std::string out;
    const RunFileReader run = RunFileReader::open(path);
    const RunInfo info = run.info();
    const Config cfg = load_config_text(info.config_yaml, path + ":/config").config;
    const ModelConfig& m = cfg.model;
    const TrainConfig& t = cfg.train;
    appendf(out, "%s  status: %s  ctr %s  created %s\n", path.c_str(),
                info.status == "running" ? "running (or stopped without a clean exit)" : info.status.c_str(),
                info.git_describe.c_str(), info.created.c_str());
    appendf(out, "model: %d layers x %d heads, d_model %d, d_head %d, %s, norm %s%s, positions %s, init %s\n", m.n_layers,
                m.n_heads, m.d_model, m.d_head, m.d_mlp > 0 ? ("MLP " + std::to_string(m.d_mlp) + " " + std::string(name_of(m.act))).c_str() : "attention-only",
                name(m.norm), m.qk_norm ? " + qk-norm" : "", name(m.positions), name(m.init));
    appendf(out, "task: T %d%s, numbers %s, supervise %s;  train: %s lr %g wd %g, batch %d, %s, seed %llu\n",
                cfg.task.seq_len, cfg.task.bos ? " with [BOS]" : "", name(cfg.task.numbers), name(cfg.task.supervise),
                name(t.optimizer), t.lr, t.weight_decay, t.batch_size,
                t.steps > 0 ? (std::to_string(t.steps) + " steps").c_str() : (std::to_string(t.epochs) + " epochs").c_str(),
                static_cast<unsigned long long>(cfg.seed));

    const MetricsTable metrics = run.metrics();
    if (const size_t rows = metrics.rows(); rows > 0)
        appendf(out, "last metrics (step %lld): train loss %.4g  eval loss %.4g  eval rel_error %.4g\n",
                    static_cast<long long>(metrics.step[rows - 1]), metrics.train_loss[rows - 1],
                    metrics.eval_loss[rows - 1], metrics.eval_rel_error[rows - 1]);
    const std::optional<int64_t> checkpoint = run.checkpoint_step();
    appendf(out, "snapshots: %zu;  checkpoint: %s\n", run.snapshot_steps().size(),
                checkpoint ? ("step " + std::to_string(*checkpoint)).c_str() : "none");
    if (const std::optional<RunVerdict> v = run.verdict()) {
        const Emergence& e = v->emergence;
        appendf(out, "emergence (first step for good): catch %lld  tag %lld  release %lld  solved %lld\n",
                    static_cast<long long>(e.catch_step), static_cast<long long>(e.tag_step),
                    static_cast<long long>(e.release_step), static_cast<long long>(e.solved_step));
        if (v->causal.layer >= 0)
            appendf(out, "causal: probe loss %.3g -> %.3g without catch, -> %.3g without the tag\n", v->causal.clean_loss,
                        v->causal.catch_ablated_loss, v->causal.tag_ablated_loss);
        appendf(out, "verdict: %s\n", v->verdict.summary.c_str());
    } else {
        appendf(out, "verdict: none yet (the run has not finished)\n");
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    ignore_fatal_signals();
    h5::init_library();
    po::options_description flags("options");
    flags.add_options()("help,h", "show this help");
    po::options_description all;
    std::string path;
    all.add(flags).add_options()("run", po::value(&path));
    po::positional_options_description positional;
    positional.add("run", 1);
    po::variables_map vm;
    try {
        po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        std::fprintf(stderr, "ctr-inspect: error: %s\n%s", e.what(), kUsage);
        return kExitUsage;
    }
    if (vm.count("help")) {
        std::cout << kUsage;
        return 0;
    }
    if (path.empty()) {
        std::fprintf(stderr, "ctr-inspect: error: %s\n%s", vm.count("run") ? "RUN.h5: expected a path, got an empty string" : "missing RUN.h5", kUsage);
        return kExitUsage;
    }
    // A run being written can be caught mid-flush; a fresh look a moment later is whole.
    for (int attempt = 1;; ++attempt) {
        try {
            std::fputs(inspect(path).c_str(), stdout);
            return 0;
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
                std::fprintf(stderr, "ctr-inspect: error: %s is damaged: %s\n", path.c_str(), e.what());
                return kExitUsage;
            }
            std::fprintf(stderr, "ctr-inspect: error: %s\n", e.what());
            return exit_code_of(e);
        }
    }
}
