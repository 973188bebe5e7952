#include "run/resources.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>

#include "config/keys.hpp"
#include "run/start.hpp"
#include "util/real.hpp"

namespace ctr {
namespace {

const std::vector<std::string> kShapeKeys = {"model.n_layers", "model.n_heads", "model.d_model", "model.d_head",
                                             "model.d_mlp", "task.seq_len"};

std::vector<std::string> plus(std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

std::string key_values(const std::vector<std::string>& keys, const Config& cfg) {
    std::string s;
    for (const std::string& k : keys) {
        if (!s.empty()) s += ", ";
        s += k + "=" + key_value_text(*find_key(k), cfg);
    }
    return s;
}

// The parameter count, in double so no size can overflow it.
double param_count(const ModelConfig& m, double T) {
    const double D = m.d_model, H = m.n_heads, Dh = m.d_head, M = m.d_mlp;
    double block = 4 * H * D * Dh + 6 * D + 3 * H * Dh + 2 * Dh;  // attention, norms, biases (upper bound)
    if (M > 0) block += 2 * D * M + M + 3 * D;
    return m.n_layers * block + T * D + 8 * D + 1;
}

// Bytes of a Transformer's workspace for batches of up to `batch` sequences
// (model/transformer.cpp: activations of every block, gradient scratch, shard gradients).
double model_bytes(const ModelConfig& m, double T, double batch, double P) {
    const double N = batch * T, D = m.d_model, H = m.n_heads, Dh = m.d_head, M = m.d_mlp;
    const double per_block = 9 * N * D + 6 * N * H * Dh + 3 * N + 2 * N * H + batch * H * T * T + 2 * N * M;
    const double grads = 4 * N * D + 6 * N * H * Dh + 2 * N * M + N + 8 * H * T * T * 2;
    return sizeof(real) * (m.n_layers * per_block + grads + 3 * N * D + N + 8 * P);
}

// Bytes of n sequences of length T as data set and batch (kind, value, target, weight).
double sequence_bytes(double n, double T) { return n * T * 2 * (4 + 3 * sizeof(real)) + n * 8; }

// Snapshots a run of `steps` steps takes (run/snapshot_schedule.hpp), an upper bound.
double snapshot_count(const LogConfig& log, double steps) {
    if (!log.snapshots) return 0;
    double n = std::min<double>(log.snapshot_dense, steps) + 1;
    if (log.snapshot_every > 0) n += std::floor(steps / log.snapshot_every);
    if (log.snapshot_per_decade > 0 && steps > 1) n += log.snapshot_per_decade * std::log10(steps) + 1;
    return std::min(n, steps + 1) + 1;  // + the final step's
}

}  // namespace

double ResourceEstimate::memory_bytes() const {
    double s = 0;
    for (const ResourcePart& p : memory) s += p.bytes;
    return s;
}

double ResourceEstimate::file_bytes() const {
    double s = 0;
    for (const ResourcePart& p : file) s += p.bytes;
    return s;
}

ResourceEstimate estimate_resources(const Config& cfg) {
    const ModelConfig& m = cfg.model;
    const TaskConfig& t = cfg.task;
    const TrainConfig& tr = cfg.train;
    const double T = t.seq_len, P = param_count(m, T);
    const double B = tr.batch_size, E = t.eval_size, Bp = t.probe_size;
    const double D = m.d_model, H = m.n_heads, Dh = m.d_head, M = m.d_mlp, L = m.n_layers;
    // train.steps, else epochs over train_size / batch_size batches (training/trainer.hpp).
    const double steps = tr.steps > 0 ? tr.steps : double(tr.epochs) * (t.train_size > 0 ? std::floor(t.train_size / B) : 0);

    ResourceEstimate e;
    e.memory = {
        {"activations of the training batch", model_bytes(m, T, B, P), plus(kShapeKeys, {"train.batch_size"})},
        {"activations of the evaluation and probe batches", model_bytes(m, T, E, P) + model_bytes(m, T, Bp, P),
         plus(kShapeKeys, {"task.eval_size", "task.probe_size"})},
        {"training set", sequence_bytes(t.train_size, T) + 4.0 * t.train_size, {"task.train_size", "task.seq_len"}},
        {"evaluation, probe and training batches", sequence_bytes(t.eval_size + Bp + B, T),
         {"task.eval_size", "task.probe_size", "train.batch_size", "task.seq_len"}},
        {"parameters, gradients and optimizer state", P * (4 * sizeof(real) + 3 * 8), kShapeKeys},
    };

    const double snaps = snapshot_count(cfg.log, steps);
    // float32 activations, float64 parameters and metrics, per snapshot (docs/hdf5-layout.md);
    // compression is ignored, so this is an upper bound.
    const double per_snapshot = 4 * Bp * T + L * 4 * (Bp * H * T * T + 3 * Bp * T * D + 2 * Bp * T * H * Dh) + 8 * P +
                                8 * L * H * (T + D + 12) + 8 * 6;
    e.file = {
        {"snapshots", snaps * per_snapshot,
         plus(kShapeKeys, {"task.probe_size", "log.snapshots", "log.snapshot_dense", "log.snapshot_per_decade",
                           "log.snapshot_every", tr.steps > 0 ? "train.steps" : "train.epochs"})},
        {"metrics table", 48 * (steps / tr.eval_every + 2), {"train.eval_every", tr.steps > 0 ? "train.steps" : "train.epochs"}},
        {"checkpoint, probe and evaluation sets, layout", 3 * 8 * P + 4.0 * t.train_size + 24 * (Bp + t.eval_size) * T + 256 * 1024,
         plus(kShapeKeys, {"task.train_size", "task.eval_size"})},
        {"training set (log.train_set)", cfg.log.train_set ? 24.0 * t.train_size * T : 0.0,
         {"log.train_set", "task.train_size", "task.seq_len"}},
    };

    // The largest single buffer, in elements.
    struct Buffer {
        double n;
        const char* what;
        std::vector<std::string> keys;
    };
    const double Bmax = std::max(B, E);
    const std::vector<Buffer> buffers = {
        {Bmax * H * T * T, "attention pattern (batch, head, query, key)",
         {"train.batch_size", "task.eval_size", "model.n_heads", "task.seq_len"}},
        {Bmax * T * std::max({D, H * Dh, M}), "residual, head or MLP activations (batch, pos, width)",
         {"train.batch_size", "task.eval_size", "task.seq_len", "model.d_model", "model.n_heads", "model.d_head",
          "model.d_mlp"}},
        {std::max<double>(t.train_size, t.eval_size) * T, "sequence set (sequences, pos)",
         {"task.train_size", "task.eval_size", "task.seq_len"}},
        {8 * P, "parameters of the 8 batch shards", kShapeKeys},
    };
    for (const Buffer& b : buffers)
        if (b.n > e.largest_buffer) {
            e.largest_buffer = b.n;
            e.largest_buffer_what = b.what;
            e.largest_buffer_keys = b.keys;
        }
    return e;
}

std::string format_bytes(double bytes) {
    const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int u = 0;
    while (bytes >= 1024 && u < 6) bytes /= 1024, ++u;
    char buf[64];
    if (u == 0) std::snprintf(buf, sizeof buf, "%.0f bytes", bytes);
    else std::snprintf(buf, sizeof buf, "%.3g %s", bytes, units[u]);
    return buf;
}

bool parse_bytes(const std::string& text, uint64_t& out) {
    if (text.empty() || text.size() > 24) return false;
    size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
    if (digits == 0) return false;
    std::string unit = text.substr(digits);
    if (unit.size() == 3 && unit.substr(1) == "iB") unit = unit.substr(0, 1);
    if (unit.size() == 2 && (unit[1] == 'B' || unit[1] == 'b')) unit = unit.substr(0, 1);
    int shift = 0;
    if (unit.empty()) shift = 0;
    else if (unit == "K" || unit == "k") shift = 10;
    else if (unit == "M" || unit == "m") shift = 20;
    else if (unit == "G" || unit == "g") shift = 30;
    else if (unit == "T" || unit == "t") shift = 40;
    else return false;
    uint64_t v = 0;
    for (size_t i = 0; i < digits; ++i) {
        if (v > (UINT64_MAX - 9) / 10) return false;
        v = v * 10 + static_cast<uint64_t>(text[i] - '0');
    }
    if (v == 0 || (shift > 0 && v > (UINT64_MAX >> shift))) return false;
    out = v << shift;
    return true;
}

void check_resources(const Config& cfg, const ResourceLimits& limits, const std::string& source) {
    const ResourceEstimate e = estimate_resources(cfg);
    if (e.largest_buffer > INT_MAX) {
        char n[32];
        std::snprintf(n, sizeof n, "%.3g", e.largest_buffer);
        throw RunSetupError(source + ": the " + e.largest_buffer_what + " would hold " + n +
                            " values, more than ctr can index (2^31 - 1); lower " + key_values(e.largest_buffer_keys, cfg));
    }
    auto refuse = [&](const char* what, double total, uint64_t limit, const std::vector<ResourcePart>& parts,
                      const char* flag) {
        const ResourcePart* biggest = &parts[0];
        for (const ResourcePart& p : parts)
            if (p.bytes > biggest->bytes) biggest = &p;
        throw RunSetupError(source + ": the run would need about " + format_bytes(total) + " of " + what + ", above the limit of " +
                            format_bytes(static_cast<double>(limit)) + "; most of it (" + format_bytes(biggest->bytes) + ") for the " +
                            biggest->what + ", from " + key_values(biggest->keys, cfg) +
                            ". Lower those keys, or raise the limit with " + flag + " (docs/reliability.md)");
    };
    if (e.memory_bytes() > static_cast<double>(limits.max_memory))
        refuse("memory", e.memory_bytes(), limits.max_memory, e.memory, "--max-memory SIZE");
    if (e.file_bytes() > static_cast<double>(limits.max_file_size))
        refuse("run file", e.file_bytes(), limits.max_file_size, e.file, "--max-file-size SIZE");
    struct rlimit fsize {};
    if (::getrlimit(RLIMIT_FSIZE, &fsize) == 0 && fsize.rlim_cur != RLIM_INFINITY &&
        e.file_bytes() > static_cast<double>(fsize.rlim_cur))
        throw RunSetupError(source + ": the run file may grow to about " + format_bytes(e.file_bytes()) +
                            ", above this process's file-size limit of " + format_bytes(static_cast<double>(fsize.rlim_cur)) +
                            " (ulimit -f); raise the limit, or write fewer snapshots (log.snapshots, log.snapshot_every, "
                            "log.snapshot_per_decade)");
}

}  // namespace ctr
