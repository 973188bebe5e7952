#pragma once
// What a run file records about the invocation and the build that made it: command line,
// config file and overrides, host, and library versions (io/run_data.hpp's Provenance).
#include <string>
#include <vector>

#include "config/config.hpp"
#include "io/run_data.hpp"

namespace ctr {

// How a tool was called: argv as given, and for a new run the config file and the
// `key=value` overrides its flags set (--set, --seed as seed=N), in order.
struct Invocation {
    std::vector<std::string> argv;
    std::string config_file;
    std::vector<std::string> overrides;
};

// The provenance of a session of cfg started by inv, on this host with this build.
Provenance make_provenance(const Invocation& inv, const Config& cfg);

// argv as one line a POSIX shell reads back as the same words.
std::string shell_command_line(const std::vector<std::string>& argv);

}  // namespace ctr
