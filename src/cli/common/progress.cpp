#include "cli/common/progress.hpp"

#include <unistd.h>

#include <cmath>

namespace ctr {

ProgressPrinter::ProgressPrinter(std::FILE* out, bool quiet, int64_t plain_every)
    : out_(out), quiet_(quiet), live_(isatty(fileno(out)) != 0), plain_every_(plain_every) {}

void ProgressPrinter::update(const LoopReport& r) {
    if (quiet_) return;
    const bool last = r.step == r.total_steps;
    if (live_) {
        if (!last && r.elapsed_s - last_live_s_ < 0.1) return;
        last_live_s_ = r.elapsed_s;
    } else if (r.step % plain_every_ != 0 && !last) {
        return;
    }
    const double rate = r.elapsed_s > 0 ? r.steps_done / r.elapsed_s : 0;
    const double eta = rate > 0 ? (r.total_steps - r.step) / rate : 0;
    std::fprintf(out_, "%sepoch %lld  step %lld/%lld  loss %.4g  rel_err %.4g  catch %.2f  release %.2f  %.0f steps/s  ETA %.1fs%s",
                 live_ ? "\r\033[K" : "", static_cast<long long>(r.epoch), static_cast<long long>(r.step),
                 static_cast<long long>(r.total_steps), r.train_loss, r.eval_rel_error, r.catch_score, r.release, rate,
                 eta, live_ ? "" : "\n");
    line_open_ = live_;
    std::fflush(out_);
}

void ProgressPrinter::finish() {
    if (line_open_) std::fputc('\n', out_);
    line_open_ = false;
}

}  // namespace ctr
