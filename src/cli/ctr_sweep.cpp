// ctr-sweep: runs every (grid point, seed) of a sweep file and keeps an index of the
// results (docs/sweeps.md). The work is in src/run/sweep_*; this file reads flags.
#include <unistd.h>

#include <boost/program_options.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "cli/common/flags.hpp"
#include "config/load.hpp"
#include "io/h5.hpp"
#include "run/sweep_driver.hpp"
#include "run/sweep_submit.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;
using namespace ctr;

namespace {

const char* const kUsage =
    "usage: ctr-sweep SWEEP.yaml [--out DIR] [--jobs N] [--set key=a,b,c ...] [--seeds 0..99] [--shard I/N] [--quiet]\n"
    "       ctr-sweep status DIR\n"
    "       ctr-sweep collect DIR\n"
    "       ctr-sweep submit SWEEP.yaml --array N [--out DIR] [--set ...] [--seeds ...] [--dry-run] [-- SBATCH_OPTIONS...]\n";

const char* const kStatusHelp =
    "status DIR prints the counts and the per-point table of the sweep in DIR, read from its\n"
    "run files (also while the sweep runs); collect DIR does the same and writes the index\n"
    "(index.csv, points.csv, index.h5). Both exit 0, or 2 when DIR is not a sweep directory;\n"
    "collect exits 1 when it cannot write the index.\n"
    "\nSweep files, the index and Slurm: docs/sweeps.md.\n";

// The binaries beside this one.
fs::path self_dir() {
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    return ec ? fs::path(".") : exe.parent_path();
}

std::string default_dir(const std::string& sweep_path) { return "sweeps/" + fs::path(sweep_path).stem().string(); }

int run(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (!args.empty() && (args[0] == "status" || args[0] == "collect")) {
        // `ctr-sweep status --help` asks for the usage, as `ctr-sweep submit --help` does.
        if (args.size() == 2 && (args[1] == "--help" || args[1] == "-h")) {
            std::cout << kUsage << "\n" << kStatusHelp;
            return 0;
        }
        if (args.size() != 2 || args[1].empty() || args[1][0] == '-')
            throw UsageError("ctr-sweep " + args[0] + ": expected the sweep directory, e.g. ctr-sweep " + args[0] +
                        " sweeps/phase\n" + kUsage);
        return args[0] == "status" ? sweep_status(args[1]) : sweep_collect(args[1]);
    }
    const bool submit = !args.empty() && args[0] == "submit";
    if (submit) args.erase(args.begin());
    // After "--": sbatch's options (submit only).
    std::vector<std::string> sbatch_args;
    if (const auto dd = std::find(args.begin(), args.end(), "--"); dd != args.end()) {
        if (!submit) throw UsageError("'--' separates sbatch options, which only ctr-sweep submit takes\n" + std::string(kUsage));
        sbatch_args.assign(dd + 1, args.end());
        args.erase(dd, args.end());
    }

    po::options_description flags("options");
    std::vector<std::string> sets;
    std::string out, seeds, shard_text;
    int jobs = 0, array = 0;
    flags.add_options()
        ("help,h", "show this help")
        ("out,o", po::value(&out), "sweep directory (default sweeps/<sweep file stem>)")
        ("jobs,j", po::value(&jobs), "runs at a time, each single-threaded (default: the CPUs available)")
        ("set", po::value(&sets)->composing(), "key=value (every run) or key=a,b,c (a grid axis); repeatable")
        ("seeds", po::value(&seeds), "seeds: a range 0..99 or a list 0,4,5 (replaces the file's)")
        ("shard", po::value(&shard_text), "run only shard I/N of the runs (default: from SLURM_ARRAY_TASK_ID/COUNT)")
        ("quiet,q", "print only the last progress line")
        ("array", po::value(&array), "submit: tasks in the Slurm job array")
        ("dry-run", "submit: print the sbatch scripts and commands, submit nothing");
    std::string sweep_path;
    const po::variables_map vm = parse_command_line(args, flags, "sweep", po::value(&sweep_path), 1, kUsage);
    if (vm.count("help")) {
        std::cout << kUsage << "\n" << flags << "\nSweep files, the index and Slurm: docs/sweeps.md.\n";
        return 0;
    }
    if (sweep_path.empty()) throw UsageError(std::string("missing SWEEP.yaml\n") + kUsage);
    if (vm.count("out") && out.empty()) throw UsageError("--out: expected a directory, got an empty string");
    if (vm.count("seeds") && seeds.empty()) throw UsageError("--seeds: expected a range 0..99 or a list 0,4,5, got an empty string");
    if (out.empty()) out = default_dir(sweep_path);

    const SweepSpec spec = load_sweep(sweep_path, sets, seeds);
    if (submit) {
        if (!vm.count("array") || array < 1 || array > 1'000'000)
            throw UsageError("submit: --array N: expected the number of array tasks, a whole number from 1 to 1000000");
        if (vm.count("jobs") || vm.count("shard"))
            throw UsageError("submit: --jobs and --shard do not apply; each task runs its shard with the CPUs Slurm gives it");
        SubmitOptions opt;
        opt.dir = out;
        opt.array = array;
        opt.sbatch_args = sbatch_args;
        opt.dry_run = vm.count("dry-run") > 0;
        opt.sweep_exe = (self_dir() / "ctr-sweep").string();
        return submit_sweep(spec, opt);
    }
    if (vm.count("array") || vm.count("dry-run")) throw UsageError("--array and --dry-run are for ctr-sweep submit\n" + std::string(kUsage));
    if (vm.count("jobs") && (jobs < 1 || jobs > 4096)) throw UsageError("--jobs: expected a whole number from 1 to 4096");

    SweepOptions opt;
    opt.dir = out;
    opt.jobs = vm.count("jobs") ? jobs : default_jobs();
    opt.shard = shard_text.empty() ? shard_from_environment() : parse_shard(shard_text);
    opt.quiet = vm.count("quiet") > 0;
    opt.argv.assign(argv, argv + argc);
    return run_sweep(spec, opt);
}

}  // namespace

int main(int argc, char** argv) {
    h5::init_library();
    try {
        return run(argc, argv);
    } catch (const UsageError& e) {
        std::fprintf(stderr, "ctr-sweep: error: %s\n", e.what());
        return kSweepExitUsage;
    } catch (const ConfigError& e) {
        std::fprintf(stderr, "ctr-sweep: error: %s\n", e.what());
        return kSweepExitUsage;
    } catch (const SweepRefused& e) {
        std::fprintf(stderr, "ctr-sweep: error: %s\n", e.what());
        return kSweepExitUsage;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "ctr-sweep: error: %s\n", e.what());
        return kSweepExitRunsFailed;
    }
}
