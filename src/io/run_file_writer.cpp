#include "io/run_file_writer.hpp"

#include "ctr_git_describe.hpp"  // generated at build time (cmake/version.cmake)

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>

#include "io/run_schema.hpp"

namespace ctr {
namespace {

std::string now_utc() {
    const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return buf;
}

std::vector<hsize_t> as_hsize(const std::vector<int>& v) { return {v.begin(), v.end()}; }

std::string block_prefix(size_t layer) { return "blocks." + std::to_string(layer) + "."; }

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

void write_skeleton(hid_t root, const Config& cfg, const std::string& config_yaml, const Batch& probe,
                    const std::vector<TensorSpec>& tensors) {
    using namespace schema;
    h5::set_attr(root, kCtrVersion, std::string(CTR_VERSION));
    h5::set_attr(root, kGitDescribe, std::string(CTR_GIT_DESCRIBE));
    h5::set_attr(root, kFormatVersionAttr, kFormatVersion);
    h5::set_attr(root, kConfig, config_yaml);
    set_u64_attr(root, kSeed, cfg.seed);  // uint64: seeds >= 2^63 must not read back negative
    h5::set_attr(root, kCreated, now_utc());
    h5::set_attr(root, kStatus, std::string(kRunning));

    const hsize_t B = probe.B, T = probe.T;
    {
        h5::Handle g = h5::create_group(root, kProbe);
        h5::write_array(g.get(), "kind", {B, T}, probe.kind.data(), "batch,pos (0 number, 1 [SEP], 2 [BOS])");
        h5::write_array(g.get(), "value", {B, T}, probe.value.data(), "batch,pos");
        h5::write_array(g.get(), "target", {B, T}, probe.target.data(), "batch,pos");
        h5::write_array(g.get(), "weight", {B, T}, probe.weight.data(), "batch,pos (loss weight)");
        h5::write_array(g.get(), "sep_pos", {B}, probe.sep_pos.data(), "batch");
    }
    {
        h5::Handle g = h5::create_group(root, kMetrics);
        h5::create_series(g.get(), "step", H5T_NATIVE_INT64, {}, 256, false, "row");
        for (const char* name : kMetricColumns) h5::create_series(g.get(), name, H5T_NATIVE_DOUBLE, {}, 256, false, "row");
    }
    {
        const ModelConfig& m = cfg.model;
        const hsize_t H = m.n_heads, D = m.d_model;
        h5::Handle g = h5::create_group(root, kSnapshots);
        h5::create_series(g.get(), "step", H5T_NATIVE_INT64, {}, 256, false, "snapshot");
        h5::create_series(g.get(), kSnapshotOutput, H5T_IEEE_F32LE, {B, T}, 1, false, "snapshot,batch,pos");
        for (int l = 0; l < m.n_layers; ++l) {
            const std::string b = block_prefix(l);
            h5::create_series(g.get(), b + kPattern, H5T_IEEE_F32LE, {B, H, T, T}, 1, cfg.log.compress,
                              "snapshot,batch,head,query,key");
            // As in TransformerLens, an attention-only block has no resid_mid: it would
            // equal resid_post.
            for (const char* s : {kResidPre, kResidMid, kResidPost})
                if (m.d_mlp > 0 || std::string(s) != kResidMid)
                    h5::create_series(g.get(), b + s, H5T_IEEE_F32LE, {B, T, D}, 1, false, "snapshot,batch,pos,d_model");
        }
        h5::Handle mech = h5::create_group(g.get(), kSnapshotMetrics);
        const hsize_t L = m.n_layers;
        for (const MechanismSeries& s : kMechanismSeries) {
            std::vector<hsize_t> shape{L, H};
            std::string axes = "snapshot,layer,head";
            if (s.shape == MetricShape::kLayerHeadPos) shape.push_back(T), axes += ",key";
            if (s.shape == MetricShape::kLayerHeadDModel) shape.push_back(D), axes += ",d_model";
            h5::create_series(mech.get(), s.name, H5T_NATIVE_DOUBLE, shape, 1, false, axes);
        }
        h5::Handle headline = h5::create_group(g.get(), kSnapshotHeadline);
        for (const char* name : kHeadlineColumns)
            h5::create_series(headline.get(), name, H5T_NATIVE_DOUBLE, {}, 256, false, "snapshot");
        h5::Handle params = h5::create_group(g.get(), kSnapshotParams);
        for (const TensorSpec& t : tensors)
            h5::create_series(params.get(), t.name, H5T_NATIVE_DOUBLE, as_hsize(t.shape), 1, cfg.log.compress,
                              "snapshot," + param_axes(t));
    }
}

}  // namespace

RunFileWriter::RunFileWriter(SeriesFile file) : file_(std::move(file)) {
    resid_mid_ = h5::exists(file_.root(), std::string(schema::kSnapshots) + "/" + block_prefix(0) + schema::kResidMid);
}

RunFileWriter RunFileWriter::create(const std::string& path, const Config& cfg, const std::string& config_yaml,
                                    const Batch& probe, const std::vector<TensorSpec>& tensors) {
    return RunFileWriter(SeriesFile::create(path, "run file", [&](SeriesFile& f) {
        write_skeleton(f.root(), cfg, config_yaml, probe, tensors);
    }));
}

RunFileWriter RunFileWriter::open(const std::string& path) {
    RunFileReader::check_openable(path);
    RunFileWriter w(SeriesFile::open(path, true));
    w.reader();  // refuses what is not a run file of this format
    return w;
}

RunFileReader RunFileWriter::reader() {
    file_.write_pending();
    return RunFileReader::of_open_file(file_.root(), file_.path());
}

void RunFileWriter::set_config_yaml(const std::string& yaml) { h5::set_attr(file_.root(), schema::kConfig, yaml); }
void RunFileWriter::set_status(const std::string& status) { h5::set_attr(file_.root(), schema::kStatus, status); }

void RunFileWriter::append_metrics(const MetricsRow& row) {
    file_.append(schema::kMetricsStep, H5T_NATIVE_INT64, &row.step);
    const double values[] = {row.train_loss, row.grad_norm, row.lr, row.eval_loss, row.eval_rel_error};
    static_assert(std::size(values) == std::size(schema::kMetricColumns));
    for (size_t i = 0; i < std::size(values); ++i)
        file_.append(std::string(schema::kMetrics) + "/" + schema::kMetricColumns[i], H5T_NATIVE_DOUBLE, &values[i]);
}

void RunFileWriter::append_snapshot(const SnapshotRecord& s) {
    using namespace schema;
    const std::string g = std::string(kSnapshots) + "/";
    const hid_t real_type = h5::native_type<real>();
    file_.append(kSnapshotsStep, H5T_NATIVE_INT64, &s.step);
    file_.append(g + kSnapshotOutput, real_type, s.probe.output.data());
    for (size_t l = 0; l < s.probe.blocks.size(); ++l) {
        const BlockActivations& a = s.probe.blocks[l];
        const std::string b = g + block_prefix(l);
        file_.append(b + kPattern, real_type, a.pattern.data());
        file_.append(b + kResidPre, real_type, a.resid_pre.data());
        if (resid_mid_) file_.append(b + kResidMid, real_type, a.resid_mid.data());
        file_.append(b + kResidPost, real_type, a.resid_post.data());
    }
    for (const TensorSpec& t : s.tensors)
        file_.append(g + kSnapshotParams + "/" + t.name, real_type, s.params + t.offset);
    for (const MechanismSeries& m : kMechanismSeries)
        file_.append(g + kSnapshotMetrics + "/" + m.name, H5T_NATIVE_DOUBLE, (s.metrics.*m.field).data());
    const Headline& h = s.headline;
    const double values[] = {h.catch_score, h.tag_separation, h.release, h.pair_score, h.rel_error};
    static_assert(std::size(values) == std::size(kHeadlineColumns));
    for (size_t i = 0; i < std::size(values); ++i)
        file_.append(g + kSnapshotHeadline + "/" + kHeadlineColumns[i], H5T_NATIVE_DOUBLE, &values[i]);
}

void RunFileWriter::write_verdict(const RunVerdict& r) {
    using namespace schema::verdict;
    const hid_t root = file_.root();
    if (h5::exists(root, schema::kVerdict))
        h5::check(H5Ldelete(root, schema::kVerdict, H5P_DEFAULT), "replacing /verdict");
    h5::Handle g = h5::create_group(root, schema::kVerdict);
    const hid_t id = g.get();
    const Verdict& v = r.verdict;
    const Emergence& e = r.emergence;
    const CausalResult& c = r.causal;
    h5::set_attr(id, kSuccess, int64_t{v.success});
    h5::set_attr(id, kSolved, int64_t{v.solved});
    h5::set_attr(id, kMechanism, int64_t{v.mechanism});
    h5::set_attr(id, kSummary, v.summary);
    h5::set_attr(id, kRelError, v.rel_error);
    h5::set_attr(id, kCatchLayer, int64_t{v.catch_layer});
    h5::set_attr(id, kCatchHead, int64_t{v.catch_head});
    h5::set_attr(id, kReleaseLayer, int64_t{v.release_layer});
    h5::set_attr(id, kReleaseHead, int64_t{v.release_head});
    h5::set_attr(id, kCatch, v.catch_score);
    h5::set_attr(id, kRelease, v.release);
    h5::set_attr(id, kReleaseEvenness, v.release_evenness);
    h5::set_attr(id, kTagSeparation, v.tag_separation);
    h5::set_attr(id, kCatchStep, e.catch_step);
    h5::set_attr(id, kTagStep, e.tag_step);
    h5::set_attr(id, kReleaseStep, e.release_step);
    h5::set_attr(id, kSolvedStep, e.solved_step);
    h5::set_attr(id, kCausalLayer, int64_t{c.layer});
    h5::set_attr(id, kCausalHead, int64_t{c.head});
    h5::set_attr(id, kCleanLoss, c.clean_loss);
    h5::set_attr(id, kCatchAblatedLoss, c.catch_ablated_loss);
    h5::set_attr(id, kTagAblatedLoss, c.tag_ablated_loss);
}

void RunFileWriter::write_checkpoint(const Checkpoint& c) {
    using namespace schema::checkpoint;
    file_.ensure_space();
    file_.write_pending();  // the row counts recorded below must include every queued row
    const hid_t root = file_.root();
    // A half-written checkpoint left by a kill is never deleted: its space may be shared
    // with data written since, and freeing it would let HDF5 overwrite live rows. The new
    // one takes the first free name instead.
    std::string staging = schema::kCheckpointStaging;
    for (int i = 1; h5::exists(root, staging); ++i) staging = std::string(schema::kCheckpointStaging) + "." + std::to_string(i);
    {
        h5::Handle g = h5::create_group(root, staging);
        const hsize_t P = c.params.size();
        h5::write_array(g.get(), kParams, {P}, c.params.data(), "param (flat, ParamLayout order)");
        h5::write_array(g.get(), kOptM, {P}, c.opt_m.data(), "param");
        if (!c.opt_v.empty()) h5::write_array(g.get(), kOptV, {P}, c.opt_v.data(), "param");
        const hsize_t n_order = c.order.size();
        if (n_order > 0) h5::write_array(g.get(), kOrder, {n_order}, c.order.data(), "epoch order of the training set");
        h5::set_attr(g.get(), kStep, c.step);
        h5::set_attr(g.get(), kEpoch, c.epoch);
        h5::set_attr(g.get(), kBatchInEpoch, c.batch_in_epoch);
        h5::set_attr(g.get(), kOptT, c.opt_t);
        h5::set_attr(g.get(), kRowLossSum, c.row_loss_sum);
        h5::set_attr(g.get(), kRowGradNormSum, c.row_grad_norm_sum);
        h5::set_attr(g.get(), kRowSteps, c.row_steps);
        h5::set_attr(g.get(), kShuffleRng, c.shuffle_rng);
        h5::set_attr(g.get(), kFreshRng, c.fresh_rng);
        h5::set_attr(g.get(), kMetricsRows, static_cast<int64_t>(h5::n_rows(root, schema::kMetricsStep)));
        h5::set_attr(g.get(), kSnapshotRows, static_cast<int64_t>(h5::n_rows(root, schema::kSnapshotsStep)));
    }
    // Flush before the swap: deleting the old checkpoint frees its space, and the flush
    // writes pending snapshot chunks, which HDF5 may place in freed space. Were both in
    // one flush, a kill during it could leave the file's last flushed /checkpoint with
    // its data overwritten by snapshot chunks (a resume would then silently continue from
    // garbage). Flushed first, the swap's own flush has no chunk data left to write.
    file_.flush();
    if (h5::exists(root, schema::kCheckpoint))
        h5::check(H5Ldelete(root, schema::kCheckpoint, H5P_DEFAULT), "replacing the checkpoint");
    h5::check(H5Lmove(root, staging.c_str(), root, schema::kCheckpoint, H5P_DEFAULT, H5P_DEFAULT),
              "replacing the checkpoint");
    file_.flush();
}

void RunFileWriter::drop_rows_after_checkpoint() {
    const hid_t root = file_.root();
    if (!h5::exists(root, schema::kCheckpoint)) throw h5::IoError(path() + " has no checkpoint to resume from");
    h5::Handle g = h5::open_group(root, schema::kCheckpoint);
    const hsize_t metric_rows = h5::get_attr_int(g.get(), schema::checkpoint::kMetricsRows);
    const hsize_t snapshot_rows = h5::get_attr_int(g.get(), schema::checkpoint::kSnapshotRows);
    file_.forget_series();
    truncate_series(h5::open_group(root, schema::kMetrics).get(), metric_rows);
    truncate_series(h5::open_group(root, schema::kSnapshots).get(), snapshot_rows);
}

}  // namespace ctr
