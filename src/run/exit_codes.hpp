#pragma once
// The exit codes of ctr-train and ctr-inspect, one table for both (README.md,
// docs/reliability.md): the same cause gives the same code whichever tool meets it.
#include <exception>

namespace ctr {

inline constexpr int kExitOk = 0;
// The run failed while writing its file: the output cannot be created or written, the
// disk is full, the file-size limit is reached, an I/O error, out of memory.
inline constexpr int kExitFailure = 1;
// Refused before anything was written: bad flags or config, resources above the limits,
// an existing output, a resume that would change the run; and an input run file that is
// missing, unreadable, not HDF5, truncated, damaged, not a ctr run file or of another
// format_version.
inline constexpr int kExitUsage = 2;
// The run diverged: a non-finite training loss or gradient norm stopped it.
inline constexpr int kExitDiverged = 3;
// Another process is writing the run file.
inline constexpr int kExitLocked = 4;
// Stopped by SIGINT (Ctrl-C), SIGTERM or SIGHUP at a step boundary, resumable.
inline constexpr int kExitInterrupted = 130;

// The code of an exception that ended a tool: ConfigError and RunSetupError are 2,
// h5::IoError by its cause, std::bad_alloc 1, anything else 1.
int exit_code_of(const std::exception& e);

// Signals that must not end a tool without a message: SIGXFSZ (a write past the
// file-size limit then fails with EFBIG, which is reported) and SIGPIPE (a closed
// output pipe). Call first thing in main.
void ignore_fatal_signals();

}  // namespace ctr
