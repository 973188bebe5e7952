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
// bit-identical run file whatever the tool, thread count or order of runs. Errors:
// RunSetupError when the request itself is refused (output exists, is a directory, a
// resume that would change or shorten the run; ctr-train exits 2), ConfigError from a
// bad override, h5::IoError for files that cannot be created, read or written (exit 1).
// When train() throws (a full disk), call salvage_after_failure() and leave the process
// without closing the file (std::_Exit): closing would retry the failed writes.
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "io/run_file_writer.hpp"
#include "run/loop.hpp"
#include "run/provenance.hpp"
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
};

struct RunResult : LoopResult {
    int64_t first_step = 0;   // the step this invocation started from (0 for a new run)
    int64_t last_step = 0;    // the step it stopped at
    double seconds = 0;       // wall time of its training loop
};

// A run whose trainer and run file are ready: what start_run and resume_run return.
class Run {
public:
    const Config& config() const { return trainer_->config(); }
    const std::string& path() const { return file_->path(); }
    const Trainer& trainer() const { return *trainer_; }

    // Trains to the end, or until hooks.should_stop() says so (status "interrupted";
    // resume_run continues it). A finished run's file gets its verdict and status
    // "complete". See run/loop.hpp for what is written when.
    RunResult train(const LoopHooks& hooks = {});

    // After train() threw: keeps what was flushed readable (SeriesFile::salvage_after_failure).
    void salvage_after_failure() noexcept { file_->salvage_after_failure(); }

private:
    friend Run start_run(const NewRun& request);
    friend Run resume_run(const std::string& path, const std::vector<std::string>& lengthen, const Invocation& inv);
    Run(std::unique_ptr<Trainer> trainer, std::unique_ptr<RunFileWriter> file)
        : trainer_(std::move(trainer)), file_(std::move(file)) {}
    std::unique_ptr<Trainer> trainer_;
    std::unique_ptr<RunFileWriter> file_;
};

// Creates request.out for a new run of request.config, ready to train from step 0.
Run start_run(const NewRun& request);

// Opens the run file at path to continue it from its last checkpoint. lengthen:
// overrides "train.epochs=N" or "train.steps=N" only, which may lengthen the run,
// never shorten it (anything else would make it a different run: RunSetupError).
// inv: the resuming invocation, recorded as the file's last command line.
Run resume_run(const std::string& path, const std::vector<std::string>& lengthen = {}, const Invocation& inv = {});

}  // namespace ctr
