#pragma once
// Names of runs made from overrides: a sweep's point directories and ctr-train's default
// run file, so that runs differing only in their --set flags never share a name.
#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"

namespace ctr {

// "key=value" pairs joined by ",", each key by its last component ("lr") unless two keys
// share it ("model.x", "train.x"). Characters unsafe in file names become '_'.
std::string overrides_name(const std::vector<std::pair<std::string, std::string>>& key_values);

// ctr-train's default run file: runs/<config stem>-seed<seed>.h5, or with --set flags
// runs/<config stem>-<overrides_name>-seed<seed>.h5 (values as resolved in cfg, in the
// order first given, seed excluded; a long name is cut and ends in a hash of the whole).
std::string default_run_path(const std::string& config_path, const Config& cfg, const std::vector<std::string>& overrides);

}  // namespace ctr
