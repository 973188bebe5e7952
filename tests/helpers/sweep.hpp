#pragma once
// Running ctr-sweep from tests: the binary, tiny sweep files, the index without its
// machine-dependent column, and run files compared bit for bit.
#include <sstream>
#include <string>
#include <vector>

#include "h5_read.hpp"
#include "process.hpp"

namespace ctr_test {

inline std::string ctr_sweep_path() { return std::string(CTR_BINARY_DIR) + "/ctr-sweep"; }

inline Result run_sweep_cmd(const std::vector<std::string>& args, const fs::path& cwd) {
    std::vector<std::string> argv{ctr_sweep_path()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, cwd);
}

// Tiny runs: `steps` steps on few sequences (40 steps take about 0.05 s), a checkpoint
// every 20 steps.
inline std::string tiny_sweep(const std::string& grid, const std::string& seeds, int steps = 40) {
    return "config: " + minimal_config() +
           "\n"
           "set:\n"
           "  train.steps: " + std::to_string(steps) + "\n"
           "  task.train_size: 256\n"
           "  train.batch_size: 64\n"
           "  task.eval_size: 64\n"
           "  task.probe_size: 4\n"
           "  train.eval_every: 10\n"
           "  log.checkpoint_every: 20\n" +
           grid + "seeds: " + seeds + "\n";
}

// A CSV line split on the commas outside quotes.
inline std::vector<std::string> csv_fields(const std::string& line) {
    std::vector<std::string> fields;
    std::string f;
    bool q = false;
    for (char c : line) {
        if (c == '"') q = !q;
        if (c == ',' && !q) {
            fields.push_back(f);
            f.clear();
        } else {
            f += c;
        }
    }
    fields.push_back(f);
    return fields;
}

// index.csv without its wall_s column (the only one that depends on the machine's load).
inline std::string index_without_wall(const std::string& csv_path) {
    std::istringstream in(read_file_bytes(csv_path));
    std::string line, out;
    int wall_col = -1;
    while (std::getline(in, line)) {
        const std::vector<std::string> fields = csv_fields(line);
        if (wall_col < 0)
            for (size_t i = 0; i < fields.size(); ++i)
                if (fields[i] == "wall_s") wall_col = static_cast<int>(i);
        for (size_t i = 0; i < fields.size(); ++i)
            if (static_cast<int>(i) != wall_col) out += fields[i] + "|";
        out += "\n";
    }
    return out;
}

// "" when two run files hold the same run bit for bit (every dataset's bytes, the
// config, the status and the verdict), else the first difference.
inline std::string run_file_difference(const std::string& a_path, const std::string& b_path) {
    try {
        H5File a(a_path), b(b_path);
        const std::vector<std::string> names = h5_datasets(a.id(), "/");
        if (names != h5_datasets(b.id(), "/")) return "the list of datasets";
        for (const std::string& n : names)
            if (h5_raw(a.id(), n) != h5_raw(b.id(), n)) return n;
        for (const char* attr : {"config", "status"})
            if (h5_attr_string(a.id(), "/", attr) != h5_attr_string(b.id(), "/", attr)) return std::string("/ ") + attr;
        if (h5_exists(a.id(), "verdict") != h5_exists(b.id(), "verdict")) return "/verdict";
        if (h5_exists(a.id(), "verdict") && h5_attrs(a.id(), "/verdict") != h5_attrs(b.id(), "/verdict")) return "/verdict";
    } catch (const std::exception& e) {
        return e.what();
    }
    return "";
}

}  // namespace ctr_test
