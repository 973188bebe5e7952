#include "run/start.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <optional>

#include <unistd.h>

#include "analysis/mechanism.hpp"
#include "config/load.hpp"
#include "io/file_check.hpp"
#include "io/file_repair.hpp"
#include "io/file_tail.hpp"
#include "io/run_schema.hpp"
#include "run/checkpoint.hpp"
#include "util/dir_problem.hpp"

namespace fs = std::filesystem;

namespace ctr {
namespace {

// The directories start_run creates for --out, removed again (when still empty) if the
// run does not start: a refused command leaves nothing behind.
class CreatedDirs {
public:
    CreatedDirs(const fs::path& dir, const std::string& out) {
        if (dir.empty()) return;
        for (fs::path p = fs::absolute(dir); !p.empty() && !fs::exists(p); p = p.parent_path()) {
            made_.push_back(p);
            if (p == p.parent_path()) break;
        }
        std::error_code ec;
        fs::create_directories(dir, ec);
        if (ec) {
            undo();
            throw h5::IoError("--out " + out + ": " + dir_problem(dir, ec) + " (expected the directory to write the run file in)");
        }
    }
    ~CreatedDirs() { undo(); }
    void keep() { made_.clear(); }

private:
    void undo() noexcept {
        std::error_code ec;
        for (const fs::path& p : made_) fs::remove(p, ec);  // deepest first; only if empty
        made_.clear();
    }
    std::vector<fs::path> made_;  // deepest first
};

// --overwrite replaces a ctr run file (also one too damaged to open, or of another
// format version), never anything else: a config, a notebook, another program's HDF5.
void check_replaceable(const std::string& out) {
    try {
        RunFileReader::open(out);
    } catch (const h5::IoError& e) {
        switch (e.cause()) {
            case h5::Cause::kTruncated:
            case h5::Cause::kDamaged:
            case h5::Cause::kFormatVersion: return;
            case h5::Cause::kNotHdf5:
            case h5::Cause::kNotRunFile:
                throw RunSetupError("--overwrite: refusing to replace " + out + ": " + e.what() +
                                    ". --overwrite replaces only ctr run files; choose another --out");
            default: throw;
        }
    }
}

// An output path problem raised by a lower layer, as an --out error. A full disk or the
// file-size limit keep their cause; the rest is a failure to write the output.
[[noreturn]] void rethrow_for_out(const std::string& out, const h5::IoError& e) {
    const std::string what = e.what();
    const std::string msg = what.rfind("--out", 0) == 0 ? what : "--out " + out + ": " + what;
    const h5::Cause c = e.cause();
    throw h5::IoError(msg, c == h5::Cause::kDiskFull || c == h5::Cause::kFileSizeLimit || c == h5::Cause::kLocked
                               ? c
                               : h5::Cause::kOther);
}

const char* const kLengthKeys[] = {"train.epochs", "train.steps"};

bool is_length_key(const std::string& key) {
    for (const char* k : kLengthKeys)
        if (key == k) return true;
    return false;
}

// Reading a run file that opened fine but fails half way: damaged.
template <class F>
auto read_or_damaged(const std::string& path, F&& f) -> decltype(f()) {
    try {
        return f();
    } catch (const h5::IoError& e) {
        if (e.cause() != h5::Cause::kOther) throw;
        throw h5::IoError(path + " is damaged: " + e.what() + " (ctr cannot continue it; start it again with --overwrite)",
                          h5::Cause::kDamaged);
    }
}

// A kill inside an HDF5 flush that gives unused space at the end of the file back can
// leave the file a little shorter than its superblock records: HDF5 cuts the file before
// it rewrites the superblock with the new end. The missing tail held nothing (it was
// space HDF5 had reserved and not used), so a resume puts it back as zeros; when the file
// still cannot be continued, the destructor cuts it again: a refused resume changes nothing.
// A file cut short by other means (a copy, a quota, `truncate`) lost bytes that held part
// of the run, e.g. the end of a finished run's /verdict: zeros there would be read as
// values, so such a file is refused as truncated (file_tail.hpp tells the two apart).
class ShortTail {
public:
    explicit ShortTail(const std::string& path) : path_(path) {
        std::error_code ec;
        if (!has_hdf5_signature(path)) return;
        const uintmax_t size = fs::file_size(path, ec);
        const uint64_t recorded = recorded_hdf5_size(path);
        if (ec || recorded <= size || recorded - size > kMaxTail) return;
        if (::truncate(path.c_str(), static_cast<off_t>(recorded)) != 0) return;
        size_ = size;
        if (tail_unused(path, size)) return;
        (void)::truncate(path.c_str(), static_cast<off_t>(size));
        size_.reset();
        throw h5::IoError(path + " is truncated: it has " + std::to_string(size) + " bytes, HDF5 recorded " +
                              std::to_string(recorded) + ", and the missing " + std::to_string(recorded - size) +
                              (recorded - size == 1 ? " byte" : " bytes") + " at its end held part of the run (the file was cut short, e.g. by a full disk, "
                              "a quota or an incomplete copy). ctr cannot continue it: restore it from a copy, or "
                              "start the run again with --overwrite",
                          h5::Cause::kTruncated);
    }
    ~ShortTail() {
        if (size_) (void)::truncate(path_.c_str(), static_cast<off_t>(*size_));
    }
    void keep() { size_.reset(); }

private:
    // HDF5 reserves space in 2 KiB blocks for metadata and for small data (H5Pset_meta_block_size,
    // H5Pset_small_data_block_size); a longer shortfall is a file cut short, not this.
    static constexpr uintmax_t kMaxTail = 16 * 1024;
    std::string path_;
    std::optional<uintmax_t> size_;  // the size before, while the extension is not kept
};

}  // namespace

Run start_run(const NewRun& request) {
    const std::string& out = request.out;
    if (out.empty()) throw RunSetupError("--out: expected the run file's path, got an empty one");
    const std::string config_yaml = config_to_yaml(request.config);
    if (fs::is_directory(out))
        throw RunSetupError("--out " + out + ": is a directory; give the run file's path, e.g. --out " +
                            (fs::path(out) / "run.h5").string());
    // Under the lock: a run being written is refused as such, not as an existing file.
    auto refuse_existing = [&] {
        if (!fs::exists(out)) return;
        if (!request.overwrite)
            throw RunSetupError("--out " + out + ": the run file exists; pass --overwrite to replace it, or --resume " +
                                out + " to continue it");
        check_replaceable(out);
    };
    check_resources(request.config, request.limits, "--out " + out);

    CreatedDirs dirs(fs::path(out).parent_path(), out);
    RunLock lock;
    try {
        lock = RunLock::acquire(out);
    } catch (const h5::IoError& e) {
        rethrow_for_out(out, e);
    }
    refuse_existing();

    auto trainer = std::make_unique<Trainer>(request.config);
    std::unique_ptr<RunFileWriter> file;
    // Built only on request: at the paper's sizes it is as large as everything else together.
    std::optional<Batch> train_set;
    if (request.config.log.train_set && trainer->train_set().n > 0) train_set = as_batch(trainer->train_set());
    // With a skeleton cache, the skeleton holds groups for the first checkpoints, of
    // the shapes of this one.
    std::optional<Checkpoint> first;
    if (request.skeletons) first = checkpoint_of(trainer->state());
    try {
        file = std::make_unique<RunFileWriter>(RunFileWriter::create(
            out, {request.config, config_yaml, trainer->probe_batch(), trainer->eval_batch(),
                  train_set ? &*train_set : nullptr, trainer->baseline_mse(),
                  trainer->layout().tensors(), make_provenance(request.invocation, request.config), request.skeletons,
                  first ? &*first : nullptr},
            request.overwrite));
    } catch (const h5::IoError& e) {
        rethrow_for_out(out, e);
    }
    dirs.keep();
    return Run(std::move(lock), out, std::move(trainer), std::move(file));
}

Run resume_run(const std::string& path, const std::vector<std::string>& lengthen, const Invocation& inv,
               const ResourceLimits& limits) {
    if (path.empty()) throw RunSetupError("--resume: expected a run file, got an empty path");
    for (const std::string& ov : lengthen) {
        const std::string key = ov.substr(0, ov.find('='));
        if (!is_length_key(key))
            throw RunSetupError("--set " + ov + ": a resumed run can only be lengthened (train.epochs or train.steps); "
                                "other keys would make it a different run");
    }
    // Looked at under the lock (a file being written can be caught mid-flush), but the
    // lock file needs the directory: a missing path is reported first.
    if (!fs::exists(path) || fs::is_directory(path)) check_run_file_path(path, false);
    RunLock lock = RunLock::acquire(path);
    ShortTail tail(path);
    check_run_file_path(path, false);
    // Objects a kill left past the recorded end of the file are given back when their
    // bytes are on disk; what still lies past it makes the file damaged (below).
    const std::optional<std::string> past = repair_unrecorded_end(path);

    Config cfg;
    std::optional<Checkpoint> checkpoint;
    RunResult stored;
    bool nothing_to_do = false;
    {
        const RunFileReader reader = RunFileReader::open(path);
        read_or_damaged(path, [&] {
            const RunInfo info = reader.info();
            const Config recorded = load_config_text(info.config_yaml, path + ":/config").config;
            cfg = load_config_text(info.config_yaml, path + ":/config", lengthen).config;
            const int64_t planned = planned_steps(recorded);
            if (planned_steps(cfg) < planned)
                throw RunSetupError("--resume " + path + ": the run is planned for " + std::to_string(planned) +
                                    " steps and the --set flags give " + std::to_string(planned_steps(cfg)) +
                                    "; a resumed run can only be lengthened");
            if (info.seed != recorded.seed)
                throw h5::IoError(path + " is damaged: its seed attribute (" + std::to_string(info.seed) +
                                      ") is not its config's seed (" + std::to_string(recorded.seed) + ")",
                                  h5::Cause::kDamaged);
            if (info.status == schema::kDiverged)
                throw RunSetupError("--resume " + path + ": the run diverged (its verdict: " +
                                    (reader.verdict() ? reader.verdict()->verdict.summary : std::string("?")) +
                                    "); resumed, it would take the same steps and diverge again. Start a new run "
                                    "with other settings (e.g. a lower train.lr, or train.grad_clip)");
            checkpoint = reader.checkpoint();
            if (!checkpoint) throw RunSetupError("--resume " + path + ": the run file has no checkpoint to continue from");
            if (past)
                throw h5::IoError(path + " is damaged: its writer was killed inside an HDF5 flush, which left " + *past +
                                      " pointing past the end of the file HDF5 recorded; ctr cannot continue it "
                                      "safely (what it holds up to step " + std::to_string(checkpoint->step) +
                                      " is still readable). Start the run again with --overwrite "
                                      "(docs/hdf5-layout.md#crash-safety)",
                                  h5::Cause::kDamaged);
            if (!checkpoint->config_yaml.empty()) {
                const Config at_checkpoint = load_config_text(checkpoint->config_yaml, path + ":/checkpoint/config").config;
                std::vector<std::string> differ;
                for (const std::string& k : config_diff(at_checkpoint, recorded))
                    if (!is_length_key(k)) differ.push_back(k);
                if (!differ.empty()) {
                    std::string keys;
                    for (const std::string& k : differ) keys += (keys.empty() ? "" : ", ") + k;
                    throw h5::IoError(path + " is damaged: its checkpoint belongs to another run (" + keys +
                                          " differ from the file's config); ctr cannot continue it",
                                      h5::Cause::kDamaged);
                }
            }
            const int64_t metric_rows = static_cast<int64_t>(reader.metrics().rows());
            if (checkpoint->step < 0 || checkpoint->step > planned || checkpoint->metrics_rows > metric_rows)
                throw h5::IoError(path + " is damaged: its checkpoint (step " + std::to_string(checkpoint->step) + ", " +
                                      std::to_string(checkpoint->metrics_rows) + " metrics rows) does not fit the run (" +
                                      std::to_string(planned) + " steps, " + std::to_string(metric_rows) + " rows)",
                                  h5::Cause::kDamaged);
            // A complete run asked for no more steps: report it as it is and write nothing,
            // so a repeated resume neither changes nor grows the file.
            if (info.status == schema::kComplete && planned_steps(cfg) == checkpoint->step) {
                if (const std::optional<RunVerdict> v = reader.verdict()) {
                    nothing_to_do = true;
                    stored.end = LoopEnd::kFinished;
                    stored.verdict = v->verdict;
                    stored.emergence = v->emergence;
                    stored.emergence.has_pair = has_catch_release_pair(cfg.model);  // not in the file
                    // The file records the crossings, not the peaks a failed run's hint quotes.
                    for (const Headline& h : reader.headlines()) {
                        stored.emergence.max_catch = std::max(stored.emergence.max_catch, h.catch_score);
                        stored.emergence.max_release = std::max(stored.emergence.max_release, h.release);
                    }
                    stored.causal = v->causal;
                    const MetricsTable m = reader.metrics();
                    const double nan = std::numeric_limits<double>::quiet_NaN();
                    stored.final_eval = m.rows() ? EvalStats{m.eval_loss.back(), m.eval_rel_error.back()} : EvalStats{nan, nan};
                    stored.first_step = stored.last_step = checkpoint->step;
                    stored.nothing_to_do = true;
                }
            }
            return 0;
        });
    }
    if (!nothing_to_do) {
        check_resources(cfg, limits, "--resume " + path);
        check_run_file_path(path, true);
    }

    auto trainer = std::make_unique<Trainer>(cfg);
    restore(trainer->state(), *checkpoint, path);
    tail.keep();
    if (nothing_to_do) {
        Run run(std::move(lock), path, std::move(trainer), nullptr);
        run.stored_ = stored;
        return run;
    }
    auto file = std::make_unique<RunFileWriter>(RunFileWriter::open(path));
    read_or_damaged(path, [&] {
        // Each edit that frees space is flushed and the file opened again before the
        // next one (RunFileWriter::reopen): else HDF5 reused that space at once, e.g. a
        // root string's heap for new snapshot chunks, while the file on disk still
        // pointed there, and a kill before the next flush had written everything left
        // the root's strings unreadable or HDF5 looping on them (docs/hdf5-layout.md).
        file->settle_checkpoints();
        file->reopen();
        file->begin_session(make_provenance(inv, cfg));
        file->set_status(schema::kRunning);
        file->set_config_yaml(config_to_yaml(cfg));  // a lengthened run records its new length
        file->reopen();
        file->drop_rows_after_checkpoint();
        file->reopen();
        file->set_tensors(trainer->layout().tensors());
        return 0;
    });
    return Run(std::move(lock), path, std::move(trainer), std::move(file));
}

RunResult Run::train(const LoopHooks& hooks) {
    if (!file_) return stored_;
    RunResult r;
    r.first_step = trainer_->state().step;
    const auto t0 = std::chrono::steady_clock::now();
    static_cast<LoopResult&>(r) = run_training(*trainer_, *file_, hooks);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.last_step = trainer_->state().step;
    file_->end_session(r.seconds);
    file_->flush();
    return r;
}

}  // namespace ctr
