#pragma once
// Why a directory for output could not be made or written, in words that name the real
// cause: a path component that is a file, a read-only file system, no permission. Used
// for run files (run/start.cpp, io/run_lock.cpp) and sweep directories alike.
#include <filesystem>
#include <string>
#include <system_error>

namespace ctr {

// dir: the directory that could not be created (or written in); ec: the error. E.g.
// "runs/x is a file, not a directory" or "cannot create directory runs/x: Read-only file system".
std::string dir_problem(const std::filesystem::path& dir, const std::error_code& ec);

// lock: a lock file that could not be created (open with O_CREAT failed with errno err);
// of: what it locks, e.g. the run file. E.g. "cannot write in directory runs: creating the
// lock file runs/x.h5.lock of runs/x.h5 failed: Read-only file system (expected a
// directory this user can write in)". A lock path without a directory is in ".".
std::string lock_file_problem(const std::filesystem::path& lock, const std::string& of, int err);

}  // namespace ctr
