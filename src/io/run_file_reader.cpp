#include "io/run_file_reader.hpp"

#include <algorithm>
#include <filesystem>
#include <iterator>

#include "io/file_check.hpp"
#include "io/run_schema.hpp"

namespace ctr {
namespace {

// A 1-D series at its own length (a run being written may have extended some series
// past others since the reader looked).
template <class T>
std::vector<T> read_column(hid_t root, const std::string& name) {
    std::vector<T> v(h5::n_rows(root, name));
    h5::read_array(root, name, h5::native_type<T>(), v.data(), v.size());
    return v;
}

uint64_t get_u64_attr(hid_t obj, const char* name) {
    h5::Handle attr(h5::check(H5Aopen(obj, name, H5P_DEFAULT), std::string("attribute ") + name));
    uint64_t value = 0;
    h5::check(H5Aread(attr.get(), H5T_NATIVE_UINT64, &value), std::string("reading attribute ") + name);
    return value;
}

}  // namespace

RunFileReader::RunFileReader(std::string path, h5::Handle file) : path_(std::move(path)), file_(std::move(file)) {
    using namespace schema;
    const hid_t root = file_.get();
    // The root's header unreadable is damage, not another kind of file (the superblock
    // points to it, so HDF5 opened the file without reading it).
    H5O_info_t root_info;
    if (H5Oget_info2(root, &root_info, H5O_INFO_BASIC) < 0 || H5Aexists(root, kConfig) < 0) {
        H5Eclear2(H5E_DEFAULT);
        throw h5::IoError(path_ + " is damaged: HDF5 cannot read its root group (ctr cannot read or continue it)",
                          h5::Cause::kDamaged);
    }
    if (!h5::has_attr(root, kConfig) || !h5::exists(root, kMetrics))
        throw h5::IoError(path_ + " is an HDF5 file but not a ctr run file (no config attribute or /metrics)",
                          h5::Cause::kNotRunFile);
    const int64_t version = h5::has_attr(root, kFormatVersionAttr) ? h5::get_attr_int(root, kFormatVersionAttr) : 0;
    if (version != kFormatVersion)
        throw h5::IoError(path_ + ": run file format_version " + std::to_string(version) + ", but this ctr reads format_version " +
                          std::to_string(kFormatVersion) + " only (the file was written by ctr " +
                          (h5::has_attr(root, kGitDescribe) ? h5::get_attr_string(root, kGitDescribe) : std::string("?")) +
                          "; read it with that version)",
                          h5::Cause::kFormatVersion);
}

void RunFileReader::check_openable(const std::string& path) { check_run_file_path(path, false); }

RunFileReader RunFileReader::open(const std::string& path) {
    h5::quiet_errors();
    check_openable(path);
    // No file lock: a reader can look at a run in progress.
    h5::Handle fapl(h5::check(H5Pcreate(H5P_FILE_ACCESS), "file access list"));
    h5::check(H5Pset_file_locking(fapl.get(), false, true), "file locking");
    h5::Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()));
    H5Eclear2(H5E_DEFAULT);
    if (!file.valid()) throw open_failure(path, false);
    return RunFileReader(path, std::move(file));
}

RunFileReader RunFileReader::of_open_file(hid_t file, const std::string& path) {
    h5::check(H5Iinc_ref(file), "sharing the file handle of " + path);
    return RunFileReader(path, h5::Handle(file));
}

RunInfo RunFileReader::info() const {
    using namespace schema;
    const hid_t root = file_.get();
    RunInfo r;
    r.ctr_version = h5::get_attr_string(root, kCtrVersion);
    r.git_describe = h5::get_attr_string(root, kGitDescribe);
    r.created = h5::get_attr_string(root, kCreated);
    r.status = h5::get_attr_string(root, kStatus);
    r.config_yaml = h5::get_attr_string(root, kConfig);
    r.seed = get_u64_attr(root, kSeed);
    r.format_version = h5::get_attr_int(root, kFormatVersionAttr);
    Provenance& p = r.provenance;
    p.command_line = h5::get_attr_string(root, kCommandLine);
    p.last_command_line = h5::get_attr_string(root, kLastCommandLine);
    p.config_file = h5::get_attr_string(root, kConfigFile);
    p.overrides = h5::get_attr_string(root, kOverrides);
    p.host = h5::get_attr_string(root, kHost);
    p.started = h5::get_attr_string(root, kStarted);
    p.ended = h5::get_attr_string(root, kEnded);
    p.wall_time = h5::get_attr_double(root, kWallTime);
    p.sessions = h5::get_attr_int(root, kSessions);
    p.compiler = h5::get_attr_string(root, kCompiler);
    p.eigen_version = h5::get_attr_string(root, kEigenVersion);
    p.hdf5_version = h5::get_attr_string(root, kHdf5Version);
    p.boost_version = h5::get_attr_string(root, kBoostVersion);
    return r;
}

std::string RunFileReader::config_yaml() const { return h5::get_attr_string(file_.get(), schema::kConfig); }
std::string RunFileReader::status() const { return h5::get_attr_string(file_.get(), schema::kStatus); }

MetricsTable RunFileReader::metrics() const {
    const hid_t root = file_.get();
    const std::string g = std::string(schema::kMetrics) + "/";
    MetricsTable t;
    t.step = read_column<int64_t>(root, schema::kMetricsStep);
    std::vector<double>* cols[] = {&t.train_loss, &t.grad_norm, &t.lr, &t.eval_loss, &t.eval_rel_error};
    static_assert(std::size(cols) == std::size(schema::kMetricColumns));
    size_t rows = t.step.size();
    for (size_t i = 0; i < std::size(cols); ++i) {
        *cols[i] = read_column<double>(root, g + schema::kMetricColumns[i]);
        rows = std::min(rows, cols[i]->size());
    }
    t.step.resize(rows);
    for (std::vector<double>* c : cols) c->resize(rows);
    return t;
}

std::vector<int64_t> RunFileReader::snapshot_steps() const { return read_column<int64_t>(file_.get(), schema::kSnapshotsStep); }

std::vector<Headline> RunFileReader::headlines() const {
    const hid_t root = file_.get();
    const std::string g = std::string(schema::kSnapshots) + "/" + schema::kSnapshotHeadline + "/";
    const std::vector<int64_t> steps = snapshot_steps();
    std::vector<std::vector<double>> cols;
    size_t n = steps.size();
    for (const char* name : schema::kHeadlineColumns) {
        cols.push_back(read_column<double>(root, g + name));
        n = std::min(n, cols.back().size());
    }
    std::vector<Headline> out(n);
    for (size_t k = 0; k < n; ++k) {
        out[k].step = steps[k];
        out[k].catch_score = cols[0][k];
        out[k].tag_separation = cols[1][k];
        out[k].tag_lda = cols[2][k];
        out[k].release = cols[3][k];
        out[k].pair_score = cols[4][k];
        out[k].rel_error = cols[5][k];
    }
    return out;
}

std::vector<double> RunFileReader::snapshot_series(const std::string& name, std::vector<hsize_t>* shape) const {
    const std::string path = std::string(schema::kSnapshots) + "/" + name;
    if (!h5::exists(file_.get(), path)) throw h5::IoError(path_ + ": no snapshot series /" + path);
    const std::vector<hsize_t> dims = h5::dataset_shape(file_.get(), path);
    size_t count = 1;
    for (hsize_t d : dims) count *= d;
    std::vector<double> out(count);
    h5::read_array(file_.get(), path, H5T_NATIVE_DOUBLE, out.data(), count);
    if (shape) *shape = dims;
    return out;
}

std::vector<std::string> RunFileReader::checkpoint_groups() const {
    std::vector<std::string> names;
    H5G_info_t info;
    if (H5Gget_info(file_.get(), &info) < 0) {
        H5Eclear2(H5E_DEFAULT);
        return names;
    }
    for (hsize_t i = 0; i < info.nlinks; ++i) {
        char name[1024];
        if (H5Lget_name_by_idx(file_.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT) < 0) continue;
        const std::string n = name;
        if (n == schema::kCheckpoint || n.rfind(std::string(schema::kCheckpoint) + ".", 0) == 0) names.push_back(n);
    }
    H5Eclear2(H5E_DEFAULT);
    return names;
}

std::optional<std::string> RunFileReader::checkpoint_name() const {
    using namespace schema::checkpoint;
    std::optional<std::string> best;
    int64_t best_step = -1;
    for (const std::string& n : checkpoint_groups()) {
        // /checkpoint of a file written before the marker existed is complete: it was
        // only ever linked whole. Every other name needs the marker.
        try {
            h5::Handle g(H5Gopen2(file_.get(), n.c_str(), H5P_DEFAULT));
            if (!g.valid() || !h5::has_attr(g.get(), kStep)) continue;
            if (n != schema::kCheckpoint && !h5::has_attr(g.get(), kComplete)) continue;
            const int64_t step = h5::get_attr_int(g.get(), kStep);
            // Ties: /checkpoint, then /checkpoint.old (the final checkpoint is written twice).
            const auto rank = [](const std::string& name) {
                return name == schema::kCheckpoint ? 0 : name == schema::kCheckpointOld ? 1 : 2;
            };
            if (step > best_step || (best && step == best_step && rank(n) < rank(*best))) best = n, best_step = step;
        } catch (const h5::IoError&) {
        }
        H5Eclear2(H5E_DEFAULT);
    }
    return best;
}

std::optional<std::string> RunFileReader::data_past_end() const {
    haddr_t eoa = 0;
    if (H5Fget_eoa(file_.get(), &eoa) < 0) {
        H5Eclear2(H5E_DEFAULT);
        return std::string("/");
    }
    struct Visit {
        haddr_t eoa;
        std::string prefix, found;
    };
    auto visit = [](hid_t group, const char* name, const H5O_info_t* info, void* data) -> herr_t {
        auto& v = *static_cast<Visit*>(data);
        const std::string path = v.prefix + "/" + name;
        if (info->addr == HADDR_UNDEF || info->addr >= v.eoa) return v.found = path, 1;
        if (info->type != H5O_TYPE_DATASET) return 0;
        h5::Handle ds(H5Dopen2(group, name, H5P_DEFAULT));
        if (!ds.valid()) return v.found = path, 1;
        h5::Handle dcpl(H5Dget_create_plist(ds.get()));
        if (dcpl.valid() && H5Pget_layout(dcpl.get()) == H5D_CHUNKED) {
            hsize_t n = 0;
            h5::Handle space(H5Dget_space(ds.get()));  // (HDF5 1.10 refuses H5S_ALL here)
            if (!space.valid() || H5Dget_num_chunks(ds.get(), space.get(), &n) < 0) return v.found = path, 1;
            std::vector<hsize_t> offset(std::max(1, H5Sget_simple_extent_ndims(space.get())));
            for (hsize_t i = 0; i < n; ++i) {
                haddr_t at = HADDR_UNDEF;
                hsize_t size = 0;
                unsigned filters = 0;
                if (H5Dget_chunk_info(ds.get(), space.get(), i, offset.data(), &filters, &at, &size) < 0 || at == HADDR_UNDEF ||
                    at + size > v.eoa)
                    return v.found = path, 1;
            }
            return 0;
        }
        const haddr_t at = H5Dget_offset(ds.get());
        const hsize_t size = H5Dget_storage_size(ds.get());
        if (size > 0 && at != HADDR_UNDEF && at + size > v.eoa) return v.found = path, 1;
        return 0;
    };
    std::vector<std::string> groups{schema::kMetrics, schema::kSnapshots};
    if (const std::optional<std::string> c = checkpoint_name()) groups.push_back(*c);
    for (const std::string& g : groups) {
        Visit v{eoa, "/" + g, {}};
        h5::Handle group(H5Gopen2(file_.get(), g.c_str(), H5P_DEFAULT));
        if (!group.valid() || H5Ovisit2(group.get(), H5_INDEX_NAME, H5_ITER_INC, visit, &v, H5O_INFO_BASIC) < 0)
            v.found = v.found.empty() ? "/" + g : v.found;
        H5Eclear2(H5E_DEFAULT);
        if (!v.found.empty()) return v.found;
    }
    return std::nullopt;
}

std::optional<int64_t> RunFileReader::checkpoint_step() const {
    const std::optional<std::string> name = checkpoint_name();
    if (!name) return std::nullopt;
    return h5::get_attr_int(h5::open_group(file_.get(), *name).get(), schema::checkpoint::kStep);
}

std::optional<Checkpoint> RunFileReader::checkpoint() const {
    using namespace schema::checkpoint;
    const std::optional<std::string> name = checkpoint_name();
    if (!name) return std::nullopt;
    h5::Handle g = h5::open_group(file_.get(), *name);
    const hid_t id = g.get();
    const hid_t rt = h5::native_type<real>();
    Checkpoint c;
    auto read = [&](const char* name, hid_t type, auto& v) {
        if (!h5::exists(id, name)) return;
        const std::vector<hsize_t> dims = h5::dataset_shape(id, name);
        v.resize(dims.empty() ? 0 : dims[0]);
        h5::read_array(id, name, type, v.data(), v.size());
    };
    read(kParams, rt, c.params);
    read(kOptM, rt, c.opt_m);
    read(kOptV, rt, c.opt_v);
    read(kOrder, H5T_NATIVE_INT32, c.order);
    c.step = h5::get_attr_int(id, kStep);
    c.epoch = h5::get_attr_int(id, kEpoch);
    c.batch_in_epoch = h5::get_attr_int(id, kBatchInEpoch);
    c.opt_t = h5::get_attr_int(id, kOptT);
    c.row_loss_sum = h5::get_attr_double(id, kRowLossSum);
    c.row_grad_norm_sum = h5::get_attr_double(id, kRowGradNormSum);
    c.row_steps = h5::get_attr_int(id, kRowSteps);
    c.shuffle_rng = h5::get_attr_string(id, kShuffleRng);
    c.fresh_rng = h5::get_attr_string(id, kFreshRng);
    c.metrics_rows = h5::get_attr_int(id, kMetricsRows);
    c.snapshot_rows = h5::get_attr_int(id, kSnapshotRows);
    if (h5::has_attr(id, kConfig)) c.config_yaml = h5::get_attr_string(id, kConfig);
    return c;
}

std::optional<RunVerdict> RunFileReader::verdict() const {
    using namespace schema::verdict;
    if (!h5::exists(file_.get(), schema::kVerdict)) return std::nullopt;
    h5::Handle g = h5::open_group(file_.get(), schema::kVerdict);
    const hid_t id = g.get();
    RunVerdict r;
    Verdict& v = r.verdict;
    v.success = h5::get_attr_bool(id, kSuccess);
    v.solved = h5::get_attr_bool(id, kSolved);
    v.mechanism = h5::get_attr_bool(id, kMechanism);
    v.summary = h5::get_attr_string(id, kSummary);
    v.rel_error = h5::get_attr_double(id, kRelError);
    v.catch_layer = static_cast<int>(h5::get_attr_int(id, kCatchLayer));
    v.catch_head = static_cast<int>(h5::get_attr_int(id, kCatchHead));
    v.release_layer = static_cast<int>(h5::get_attr_int(id, kReleaseLayer));
    v.release_head = static_cast<int>(h5::get_attr_int(id, kReleaseHead));
    v.catch_score = h5::get_attr_double(id, kCatch);
    v.release = h5::get_attr_double(id, kRelease);
    v.release_evenness = h5::get_attr_double(id, kReleaseEvenness);
    v.tag_separation = h5::get_attr_double(id, kTagSeparation);
    v.tag_lda = h5::get_attr_double(id, kTagLda);
    Emergence& e = r.emergence;
    for (size_t k = 0; k < kMilestones; ++k) {
        const std::string n = kMilestoneNames[k];
        Crossing& c = e.of[k];
        c.measured = h5::get_attr_string(id, n + kEmergenceWord) != "not measured";
        c.first = h5::get_attr_int(id, n + kFirstStep);
        c.held_from = h5::get_attr_int(id, n + kHeldFromStep);
        c.lost = h5::get_attr_int(id, n + kLostStep);
        c.switches = h5::get_attr_int(id, n + kSwitches);
        c.held_at_end = h5::get_attr_bool(id, n + kHeldAtEnd);
    }
    e.catch_step = e[Milestone::kCatch].held_from;
    e.tag_step = e[Milestone::kTag].held_from;
    e.release_step = e[Milestone::kRelease].held_from;
    e.solved_step = e[Milestone::kSolved].held_from;
    CausalResult& c = r.causal;
    c.layer = static_cast<int>(h5::get_attr_int(id, kCausalLayer));
    c.head = static_cast<int>(h5::get_attr_int(id, kCausalHead));
    c.clean_loss = h5::get_attr_double(id, kCleanLoss);
    c.catch_ablated_loss = h5::get_attr_double(id, kCatchAblatedLoss);
    c.tag_ablated_loss = h5::get_attr_double(id, kTagAblatedLoss);
    c.catch_increase = c.catch_ablated_loss - c.clean_loss;
    c.tag_increase = c.tag_ablated_loss - c.clean_loss;
    return r;
}

}  // namespace ctr
