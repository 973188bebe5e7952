#pragma once
// Reading, validating and writing configs. Every key is described once, in the key
// table of load.cpp: its path, type, default (from config.hpp), allowed values and doc.
#include <stdexcept>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace ctr {

// A problem with the user's input. what() is the complete message for the user: it
// names the file and line (or the flag), the key path, and what was expected.
class ConfigError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Loads a YAML file over the defaults, then applies overrides "a.b=value" in order
// (each from a --set flag). Throws ConfigError on any bad input; nothing is written.
Config load_config(const std::string& path, const std::vector<std::string>& overrides = {});

// Applies overrides to the defaults alone (no file).
Config config_from_overrides(const std::vector<std::string>& overrides);

// The resolved config as YAML text, every key present, in table order. Loading it
// back gives the same Config.
std::string config_to_yaml(const Config& cfg);

// Checks ranges and cross-key constraints (e.g. d_model divisible? [SEP] range
// non-empty). Throws ConfigError naming the key. load_config calls it.
void validate_config(const Config& cfg, const std::string& source);

}  // namespace ctr
