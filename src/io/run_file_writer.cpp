#include "io/run_file_writer.hpp"

#include "ctr_git_describe.hpp"  // generated at build time (cmake/version.cmake)

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>

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

// Whether the dataset at name in group grows along its first axis (a series, not a
// fixed dimension scale).
bool is_series(hid_t group, const char* name) {
    h5::Handle ds(h5::check(H5Dopen2(group, name, H5P_DEFAULT), std::string("opening dataset ") + name));
    h5::Handle space(h5::check(H5Dget_space(ds.get()), std::string("dataspace of ") + name));
    const int rank = H5Sget_simple_extent_ndims(space.get());
    if (rank < 1) return false;
    std::vector<hsize_t> dims(rank), maxdims(rank);
    H5Sget_simple_extent_dims(space.get(), dims.data(), maxdims.data());
    return maxdims[0] == H5S_UNLIMITED;
}

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
        else if (is_series(group, name))
            h5::resize_rows(group, name, n);
    }
}

// The axis names of a parameter tensor, as its TensorSpec gives them
// (model/params.cpp, after TransformerLens: blocks.0.attn.W_Q is [head, d_model, d_head]).
h5::Axes param_axes(const TensorSpec& t) {
    h5::Axes axes;
    for (size_t start = 0; start <= t.axes.size();) {
        const size_t comma = std::min(t.axes.find(',', start), t.axes.size());
        axes.push_back(t.axes.substr(start, comma - start));
        start = comma + 1;
    }
    return axes;
}

// Dimension scales: every axis of every dataset gets the scale of its name (netCDF-4's
// convention, so xarray opens each group with named dimensions). `step` is the growing
// series of a group; every other dimension an index 0 .. n-1 made on first use. The
// scales stay open while the group is written: opening a scale for every attachment
// cost as much as attaching it (a third of a run file's start-up, docs/performance.md).
class Dims {
public:
    explicit Dims(hid_t scales) : scales_(scales) {}
    // Attaches to ds (of shape `shape`) the scales of axes, made in the scales group as needed.
    void attach(hid_t ds, const h5::Axes& axes, const std::vector<hsize_t>& shape) {
        for (size_t i = 0; i < axes.size(); ++i) {
            const hid_t scale = axes[i] == "step" ? scale_of("step", std::nullopt) : scale_of(axes[i], shape[i]);
            h5::attach_scale(ds, scale, static_cast<unsigned>(i), axes[i]);
        }
    }
    // A series [n, row_shape...] with axes {"step", ...}.
    void series(hid_t parent, const std::string& name, hid_t type, const std::vector<hsize_t>& row_shape,
                hsize_t chunk_rows, bool compress, const h5::Axes& axes, const char* note = nullptr) {
        h5::Handle ds = h5::create_series(parent, name, type, row_shape, chunk_rows, compress, axes);
        std::vector<hsize_t> shape{0};
        shape.insert(shape.end(), row_shape.begin(), row_shape.end());
        attach(ds.get(), axes, shape);
        if (note) h5::set_attr(ds.get(), "note", note);
    }
    template <class T>
    void array(hid_t parent, const std::string& name, const std::vector<hsize_t>& shape, const T* data,
               const h5::Axes& axes, const char* note = nullptr) {
        h5::Handle ds = h5::write_array(parent, name, shape, data, axes);
        attach(ds.get(), axes, shape);
        if (note) h5::set_attr(ds.get(), "note", note);
    }
    // The group's `step` series, made its dimension scale.
    void make_step(hid_t parent) {
        h5::Handle ds = h5::create_series(parent, "step", H5T_NATIVE_INT64, {}, 256, false, {"step"});
        h5::make_scale(ds.get(), "step");
        open_.emplace("step", Scale{std::move(ds), 0});
    }

private:
    struct Scale {
        h5::Handle ds;
        hsize_t size;
    };
    // The open scale of a dimension: made (an index of n) on first use; size: the
    // length the axis has here (nullopt for `step`, which grows).
    hid_t scale_of(const std::string& name, std::optional<hsize_t> size) {
        auto it = open_.find(name);
        if (it == open_.end()) {
            h5::Handle ds = h5::exists(scales_, name)
                                ? h5::Handle(h5::check(H5Dopen2(scales_, name.c_str(), H5P_DEFAULT), "opening dimension scale " + name))
                                : h5::index_scale(scales_, name, size.value_or(0));
            const hsize_t n = name == "step" ? 0 : h5::dataset_shape(scales_, name).at(0);
            it = open_.emplace(name, Scale{std::move(ds), n}).first;
        }
        if (size && name != "step" && it->second.size != *size)
            throw h5::IoError("run file: dimension " + name + " would have two sizes");
        return it->second.ds.get();
    }

    hid_t scales_;
    std::map<std::string, Scale> open_;
};

// Links an unlinked group (H5Gcreate_anon) as name. Its link count is raised to 1 before
// the caller's flush of its contents and stays 1 on disk: linking and dropping the extra
// count happen together, so a kill cannot leave it linked with a count of 0 (which the
// next deletion of the link would refuse) whichever of the root's and the group's
// headers was written.
void hold_unlinked(hid_t group) { h5::check(H5Oincr_refcount(group), "holding a new group"); }
void link_held(hid_t group, hid_t root, const char* name, const std::string& what) {
    h5::check(H5Olink(group, root, name, H5P_DEFAULT, H5P_DEFAULT), what);
    h5::check(H5Odecr_refcount(group), what);
}

// A subgroup's series share the parent's `step`: a hard link to it makes it the
// subgroup's coordinate too (xarray reads one group at a time).
void link_step(hid_t parent, hid_t subgroup) {
    h5::check(H5Lcreate_hard(parent, "step", subgroup, "step", H5P_DEFAULT, H5P_DEFAULT), "linking step");
}

// fill: the group exists (a copied skeleton, below) and only its values are written.
void write_batch(hid_t root, const char* name, const Batch& b, const char* what, bool fill) {
    const hsize_t B = b.B, T = b.T;
    if (fill) {
        h5::Handle g = h5::open_group(root, name);
        h5::rewrite_array(g.get(), "kind", b.kind.data(), b.kind.size());
        h5::rewrite_array(g.get(), "value", b.value.data(), b.value.size());
        h5::rewrite_array(g.get(), "target", b.target.data(), b.target.size());
        h5::rewrite_array(g.get(), "weight", b.weight.data(), b.weight.size());
        h5::rewrite_array(g.get(), "sep_pos", b.sep_pos.data(), b.sep_pos.size());
        return;
    }
    h5::Handle g = h5::create_group(root, name);
    Dims dims(g.get());
    dims.array(g.get(), "kind", {B, T}, b.kind.data(), {"batch", "pos"}, "token kind: 0 number, 1 [SEP], 2 [BOS]");
    dims.array(g.get(), "value", {B, T}, b.value.data(), {"batch", "pos"}, "the number; 0 for [SEP] and [BOS]");
    dims.array(g.get(), "target", {B, T}, b.target.data(), {"batch", "pos"},
               "mean of the numbers after [SEP] up to this position; 0 where undefined");
    dims.array(g.get(), "weight", {B, T}, b.weight.data(), {"batch", "pos"},
               "loss weight: 1 / (supervised positions of the batch) where supervised, else 0");
    dims.array(g.get(), "sep_pos", {B}, b.sep_pos.data(), {"batch"}, "position of [SEP]");
    h5::set_attr(g.get(), "note", what);
}

// Everything of a skeleton that is not its structure depends on these; two run starts
// with the same key have skeletons that differ only in attribute and array values.
std::string skeleton_key(const RunStart& start) {
    const Config& c = start.config;
    const ModelConfig& m = c.model;
    std::string k = std::to_string(m.n_layers) + " " + std::to_string(m.n_heads) + " " + std::to_string(m.d_model) + " " +
                    std::to_string(m.d_head) + " " + std::to_string(m.d_mlp) + " " + std::to_string(c.log.compress) +
                    std::to_string(c.log.eval_set) + std::to_string(c.log.train_set) + std::to_string(start.train != nullptr);
    for (const Batch* b : {&start.probe, &start.eval, start.train})
        if (b) k += " " + std::to_string(b->B) + "x" + std::to_string(b->T);
    for (const TensorSpec& t : start.tensors) {
        k += " " + t.name + "[" + t.axes + "]";
        for (int d : t.shape) k += " " + std::to_string(d);
    }
    if (const Checkpoint* c = start.checkpoint)
        k += " checkpoint " + std::to_string(c->params.size()) + " " + std::to_string(c->opt_m.size()) + " " +
             std::to_string(c->opt_v.size()) + " " + std::to_string(c->order.size());
    return k;
}

// fill: root is a copy of a skeleton of the same key (SkeletonCache): its groups,
// datasets and dimension scales exist, and only the attributes and arrays are written.
void write_skeleton(hid_t root, const RunStart& start, bool fill) {
    using namespace schema;
    const Config& cfg = start.config;
    const Batch& probe = start.probe;
    h5::set_attr(root, kCtrVersion, std::string(CTR_VERSION));
    h5::set_attr(root, kGitDescribe, std::string(CTR_GIT_DESCRIBE));
    h5::set_attr(root, kFormatVersionAttr, kFormatVersion);
    h5::set_attr(root, kConfig, start.config_yaml);
    h5::set_attr(root, kSeed, uint64_t{cfg.seed});  // uint64: seeds >= 2^63 must not read back negative
    h5::set_attr(root, kCreated, now_utc());
    h5::set_attr(root, kStatus, std::string(kRunning));
    const Provenance& p = start.provenance;
    h5::set_attr(root, kCommandLine, p.command_line);
    h5::set_attr(root, kLastCommandLine, p.command_line);
    h5::set_attr(root, kConfigFile, p.config_file);
    h5::set_attr(root, kOverrides, p.overrides);
    h5::set_attr(root, kHost, p.host);
    h5::set_attr(root, kStarted, now_utc());
    h5::set_attr(root, kEnded, std::string());
    h5::set_attr(root, kWallTime, 0.0);
    h5::set_attr(root, kSessions, int64_t{1});
    h5::set_attr(root, kCompiler, p.compiler);
    h5::set_attr(root, kEigenVersion, p.eigen_version);
    h5::set_attr(root, kHdf5Version, p.hdf5_version);
    h5::set_attr(root, kBoostVersion, p.boost_version);

    write_batch(root, kProbe, probe, "the fixed probe batch every snapshot runs on", fill);
    if (cfg.log.eval_set) {
        write_batch(root, kEval, start.eval, "the held-out evaluation set of /metrics/eval_loss", fill);
    } else if (!fill) {  // the sequences follow from the seed and the task keys; a sweep leaves them out
        h5::Handle g = h5::create_group(root, kEval);
        h5::set_attr(g.get(), "note", std::string("the held-out evaluation set of /metrics/eval_loss; its sequences "
                                                  "are not stored (log.eval_set false)"));
    }
    h5::set_attr(h5::open_group(root, kEval).get(), kBaselineMse, start.baseline_mse);
    if (cfg.log.train_set) {
        if (start.train) {
            write_batch(root, kTrain, *start.train,
                        "the training set in the order it was generated (each epoch visits it in a new shuffled order)", fill);
        } else if (!fill) {  // fresh sequences every step: there is no set to store
            h5::Handle g = h5::create_group(root, kTrain);
            h5::set_attr(g.get(), "note", std::string("no training set: task.train_size 0 draws fresh sequences every step"));
        }
    }
    if (fill) return;  // the series are empty
    {
        h5::Handle g = h5::create_group(root, kMetrics);
        Dims dims(g.get());
        dims.make_step(g.get());
        for (const char* name : kMetricColumns) dims.series(g.get(), name, H5T_NATIVE_DOUBLE, {}, 256, false, {"step"});
    }
    {
        const ModelConfig& m = cfg.model;
        const hsize_t B = probe.B, T = probe.T, H = m.n_heads, D = m.d_model, Dh = m.d_head;
        h5::Handle g = h5::create_group(root, kSnapshots);
        Dims dims(g.get());
        dims.make_step(g.get());
        dims.series(g.get(), kSnapshotOutput, H5T_IEEE_F32LE, {B, T}, 1, false, {"step", "batch", "pos"},
                    "the prediction at every position");
        for (int l = 0; l < m.n_layers; ++l) {
            const std::string b = block_prefix(l);
            dims.series(g.get(), b + kPattern, H5T_IEEE_F32LE, {B, H, T, T}, 1, cfg.log.compress,
                        {"step", "batch", "head", "query", "key"});
            for (const char* s : {kHookV, kHookZ})
                dims.series(g.get(), b + s, H5T_IEEE_F32LE, {B, T, H, Dh}, 1, cfg.log.compress,
                            {"step", "batch", "pos", "head", "d_head"});
            // As in TransformerLens, an attention-only block has no resid_mid: it would
            // equal resid_post.
            for (const char* s : {kResidPre, kResidMid, kResidPost})
                if (m.d_mlp > 0 || std::string(s) != kResidMid)
                    dims.series(g.get(), b + s, H5T_IEEE_F32LE, {B, T, D}, 1, false, {"step", "batch", "pos", "d_model"});
        }
        h5::Handle mech = h5::create_group(g.get(), kSnapshotMetrics);
        link_step(g.get(), mech.get());
        const hsize_t L = m.n_layers;
        for (const MechanismSeries& s : kMechanismSeries) {
            std::vector<hsize_t> shape{L, H};
            h5::Axes axes{"step", "layer", "head"};
            if (s.shape == MetricShape::kLayer) shape = {L}, axes = {"step", "layer"};
            if (s.shape == MetricShape::kLayerHeadPos) shape.push_back(T), axes.push_back("key");
            if (s.shape == MetricShape::kLayerHeadDModel) shape.push_back(D), axes.push_back("d_model");
            dims.series(mech.get(), s.name, H5T_NATIVE_DOUBLE, shape, 1, false, axes);
        }
        h5::Handle headline = h5::create_group(g.get(), kSnapshotHeadline);
        link_step(g.get(), headline.get());
        for (const char* name : kHeadlineColumns) dims.series(headline.get(), name, H5T_NATIVE_DOUBLE, {}, 256, false, {"step"});
        h5::Handle params = h5::create_group(g.get(), kSnapshotParams);
        link_step(g.get(), params.get());
        for (const TensorSpec& t : start.tensors) {
            h5::Axes axes = param_axes(t);
            axes.insert(axes.begin(), "step");
            dims.series(params.get(), t.name, H5T_NATIVE_DOUBLE, as_hsize(t.shape), 1, cfg.log.compress, axes);
        }
    }
}

// A new checkpoint group holding c, unlinked and held (hold_unlinked): its datasets,
// their dimension scales and the parameters as named tensors; the caller adds the
// attributes and links it.
h5::Handle make_checkpoint_group(hid_t root, const Checkpoint& c, const std::vector<TensorSpec>& tensors) {
    using namespace schema::checkpoint;
    h5::Handle g(h5::check(H5Gcreate_anon(root, H5P_DEFAULT, H5P_DEFAULT), "creating the checkpoint"));
    hold_unlinked(g.get());
    Dims dims(g.get());
    const hsize_t P = c.params.size();
    dims.array(g.get(), kParams, {P}, c.params.data(), {"param"}, "all parameters, flat, in ParamLayout order");
    dims.array(g.get(), kOptM, {P}, c.opt_m.data(), {"param"}, "AdamW first moment or SGD momentum");
    if (!c.opt_v.empty()) dims.array(g.get(), kOptV, {P}, c.opt_v.data(), {"param"}, "AdamW second moment");
    const hsize_t n_order = c.order.size();
    if (n_order > 0)
        dims.array(g.get(), kOrder, {n_order}, c.order.data(), {"train_index"}, "this epoch's order of the training set");
    // The same parameters as named tensors; the flat buffer stays what a resume reads.
    h5::Handle named = h5::create_group(g.get(), kTensors);
    for (const TensorSpec& t : tensors)
        if (t.offset + t.size <= c.params.size())
            dims.array(named.get(), t.name, as_hsize(t.shape), c.params.data() + t.offset, param_axes(t));
    return g;
}

// The object header address of an open object.
haddr_t address_of(hid_t obj) {
    H5O_info_t info;
    h5::check(H5Oget_info2(obj, &info, H5O_INFO_BASIC), "locating a checkpoint group");
    return info.addr;
}

}  // namespace

RunFileWriter::RunFileWriter(SeriesFile file, std::string path) : file_(std::move(file)), path_(std::move(path)) {
    resid_mid_ = h5::exists(file_.root(), std::string(schema::kSnapshots) + "/" + block_prefix(0) + schema::kResidMid);
}

RunFileWriter RunFileWriter::create(const std::string& path, const RunStart& start, bool replace) {
    SkeletonCache* cache = start.skeletons;
    const std::string key = cache ? skeleton_key(start) : std::string();
    const bool copy = cache && !cache->bytes_.empty() && cache->key_ == key;
    std::vector<h5::Handle> premade;
    RunFileWriter w(SeriesFile::create(
                        path, "run file",
                        [&](SeriesFile& f) {
                            write_skeleton(f.root(), start, copy);
                            if (copy) {  // the copy's checkpoint groups, still unlinked and held
                                for (haddr_t at : cache->checkpoints_)
                                    premade.emplace_back(h5::check(H5Oopen_by_addr(f.root(), at), "opening a checkpoint group"));
                            } else if (cache && start.checkpoint) {
                                for (int i = 0; i < SkeletonCache::kCheckpoints; ++i)
                                    premade.push_back(make_checkpoint_group(f.root(), *start.checkpoint, start.tensors));
                            }
                        },
                        replace, copy ? &cache->bytes_ : nullptr),
                    path);
    if (cache && !copy) {  // this skeleton, as flushed, for the next run of the key
        cache->key_.clear();
        cache->bytes_.clear();
        cache->checkpoints_.clear();
        std::ifstream in(w.file_.path(), std::ios::binary);
        std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (in.good() || in.eof()) {
            cache->key_ = key;
            cache->bytes_ = std::move(bytes);
            for (const h5::Handle& g : premade) cache->checkpoints_.push_back(address_of(g.get()));
        }
    }
    w.premade_ = std::move(premade);
    w.tensors_ = start.tensors;
    return w;
}

RunFileWriter RunFileWriter::open(const std::string& path) {
    RunFileWriter w(SeriesFile::open(path, true), path);
    w.reader();  // refuses what is not a run file of this format
    return w;
}

RunFileReader RunFileWriter::reader() {
    file_.write_pending();
    return RunFileReader::of_open_file(file_.root(), file_.path());
}

void RunFileWriter::set_config_yaml(const std::string& yaml) { h5::set_attr(file_.root(), schema::kConfig, yaml); }

void RunFileWriter::begin_session(const Provenance& p) {
    using namespace schema;
    const hid_t root = file_.root();
    h5::set_attr(root, kLastCommandLine, p.last_command_line);
    h5::set_attr(root, kHost, p.host);
    h5::set_attr(root, kSessions, h5::get_attr_int(root, kSessions) + 1);
    h5::set_attr(root, kEnded, std::string());
}

void RunFileWriter::end_session(double seconds) {
    using namespace schema;
    // The retired checkpoint is deleted now, in the session's last flush, not when the
    // file is closed after it; so are checkpoint groups made with the skeleton and not
    // used (their count dropped to 0, HDF5 deletes them as they close).
    spare_.reset();
    for (h5::Handle& g : premade_) {
        H5Odecr_refcount(g.get());
        g.reset();
    }
    premade_.clear();
    const hid_t root = file_.root();
    h5::set_attr(root, kEnded, now_utc());
    h5::set_attr(root, kWallTime, h5::get_attr_double(root, kWallTime) + seconds);
}
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
        file_.append(b + kHookV, real_type, a.v.data());
        file_.append(b + kHookZ, real_type, a.z.data());
        file_.append(b + kResidPre, real_type, a.resid_pre.data());
        if (resid_mid_) file_.append(b + kResidMid, real_type, a.resid_mid.data());
        file_.append(b + kResidPost, real_type, a.resid_post.data());
    }
    for (const TensorSpec& t : s.tensors)
        file_.append(g + kSnapshotParams + "/" + t.name, real_type, s.params + t.offset);
    for (const MechanismSeries& m : kMechanismSeries)
        file_.append(g + kSnapshotMetrics + "/" + m.name, H5T_NATIVE_DOUBLE, (s.metrics.*m.field).data());
    const Headline& h = s.headline;
    const double values[] = {h.catch_score, h.tag_separation, h.tag_lda, h.release, h.pair_score, h.rel_error};
    static_assert(std::size(values) == std::size(kHeadlineColumns));
    for (size_t i = 0; i < std::size(values); ++i)
        file_.append(g + kSnapshotHeadline + "/" + kHeadlineColumns[i], H5T_NATIVE_DOUBLE, &values[i]);
}

void RunFileWriter::write_verdict(const RunVerdict& r) {
    using namespace schema::verdict;
    const hid_t root = file_.root();
    // Written unlinked and flushed, then linked (as a checkpoint is): a kill leaves either
    // no /verdict or a whole one, never a link to a half-written group.
    h5::Handle g(h5::check(H5Gcreate_anon(root, H5P_DEFAULT, H5P_DEFAULT), "creating /verdict"));
    const hid_t id = g.get();
    hold_unlinked(id);
    const Verdict& v = r.verdict;
    const Emergence& e = r.emergence;
    const CausalResult& c = r.causal;
    h5::set_attr(id, kSuccess, v.success);
    h5::set_attr(id, kSolved, v.solved);
    h5::set_attr(id, kMechanism, v.mechanism);
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
    h5::set_attr(id, kTagLda, v.tag_lda);
    for (size_t k = 0; k < kMilestones; ++k) {
        const std::string n = kMilestoneNames[k];
        const Crossing& c = e.of[k];
        h5::set_attr(id, n + kEmergenceWord, c.word());
        h5::set_attr(id, n + kFirstStep, c.first);
        h5::set_attr(id, n + kHeldFromStep, c.held_from);
        h5::set_attr(id, n + kLostStep, c.lost);
        h5::set_attr(id, n + kSwitches, c.switches);
        h5::set_attr(id, n + kHeldAtEnd, c.held_at_end);
    }
    h5::set_attr(id, kStory, emergence_story(e));
    h5::set_attr(id, kCausalLayer, int64_t{c.layer});
    h5::set_attr(id, kCausalHead, int64_t{c.head});
    h5::set_attr(id, kCleanLoss, c.clean_loss);
    h5::set_attr(id, kCatchAblatedLoss, c.catch_ablated_loss);
    h5::set_attr(id, kTagAblatedLoss, c.tag_ablated_loss);
    file_.flush();
    if (h5::exists(root, schema::kVerdict))
        h5::check(H5Ldelete(root, schema::kVerdict, H5P_DEFAULT), "replacing /verdict");
    link_held(id, root, schema::kVerdict, "linking /verdict");
}

namespace {

// Whether the retired checkpoint group g holds datasets of c's shapes (always, within
// one session: the run's model and training set do not change).
bool fits(hid_t g, const Checkpoint& c) {
    using namespace schema::checkpoint;
    auto size_of = [g](const char* name) -> size_t {
        if (!h5::exists(g, name)) return 0;
        size_t n = 1;
        for (hsize_t d : h5::dataset_shape(g, name)) n *= d;
        return n;
    };
    return size_of(kParams) == c.params.size() && size_of(kOptM) == c.opt_m.size() && size_of(kOptV) == c.opt_v.size() &&
           size_of(kOrder) == c.order.size() && h5::exists(g, kTensors);
}

}  // namespace

void RunFileWriter::write_checkpoint(const Checkpoint& c) {
    using namespace schema::checkpoint;
    // 0. The rows queued so far, in a flush of their own (the row counts recorded below
    //    must include every one), so that the checkpoint's flush writes only new objects.
    file_.flush();
    const hid_t root = file_.root();
    // 1. The new checkpoint, complete, in an unlinked group: nothing that exists changes,
    //    so a kill leaves the last flush's /checkpoint and at most some unused space. Its
    //    strings are fixed-length, stored in their attributes: a variable-length one
    //    lives in HDF5's shared global heap, which a kill can tear so that reading it
    //    never ends (docs/reliability.md). The
    //    group is the one the previous swap retired when there is one (no link reaches
    //    it on disk since that swap's last flush): its datasets are rewritten in place,
    //    which spares making some 30 datasets and attaching their dimension scales
    //    (docs/performance.md); else a new one.
    h5::Handle g;
    bool reuse = false;
    if (spare_.valid() && fits(spare_.get(), c)) {
        g = std::move(spare_);
        hold_unlinked(g.get());
        reuse = true;
    } else if (!premade_.empty() && fits(premade_.back().get(), c)) {  // held since it was made
        g = std::move(premade_.back());
        premade_.pop_back();
        reuse = true;
    }
    if (reuse) {
        if (h5::has_attr(g.get(), kComplete))  // not a checkpoint until the end
            h5::check(H5Adelete(g.get(), kComplete), "rewriting the checkpoint");
        h5::rewrite_array(g.get(), kParams, c.params.data(), c.params.size());
        h5::rewrite_array(g.get(), kOptM, c.opt_m.data(), c.opt_m.size());
        if (!c.opt_v.empty()) h5::rewrite_array(g.get(), kOptV, c.opt_v.data(), c.opt_v.size());
        if (!c.order.empty()) h5::rewrite_array(g.get(), kOrder, c.order.data(), c.order.size());
        h5::Handle named = h5::open_group(g.get(), kTensors);
        for (const TensorSpec& t : tensors_)
            if (t.offset + t.size <= c.params.size()) h5::rewrite_array(named.get(), t.name, c.params.data() + t.offset, t.size);
    } else {
        spare_.reset();
        g = make_checkpoint_group(root, c, tensors_);
    }
    h5::set_attr(g.get(), kStep, c.step);
    h5::set_attr(g.get(), kEpoch, c.epoch);
    h5::set_attr(g.get(), kBatchInEpoch, c.batch_in_epoch);
    h5::set_attr(g.get(), kOptT, c.opt_t);
    h5::set_attr(g.get(), kRowLossSum, c.row_loss_sum);
    h5::set_attr(g.get(), kRowGradNormSum, c.row_grad_norm_sum);
    h5::set_attr(g.get(), kRowSteps, c.row_steps);
    h5::set_attr_inline(g.get(), kShuffleRng, c.shuffle_rng);
    h5::set_attr_inline(g.get(), kFreshRng, c.fresh_rng);
    h5::set_attr(g.get(), kMetricsRows, static_cast<int64_t>(h5::n_rows(root, schema::kMetricsStep)));
    h5::set_attr(g.get(), kSnapshotRows, static_cast<int64_t>(h5::n_rows(root, schema::kSnapshotsStep)));
    h5::set_attr_inline(g.get(), kConfig, h5::get_attr_string(root, schema::kConfig));
    h5::set_attr(g.get(), kComplete, int64_t{1});  // last: a group without it is not a checkpoint
    file_.flush();
    // 2. The swap, in one flush that writes only the root group's header (one block, see
    //    SeriesFile::create): the old checkpoint moves aside, the new one takes its name.
    //    It allocates and frees nothing, so no data can land on the old checkpoint's space
    //    while a file on disk may still point to it.
    if (h5::exists(root, schema::kCheckpointOld))  // left by a kill after step 2 (resumes clear it)
        h5::check(H5Ldelete(root, schema::kCheckpointOld, H5P_DEFAULT), "replacing the checkpoint");
    if (h5::exists(root, schema::kCheckpoint))
        h5::check(H5Lmove(root, schema::kCheckpoint, root, schema::kCheckpointOld, H5P_DEFAULT, H5P_DEFAULT),
                  "replacing the checkpoint");
    link_held(g.get(), root, schema::kCheckpoint, "replacing the checkpoint");
    const bool old_is_ours = current_is_ours_;
    current_is_ours_ = true;
    file_.flush();
    // 3. Only now the old one goes. One this writer made stays open as the spare the
    //    next checkpoint rewrites (its space is then not free for later rows);
    //    end_session lets it go.
    if (h5::exists(root, schema::kCheckpointOld)) {
        h5::Handle old;
        if (old_is_ours) old = h5::Handle(H5Gopen2(root, schema::kCheckpointOld, H5P_DEFAULT));
        H5Eclear2(H5E_DEFAULT);
        h5::check(H5Ldelete(root, schema::kCheckpointOld, H5P_DEFAULT), "replacing the checkpoint");
        if (old.valid()) spare_ = std::move(old);
    }
    file_.flush();
    file_.publish();
}

int RunFileWriter::settle_checkpoints() {
    const hid_t root = file_.root();
    const std::optional<std::string> chosen = reader().checkpoint_name();
    if (!chosen) throw h5::IoError(path() + " has no checkpoint to resume from");
    haddr_t eoa = 0;
    h5::check(H5Fget_eoa(root, &eoa), "reading the extent of " + path_);
    // The chosen one takes the name /checkpoint (after a kill during a swap it may be
    // /checkpoint.old or, in older files, /checkpoint.new[.N]); what held the name moves
    // aside, to be deleted with the rest.
    if (*chosen != schema::kCheckpoint) {
        if (h5::exists(root, schema::kCheckpoint)) {
            std::string aside = schema::kCheckpointStaging;
            for (int i = 1; h5::exists(root, aside); ++i)
                aside = std::string(schema::kCheckpointStaging) + "." + std::to_string(i);
            h5::check(H5Lmove(root, schema::kCheckpoint, root, aside.c_str(), H5P_DEFAULT, H5P_DEFAULT),
                      "restoring the checkpoint");
        }
        h5::check(H5Lmove(root, chosen->c_str(), root, schema::kCheckpoint, H5P_DEFAULT, H5P_DEFAULT),
                  "restoring the checkpoint");
    }
    // Files written before link_held could be left, by a kill between the swap's write of
    // the root group and that of the new group's header, with the group linked and a
    // link count of 0: set it right, or the next swap would delete it while linked.
    H5O_info_t info;
    h5::check(H5Oget_info_by_name2(root, schema::kCheckpoint, &info, H5O_INFO_BASIC, H5P_DEFAULT), "reading the checkpoint");
    if (info.rc < 1) {
        h5::Handle g = h5::open_group(root, schema::kCheckpoint);
        h5::check(H5Oincr_refcount(g.get()), "repairing the checkpoint's link count");
    }
    std::vector<std::string> stale;
    for (const std::string& n : reader().checkpoint_groups())
        if (n != schema::kCheckpoint) stale.push_back(n);
    // Whether every dataset below a group has its data inside the recorded extent.
    struct Extent {
        haddr_t eoa;
        bool inside = true;
    };
    auto visit = [](hid_t group, const char* name, const H5O_info_t* info, void* data) -> herr_t {
        auto& e = *static_cast<Extent*>(data);
        if (info->addr == HADDR_UNDEF || info->addr >= e.eoa) {  // the object's header itself
            e.inside = false;
            return 1;
        }
        if (info->type != H5O_TYPE_DATASET) return 0;
        h5::Handle ds(H5Dopen2(group, name, H5P_DEFAULT));
        if (!ds.valid()) {
            e.inside = false;
            return 1;
        }
        const haddr_t at = H5Dget_offset(ds.get());
        const hsize_t size = H5Dget_storage_size(ds.get());
        // Unallocated data (HADDR_UNDEF with size 0) takes no space; chunked data has no
        // single offset, and its chunks are not checked: treated as outside.
        if (size > 0 && (at == HADDR_UNDEF || at + size > e.eoa)) {
            e.inside = false;
            return 1;
        }
        return 0;
    };
    int removed = 0;
    for (const std::string& name : stale) {
        Extent extent{eoa};
        {
            h5::Handle g(H5Gopen2(root, name.c_str(), H5P_DEFAULT));
            if (!g.valid() || H5Ovisit2(g.get(), H5_INDEX_NAME, H5_ITER_INC, visit, &extent, H5O_INFO_BASIC) < 0)
                extent.inside = false;
        }
        H5Eclear2(H5E_DEFAULT);
        if (extent.inside && H5Ldelete(root, name.c_str(), H5P_DEFAULT) >= 0) ++removed;
    }
    H5Eclear2(H5E_DEFAULT);
    file_.flush();  // before anything else is written: later writes may reuse the freed space
    return removed;
}

void RunFileWriter::reopen() {
    if (spare_.valid() || !premade_.empty()) throw h5::IoError("reopening " + path_ + " while a checkpoint group is held");
    file_.reopen();
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
