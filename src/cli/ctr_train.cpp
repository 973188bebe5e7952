// ctr-train: trains the catch-tag-release model of a config and writes one run file.
// Flags and messages only: starting, resuming and finishing a run is src/run/.
#include <omp.h>

#include <boost/program_options.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "run/exit_codes.hpp"
#include "cli/common/flags.hpp"
#include "cli/common/interrupt.hpp"
#include "cli/common/progress.hpp"
#include "analysis/mechanism.hpp"
#include "config/load.hpp"
#include "io/series_file.hpp"
#include "run/run_name.hpp"
#include "run/start.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;
using namespace ctr;

namespace {

// More threads than this gain nothing (the batch is cut into at most 8 shards) and,
// far beyond, crash the OpenMP runtime.
constexpr int kMaxThreads = 64;

// Measured with this build: docs/results.md (the paper setting over 1,000 seeds).
const char* const kMinimalSeedRate = "seeds 4, 5 and 9 of 0-9, 404 of 0-999";

const char* const kUsage =
    "usage: ctr-train CONFIG.yaml [--set key=value ...] [--seed N] [--out RUN.h5] [--overwrite] [--quiet]\n"
    "       ctr-train --resume RUN.h5 [--set train.epochs=N | --set train.steps=N] [--quiet]\n"
    "       (both also: [--threads N] [--max-memory SIZE] [--max-file-size SIZE])\n";

// --max-memory / --max-file-size: "8G", "512M", ...
uint64_t size_flag(const po::variables_map& vm, const char* name, uint64_t fallback) {
    if (!vm.count(name)) return fallback;
    const std::string text = vm[name].as<std::string>();
    uint64_t v = 0;
    if (!parse_bytes(text, v))
        throw UsageError(std::string("--") + name + ": expected a size such as 8G, 512M or 100K (binary units), got '" +
                         text + "'");
    return v;
}

// What a failed run means and what to try, with commands that work as printed (prog:
// this program as it was called, so the hints carry its path, e.g. build/ctr-train).
// sets: the run's --set flags (repeated in the hint, so the other seed is the same experiment).
void explain_failure(const RunResult& r, const std::string& prog, const std::string& config_path,
                     const std::vector<std::string>& sets, const Config& cfg, const std::string& out) {
    const Emergence& e = r.emergence;
    const Crossing& mech = e[Milestone::kMechanism];
    if (!has_catch_release_pair(cfg.model)) {
        // Not a matter of the seed: the mechanism needs a layer to catch and a later one to release.
        std::printf("what this means: a one-layer model has no catch/release pair (catch in one layer, release in a "
                    "later one; docs/metrics.md), so it cannot form the mechanism: catch, release and the causal "
                    "tests are n/a.\nwhat to try: two or more layers, e.g. --set model.n_layers=2\n");
        return;
    }
    std::printf("what this means: ");
    if (!mech.measured) {
        std::printf("the run did not reach the error threshold; with log.snapshots: false the mechanism was not "
                    "measured, so there is no telling whether it formed.\n");
    } else if (r.verdict.mechanism && !r.verdict.solved) {
        std::printf("catch and release formed (%s) but the error is still above the threshold; training longer may "
                    "finish the job.\n", emergence_story(e).c_str());
    } else if (r.verdict.solved) {
        std::printf("the task is solved, but not by catch, tag and release as docs/metrics.md measures them "
                    "(catch %.3g, release %.3g at the end); look at its attention patterns.\n",
                    r.verdict.catch_score, r.verdict.release);
    } else if (mech.first >= 0) {
        std::printf("the mechanism formed at step %lld and was lost for good at step %lld (%lld switches): the run "
                    "found it and then drifted away; its snapshots around step %lld hold the model that had it.\n",
                    static_cast<long long>(mech.first), static_cast<long long>(mech.lost),
                    static_cast<long long>(mech.switches), static_cast<long long>(mech.first));
    } else if (e[Milestone::kCatch].first >= 0) {
        std::printf("layer 0 learned to catch (attention on [SEP] >= the threshold from step %lld) but no later head "
                    "released the tagged numbers (release at most %.3g).\n",
                    static_cast<long long>(e[Milestone::kCatch].first), e.max_release);
    } else {
        std::printf("the run stalled before catch (attention of the queries after [SEP] on [SEP] at most %.3g): it "
                    "settled on a shortcut, typically predicting the mean of all numbers (relative error near 0.4).\n",
                    e.max_catch);
    }
    std::printf("With the paper's setting the mechanism forms for only part of the seeds (the paper saw it in at "
                "most 4 of 10 runs; configs/minimal.yaml: %s), so one failed seed says little about the setting.\n",
                kMinimalSeedRate);
    if (!config_path.empty()) {
        // Seed 4 of the paper's config forms the mechanism; any other seed is a fresh draw.
        Config other = cfg;
        other.seed = cfg.seed == 4 ? 5 : 4;
        std::string cmd = prog + " " + config_path;
        std::vector<std::string> kept;
        for (const std::string& s : sets)
            if (s.rfind("seed=", 0) != 0) cmd += " --set " + s, kept.push_back(s);
        cmd += " --seed " + std::to_string(other.seed);
        const std::string path = default_run_path(config_path, other, kept);
        if (fs::exists(path)) cmd += " --out " + (fs::path(out).parent_path() / ("seed" + std::to_string(other.seed) + ".h5")).string();
        std::printf("what to try: another seed:  %s\n", cmd.c_str());
    }
    const std::string sweep = (fs::path(prog).parent_path() / "ctr-sweep").string();
    const std::string sweep_file = "configs/sweeps/paper-seeds.yaml";
    if (fs::exists(sweep) && fs::exists(sweep_file))
        std::printf("             the rate over seeds:  %s %s --seeds 0..19 --out runs/paper-seeds\n", sweep.c_str(),
                    sweep_file.c_str());
    // ctr-plot run draws the snapshots around the emergence steps and a movie of every
    // snapshot, so the steps that had the mechanism are in its figures (docs/plots.md).
    const std::string plot = (fs::path(prog).parent_path() / "ctr-plot").string();
    if (mech.measured && mech.first >= 0 && !mech.held_at_end && fs::exists(plot))
        std::printf("             the model when it had the mechanism:  %s run %s\n", plot.c_str(), out.c_str());
}

void print_summary(const RunResult& r, const std::string& out) {
    // The speed counts this session's steps only: a resumed run did the others earlier.
    const int64_t steps = r.last_step - r.first_step;
    const double rate = r.seconds > 0 ? steps / r.seconds : 0.0;
    if (r.first_step > 0)
        std::printf("done: step %lld, resumed at step %lld: %lld steps in %.2fs (%.0f steps/s)  eval loss %.4g  rel_err %.4g\n",
                    static_cast<long long>(r.last_step), static_cast<long long>(r.first_step),
                    static_cast<long long>(steps), r.seconds, rate, r.final_eval.loss, r.final_eval.rel_error);
    else
        std::printf("done: %lld steps in %.2fs (%.0f steps/s)  eval loss %.4g  rel_err %.4g\n",
                    static_cast<long long>(r.last_step), r.seconds, rate, r.final_eval.loss, r.final_eval.rel_error);
    std::printf("run file: %s\n", out.c_str());
}

int run(int argc, char** argv) {
    po::options_description flags("options");
    std::vector<std::string> overrides;
    std::string seed_text, out, resume;
    flags.add_options()
        ("help,h", "show this help")
        ("set", po::value(&overrides)->composing(), "override a config key, e.g. --set model.d_model=4 (repeatable)")
        ("seed", po::value(&seed_text), "master seed (same as --set seed=N)")
        ("out,o", po::value(&out), "run file to write (default runs/<config>[-<overrides>]-seed<seed>.h5)")
        ("overwrite", "replace an existing run file")
        ("resume", po::value(&resume), "continue the run in RUN.h5 from its last checkpoint")
        ("threads", po::value<int>()->default_value(1), "threads for the batch's shards, 1..64 (results do not depend on it)")
        ("max-memory", po::value<std::string>(), "refuse runs estimated to need more memory than this (default 4G)")
        ("max-file-size", po::value<std::string>(), "refuse runs whose file is estimated above this (default 2G)")
        ("quiet,q", "print only the final summary");
    std::string config_path;
    const po::variables_map vm =
        parse_command_line({argv + 1, argv + argc}, flags, "config", po::value(&config_path), 1, kUsage);
    if (vm.count("help")) {
        std::cout << kUsage << "\n" << flags << "\nConfig keys: docs/config.md. Run file layout: docs/hdf5-layout.md.\n";
        return 0;
    }
    const bool quiet = vm.count("quiet") > 0;
    // One thread unless asked: OpenMP threads spin while they wait, and a sweep that runs
    // several ctr-train on the same cores then slows to a crawl (docs/performance.md).
    const int threads = vm["threads"].as<int>();
    if (threads < 1 || threads > kMaxThreads)
        throw UsageError("--threads: expected a whole number from 1 to " + std::to_string(kMaxThreads) + ", got " +
                         std::to_string(threads));
    omp_set_num_threads(threads);
    const bool overwrite = vm.count("overwrite") > 0;
    // Given but empty is a mistake (an unset shell variable), not "use the default".
    for (const char* name : {"seed", "out", "resume"})
        if (vm.count(name) && vm[name].as<std::string>().empty())
            throw UsageError(std::string("--") + name + ": expected a value, got an empty string");
    ResourceLimits limits;
    limits.max_memory = size_flag(vm, "max-memory", limits.max_memory);
    limits.max_file_size = size_flag(vm, "max-file-size", limits.max_file_size);

    std::optional<Run> run;
    if (vm.count("resume")) {
        if (!config_path.empty()) throw UsageError("--resume: give either a config or --resume RUN.h5, not both");
        if (vm.count("seed") || vm.count("out") || overwrite)
            throw UsageError("--resume: the run keeps its own seed and file; --seed, --out and --overwrite do not apply");
        out = resume;
        run.emplace(
            resume_run(resume, overrides, Invocation{std::vector<std::string>(argv, argv + argc), "", overrides}, limits));
    } else {
        if (config_path.empty()) throw UsageError(std::string("missing CONFIG.yaml\n") + kUsage);
        if (!seed_text.empty()) overrides.push_back("seed=" + seed_text);
        Config cfg;
        // --seed must parse as a seed, with the flag named in the message.
        try {
            cfg = load_config(config_path, overrides);
        } catch (const ConfigError& e) {
            std::string msg = e.what();
            if (!seed_text.empty() && msg.find("--set seed=") != std::string::npos)
                msg.replace(msg.find("--set seed="), 11, "--seed ");
            throw ConfigError(msg);
        }
        if (out.empty()) out = default_run_path(config_path, cfg, overrides);
        run.emplace(
            start_run({cfg, out, overwrite, {std::vector<std::string>(argv, argv + argc), config_path, overrides}, limits}));
    }

    install_interrupt_handler();
    ProgressPrinter progress(stderr, quiet, run->config().log.progress_every);
    LoopHooks hooks;
    hooks.progress = [&](const LoopReport& r) { progress.update(r); };
    hooks.should_stop = interrupt_requested;
    RunResult result;
    try {
        result = run->train(hooks);
    } catch (const std::exception& e) {
        // Typically a full disk. Keep what was flushed readable and leave without
        // closing the file: closing would try the failed writes again.
        const bool no_memory = dynamic_cast<const std::bad_alloc*>(&e) != nullptr;
        std::fprintf(stderr, "ctr-train: error: %s\n", no_memory ? "out of memory during the run" : e.what());
        run->salvage_after_failure();
        const auto* io = dynamic_cast<const h5::IoError*>(&e);
        const char* fix = !io ? "after fixing the cause"
                          : io->cause() == h5::Cause::kDiskFull ? "after freeing space"
                          : io->cause() == h5::Cause::kFileSizeLimit ? "after raising the file-size limit (ulimit -f)"
                                                                       : "after fixing the cause";
        const std::string staged = SeriesFile::staged_path(out);
        std::error_code ec;
        if (fs::exists(staged, ec))  // stopped before the step-0 checkpoint: no run at `out` yet
            std::fprintf(stderr, "the run stopped before its first checkpoint, so there is nothing to resume: %s holds "
                                 "the partial file (the next start replaces it)%s; %s, run the same command again\n",
                         staged.c_str(), overwrite ? " and the old run at the --out path is untouched" : "", fix);
        else
            std::fprintf(stderr, "%s keeps what was written up to its last flush (status stays \"running\"); "
                                 "%s, continue from its last checkpoint with: %s --resume %s\n",
                         out.c_str(), fix, argv[0], out.c_str());
        std::fflush(stderr);
        std::_Exit(exit_code_of(e));
    }
    progress.finish();
    if (result.end == LoopEnd::kInterrupted) {
        std::fprintf(stderr, "interrupted at step %lld; everything up to it is in %s\nresume with: %s --resume %s\n",
                     static_cast<long long>(result.last_step), out.c_str(), argv[0], out.c_str());
        return kExitInterrupted;
    }
    if (result.end == LoopEnd::kDiverged) {
        const Divergence& d = result.divergence;
        std::fprintf(stderr,
                     "ctr-train: error: the run diverged: %s is %s at step %lld; stopped there. %s keeps everything up "
                     "to that step (status \"diverged\"; its last checkpoint is from before). Lower train.lr, set "
                     "train.grad_clip, or set train.stop_on_divergence=false to train on regardless\n",
                     d.quantity.c_str(), d.value_text().c_str(), static_cast<long long>(d.step), out.c_str());
        std::printf("verdict: %s\n", result.verdict.summary.c_str());
        return kExitDiverged;
    }
    if (result.nothing_to_do)
        std::printf("%s is complete at step %lld: nothing to do (lengthen it with --set train.steps=N)\n", out.c_str(),
                    static_cast<long long>(result.last_step));
    if (result.divergence.step >= 0)
        std::fprintf(stderr, "ctr-train: warning: the run diverged at step %lld (%s %s) and trained on "
                             "(train.stop_on_divergence false)\n",
                     static_cast<long long>(result.divergence.step), result.divergence.quantity.c_str(),
                     result.divergence.value_text().c_str());
    print_summary(result, out);
    const Emergence& e = result.emergence;
    std::printf("emergence: catch %s; tag %s; release %s; solved %s\n", crossing_text(e[Milestone::kCatch]).c_str(),
                crossing_text(e[Milestone::kTag]).c_str(), crossing_text(e[Milestone::kRelease]).c_str(),
                crossing_text(e[Milestone::kSolved]).c_str());
    if (result.causal.layer >= 0)
        std::printf("causal: loss %.3g -> %.3g without catch (L%dH%d), -> %.3g without the tag\n", result.causal.clean_loss,
                    result.causal.catch_ablated_loss, result.causal.layer, result.causal.head, result.causal.tag_ablated_loss);
    std::printf("verdict: %s\n", result.verdict.summary.c_str());
    if (!result.verdict.success) explain_failure(result, argv[0], config_path, overrides, run->config(), out);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    ignore_fatal_signals();
    h5::init_library();
    try {
        return run(argc, argv);
    } catch (const UsageError& e) {
        std::fprintf(stderr, "ctr-train: error: %s\n", e.what());
        return kExitUsage;
    } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "ctr-train: error: out of memory while setting up the run (its estimate passed "
                             "--max-memory; lower the sizes in the config or free memory)\n");
        return kExitFailure;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "ctr-train: error: %s\n", e.what());
        return exit_code_of(e);
    }
}
