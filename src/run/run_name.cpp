#include "run/run_name.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>

#include "config/keys.hpp"

namespace ctr {

namespace {

std::string file_safe(std::string s) {
    for (char& c : s)
        if (c == '/' || c == '\\' || c == '"' || c == '\'' || c == ' ' || static_cast<unsigned char>(c) < 32) c = '_';
    return s;
}

std::string trim(const std::string& s) {
    const size_t b = s.find_first_not_of(" \t");
    if (b == std::string::npos) return {};
    return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

}  // namespace

std::string overrides_name(const std::vector<std::pair<std::string, std::string>>& kv) {
    std::map<std::string, int> leaf_count;
    for (const auto& [k, v] : kv) ++leaf_count[k.substr(k.rfind('.') + 1)];
    std::string name;
    for (const auto& [k, v] : kv) {
        const std::string leaf = k.substr(k.rfind('.') + 1);
        name += (name.empty() ? "" : ",") + (leaf_count[leaf] > 1 ? k : leaf) + "=" + file_safe(v);
    }
    return name;
}

std::string default_run_path(const std::string& config_path, const Config& cfg, const std::vector<std::string>& overrides) {
    std::vector<std::string> keys;
    for (const std::string& ov : overrides) {
        const std::string key = trim(ov.substr(0, ov.find('=')));
        if (key == "seed" || !find_key(key)) continue;
        if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
    }
    std::vector<std::pair<std::string, std::string>> kv;
    Config copy = cfg;
    for (const std::string& k : keys) kv.emplace_back(k, key_value_text(*find_key(k), copy));
    std::string name = overrides_name(kv);
    // File names stop at 255 bytes; a long override list keeps its start and a hash.
    if (name.size() > 160) {
        uint64_t h = 1469598103934665603ull;  // FNV-1a
        for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
        char hex[20];
        std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
        name = name.substr(0, 140) + "..." + hex;
    }
    const std::string stem = std::filesystem::path(config_path).stem().string();
    return "runs/" + stem + (name.empty() ? "" : "-" + name) + "-seed" + std::to_string(cfg.seed) + ".h5";
}

}  // namespace ctr
