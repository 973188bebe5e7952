#pragma once
// What a run will take, estimated from its config before anything is allocated or
// written: memory (the trainer's models, data sets and optimizer state) and the size of
// its run file (snapshots, metrics, checkpoint). start_run and resume_run refuse a run
// above the limits with RunSetupError naming the keys that drive the estimate, so a
// typo such as batch_size 2560000 is a message, not std::bad_alloc or a 40 GB file.
// Also refused whatever the limits: a buffer too large for ctr's int indices. How the
// estimate is made, and the defaults: docs/reliability.md.
#include <cstdint>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace ctr {

inline constexpr uint64_t kGiB = uint64_t{1} << 30;

struct ResourceLimits {
    uint64_t max_memory = 4 * kGiB;     // ctr-train --max-memory
    uint64_t max_file_size = 2 * kGiB;  // ctr-train --max-file-size
};

// One part of an estimate and the keys that drive it.
struct ResourcePart {
    std::string what;                 // "training batch activations"
    double bytes;
    std::vector<std::string> keys;    // "train.batch_size", ...
};

struct ResourceEstimate {
    std::vector<ResourcePart> memory, file;
    double memory_bytes() const;
    double file_bytes() const;
    // The largest element count of one buffer, and what it is (ctr indexes with int).
    double largest_buffer = 0;
    std::string largest_buffer_what;
    std::vector<std::string> largest_buffer_keys;
};

ResourceEstimate estimate_resources(const Config& cfg);

// Throws RunSetupError (run/start.hpp) when cfg's estimate is above limits or its
// largest buffer above what int indices reach; `source` names the run in the message.
void check_resources(const Config& cfg, const ResourceLimits& limits, const std::string& source);

// "1.5 GiB", "320 MiB", "12 KiB"
std::string format_bytes(double bytes);
// Parses "4G", "512M", "100K", "2T" or plain bytes ("1000000"); binary units. Returns
// false on anything else (incl. 0 and overflow).
bool parse_bytes(const std::string& text, uint64_t& out);

}  // namespace ctr
