#pragma once
// Progress reports of ctr-train: on a terminal a live line rewritten in place (at most
// ten times a second); otherwise a plain line every N steps; nothing with --quiet.
#include <cstdint>
#include <cstdio>

#include "run/loop.hpp"

namespace ctr {

class ProgressPrinter {
public:
    ProgressPrinter(std::FILE* out, bool quiet, int64_t plain_every);
    void update(const LoopReport& r);
    void finish();  // ends a live line

private:
    std::FILE* out_;
    bool quiet_, live_;
    int64_t plain_every_;
    double last_live_s_ = -1;
    bool line_open_ = false;
};

}  // namespace ctr
