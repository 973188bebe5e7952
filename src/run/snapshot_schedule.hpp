#pragma once
// When the run file takes a snapshot: every step up to log.snapshot_dense, then
// log-spaced (log.snapshot_per_decade per decade), and every log.snapshot_every steps.
// A function of the step alone, so a resumed run snapshots the same steps.
#include <cmath>
#include <cstdint>

#include "config/config.hpp"

namespace ctr {

inline bool is_snapshot_step(const LogConfig& cfg, int64_t step) {
    if (!cfg.snapshots) return false;
    if (step <= cfg.snapshot_dense) return true;
    if (cfg.snapshot_every > 0 && step % cfg.snapshot_every == 0) return true;
    if (cfg.snapshot_per_decade > 0) {
        // Is step = round(10^(k / per_decade)) for some integer k?
        const double k = std::floor(cfg.snapshot_per_decade * std::log10(static_cast<double>(step)));
        for (double kk = k - 1; kk <= k + 1; kk += 1)
            if (std::llround(std::pow(10.0, kk / cfg.snapshot_per_decade)) == step) return true;
    }
    return false;
}

}  // namespace ctr
