#include "run/loop.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>
#include <utility>

#include "io/run_schema.hpp"
#include "run/checkpoint.hpp"
#include "run/snapshot_schedule.hpp"
#include "training/schedule.hpp"

namespace ctr {
namespace {

// Evaluates and closes the current metrics row: train loss and gradient norm are
// means over the steps since the previous row (NaN for the row of step 0).
MetricsRow close_metrics_row(Trainer& trainer) {
    TrainState& s = trainer.state();
    const EvalStats e = trainer.evaluate();
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const TrainConfig& tc = trainer.config().train;
    MetricsRow row{s.step,
                   s.row_steps ? s.row_loss_sum / s.row_steps : nan,
                   s.row_steps ? s.row_grad_norm_sum / s.row_steps : nan,
                   s.step > 0 ? learning_rate(tc, s.step - 1, trainer.total_steps()) : nan,
                   e.loss,
                   e.rel_error};
    s.row_loss_sum = s.row_grad_norm_sum = 0;
    s.row_steps = 0;
    return row;
}

// Runs the probe batch and measures the mechanism on it; the probe model then holds
// the activations the metrics came from.
MechanismMetrics measure(Trainer& trainer) {
    trainer.run_probe();
    return compute_mechanism(trainer.probe_model(), trainer.state().params.data(), trainer.probe_batch(),
                             trainer.config().analysis);
}

// The verdict of a run that diverged: a failure, saying where and what.
Verdict diverged_verdict(const Divergence& d, double rel_error) {
    Verdict v;
    v.rel_error = rel_error;
    v.summary = d.step >= 0 ? "diverged: " + d.quantity + " " + d.value_text() + " at step " + std::to_string(d.step)
                            : std::string("diverged: the evaluation error is not finite (the run diverged before this invocation)");
    return v;
}

}  // namespace

std::string Divergence::value_text() const {
    if (std::isnan(value)) return "nan";
    char text[32];
    std::snprintf(text, sizeof text, "%g", value);
    return text;
}

LoopResult run_training(Trainer& trainer, RunFileWriter& file, const LoopHooks& hooks) {
    const Config& cfg = trainer.config();
    TrainState& s = trainer.state();
    const auto start = std::chrono::steady_clock::now();
    const double nan = std::numeric_limits<double>::quiet_NaN();
    LoopReport report{s.step, trainer.total_steps(), s.epoch, nan, nan, nan, 0, 0, nan, nan};
    // Headline metrics of every snapshot, for the emergence steps (a resumed run starts
    // from those already in its file).
    std::vector<Headline> history = file.reader().headlines();
    // The last snapshot's mechanism metrics and the last metrics row's evaluation, with
    // their steps: the verdict reuses them when they are of the last step (the same
    // parameters give the same bits) instead of running the probe and the evaluation set
    // through the model again.
    std::optional<std::pair<int64_t, MechanismMetrics>> last_measure;
    std::optional<std::pair<int64_t, EvalStats>> last_eval;
    auto write_snapshot = [&] {
        const MechanismMetrics m = measure(trainer);
        last_measure.emplace(s.step, m);
        const Headline h = headline(m, s.step, m.rel_error);
        file.append_snapshot({s.step, trainer.probe_model().activations(), trainer.layout().tensors(), s.params.data(), m, h});
        history.push_back(h);
        report.catch_score = h.catch_score;
        report.release = h.release;
    };
    auto metrics_row = [&] {
        const MetricsRow row = close_metrics_row(trainer);
        last_eval.emplace(s.step, EvalStats{row.eval_loss, row.eval_rel_error});
        return row;
    };
    auto publish_row = [&](const MetricsRow& row) {
        report.train_loss = row.train_loss;
        report.eval_loss = row.eval_loss;
        report.eval_rel_error = row.eval_rel_error;
    };

    // A new run (a resume from the step-0 checkpoint has its rows already).
    if (s.step == 0 && !file.reader().checkpoint_step()) {  // the state before any update, and a checkpoint of it
        const MetricsRow row = metrics_row();
        publish_row(row);
        file.append_metrics(row);
        if (is_snapshot_step(cfg.log, 0)) write_snapshot();
        file.write_checkpoint(checkpoint_of(s));  // flushes; a new file takes its path now
    }

    LoopEnd end = LoopEnd::kFinished;
    Divergence divergence;
    while (!trainer.done()) {
        if (hooks.should_stop && hooks.should_stop()) {
            end = LoopEnd::kInterrupted;
            break;
        }
        const StepStats st = trainer.train_step();
        s.row_loss_sum += st.loss;
        s.row_grad_norm_sum += st.grad_norm;
        s.row_steps += 1;
        if (divergence.step < 0 && (!std::isfinite(st.loss) || !std::isfinite(st.grad_norm))) {
            const bool loss = !std::isfinite(st.loss);
            divergence = {s.step, loss ? "training loss" : "gradient norm", loss ? st.loss : st.grad_norm};
            if (cfg.train.stop_on_divergence) {
                // Keep the row of the step that diverged; its parameters are not checkpointed.
                const MetricsRow row = metrics_row();
                publish_row(row);
                file.append_metrics(row);
                report.step = s.step;
                report.steps_done += 1;
                end = LoopEnd::kDiverged;
                break;
            }
        }
        const bool metrics_due = s.step % cfg.train.eval_every == 0;
        if (metrics_due) {
            const MetricsRow row = metrics_row();
            publish_row(row);
            file.append_metrics(row);
        }
        if (is_snapshot_step(cfg.log, s.step)) write_snapshot();
        // The last step's checkpoint is written after the loop (once, not twice).
        if (s.step % cfg.log.checkpoint_every == 0 && !trainer.done())
            file.write_checkpoint(checkpoint_of(s));  // flushes
        else if (metrics_due)
            file.flush();
        report.step = s.step;
        report.epoch = s.epoch;
        report.steps_done += 1;
        report.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (hooks.progress) hooks.progress(report);
    }

    LoopResult result{end, divergence, {}, {}, {}, {}};
    if (end == LoopEnd::kDiverged) {
        result.final_eval = {report.eval_loss, report.eval_rel_error};
        result.verdict = diverged_verdict(divergence, result.final_eval.rel_error);
        const MetricsTable rows = file.reader().metrics();
        result.emergence = emergence(history, rows.step, rows.eval_rel_error, cfg.model, cfg.analysis);
        file.write_verdict({result.verdict, result.emergence, result.causal});
        file.set_status(schema::kDiverged);
        file.flush();
        return result;
    }
    file.write_checkpoint(checkpoint_of(s));
    if (end == LoopEnd::kFinished) {
        // The last step's rows, where the schedules did not already write them. They
        // come after the checkpoint, so a resumed (extended) run drops them again.
        if (s.step % cfg.train.eval_every != 0) file.append_metrics(metrics_row());
        if (cfg.log.snapshots && !is_snapshot_step(cfg.log, s.step)) write_snapshot();
        // Evaluated once, for both the verdict and the summary.
        const MechanismMetrics m = last_measure && last_measure->first == s.step ? last_measure->second : measure(trainer);
        result.final_eval = last_eval && last_eval->first == s.step ? last_eval->second : trainer.evaluate();
        result.verdict = judge(m, result.final_eval.rel_error, cfg.analysis);
        const MetricsTable rows = file.reader().metrics();  // this session's rows and a resumed run's earlier ones
        result.emergence = emergence(history, rows.step, rows.eval_rel_error, cfg.model, cfg.analysis);
        result.verdict.summary += "; " + emergence_story(result.emergence);
        result.causal = causal_tests(cfg, s.params.data(), trainer.probe_batch(), m);
        if (divergence.step >= 0 || !std::isfinite(result.final_eval.rel_error)) {
            // train.stop_on_divergence is false: trained on, and the verdict says why it failed.
            const Verdict judged = result.verdict;
            result.verdict = diverged_verdict(divergence, result.final_eval.rel_error);
            result.verdict.summary += "; trained on to the end (train.stop_on_divergence false)";
            result.verdict.catch_layer = judged.catch_layer;
            result.verdict.catch_head = judged.catch_head;
            result.verdict.release_layer = judged.release_layer;
            result.verdict.release_head = judged.release_head;
        }
        file.write_verdict({result.verdict, result.emergence, result.causal});
    }
    file.set_status(end == LoopEnd::kFinished ? schema::kComplete : schema::kInterrupted);
    file.flush();
    return result;
}

}  // namespace ctr
