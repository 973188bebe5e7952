#include "run/exit_codes.hpp"

#include <csignal>
#include <new>

#include "config/load.hpp"
#include "io/h5.hpp"
#include "run/start.hpp"

namespace ctr {

int exit_code_of(const std::exception& e) {
    if (dynamic_cast<const ConfigError*>(&e) || dynamic_cast<const RunSetupError*>(&e)) return kExitUsage;
    if (const auto* io = dynamic_cast<const h5::IoError*>(&e)) {
        switch (io->cause()) {
            case h5::Cause::kLocked: return kExitLocked;
            case h5::Cause::kOther:
            case h5::Cause::kDiskFull:
            case h5::Cause::kFileSizeLimit: return kExitFailure;
            default: return kExitUsage;  // the input file: missing, unreadable, not a run file, damaged
        }
    }
    return kExitFailure;
}

void ignore_fatal_signals() {
    std::signal(SIGXFSZ, SIG_IGN);
    std::signal(SIGPIPE, SIG_IGN);
}

}  // namespace ctr
