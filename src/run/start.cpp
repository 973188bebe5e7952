#include "run/start.hpp"

#include <chrono>
#include <filesystem>

#include "config/load.hpp"
#include "io/run_schema.hpp"
#include "run/checkpoint.hpp"

namespace fs = std::filesystem;

namespace ctr {

Run start_run(const NewRun& request) {
    const std::string& out = request.out;
    const std::string config_yaml = config_to_yaml(request.config);
    if (fs::is_directory(out))
        throw RunSetupError("--out " + out + ": is a directory; give the run file's path, e.g. --out " +
                            (fs::path(out) / "run.h5").string());
    if (fs::exists(out)) {
        if (!request.overwrite)
            throw RunSetupError("--out " + out + ": the run file exists; pass --overwrite to replace it, or --resume " +
                                out + " to continue it");
        fs::remove(out);
    }
    const fs::path parent = fs::path(out).parent_path();
    std::error_code ec;
    if (!parent.empty()) fs::create_directories(parent, ec);
    if (ec) throw h5::IoError("--out " + out + ": cannot create directory " + parent.string() + ": " + ec.message());

    auto trainer = std::make_unique<Trainer>(request.config);
    std::unique_ptr<RunFileWriter> file;
    try {
        file = std::make_unique<RunFileWriter>(RunFileWriter::create(
            out, {request.config, config_yaml, trainer->probe_batch(), trainer->eval_batch(), trainer->baseline_mse(),
                  trainer->layout().tensors(), make_provenance(request.invocation, request.config)}));
    } catch (const h5::IoError&) {
        throw h5::IoError("--out " + out + ": cannot create the run file (is the directory writable?)");
    }
    return Run(std::move(trainer), std::move(file));
}

Run resume_run(const std::string& path, const std::vector<std::string>& lengthen, const Invocation& inv) {
    for (const std::string& ov : lengthen) {
        const std::string key = ov.substr(0, ov.find('='));
        if (key != "train.epochs" && key != "train.steps")
            throw RunSetupError("--set " + ov + ": a resumed run can only be lengthened (train.epochs or train.steps); "
                                "other keys would make it a different run");
    }
    auto file = std::make_unique<RunFileWriter>(RunFileWriter::open(path));
    const RunFileReader reader = file->reader();
    const std::string stored_yaml = reader.config_yaml();
    const Config cfg = load_config_text(stored_yaml, path + ":/config", lengthen).config;
    const int64_t planned = planned_steps(load_config_text(stored_yaml, path + ":/config").config);
    if (planned_steps(cfg) < planned)
        throw RunSetupError("--resume " + path + ": the run is planned for " + std::to_string(planned) +
                            " steps and the --set flags give " + std::to_string(planned_steps(cfg)) +
                            "; a resumed run can only be lengthened");
    const std::optional<Checkpoint> checkpoint = reader.checkpoint();
    if (!checkpoint) throw RunSetupError("--resume " + path + ": the run file has no checkpoint yet");

    auto trainer = std::make_unique<Trainer>(cfg);
    restore(trainer->state(), *checkpoint, path);
    file->drop_rows_after_checkpoint();
    file->set_tensors(trainer->layout().tensors());
    file->begin_session(make_provenance(inv, cfg));
    file->set_status(schema::kRunning);
    file->set_config_yaml(config_to_yaml(cfg));  // a lengthened run records its new length
    return Run(std::move(trainer), std::move(file));
}

RunResult Run::train(const LoopHooks& hooks) {
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
