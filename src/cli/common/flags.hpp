#pragma once
// The command-line parsing the three tools share: named flags plus positional arguments,
// with every Boost error turned into a UsageError that ends with the tool's usage text.
#include <boost/program_options.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace ctr {

// A bad command line; the tools print it and exit kExitUsage (2).
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Parses args (without the program name) against flags; the arguments that are not
// flags go to positional_value under the option name positional_name (at most
// max_positional of them, -1 for any number). Throws UsageError (what + "\n" + usage).
boost::program_options::variables_map parse_command_line(const std::vector<std::string>& args,
                                                         const boost::program_options::options_description& flags,
                                                         const char* positional_name,
                                                         boost::program_options::value_semantic* positional_value,
                                                         int max_positional, const std::string& usage);

}  // namespace ctr
