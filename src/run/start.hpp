#pragma once
// Starting, resuming and finishing a run: the application layer that ctr-train (and any
// other tool, such as a sweep) calls, so that every tool starts exactly the same run
// from the same request.
//
//   Config cfg = load_config("configs/minimal.yaml", {"seed=4"});   // config/load.hpp
//   Run run = start_run({cfg, "runs/minimal-seed4.h5", /*overwrite=*/false});
//   RunResult r = run.train({});        // to the end; the file then holds the verdict
//
//   Run again = resume_run("runs/minimal-seed4.h5", {"train.epochs=200"});
//   again.train(hooks);                 // continues from the last checkpoint
//
// A run's numbers depend only on its Config (seed included): the same request gives a
// bit-identical run file whatever the tool, thread count or order of runs.
//
// Safety (docs/reliability.md): a Run holds the run file's lock (io/run_lock.hpp) from
// before it looks at the file until it is destroyed, so a second writer, resume or
// overwrite of the same file is refused, whatever HDF5_USE_FILE_LOCKING says. A new run
// is written under RUN.h5.creating and takes its path with its first checkpoint (step 0),
// so --overwrite keeps the old run until the new one can be resumed, and replaces only
// a ctr run file. Before anything is allocated or written, the run's memory and file
// size are estimated and refused above the limits (run/resources.hpp). A refused
// request changes nothing on disk.
//
// Errors: RunSetupError when the request itself is refused (output exists or is not a
// run file, a resume that would change or shorten the run, a diverged run, resources
// above the limits; ctr-train exits 2), ConfigError from a bad override, h5::IoError
// for files that cannot be locked, created, read or written, with its h5::Cause (the
// exit code table: run/exit_codes.hpp). When train() throws (a full disk), call
// salvage_after_failure() and leave the process without closing the file (std::_Exit):
// closing would retry the failed writes.
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "io/run_file_writer.hpp"
#include "io/run_lock.hpp"
#include "run/loop.hpp"
#include "run/provenance.hpp"
#include "run/resources.hpp"
#include "training/trainer.hpp"

namespace ctr {

// The request is refused as given; what() names the flag or path and what to do instead.
class RunSetupError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct NewRun {
    Config config;            // resolved: file, overrides and seed applied and validated
    std::string out;          // the run file to write; missing directories are created
    bool overwrite = false;   // replace an existing run file at out (else RunSetupError)
    Invocation invocation;    // recorded in the file (command line, config file, overrides)
    ResourceLimits limits;    // refuse runs estimated above these
    SkeletonCache* skeletons = nullptr;  // a process making many runs: its last run file's skeleton (io/run_file_writer.hpp)
};

struct RunResult : LoopResult {
    int64_t first_step = 0;   // the step this invocation started from (0 for a new run)
    int64_t last_step = 0;    // the step it stopped at
    double seconds = 0;       // wall time of its training loop
    bool nothing_to_do = false;  // a resume of a complete run that did not lengthen it: nothing was written
};

// A run whose trainer and run file are ready: what start_run and resume_run return.
class Run {
public:
    const Config& config() const { return trainer_->config(); }
    const std::string& path() const { return path_; }
    const Trainer& trainer() const { return *trainer_; }

    // Trains to the end, or until hooks.should_stop() says so (status "interrupted";
    // resume_run continues it), or until a non-finite loss or gradient (status
    // "diverged", unless train.stop_on_divergence is false). A finished run's file gets
    // its verdict and status "complete". See run/loop.hpp for what is written when.
    RunResult train(const LoopHooks& hooks = {});

    // After train() threw: keeps what was flushed readable (SeriesFile::salvage_after_failure).
    void salvage_after_failure() noexcept {
        if (file_) file_->salvage_after_failure();
    }

private:
    friend Run start_run(const NewRun& request);
    friend Run resume_run(const std::string& path, const std::vector<std::string>& lengthen, const Invocation& inv,
                          const ResourceLimits& limits);
    Run(RunLock lock, std::string path, std::unique_ptr<Trainer> trainer, std::unique_ptr<RunFileWriter> file)
        : lock_(std::move(lock)), path_(std::move(path)), trainer_(std::move(trainer)), file_(std::move(file)) {}
    RunLock lock_;  // first: released after the file is closed
    std::string path_;
    std::unique_ptr<Trainer> trainer_;
    std::unique_ptr<RunFileWriter> file_;  // null for a complete run with nothing to do
    RunResult stored_;                     // that run's result, as its file has it
};

// Creates request.out for a new run of request.config, ready to train from step 0.
Run start_run(const NewRun& request);

// Opens the run file at path to continue it from its last checkpoint. lengthen:
// overrides "train.epochs=N" or "train.steps=N" only, which may lengthen the run,
// never shorten it (anything else would make it a different run: RunSetupError).
// inv: the resuming invocation, recorded as the file's last command line.
// Checks the file's format_version, that its checkpoint belongs to its config and
// seed, and removes half-written checkpoints a killed writer left. A complete run that
// is not lengthened is left as it is: train() then writes nothing (nothing_to_do).
// A diverged run is refused: it would diverge again.
Run resume_run(const std::string& path, const std::vector<std::string>& lengthen = {}, const Invocation& inv = {},
               const ResourceLimits& limits = {});

}  // namespace ctr
