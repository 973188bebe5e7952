// ctr-inspect: a run file's config, progress, final metrics, emergence and verdict in a
// few lines, without Python.
#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "config/load.hpp"
#include "io/run_file.hpp"

namespace po = boost::program_options;
using namespace ctr;

namespace {

const char* const kUsage = "usage: ctr-inspect RUN.h5\n";

double last_value(hid_t root, const std::string& name, size_t n) {
    std::vector<double> v(n);
    h5::read_array(root, name, H5T_NATIVE_DOUBLE, v.data(), n);
    return n ? v.back() : 0.0;
}

int inspect(const std::string& path) {
    RunFile run = RunFile::open(path, false);
    const hid_t root = run.handle();
    const Config cfg = load_config_text(run.config_yaml(), path + ":/config").config;
    const ModelConfig& m = cfg.model;
    const TrainConfig& t = cfg.train;
    const std::string status = run.status();
    std::printf("%s  status: %s  ctr %s  created %s\n", path.c_str(),
                status == "running" ? "running (or stopped without a clean exit)" : status.c_str(),
                h5::get_attr_string(root, "ctr_git_describe").c_str(), h5::get_attr_string(root, "created").c_str());
    std::printf("model: %d layers x %d heads, d_model %d, d_head %d, %s, norm %s%s, positions %s, init %s\n", m.n_layers,
                m.n_heads, m.d_model, m.d_head, m.d_mlp > 0 ? ("MLP " + std::to_string(m.d_mlp) + " " + m.act).c_str() : "attention-only",
                m.norm.c_str(), m.qk_norm ? " + qk-norm" : "", m.positions.c_str(), m.init.c_str());
    std::printf("task: T %d%s, numbers %s, supervise %s;  train: %s lr %g wd %g, batch %d, %s, seed %llu\n",
                cfg.task.seq_len, cfg.task.bos ? " with [BOS]" : "", cfg.task.numbers.c_str(), cfg.task.supervise.c_str(),
                t.optimizer.c_str(), t.lr, t.weight_decay, t.batch_size,
                t.steps > 0 ? (std::to_string(t.steps) + " steps").c_str() : (std::to_string(t.epochs) + " epochs").c_str(),
                static_cast<unsigned long long>(cfg.seed));

    const size_t rows = h5::n_rows(root, "metrics/step");
    if (rows > 0) {
        std::vector<int64_t> steps(rows);
        h5::read_array(root, "metrics/step", H5T_NATIVE_INT64, steps.data(), rows);
        std::printf("last metrics (step %lld): train loss %.4g  eval loss %.4g  eval rel_error %.4g\n",
                    static_cast<long long>(steps.back()), last_value(root, "metrics/train_loss", rows),
                    last_value(root, "metrics/eval_loss", rows), last_value(root, "metrics/eval_rel_error", rows));
    }
    const size_t snaps = h5::n_rows(root, "snapshots/step");
    std::printf("snapshots: %zu;  checkpoint: %s\n", snaps,
                run.has_checkpoint() ? ("step " + std::to_string(h5::get_attr_int(h5::open_group(root, "checkpoint").get(), "step"))).c_str()
                                     : "none");
    if (h5::exists(root, "verdict")) {
        h5::Handle v = h5::open_group(root, "verdict");
        const hid_t id = v.get();
        std::printf("emergence (first step for good): catch %lld  tag %lld  release %lld  solved %lld\n",
                    static_cast<long long>(h5::get_attr_int(id, "catch_step")),
                    static_cast<long long>(h5::get_attr_int(id, "tag_step")),
                    static_cast<long long>(h5::get_attr_int(id, "release_step")),
                    static_cast<long long>(h5::get_attr_int(id, "solved_step")));
        if (h5::get_attr_int(id, "causal_layer") >= 0)
            std::printf("causal: probe loss %.3g -> %.3g without catch, -> %.3g without the tag\n",
                        h5::get_attr_double(id, "clean_loss"), h5::get_attr_double(id, "catch_ablated_loss"),
                        h5::get_attr_double(id, "tag_ablated_loss"));
        std::printf("verdict: %s\n", h5::get_attr_string(id, "summary").c_str());
    } else {
        std::printf("verdict: none yet (the run has not finished)\n");
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    h5::init_library();
    po::options_description flags("options");
    flags.add_options()("help,h", "show this help");
    po::options_description all;
    std::string path;
    all.add(flags).add_options()("run", po::value(&path));
    po::positional_options_description positional;
    positional.add("run", 1);
    po::variables_map vm;
    try {
        po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        std::fprintf(stderr, "ctr-inspect: error: %s\n%s", e.what(), kUsage);
        return 2;
    }
    if (vm.count("help")) {
        std::cout << kUsage;
        return 0;
    }
    if (path.empty()) {
        std::fprintf(stderr, "ctr-inspect: error: missing RUN.h5\n%s", kUsage);
        return 2;
    }
    try {
        return inspect(path);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "ctr-inspect: error: %s\n", e.what());
        return 2;
    }
}
