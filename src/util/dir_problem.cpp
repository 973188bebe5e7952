#include "util/dir_problem.hpp"

#include <cstring>

namespace fs = std::filesystem;

namespace ctr {

std::string dir_problem(const fs::path& dir, const std::error_code& ec) {
    // The deepest part of the path that exists: a file there is what stops the rest.
    std::error_code e;
    for (fs::path p = dir; !p.empty(); p = p.parent_path()) {
        const fs::file_status st = fs::status(p, e);
        if (fs::exists(st)) {
            if (!fs::is_directory(st)) return p.string() + " is a file, not a directory";
            break;
        }
        if (p == p.parent_path()) break;
    }
    return "cannot create directory " + dir.string() + ": " + ec.message();
}

std::string lock_file_problem(const fs::path& lock, const std::string& of, int err) {
    const std::string dir = lock.parent_path().empty() ? "." : lock.parent_path().string();
    return "cannot write in directory " + dir + ": creating the lock file " + lock.string() + " of " + of +
           " failed: " + std::strerror(err) + " (expected a directory this user can write in)";
}

}  // namespace ctr
