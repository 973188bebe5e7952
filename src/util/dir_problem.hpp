#pragma once
// Why a directory for output could not be made or written, in words that name the real
// cause: a path component that is a file, a read-only file system, no permission.
#include <filesystem>
#include <string>
#include <system_error>

namespace ctr {

// dir: the directory that could not be created (or written in); ec: the error. E.g.
// "runs/x is a file, not a directory" or "cannot create directory runs/x: Read-only file system".
std::string dir_problem(const std::filesystem::path& dir, const std::error_code& ec);

}  // namespace ctr
