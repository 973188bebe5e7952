#pragma once
// Reading, validating and writing configs. Every key is described once, in the key
// table of keys.cpp (config/keys.hpp): its path, type, default (from config.hpp),
// allowed values and doc.
#include <map>
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

// Checks every key's range and the cross-key constraints ([SEP] range non-empty,
// batch_size <= train_size, something to train, theorem71's shape; docs/config.md).
// Throws ConfigError naming source and the keys. load_config calls it.
void validate_config(const Config& cfg, const std::string& source);

// Where each key's value came from: "file:line:column" (1-based) for a key read from a
// file, "--set key=value" for an override. Keys left at their defaults are absent.
using KeyOrigins = std::map<std::string, std::string>;

struct LoadedConfig {
    Config config;
    KeyOrigins origins;
};

// load_config, also telling where each key was set.
LoadedConfig load_config_traced(const std::string& path, const std::vector<std::string>& overrides = {});

// load_config_traced on YAML text; `source` names it in messages (e.g. "RUN.h5:/config").
LoadedConfig load_config_text(const std::string& text, const std::string& source,
                              const std::vector<std::string>& overrides = {});

// Applies overrides "a.b=value" to cfg in order, without validate_config; records
// their origins when origins is given. Throws ConfigError on a bad override.
void apply_overrides(Config& cfg, const std::vector<std::string>& overrides, KeyOrigins* origins = nullptr);

// Sets one key from its text, as a --set override or a file entry would; `where` names
// its origin in messages and in origins ("sweep.yaml:4:12"). Throws ConfigError naming
// where, the key (with the nearest valid one when unknown) and what was expected.
void set_key_at(Config& cfg, const std::string& path, const std::string& value, const std::string& where,
                KeyOrigins* origins = nullptr);

// validate_config; a failing check also names where each involved key was set.
void validate_config(const Config& cfg, const std::string& source, const KeyOrigins& origins);

// The keys (in table order) whose values differ between a and b; empty when equal.
// Doubles compare bit for bit (through their round-trip text).
std::vector<std::string> config_diff(const Config& a, const Config& b);

}  // namespace ctr
