#include "run/provenance.hpp"

#include <Eigen/Core>
#include <boost/version.hpp>
#include <hdf5.h>
#include <unistd.h>

#include <algorithm>

#include "config/keys.hpp"

namespace ctr {
namespace {

std::string compiler() {
#if defined(__clang__)
    return std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
    return std::string("GCC ") + __VERSION__;
#else
    return "unknown";
#endif
}

std::string hdf5_version() {
    unsigned major = 0, minor = 0, release = 0;
    H5get_libversion(&major, &minor, &release);
    return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(release);
}

std::string host() {
    char buf[256] = {};
    if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
    return buf;
}

// The overridden keys as a YAML flow mapping of their resolved values (the form the config
// records, so a YAML 1.1 loader reads the right types); a repeated key keeps its last.
std::string overrides_yaml(const std::vector<std::string>& overrides, const Config& cfg) {
    std::vector<std::string> keys;
    for (const std::string& ov : overrides) {
        const std::string key = ov.substr(0, ov.find('='));
        if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
    }
    std::string out;
    for (const std::string& key : keys) {
        const KeySpec* spec = find_key(key);
        if (!spec) continue;  // validated before a run starts; nothing to record
        out += (out.empty() ? "" : ", ") + key + ": " + key_value_text(*spec, cfg);
    }
    return "{" + out + "}";  // one line (a flow mapping), for tables and logs
}

}  // namespace

std::string shell_command_line(const std::vector<std::string>& argv) {
    std::string line;
    for (const std::string& a : argv) {
        if (!line.empty()) line += ' ';
        const bool plain = !a.empty() && a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                             "0123456789_-+=.,/:@%") == std::string::npos;
        if (plain) {
            line += a;
            continue;
        }
        line += '\'';
        for (char c : a) line += c == '\'' ? std::string("'\\''") : std::string(1, c);
        line += '\'';
    }
    return line;
}

Provenance make_provenance(const Invocation& inv, const Config& cfg) {
    Provenance p;
    p.command_line = p.last_command_line = shell_command_line(inv.argv);
    p.config_file = inv.config_file;
    p.overrides = overrides_yaml(inv.overrides, cfg);
    p.host = host();
    p.compiler = compiler();
    p.eigen_version = std::to_string(EIGEN_WORLD_VERSION) + "." + std::to_string(EIGEN_MAJOR_VERSION) + "." +
                      std::to_string(EIGEN_MINOR_VERSION);
    p.hdf5_version = hdf5_version();
    p.boost_version = std::to_string(BOOST_VERSION / 100000) + "." + std::to_string(BOOST_VERSION / 100 % 1000) + "." +
                      std::to_string(BOOST_VERSION % 100);
    return p;
}

}  // namespace ctr
