// The key table. To add a key: add the field (with its default) to config.hpp, then
// one row below, in the section where it belongs. The macro CTR_KEY(a.b) gives both
// the path "a.b" and the accessor &cfg.a.b, so the two cannot disagree; the helper
// (int_key, real_key, ...) must match the field's C++ type or it does not compile.
// Then add the key to configs/minimal.yaml and its row to docs/config.md (the tests
// [config][docs] and [config][minimal] fail, printing what is missing).
#include "config/keys.hpp"

#include <algorithm>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstdio>
#include <set>

namespace ctr {

namespace {

#define CTR_KEY(member) #member, [](Config& c) -> FieldRef { return &c.member; }
// For enum fields: the path, and the field read and written as an index into the
// enum's spellings (EnumNames).
#define CTR_ENUM_KEY(member)                                                                                  \
    #member, EnumField {                                                                                      \
        choices_of<decltype(std::declval<Config&>().member)>(),                                              \
            [](const Config& c) { return static_cast<int>(c.member); },                                      \
            [](Config& c, int v) { c.member = static_cast<decltype(std::declval<Config&>().member)>(v); }     \
    }

template <class E>
std::vector<std::string> choices_of() {
    return {EnumNames<E>::names.begin(), EnumNames<E>::names.end()};
}

constexpr int64_t kIntMax = INT_MAX;

KeySpec make_key(const char* path, KeyType type, FieldRef (*f)(Config&)) {
    KeySpec k;
    k.path = path;
    k.type = type;
    k.field = f;
    return k;
}

[[maybe_unused]] Bound ge(double v) { return {v, false, true}; }
[[maybe_unused]] Bound gt(double v) { return {v, true, true}; }
[[maybe_unused]] Bound le(double v) { return {v, false, true}; }
[[maybe_unused]] Bound lt(double v) { return {v, true, true}; }
const Bound kUnbounded{0, false, false};

KeySpec int_key(const char* path, FieldRef (*f)(Config&), int64_t lo, int64_t hi, const char* doc) {
    KeySpec k = make_key(path, KeyType::kInt, f);
    k.int_lo = lo;
    k.int_hi = hi;
    k.doc = doc;
    return k;
}
KeySpec u64_key(const char* path, FieldRef (*f)(Config&), const char* doc) {
    KeySpec k = make_key(path, KeyType::kUInt64, f);
    k.doc = doc;
    return k;
}
KeySpec real_key(const char* path, FieldRef (*f)(Config&), Bound lo, Bound hi, const char* doc) {
    KeySpec k = make_key(path, KeyType::kDouble, f);
    k.lo = lo;
    k.hi = hi;
    k.doc = doc;
    return k;
}
KeySpec bool_key(const char* path, FieldRef (*f)(Config&), const char* doc) {
    KeySpec k = make_key(path, KeyType::kBool, f);
    k.doc = doc;
    return k;
}
KeySpec enum_key(const char* path, EnumField field, const char* doc) {
    KeySpec k = make_key(path, KeyType::kEnum, nullptr);
    k.enum_field = std::move(field);
    k.doc = doc;
    return k;
}

// Every row checks that the field has the C++ type its helper expects.
std::vector<KeySpec> build_table() {
    std::vector<KeySpec> t = {
        u64_key(CTR_KEY(seed), "master seed; init, data, eval, probe and shuffling use independent streams of it"),

        // ---- model
        int_key(CTR_KEY(model.n_layers), 1, kIntMax, "transformer blocks"),
        int_key(CTR_KEY(model.n_heads), 1, kIntMax, "attention heads per block"),
        int_key(CTR_KEY(model.d_model), 1, kIntMax, "width of the residual stream"),
        int_key(CTR_KEY(model.d_head), 1, kIntMax, "width of each head's queries, keys and values"),
        int_key(CTR_KEY(model.d_mlp), 0, kIntMax, "hidden width of the MLP block; 0: attention-only blocks"),
        enum_key(CTR_ENUM_KEY(model.act), "MLP activation (used only when d_mlp > 0)"),
        enum_key(CTR_ENUM_KEY(model.norm),
                 "pre-norm before each sub-block plus a final norm; none: no normalisation"),
        bool_key(CTR_KEY(model.qk_norm), "RMSNorm of queries and keys per head, learned gain over d_head"),
        enum_key(CTR_ENUM_KEY(model.attn_scale),
                 "attention logit scale: none = softmax(QK^T) (paper), or 1/sqrt(d_head)"),
        bool_key(CTR_KEY(model.attn_bias), "biases b_Q, b_K, b_V, b_O"),
        enum_key(CTR_ENUM_KEY(model.positions), "positional encoding added to the embedding"),
        enum_key(CTR_ENUM_KEY(model.init),
                 "random: seeded PyTorch-style init; theorem71: the Theorem 7.1 construction"),
        real_key(CTR_KEY(model.init_tag_scale), gt(0), kUnbounded,
                 "tag scale s_tag of the theorem71 construction (its error falls as s_tag grows)"),

        // ---- task
        int_key(CTR_KEY(task.seq_len), 2, kIntMax, "sequence length T, counting [SEP] (and [BOS])"),
        bool_key(CTR_KEY(task.bos), "put a [BOS] token at position 0"),
        enum_key(CTR_ENUM_KEY(task.numbers), "distribution of the numbers: N(0, 1) or U(-1, 1)"),
        int_key(CTR_KEY(task.min_before_sep), 0, kIntMax, "numbers that must stand before [SEP]"),
        int_key(CTR_KEY(task.min_after_sep), 1, kIntMax, "numbers that must stand after [SEP]"),
        enum_key(CTR_ENUM_KEY(task.supervise),
                 "loss positions: the last one, or every position after [SEP]"),
        int_key(CTR_KEY(task.train_size), 0, kIntMax, "training sequences; 0: fresh sequences every step"),
        int_key(CTR_KEY(task.eval_size), 1, kIntMax, "held-out evaluation sequences"),
        int_key(CTR_KEY(task.probe_size), 1, kIntMax, "sequences in the fixed probe batch (mechanism metrics)"),

        // ---- train
        enum_key(CTR_ENUM_KEY(train.optimizer), "optimizer"),
        real_key(CTR_KEY(train.lr), gt(0), kUnbounded, "peak learning rate"),
        real_key(CTR_KEY(train.weight_decay), ge(0), kUnbounded, "weight decay on all parameters (decoupled for adamw)"),
        real_key(CTR_KEY(train.beta1), ge(0), lt(1), "AdamW first-moment decay"),
        real_key(CTR_KEY(train.beta2), ge(0), lt(1), "AdamW second-moment decay"),
        real_key(CTR_KEY(train.eps), gt(0), kUnbounded, "AdamW epsilon"),
        real_key(CTR_KEY(train.momentum), ge(0), lt(1), "SGD momentum (sgd only)"),
        int_key(CTR_KEY(train.batch_size), 1, kIntMax, "sequences per step"),
        int_key(CTR_KEY(train.epochs), 0, kIntMax, "passes over the training set (used when steps = 0)"),
        int_key(CTR_KEY(train.steps), 0, kIntMax, "> 0: train this many steps instead of epochs"),
        enum_key(CTR_ENUM_KEY(train.schedule),
                 "learning-rate schedule; cosine: linear warm-up, then cosine decay to min_lr"),
        int_key(CTR_KEY(train.warmup_steps), 0, kIntMax, "linear warm-up steps (cosine schedule)"),
        real_key(CTR_KEY(train.min_lr), ge(0), kUnbounded, "floor of the cosine schedule"),
        real_key(CTR_KEY(train.grad_clip), ge(0), kUnbounded, "max global L2 norm of the gradient; 0: off"),
        int_key(CTR_KEY(train.eval_every), 1, kIntMax, "evaluate and write a metrics row every this many steps"),
        bool_key(CTR_KEY(train.stop_on_divergence),
                 "stop at the first step whose training loss or gradient norm is not finite (status diverged, exit 3); false: train on"),

        bool_key(CTR_KEY(log.snapshots), "write probe-batch snapshots (attention, residuals, parameters)"),
        int_key(CTR_KEY(log.snapshot_dense), 0, kIntMax, "a snapshot at every step from 0 to this"),
        int_key(CTR_KEY(log.snapshot_per_decade), 0, kIntMax, "then log-spaced snapshots, this many per decade of steps; 0: none"),
        int_key(CTR_KEY(log.snapshot_every), 0, kIntMax, "and a snapshot at every multiple of this step; 0: none"),
        bool_key(CTR_KEY(log.compress), "compress snapshot attention patterns and parameters (shuffle + deflate)"),
        bool_key(CTR_KEY(log.eval_set), "write the evaluation set's sequences to /eval (0.5 MB at eval_size 1024); false: only its baseline_mse"),
        bool_key(CTR_KEY(log.train_set), "write the training set's sequences to /train (3.8 MB at train_size 8192, seq_len 16); with task.train_size 0 (fresh data) /train holds only a note"),
        int_key(CTR_KEY(log.checkpoint_every), 1, kIntMax, "write the full training state every this many steps"),
        int_key(CTR_KEY(log.progress_every), 1, kIntMax, "a plain progress line every this many steps when not on a terminal"),

        // ---- analysis (docs/metrics.md)
        real_key(CTR_KEY(analysis.sink_eps), gt(0), lt(1), "a key is a sink of a head when its sink score alpha_k exceeds this (Gu et al.)"),
        real_key(CTR_KEY(analysis.catch_threshold), gt(0), le(1), "catch: attention of the queries after [SEP] on [SEP] needed"),
        real_key(CTR_KEY(analysis.tag_threshold), gt(0), kUnbounded, "tag: separation d' of the tokens after [SEP] from those before, along the tag"),
        real_key(CTR_KEY(analysis.release_threshold), gt(0), le(1), "release: attention of the queries after [SEP] on the tagged numbers needed"),
        real_key(CTR_KEY(analysis.success_rel_error), gt(0), kUnbounded, "solved: relative error on the evaluation set below this"),
    };
    return t;
}

#undef CTR_KEY
#undef CTR_ENUM_KEY

// Optimal string alignment distance (Levenshtein plus adjacent transpositions).
size_t edit_distance(std::string_view a, std::string_view b) {
    const size_t n = a.size(), m = b.size();
    std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1));
    for (size_t i = 0; i <= n; ++i) d[i][0] = i;
    for (size_t j = 0; j <= m; ++j) d[0][j] = j;
    for (size_t i = 1; i <= n; ++i)
        for (size_t j = 1; j <= m; ++j) {
            const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
        }
    return d[n][m];
}

std::string_view leaf_of(std::string_view path) {
    const size_t dot = path.rfind('.');
    return dot == std::string_view::npos ? path : path.substr(dot + 1);
}

// The shortest text that parses back to v bit for bit, exponent without leading
// zeros (1e-8, not 1e-08).
std::string shortest(double v) {
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    std::string s(buf, r.ptr);
    const size_t e = s.find('e');
    if (e != std::string::npos) {
        size_t d = e + 1;
        if (d < s.size() && (s[d] == '-' || s[d] == '+')) ++d;
        size_t z = d;
        while (z + 1 < s.size() && s[z] == '0') ++z;
        s.erase(d, z - d);
    }
    return s;
}

// A double as YAML text that YAML 1.1 loaders (PyYAML) and 1.2 loaders both read as a
// float: the shortest digits, a dot in the mantissa and a signed exponent of two or more
// digits (10.0, 0.05, 1.0e-08, 2.5e+20). YAML 1.1 reads "10" as an int and "1e-8" as a string.
std::string format_double(double v) {
    std::string s = shortest(v);
    if (s.find_first_of("ni") != std::string::npos) return s;  // not finite: never a valid config value
    const size_t e = s.find('e');
    std::string mantissa = s.substr(0, e), exponent = e == std::string::npos ? "" : s.substr(e + 1);
    if (mantissa.find('.') == std::string::npos) mantissa += ".0";
    if (exponent.empty()) return mantissa;
    const char sign = exponent[0] == '-' ? '-' : '+';
    if (exponent[0] == '-' || exponent[0] == '+') exponent.erase(0, 1);
    if (exponent.size() < 2) exponent.insert(0, 1, '0');
    return mantissa + "e" + sign + exponent;
}

std::string format_bound(double v) { return shortest(v); }

std::string quoted(std::string_view text) {
    std::string s;
    s.reserve(text.size() + 2);
    s += '\'';
    s.append(text);
    s += '\'';
    return s;
}

}  // namespace

std::string KeySpec::section() const {
    const size_t dot = path.rfind('.');
    return dot == std::string::npos ? std::string() : path.substr(0, dot);
}

std::string KeySpec::leaf() const { return std::string(leaf_of(path)); }

const std::vector<KeySpec>& config_keys() {
    static const std::vector<KeySpec> table = build_table();
    return table;
}

const KeySpec* find_key(std::string_view path) {
    for (const KeySpec& k : config_keys())
        if (k.path == path) return &k;
    return nullptr;
}

bool is_config_section(std::string_view path) {
    if (path.empty()) return false;
    for (const KeySpec& k : config_keys())
        if (k.path.size() > path.size() && k.path.compare(0, path.size(), path) == 0 && k.path[path.size()] == '.')
            return true;
    return false;
}

std::vector<std::string> section_children(std::string_view section) {
    std::vector<std::string> out;
    const std::string prefix = section.empty() ? std::string() : std::string(section) + ".";
    for (const KeySpec& k : config_keys()) {
        if (k.path.compare(0, prefix.size(), prefix) != 0) continue;
        const std::string rest = k.path.substr(prefix.size());
        const std::string name = rest.substr(0, rest.find('.'));
        if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
    }
    return out;
}

std::optional<std::string> nearest_key(std::string_view path) {
    // Candidates: every key and every section. A candidate scores its edit distance
    // to path, or (for a key) the distance between the last components plus one, so
    // that "model.lr" finds "train.lr".
    std::vector<std::string> candidates;
    for (const KeySpec& k : config_keys()) {
        std::string p = k.path;
        for (size_t dot = p.find('.'); dot != std::string::npos; dot = p.find('.', dot + 1)) {
            const std::string sec = p.substr(0, dot);
            if (std::find(candidates.begin(), candidates.end(), sec) == candidates.end()) candidates.push_back(sec);
        }
        candidates.push_back(p);
    }
    const std::string_view leaf = leaf_of(path);
    size_t best = SIZE_MAX;
    std::string best_name;
    for (const std::string& c : candidates) {
        size_t score = edit_distance(path, c);
        if (find_key(c) && leaf.size() >= 2) score = std::min(score, edit_distance(leaf, leaf_of(c)) + 1);
        if (score < best) {
            best = score;
            best_name = c;
        }
    }
    const size_t limit = std::max<size_t>(2, leaf.size() / 3);
    if (best == 0 || best > limit) return std::nullopt;
    return best_name;
}

std::string key_value_text(const KeySpec& key, const Config& cfg) {
    if (key.type == KeyType::kEnum) return key.enum_field.choices.at(key.enum_field.get(cfg));
    const FieldRef f = key.field(const_cast<Config&>(cfg));  // read only
    switch (key.type) {
        case KeyType::kInt: return std::to_string(*std::get<int*>(f));
        case KeyType::kUInt64: return std::to_string(*std::get<uint64_t*>(f));
        case KeyType::kDouble: return format_double(*std::get<double*>(f));
        case KeyType::kBool: return *std::get<bool*>(f) ? "true" : "false";
        case KeyType::kEnum: break;
    }
    return {};
}

std::string key_expectation(const KeySpec& key) {
    switch (key.type) {
        case KeyType::kInt:
            if (key.int_hi >= kIntMax) return "expected an integer >= " + std::to_string(key.int_lo);
            return "expected an integer in [" + std::to_string(key.int_lo) + ", " + std::to_string(key.int_hi) + "]";
        case KeyType::kUInt64: return "expected an integer in [0, 18446744073709551615]";
        case KeyType::kDouble: {
            std::string s = "expected a number";
            if (key.lo.present && key.hi.present)
                s += std::string(" in ") + (key.lo.open ? "(" : "[") + format_bound(key.lo.value) + ", " +
                     format_bound(key.hi.value) + (key.hi.open ? ")" : "]");
            else if (key.lo.present)
                s += std::string(key.lo.open ? " > " : " >= ") + format_bound(key.lo.value);
            else if (key.hi.present)
                s += std::string(key.hi.open ? " < " : " <= ") + format_bound(key.hi.value);
            return s;
        }
        case KeyType::kBool: return "expected true or false";
        case KeyType::kEnum: {
            const std::vector<std::string>& choices = key.enum_field.choices;
            std::string s = "expected one of ";
            for (size_t i = 0; i < choices.size(); ++i) s += (i ? ", " : "") + choices[i];
            return s;
        }
    }
    return {};
}

namespace {

bool double_in_range(const KeySpec& key, double v) {
    if (!std::isfinite(v)) return false;
    if (key.lo.present && (key.lo.open ? !(v > key.lo.value) : !(v >= key.lo.value))) return false;
    if (key.hi.present && (key.hi.open ? !(v < key.hi.value) : !(v <= key.hi.value))) return false;
    return true;
}

template <class T>
bool parse_number(std::string_view text, T& out) {
    if (text.size() > 1 && text[0] == '+' && text[1] != '-') text.remove_prefix(1);
    if (text.empty()) return false;
    const auto r = std::from_chars(text.data(), text.data() + text.size(), out);
    return r.ec == std::errc() && r.ptr == text.data() + text.size();
}

}  // namespace

std::optional<std::string> set_key_from_text(const KeySpec& key, Config& cfg, std::string_view text) {
    const std::string fail = key_expectation(key) + ", got " + quoted(text);
    if (key.type == KeyType::kEnum) {
        const std::vector<std::string>& choices = key.enum_field.choices;
        const auto it = std::find(choices.begin(), choices.end(), text);
        if (it == choices.end()) return fail;
        key.enum_field.set(cfg, static_cast<int>(it - choices.begin()));
        return std::nullopt;
    }
    const FieldRef f = key.field(cfg);
    switch (key.type) {
        case KeyType::kInt: {
            int64_t v;
            if (!parse_number(text, v) || v < key.int_lo || v > key.int_hi) return fail;
            *std::get<int*>(f) = static_cast<int>(v);
            return std::nullopt;
        }
        case KeyType::kUInt64: {
            uint64_t v;
            if (!parse_number(text, v)) return fail;
            *std::get<uint64_t*>(f) = v;
            return std::nullopt;
        }
        case KeyType::kDouble: {
            double v;
            if (!parse_number(text, v) || !double_in_range(key, v)) return fail;
            *std::get<double*>(f) = v;
            return std::nullopt;
        }
        case KeyType::kBool: {
            // YAML 1.2 core schema spellings only; yes/no/on/off/1/0 are rejected.
            static const std::set<std::string_view> t = {"true", "True", "TRUE"}, n = {"false", "False", "FALSE"};
            if (t.count(text)) *std::get<bool*>(f) = true;
            else if (n.count(text)) *std::get<bool*>(f) = false;
            else return fail;
            return std::nullopt;
        }
        case KeyType::kEnum: break;
    }
    return fail;
}

std::optional<std::string> check_key_range(const KeySpec& key, const Config& cfg) {
    // An enum holds one of its values by its type (the table's choices are all of them).
    if (key.type == KeyType::kEnum) return std::nullopt;
    const FieldRef f = key.field(const_cast<Config&>(cfg));  // read only
    bool ok = true;
    switch (key.type) {
        case KeyType::kInt: {
            const int v = *std::get<int*>(f);
            ok = v >= key.int_lo && v <= key.int_hi;
            break;
        }
        case KeyType::kUInt64:
        case KeyType::kBool: break;
        case KeyType::kDouble: ok = double_in_range(key, *std::get<double*>(f)); break;
        case KeyType::kEnum: break;
    }
    if (ok) return std::nullopt;
    return key_expectation(key) + ", got " + quoted(key_value_text(key, cfg));
}

std::string key_type_name(const KeySpec& key) {
    switch (key.type) {
        case KeyType::kInt: return "int";
        case KeyType::kUInt64: return "uint64";
        case KeyType::kDouble: return "double";
        case KeyType::kBool: return "bool";
        case KeyType::kEnum: return "enum";
    }
    return {};
}

std::string key_allowed_text(const KeySpec& key) {
    std::string e = key_expectation(key);
    switch (key.type) {
        case KeyType::kInt:
        case KeyType::kDouble: {
            // "expected an integer >= 1" -> ">= 1"; "expected a number in [0, 1)" -> "[0, 1)"
            const size_t p = e.find_first_of("<>[(");
            return p == std::string::npos ? "any" : e.substr(p);
        }
        case KeyType::kUInt64: return "0 .. 2^64-1";
        case KeyType::kBool: return "true, false";
        case KeyType::kEnum: return e.substr(std::string("expected one of ").size());
    }
    return e;
}

std::string key_doc_row(const KeySpec& key) {
    static const Config defaults;
    return "| `" + key.path + "` | " + key_type_name(key) + " | " + key_value_text(key, defaults) + " | " +
           key_allowed_text(key) + " | " + key.doc + " |";
}

std::string config_keys_markdown() {
    std::string s = "| key | type | default | allowed | meaning |\n|---|---|---|---|---|\n";
    for (const KeySpec& k : config_keys()) s += key_doc_row(k) + "\n";
    return s;
}

}  // namespace ctr
