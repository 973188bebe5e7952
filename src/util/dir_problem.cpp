#include "util/dir_problem.hpp"

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

}  // namespace ctr
