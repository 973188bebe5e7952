#include "io/run_file.hpp"

#include "ctr_git_describe.hpp"  // generated at build time (cmake/version.cmake)

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <sstream>

#include <unistd.h>

namespace ctr {
namespace {

constexpr int64_t kFormatVersion = 1;
const char* const kMetricNames[] = {"train_loss", "grad_norm", "lr", "eval_loss", "eval_rel_error"};

std::string now_utc() {
    const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return buf;
}

std::vector<hsize_t> as_hsize(const std::vector<int>& v) { return {v.begin(), v.end()}; }

std::string rng_text(const Rng& rng) {
    std::ostringstream os;
    os << rng;
    return os.str();
}

void rng_from_text(Rng& rng, const std::string& text) {
    std::istringstream is(text);
    is >> rng;
    if (!is) throw h5::IoError("checkpoint: random-number state is unreadable");
}

// The per-snapshot mechanism metrics (docs/metrics.md) under /snapshots/metrics.
enum class MetricShape { kLayerHead, kLayerHeadPos, kLayerHeadDModel };
struct MetricSeries {
    const char* name;
    MetricShape shape;
    const std::vector<double> MechanismMetrics::*field;
};
const MetricSeries kMechanismSeries[] = {
    {"sink_alpha", MetricShape::kLayerHeadPos, &MechanismMetrics::sink_alpha},
    {"sink_sep", MetricShape::kLayerHead, &MechanismMetrics::sink_sep},
    {"sink_bos", MetricShape::kLayerHead, &MechanismMetrics::sink_bos},
    {"sink_rate_sep", MetricShape::kLayerHead, &MechanismMetrics::sink_rate_sep},
    {"sink_rate_bos", MetricShape::kLayerHead, &MechanismMetrics::sink_rate_bos},
    {"sink_rate_any", MetricShape::kLayerHead, &MechanismMetrics::sink_rate_any},
    {"n_sinks", MetricShape::kLayerHead, &MechanismMetrics::n_sinks},
    {"catch", MetricShape::kLayerHead, &MechanismMetrics::catch_score},
    {"tag", MetricShape::kLayerHeadDModel, &MechanismMetrics::tag},
    {"tag_norm", MetricShape::kLayerHead, &MechanismMetrics::tag_norm},
    {"tag_share", MetricShape::kLayerHead, &MechanismMetrics::tag_share},
    {"tag_separation", MetricShape::kLayerHead, &MechanismMetrics::tag_separation},
    {"release", MetricShape::kLayerHead, &MechanismMetrics::release},
    {"release_evenness", MetricShape::kLayerHead, &MechanismMetrics::release_evenness},
};
// The headline numbers of each snapshot, under /snapshots/headline.
const char* const kHeadlineNames[] = {"catch", "tag_separation", "release", "pair_score", "probe_rel_error"};

// Cuts every series in group (and its subgroups) to n rows.
void truncate_series(hid_t group, hsize_t n) {
    H5G_info_t info;
    h5::check(H5Gget_info(group, &info), "listing a group");
    for (hsize_t i = 0; i < info.nlinks; ++i) {
        char name[1024];
        h5::check(static_cast<herr_t>(H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT)),
                  "listing a group");
        H5O_info_t obj;
        h5::check(H5Oget_info_by_name2(group, name, &obj, H5O_INFO_BASIC, H5P_DEFAULT), std::string("inspecting ") + name);
        if (obj.type == H5O_TYPE_GROUP)
            truncate_series(h5::open_group(group, name).get(), n);
        else
            h5::resize_rows(group, name, n);
    }
}

// A scalar uint64 attribute (h5::set_attr has int64 and double only).
void set_u64_attr(hid_t obj, const char* name, uint64_t value) {
    h5::Handle space(h5::check(H5Screate(H5S_SCALAR), "scalar space"));
    h5::Handle attr(h5::check(H5Acreate2(obj, name, H5T_STD_U64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT),
                              std::string("attribute ") + name));
    h5::check(H5Awrite(attr.get(), H5T_NATIVE_UINT64, &value), std::string("writing attribute ") + name);
}

// The axis names of a parameter tensor, after TransformerLens (blocks.0.attn.W_Q is
// [head, d_model, d_head]); "dim<i>" for a tensor this table does not know.
std::string param_axes(const TensorSpec& t) {
    const std::string leaf = t.name.substr(t.name.rfind('.') + 1);
    const bool in_norm = t.name.find(".ln") != std::string::npos || t.name.rfind("ln_final.", 0) == 0;
    std::string axes;
    if (leaf == "W_Q" || leaf == "W_K" || leaf == "W_V") axes = "head,d_model,d_head";
    else if (leaf == "W_O") axes = "head,d_head,d_model";
    else if (leaf == "b_Q" || leaf == "b_K" || leaf == "b_V") axes = "head,d_head";
    else if (leaf == "W_pos") axes = "pos,d_model";
    else if (leaf == "W_in") axes = "d_model,d_mlp";
    else if (leaf == "b_in") axes = "d_mlp";
    else if (leaf == "W_out") axes = "d_mlp,d_model";
    else if (leaf == "b_U") axes = "out";
    else if (t.name.find("q_norm.") != std::string::npos || t.name.find("k_norm.") != std::string::npos) axes = "d_head";
    else if (in_norm || leaf == "w_num" || leaf == "b_num" || leaf == "e_sep" || leaf == "e_bos" || leaf == "b_O" ||
             leaf == "b_out" || leaf == "W_U")
        axes = "d_model";
    const size_t n_axes = axes.empty() ? 0 : 1 + std::count(axes.begin(), axes.end(), ',');
    if (n_axes != t.shape.size()) {
        axes.clear();
        for (size_t i = 0; i < t.shape.size(); ++i) {
            if (i) axes += ',';
            axes += "dim";
            axes += std::to_string(i);
        }
    }
    return axes;
}

}  // namespace

RunFile RunFile::create(const std::string& path, const Trainer& trainer, const std::string& config_yaml) {
    h5::quiet_errors();
    const Config& cfg = trainer.config();
    // The skeleton is written under a temporary name and renamed into place once it is
    // flushed: a run killed while its file is being created must not leave a file at
    // `path` that HDF5 cannot open.
    if (std::filesystem::exists(path)) throw h5::IoError("cannot create run file " + path + ": it exists");
    const std::string tmp_path = path + ".creating";
    h5::Handle file(H5Fcreate(tmp_path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
    if (!file.valid()) throw h5::IoError("cannot create run file " + path);
    RunFile run(path, std::move(file));
    struct RemoveOnError {  // the half-made file goes when creating it throws
        const std::string& path;
        bool keep = false;
        ~RemoveOnError() {
            std::error_code ec;
            if (!keep) std::filesystem::remove(path, ec);
        }
    } remove_on_error{tmp_path};
    const hid_t root = run.file_.get();
    h5::set_attr(root, "ctr_version", std::string(CTR_VERSION));
    h5::set_attr(root, "ctr_git_describe", std::string(CTR_GIT_DESCRIBE));
    h5::set_attr(root, "format_version", kFormatVersion);
    h5::set_attr(root, "config", config_yaml);
    set_u64_attr(root, "seed", cfg.seed);  // uint64: seeds >= 2^63 must not read back negative
    h5::set_attr(root, "created", now_utc());
    h5::set_attr(root, "status", std::string("running"));

    const Batch& probe = trainer.probe_batch();
    const hsize_t B = probe.B, T = probe.T;
    {
        h5::Handle g = h5::create_group(root, "probe");
        h5::write_array(g.get(), "kind", {B, T}, probe.kind.data(), "batch,pos (0 number, 1 [SEP], 2 [BOS])");
        h5::write_array(g.get(), "value", {B, T}, probe.value.data(), "batch,pos");
        h5::write_array(g.get(), "target", {B, T}, probe.target.data(), "batch,pos");
        h5::write_array(g.get(), "weight", {B, T}, probe.weight.data(), "batch,pos (loss weight)");
        h5::write_array(g.get(), "sep_pos", {B}, probe.sep_pos.data(), "batch");
    }
    {
        h5::Handle g = h5::create_group(root, "metrics");
        h5::create_series(g.get(), "step", H5T_NATIVE_INT64, {}, 256, false, "row");
        for (const char* name : kMetricNames) h5::create_series(g.get(), name, H5T_NATIVE_DOUBLE, {}, 256, false, "row");
    }
    {
        const ModelConfig& m = cfg.model;
        const hsize_t H = m.n_heads, D = m.d_model;
        h5::Handle g = h5::create_group(root, "snapshots");
        h5::create_series(g.get(), "step", H5T_NATIVE_INT64, {}, 256, false, "snapshot");
        h5::create_series(g.get(), "output", H5T_IEEE_F32LE, {B, T}, 1, false, "snapshot,batch,pos");
        for (int l = 0; l < m.n_layers; ++l) {
            const std::string b = "blocks." + std::to_string(l) + ".";
            h5::create_series(g.get(), b + "attn.hook_pattern", H5T_IEEE_F32LE, {B, H, T, T}, 1, cfg.log.compress,
                              "snapshot,batch,head,query,key");
            // As in TransformerLens, an attention-only block has no resid_mid: it would
            // equal resid_post.
            for (const char* s : {"hook_resid_pre", "hook_resid_mid", "hook_resid_post"})
                if (m.d_mlp > 0 || std::string(s) != "hook_resid_mid")
                    h5::create_series(g.get(), b + s, H5T_IEEE_F32LE, {B, T, D}, 1, false, "snapshot,batch,pos,d_model");
        }
        h5::Handle mech = h5::create_group(g.get(), "metrics");
        const hsize_t L = m.n_layers;
        for (const MetricSeries& s : kMechanismSeries) {
            std::vector<hsize_t> shape{L, H};
            std::string axes = "snapshot,layer,head";
            if (s.shape == MetricShape::kLayerHeadPos) shape.push_back(T), axes += ",key";
            if (s.shape == MetricShape::kLayerHeadDModel) shape.push_back(D), axes += ",d_model";
            h5::create_series(mech.get(), s.name, H5T_NATIVE_DOUBLE, shape, 1, false, axes);
        }
        h5::Handle headline = h5::create_group(g.get(), "headline");
        for (const char* name : kHeadlineNames) h5::create_series(headline.get(), name, H5T_NATIVE_DOUBLE, {}, 256, false, "snapshot");
        h5::Handle params = h5::create_group(g.get(), "params");
        for (const TensorSpec& t : trainer.layout().tensors())
            h5::create_series(params.get(), t.name, H5T_NATIVE_DOUBLE, as_hsize(t.shape), 1, cfg.log.compress,
                              "snapshot," + param_axes(t));
    }
    run.flush();
    run.last_flush_growth_ = 0;  // the skeleton is written once; rows grow the file by less
    std::error_code ec;
    std::filesystem::rename(tmp_path, path, ec);
    if (ec) throw h5::IoError("cannot create run file " + path + ": " + ec.message());
    remove_on_error.keep = true;
    return run;
}

RunFile RunFile::open(const std::string& path, bool writable) {
    h5::quiet_errors();
    if (!std::filesystem::exists(path)) throw h5::IoError("run file " + path + " does not exist");
    // A reader does not take HDF5's file lock, so it can look at a run in progress (it
    // sees the state of the writer's last flush).
    h5::Handle fapl(h5::check(H5Pcreate(H5P_FILE_ACCESS), "file access list"));
    if (!writable) h5::check(H5Pset_file_locking(fapl.get(), false, true), "file locking");
    h5::Handle file(H5Fopen(path.c_str(), writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, fapl.get()));
    if (!file.valid()) throw h5::IoError("cannot open " + path + " as an HDF5 run file");
    RunFile run(path, std::move(file));
    if (!h5::has_attr(run.file_.get(), "config") || !h5::exists(run.file_.get(), "metrics"))
        throw h5::IoError(path + " is an HDF5 file but not a ctr run file (no config attribute or /metrics)");
    return run;
}

std::string RunFile::config_yaml() const { return h5::get_attr_string(file_.get(), "config"); }
void RunFile::set_config_yaml(const std::string& yaml) { h5::set_attr(file_.get(), "config", yaml); }
std::string RunFile::status() const { return h5::get_attr_string(file_.get(), "status"); }
void RunFile::set_status(const std::string& status) { h5::set_attr(file_.get(), "status", status); }

hid_t RunFile::series(const std::string& path) {
    auto it = series_.find(path);
    if (it == series_.end())
        it = series_.emplace(path, h5::Handle(h5::check(H5Dopen2(file_.get(), path.c_str(), H5P_DEFAULT),
                                                        "opening dataset " + path))).first;
    return it->second.get();
}

void RunFile::append(const std::string& path, hid_t mem_type, const void* row) {
    auto it = pending_.find(path);
    if (it == pending_.end()) {
        const hid_t ds = series(path);
        h5::Handle space(h5::check(H5Dget_space(ds), "dataspace of " + path));
        const int rank = H5Sget_simple_extent_ndims(space.get());
        std::vector<hsize_t> dims(rank);
        H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
        size_t elements = 1;
        for (int i = 1; i < rank; ++i) elements *= dims[i];
        h5::Handle file_type(h5::check(H5Dget_type(ds), "type of " + path));
        it = pending_.emplace(path, Pending{mem_type, elements * H5Tget_size(mem_type),
                                            elements * H5Tget_size(file_type.get()), 0, {}})
                 .first;
    }
    Pending& p = it->second;
    const auto* bytes = static_cast<const unsigned char*>(row);
    p.bytes.insert(p.bytes.end(), bytes, bytes + p.row_bytes);
    p.rows += 1;
}

void RunFile::write_pending() {
    for (auto& [path, p] : pending_) {
        if (p.rows == 0) continue;
        h5::append_rows(series(path), p.mem_type, p.bytes.data(), p.rows);
        p.rows = 0;
        p.bytes.clear();
    }
}

void RunFile::append_metrics(const MetricsRow& row) {
    append("metrics/step", H5T_NATIVE_INT64, &row.step);
    const double values[] = {row.train_loss, row.grad_norm, row.lr, row.eval_loss, row.eval_rel_error};
    for (size_t i = 0; i < std::size(kMetricNames); ++i)
        append(std::string("metrics/") + kMetricNames[i], H5T_NATIVE_DOUBLE, &values[i]);
}

void RunFile::append_snapshot(int64_t step, const Trainer& trainer, const MechanismMetrics& m, const Snapshot& headline) {
    const Activations& acts = trainer.probe_model().activations();
    const hid_t real_type = h5::native_type<real>();
    append("snapshots/step", H5T_NATIVE_INT64, &step);
    append("snapshots/output", real_type, acts.output.data());
    for (size_t l = 0; l < acts.blocks.size(); ++l) {
        const BlockActivations& a = acts.blocks[l];
        const std::string b = "snapshots/blocks." + std::to_string(l) + ".";
        append(b + "attn.hook_pattern", real_type, a.pattern.data());
        append(b + "hook_resid_pre", real_type, a.resid_pre.data());
        if (trainer.config().model.d_mlp > 0) append(b + "hook_resid_mid", real_type, a.resid_mid.data());
        append(b + "hook_resid_post", real_type, a.resid_post.data());
    }
    const real* p = trainer.state().params.data();
    for (const TensorSpec& t : trainer.layout().tensors()) append("snapshots/params/" + t.name, real_type, p + t.offset);
    for (const MetricSeries& s : kMechanismSeries)
        append(std::string("snapshots/metrics/") + s.name, H5T_NATIVE_DOUBLE, (m.*s.field).data());
    const double values[] = {headline.catch_score, headline.tag_separation, headline.release, headline.pair_score,
                             headline.rel_error};
    for (size_t i = 0; i < std::size(kHeadlineNames); ++i)
        append(std::string("snapshots/headline/") + kHeadlineNames[i], H5T_NATIVE_DOUBLE, &values[i]);
}

std::vector<Snapshot> RunFile::read_headlines() {
    write_pending();
    const hid_t root = file_.get();
    const size_t n = h5::n_rows(root, "snapshots/step");
    std::vector<int64_t> steps(n);
    std::vector<std::vector<double>> cols(std::size(kHeadlineNames), std::vector<double>(n));
    h5::read_array(root, "snapshots/step", H5T_NATIVE_INT64, steps.data(), n);
    for (size_t i = 0; i < cols.size(); ++i)
        h5::read_array(root, std::string("snapshots/headline/") + kHeadlineNames[i], H5T_NATIVE_DOUBLE, cols[i].data(), n);
    std::vector<Snapshot> out(n);
    for (size_t k = 0; k < n; ++k) {
        out[k].step = steps[k];
        out[k].catch_score = cols[0][k];
        out[k].tag_separation = cols[1][k];
        out[k].release = cols[2][k];
        out[k].pair_score = cols[3][k];
        out[k].rel_error = cols[4][k];
    }
    return out;
}

void RunFile::write_verdict(const Verdict& v, const Emergence& e, const CausalResult& c) {
    const hid_t root = file_.get();
    if (h5::exists(root, "verdict")) h5::check(H5Ldelete(root, "verdict", H5P_DEFAULT), "replacing /verdict");
    h5::Handle g = h5::create_group(root, "verdict");
    const hid_t id = g.get();
    h5::set_attr(id, "success", int64_t{v.success});
    h5::set_attr(id, "solved", int64_t{v.solved});
    h5::set_attr(id, "mechanism", int64_t{v.mechanism});
    h5::set_attr(id, "summary", v.summary);
    h5::set_attr(id, "rel_error", v.rel_error);
    h5::set_attr(id, "catch_layer", int64_t{v.catch_layer});
    h5::set_attr(id, "catch_head", int64_t{v.catch_head});
    h5::set_attr(id, "release_layer", int64_t{v.release_layer});
    h5::set_attr(id, "release_head", int64_t{v.release_head});
    h5::set_attr(id, "catch", v.catch_score);
    h5::set_attr(id, "release", v.release);
    h5::set_attr(id, "release_evenness", v.release_evenness);
    h5::set_attr(id, "tag_separation", v.tag_separation);
    h5::set_attr(id, "catch_step", e.catch_step);
    h5::set_attr(id, "tag_step", e.tag_step);
    h5::set_attr(id, "release_step", e.release_step);
    h5::set_attr(id, "solved_step", e.solved_step);
    h5::set_attr(id, "causal_layer", int64_t{c.layer});
    h5::set_attr(id, "causal_head", int64_t{c.head});
    h5::set_attr(id, "clean_loss", c.clean_loss);
    h5::set_attr(id, "catch_ablated_loss", c.catch_ablated_loss);
    h5::set_attr(id, "tag_ablated_loss", c.tag_ablated_loss);
}

void RunFile::write_checkpoint(const TrainState& s) {
    ensure_space();
    write_pending();  // the row counts recorded below must include every queued row
    const hid_t root = file_.get();
    // A half-written checkpoint left by a kill is never deleted: its space may be shared
    // with data written since, and freeing it would let HDF5 overwrite live rows. The new
    // one takes the first free name instead.
    std::string staging = "checkpoint.new";
    for (int i = 1; h5::exists(root, staging); ++i) staging = "checkpoint.new." + std::to_string(i);
    {
        h5::Handle g = h5::create_group(root, staging);
        const hsize_t P = s.params.size();
        h5::write_array(g.get(), "params", {P}, s.params.data(), "param (flat, ParamLayout order)");
        h5::write_array(g.get(), "opt_m", {P}, s.opt.m.data(), "param");
        if (!s.opt.v.empty()) h5::write_array(g.get(), "opt_v", {P}, s.opt.v.data(), "param");
        const hsize_t n_order = s.order.size();
        if (n_order > 0) h5::write_array(g.get(), "order", {n_order}, s.order.data(), "epoch order of the training set");
        h5::set_attr(g.get(), "step", s.step);
        h5::set_attr(g.get(), "epoch", s.epoch);
        h5::set_attr(g.get(), "batch_in_epoch", s.batch_in_epoch);
        h5::set_attr(g.get(), "opt_t", s.opt.t);
        h5::set_attr(g.get(), "row_loss_sum", s.row_loss_sum);
        h5::set_attr(g.get(), "row_grad_norm_sum", s.row_grad_norm_sum);
        h5::set_attr(g.get(), "row_steps", s.row_steps);
        h5::set_attr(g.get(), "shuffle_rng", rng_text(s.shuffle_rng));
        h5::set_attr(g.get(), "fresh_rng", rng_text(s.fresh_rng));
        h5::set_attr(g.get(), "metrics_rows", static_cast<int64_t>(h5::n_rows(root, "metrics/step")));
        h5::set_attr(g.get(), "snapshot_rows", static_cast<int64_t>(h5::n_rows(root, "snapshots/step")));
    }
    // Flush before the swap: deleting the old checkpoint frees its space, and the flush
    // writes pending snapshot chunks, which HDF5 may place in freed space. Were both in
    // one flush, a kill during it could leave the file's last flushed /checkpoint with
    // its data overwritten by snapshot chunks (a resume would then silently continue from
    // garbage). Flushed first, the swap's own flush has no chunk data left to write.
    flush();
    if (h5::exists(root, "checkpoint")) h5::check(H5Ldelete(root, "checkpoint", H5P_DEFAULT), "replacing the checkpoint");
    h5::check(H5Lmove(root, staging.c_str(), root, "checkpoint", H5P_DEFAULT, H5P_DEFAULT), "replacing the checkpoint");
    flush();
}

bool RunFile::has_checkpoint() const { return h5::exists(file_.get(), "checkpoint"); }

void RunFile::restore_checkpoint(TrainState& s) {
    const hid_t root = file_.get();
    if (!has_checkpoint()) throw h5::IoError(path_ + " has no checkpoint to resume from");
    h5::Handle g = h5::open_group(root, "checkpoint");
    const hid_t rt = h5::native_type<real>();
    h5::read_array(g.get(), "params", rt, s.params.data(), s.params.size());
    h5::read_array(g.get(), "opt_m", rt, s.opt.m.data(), s.opt.m.size());
    if (!s.opt.v.empty()) h5::read_array(g.get(), "opt_v", rt, s.opt.v.data(), s.opt.v.size());
    if (!s.order.empty()) h5::read_array(g.get(), "order", H5T_NATIVE_INT32, s.order.data(), s.order.size());
    s.step = h5::get_attr_int(g.get(), "step");
    s.epoch = h5::get_attr_int(g.get(), "epoch");
    s.batch_in_epoch = h5::get_attr_int(g.get(), "batch_in_epoch");
    s.opt.t = h5::get_attr_int(g.get(), "opt_t");
    s.row_loss_sum = h5::get_attr_double(g.get(), "row_loss_sum");
    s.row_grad_norm_sum = h5::get_attr_double(g.get(), "row_grad_norm_sum");
    s.row_steps = h5::get_attr_int(g.get(), "row_steps");
    rng_from_text(s.shuffle_rng, h5::get_attr_string(g.get(), "shuffle_rng"));
    rng_from_text(s.fresh_rng, h5::get_attr_string(g.get(), "fresh_rng"));

    series_.clear();
    pending_.clear();
    // Rows written after the checkpoint (before a crash, or off-schedule rows at the end
    // of a finished run) are written again by the resumed run.
    const hsize_t metric_rows = h5::get_attr_int(g.get(), "metrics_rows");
    const hsize_t snapshot_rows = h5::get_attr_int(g.get(), "snapshot_rows");
    truncate_series(h5::open_group(root, "metrics").get(), metric_rows);
    truncate_series(h5::open_group(root, "snapshots").get(), snapshot_rows);
}

void RunFile::salvage_after_failure() noexcept {
    haddr_t eoa = 0;
    if (H5Fget_eoa(file_.get(), &eoa) < 0) return;
    std::error_code ec;
    const auto size = std::filesystem::file_size(path_, ec);
    if (!ec && size < eoa) ::truncate(path_.c_str(), static_cast<off_t>(eoa));
}

void RunFile::ensure_space() const {
    // HDF5 writes a flush in no crash-safe order, so a disk that fills up during one can
    // leave a file it cannot open. Stop before, while the file still holds the last
    // flush: the next flush needs about its queued rows plus what the last one added.
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::space_info space = fs::space(fs::absolute(path_).parent_path(), ec);
    uintmax_t queued = 0;
    for (const auto& [name, p] : pending_) queued += p.rows * p.file_row_bytes;
    const uintmax_t needed = queued + last_flush_growth_ + kFlushMargin;
    if (!ec && space.available < needed)
        throw h5::IoError("the disk of " + path_ + " is almost full (" + std::to_string(space.available / 1024) +
                          " KiB free, the next write needs about " + std::to_string(needed / 1024) +
                          " KiB); stopped before writing, so the file keeps its last flush");
}

void RunFile::flush() {
    namespace fs = std::filesystem;
    std::error_code ec;
    const uintmax_t size_before = fs::file_size(path_, ec);
    ensure_space();
    write_pending();
    h5::check(H5Fflush(file_.get(), H5F_SCOPE_GLOBAL), "flushing " + path_);
    const uintmax_t size_after = fs::file_size(path_, ec);
    if (!ec && size_after > size_before) last_flush_growth_ = std::max(last_flush_growth_, size_after - size_before);
}

}  // namespace ctr
