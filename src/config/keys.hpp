#pragma once
// The key table: every config key described once (keys.cpp). Loading, --set
// overrides, range checks, YAML output and the docs check all walk this table, so
// adding a key is one row in keys.cpp (plus its field in config.hpp, its line in
// configs/minimal.yaml and its row in docs/config.md, which tests enforce).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/config.hpp"

namespace ctr {

enum class KeyType {
    kInt,     // int, inclusive range [int_lo, int_hi]
    kUInt64,  // uint64_t, any value 0 .. 2^64-1
    kDouble,  // double, finite, within [lo, hi] with open or closed ends
    kBool,    // true | false
    kEnum,    // an enum of config.hpp, spelt as one of choices
};

// Where a key's value lives in a Config (all types but kEnum).
using FieldRef = std::variant<int*, uint64_t*, double*, bool*>;

// A kEnum key's value, as the index of its spelling in choices (the enum's order).
struct EnumField {
    std::vector<std::string> choices;      // EnumNames<E>::names
    int (*get)(const Config&) = nullptr;
    void (*set)(Config&, int) = nullptr;
};

// One end of a real range.
struct Bound {
    double value;
    bool open;     // true: the end itself is excluded
    bool present;  // false: unbounded on this side
};

struct KeySpec {
    std::string path;                     // dotted: "seed", "model.d_model"
    KeyType type = KeyType::kInt;
    FieldRef (*field)(Config&) = nullptr; // accessor; nullptr for kEnum
    int64_t int_lo = 0, int_hi = 0;       // kInt
    Bound lo{0, false, false}, hi{0, false, false};  // kDouble
    EnumField enum_field;                 // kEnum
    std::string doc;                      // one line

    std::string section() const;  // "model" for "model.d_model", "" for "seed"
    std::string leaf() const;     // "d_model"
};

// The table, in output order (sections contiguous).
const std::vector<KeySpec>& config_keys();

// nullptr when path is not a key.
const KeySpec* find_key(std::string_view path);

// True when path is a proper prefix of some key ("model", but not "model.d_model").
bool is_config_section(std::string_view path);

// The names directly inside a section ("" = top level): keys' leaves and sub-sections.
std::vector<std::string> section_children(std::string_view section);

// The nearest key or section to an unknown path, or nothing when none is close.
std::optional<std::string> nearest_key(std::string_view path);

// The key's value in cfg as YAML scalar text; parsing that text gives the value back
// bit for bit (doubles use the shortest round-trip form).
std::string key_value_text(const KeySpec& key, const Config& cfg);

// Parses text into the key's field of cfg. On failure returns what was expected
// ("expected an integer >= 1, got 'abc'") and leaves cfg unchanged.
std::optional<std::string> set_key_from_text(const KeySpec& key, Config& cfg, std::string_view text);

// Checks the key's current value in cfg against its type's range; returns the
// problem as set_key_from_text would, or nothing.
std::optional<std::string> check_key_range(const KeySpec& key, const Config& cfg);

// "expected an integer >= 1" and friends.
std::string key_expectation(const KeySpec& key);

// Type name and allowed values for docs: "int", ">= 1"; "enum", "gelu, relu".
std::string key_type_name(const KeySpec& key);
std::string key_allowed_text(const KeySpec& key);

// The key's row of the table in docs/config.md:
// | `model.d_model` | int | 2 | >= 1 | width of the residual stream |
std::string key_doc_row(const KeySpec& key);
// The whole markdown table (header + one row per key).
std::string config_keys_markdown();

}  // namespace ctr
