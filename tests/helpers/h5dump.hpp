#pragma once
// h5dump (hdf5-tools) as a second, independent reader of run files.
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "process.hpp"

namespace ctr_test {

// Runs h5dump with args (the run file last) and returns its result.
inline Result h5dump(const std::vector<std::string>& args, const std::string& file) {
    std::vector<std::string> argv{"/usr/bin/h5dump"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back(file);
    return run_command(argv, fs::temp_directory_path());
}

// The numbers of the first DATA { ... } block of h5dump output (run it with -y so no
// indices are printed, and -m %.17g so doubles round-trip exactly).
inline std::vector<double> h5dump_values(const std::string& text) {
    std::vector<double> v;
    const size_t open = text.find("DATA {");
    if (open == std::string::npos) return v;
    const size_t close = text.find('}', open);
    std::string body = text.substr(open + 6, close - open - 6);
    for (char& c : body)
        if (c == ',') c = ' ';
    std::istringstream is(body);
    std::string tok;
    while (is >> tok) v.push_back(std::strtod(tok.c_str(), nullptr));
    return v;
}

// "( 19, 2, 2, 3 ) / ( H5S_UNLIMITED, 2, 2, 3 )" from an h5dump header.
inline std::string h5dump_dataspace(const std::string& text) {
    const size_t at = text.find("DATASPACE  SIMPLE {");
    if (at == std::string::npos) return {};
    const size_t open = text.find('(', at), end = text.find('}', at);
    std::string s = text.substr(open, end - open);
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s;
}

}  // namespace ctr_test
