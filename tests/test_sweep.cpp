// ctr-sweep: the sweep file's checks, the run names, the Wilson interval, and the real
// binary on tiny sweeps (a few runs of 40 steps): the index, reruns, shards, the driver
// lock, a failed run, and bit-identity with ctr-train.
#include <sys/file.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <iterator>
#include <set>
#include <regex>

#include "cli_helpers.hpp"
#include "config/load.hpp"
#include "helpers/sweep.hpp"
#include "io/h5.hpp"
#include "io/table.hpp"
#include "run/run_name.hpp"
#include "run/sweep_index.hpp"
#include "run/sweep_spec.hpp"

using namespace ctr_test;

namespace {

ctr::SweepSpec spec_from(const TempDir& t, const std::string& text, const std::vector<std::string>& sets = {},
                         const std::string& seeds = "") {
    return ctr::load_sweep(t.write("s.yaml", text), sets, seeds);
}

std::string sweep_error(const TempDir& t, const std::string& text, const std::vector<std::string>& sets = {},
                        const std::string& seeds = "") {
    try {
        spec_from(t, text, sets, seeds);
    } catch (const ctr::ConfigError& e) {
        return e.what();
    }
    return "(no error)";
}

}  // namespace

TEST_CASE("Wilson interval: known values, empty and extreme counts", "[sweep]") {
    // Reference values: the closed form of Wilson's score interval (1927), z = 1.959964,
    // evaluated independently in Python.
    const ctr::Wilson a = ctr::wilson_interval(4, 10);
    CHECK(a.lo == Approx(0.1681803).epsilon(1e-6));
    CHECK(a.hi == Approx(0.6873262).epsilon(1e-6));
    const ctr::Wilson b = ctr::wilson_interval(0, 10);
    CHECK(b.lo == 0.0);
    CHECK(b.hi == Approx(0.2775328).epsilon(1e-6));
    const ctr::Wilson c = ctr::wilson_interval(10, 10);
    CHECK(c.lo == Approx(0.7224672).epsilon(1e-6));
    CHECK(c.hi == 1.0);
    CHECK(std::isnan(ctr::wilson_interval(0, 0).lo));
    CHECK(ctr::quantile({1, 2, 3, 4}, 0.5) == 2.5);
    CHECK(ctr::quantile({10, 0, 20}, 0.25) == 5.0);
    CHECK(std::isnan(ctr::quantile({}, 0.5)));
}

TEST_CASE("sweep files: grid product, seeds, --set axes and run names", "[sweep]") {
    TempDir t("sweep_spec");
    const ctr::SweepSpec s = spec_from(t, tiny_sweep("grid:\n  model.d_model: [2, 4]\n  train.lr: [0.05, 1e-2]\n", "0..2"));
    REQUIRE(s.seeds == std::vector<uint64_t>{0, 1, 2});
    const auto points = ctr::sweep_points(s);
    REQUIRE(points.size() == 4);
    CHECK(points[0].name == "d_model=2,lr=0.05");
    CHECK(points[1].name == "d_model=2,lr=0.01");  // values in their canonical form
    CHECK(points[3].name == "d_model=4,lr=0.01");
    const auto runs = ctr::sweep_runs(s);
    REQUIRE(runs.size() == 12);
    CHECK(runs[4].path == "d_model=2,lr=0.01/seed1.h5");
    const ctr::Config c = ctr::sweep_run_config(s, points[3], 17);
    CHECK(c.model.d_model == 4);
    CHECK(c.train.lr == 0.01);
    CHECK(c.seed == 17);
    CHECK(c.train.steps == 40);
    CHECK(c.log.snapshot_every == 200);  // the sweep's lighter log
    CHECK_FALSE(c.log.eval_set);

    // --set a,b,c replaces an axis or adds one; one value fixes a key; --seeds replaces seeds.
    const ctr::SweepSpec s2 = spec_from(t, tiny_sweep("grid:\n  model.d_model: [2, 4]\n", "0..2"),
                                        {"model.d_model=8", "task.supervise=last,after_sep", "log.snapshot_every=20"},
                                        "5,7");
    REQUIRE(s2.grid.size() == 2);
    CHECK(s2.grid[0].values == std::vector<std::string>{"8"});
    CHECK(s2.grid[1].key == "task.supervise");
    CHECK(s2.seeds == std::vector<uint64_t>{5, 7});
    CHECK(ctr::sweep_points(s2)[1].name == "d_model=8,supervise=after_sep");
    CHECK(ctr::sweep_run_config(s2, ctr::sweep_points(s2)[0], 5).log.snapshot_every == 20);

    // No grid: one point, "base".
    const ctr::SweepSpec s3 = spec_from(t, tiny_sweep("", "[3, 1]"));
    CHECK(ctr::sweep_runs(s3)[0].path == "base/seed3.h5");

    // The plan written into the directory loads back to the same runs and configs.
    const std::string plan = t.write("plan.yaml", ctr::sweep_plan_yaml(s2));
    const ctr::SweepSpec back = ctr::load_sweep(plan, {}, "");
    CHECK(ctr::sweep_fixed_diff(back, s2).empty());
    CHECK(ctr::sweep_runs(back).size() == ctr::sweep_runs(s2).size());
    CHECK(ctr::config_diff(ctr::sweep_run_config(back, ctr::sweep_points(back)[1], 7),
                           ctr::sweep_run_config(s2, ctr::sweep_points(s2)[1], 7))
              .empty());

    // Names: leaves unless two keys share one.
    CHECK(ctr::overrides_name({{"model.d_model", "4"}, {"train.lr", "0.01"}}) == "d_model=4,lr=0.01");
    CHECK(ctr::overrides_name({{"train.lr", "0.01"}, {"train.min_lr", "0"}}) == "lr=0.01,min_lr=0");
}

TEST_CASE("sweep files: bad input names file:line:col, the key and what was expected", "[sweep]") {
    TempDir t("sweep_bad");
    const std::string cfg = "config: " + minimal_config() + "\n";
    struct Case {
        std::string text;
        std::vector<std::string> sets;
        std::string seeds;
        std::string expect;  // regex the message must contain
    };
    const std::vector<Case> cases = {
        {cfg + "grid:\n  model.d_modle: [2, 4]\nseeds: 0..1\n", {}, "", R"(s\.yaml:3:3: unknown key "model\.d_modle" \(did you mean "model\.d_model"\?\))"},
        {cfg + "grid:\n  model.d_model: [2, -4]\nseeds: 0..1\n", {}, "", R"(s\.yaml:3:22: model\.d_model: expected an integer >= 1, got '-4')"},
        {cfg + "grid:\n  train.lr: 0.01\nseeds: 0..1\n", {}, "", R"(s\.yaml:3:13: grid: train\.lr: expected a non-empty list of values)"},
        {cfg + "set:\n  train.lr: [0.1, 0.2]\nseeds: 0..1\n", {}, "", R"(s\.yaml:3:13: train\.lr: .*a list of values to sweep goes under grid:)"},
        {cfg + "seeds: 9..3\n", {}, "", R"(s\.yaml:2:8: seeds: range 9\.\.3 is empty)"},
        {cfg + "seeds: zero\n", {}, "", R"(s\.yaml:2:8: seeds: expected a range)"},
        {cfg + "grdi:\n  train.lr: [1]\nseeds: 0..1\n", {}, "", R"(s\.yaml:2:1: unknown sweep key "grdi" \(did you mean "grid"\?\))"},
        {"config: nowhere.yaml\nseeds: 0..1\n", {}, "", R"(s\.yaml:1:9: config: .*nowhere\.yaml: no such file)"},
        {cfg + "grid:\n  seed: [1, 2]\nseeds: 0..1\n", {}, "", R"(s\.yaml:3:3: seed: a sweep gives its seeds under seeds:)"},
        {cfg + "seeds: 0..1\n", {"train.lr=0.1,abc"}, "", R"(--set train\.lr=0\.1,abc: train\.lr: expected a number > 0, got .abc.)"},
        {cfg + "seeds: 0..1\n", {}, "1,1", R"(--seeds 1,1: seeds: seed 1 given twice)"},
        {cfg + "grid:\n  train.batch_size: [64, 100000]\nseeds: 0..1\n", {}, "",
         R"(grid point batch_size=100000.*expected batch_size <= train_size)"},
    };
    for (const Case& c : cases) {
        const std::string msg = sweep_error(t, c.text, c.sets, c.seeds);
        INFO("sweep:\n" << c.text << "message: " << msg);
        CHECK(std::regex_search(msg, std::regex(c.expect)));
    }
}

TEST_CASE("ctr-train: the default run name includes the --set overrides", "[sweep][cli]") {
    ctr::Config cfg;
    cfg.train.lr = 0.01;
    cfg.seed = 3;
    CHECK(ctr::default_run_path("configs/minimal.yaml", cfg, {}) == "runs/minimal-seed3.h5");
    CHECK(ctr::default_run_path("configs/minimal.yaml", cfg, {"train.lr=1e-2", "seed=3"}) ==
          "runs/minimal-lr=0.01-seed3.h5");
    TempDir t("train_name");
    const std::vector<std::string> small = {"--quiet", "--set", "train.steps=5", "--set", "task.train_size=64",
                                            "--set", "train.batch_size=32", "--set", "task.eval_size=16",
                                            "--set", "task.probe_size=2"};
    auto with = [&](std::vector<std::string> extra) {
        std::vector<std::string> a{minimal_config()};
        a.insert(a.end(), small.begin(), small.end());
        a.insert(a.end(), extra.begin(), extra.end());
        return a;
    };
    REQUIRE(run_ctr(with({"--set", "train.lr=0.01"}), t.dir).code == 0);
    REQUIRE(run_ctr(with({"--set", "train.lr=0.05"}), t.dir).code == 0);  // no longer "file exists"
    CHECK(fs::exists(t.dir / "runs/minimal-steps=5,train_size=64,batch_size=32,eval_size=16,probe_size=2,lr=0.01-seed0.h5"));
    CHECK(fs::exists(t.dir / "runs/minimal-steps=5,train_size=64,batch_size=32,eval_size=16,probe_size=2,lr=0.05-seed0.h5"));
}

TEST_CASE("ctr-sweep: runs every point and seed, writes the index, a rerun skips, status and collect agree",
          "[sweep][cli]") {
    TempDir t("sweep_run");
    const std::string sweep = t.write("tiny.yaml", tiny_sweep("grid:\n  train.lr: [0.05, 0.01]\n", "0..1"));
    const Result r = run_sweep_cmd({sweep, "--out", "out", "--jobs", "2"}, t.dir);
    INFO(r.err);
    REQUIRE(r.code == 0);
    for (const char* f : {"out/index.csv", "out/points.csv", "out/index.h5", "out/sweep.yaml",
                          "out/lr=0.05/seed0.h5", "out/lr=0.05/seed1.h5", "out/lr=0.01/seed0.h5", "out/lr=0.01/seed1.h5"})
        CHECK(fs::exists(t.dir / f));
    // Not a terminal: plain progress lines, the last with every run done.
    CHECK(r.err.find("ctr-sweep: 4/4 done, 0 running, ") != std::string::npos);
    CHECK(r.err.find('\r') == std::string::npos);

    const std::string csv = read_file_bytes(t.dir / "out/index.csv");
    CHECK(csv.rfind("point,train.lr,seed,path,status,success,solved,mechanism,rel_error,catch,release,tag_separation,"
                    "catch_step,tag_step,release_step,solved_step,causal_layer,causal_head,clean_loss,"
                    "catch_ablated_loss,tag_ablated_loss,wall_s,error\n",
                    0) == 0);
    CHECK(csv.find("lr=0.05,0.05,1,lr=0.05/seed1.h5,complete,") != std::string::npos);
    const std::string points = read_file_bytes(t.dir / "out/points.csv");
    CHECK(points.find("lr=0.01,0.01,2,2,0,") != std::string::npos);  // runs, complete, failed

    // index.h5 holds the same table: 4 runs, their seeds in order.
    {
        ctr::h5::Handle f(H5Fopen((t.dir / "out/index.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
        CHECK(h5_read<int64_t>(f.get(), "runs/seed") == std::vector<int64_t>{0, 1, 0, 1});
        CHECK(h5_read<int64_t>(f.get(), "points/runs") == std::vector<int64_t>{2, 2});
    }

    // A rerun finds everything complete and runs nothing; the index stays the same.
    const std::string before = index_without_wall(t.path("out/index.csv"));
    const auto mtime = fs::last_write_time(t.dir / "out/lr=0.05/seed0.h5");
    const Result again = run_sweep_cmd({sweep, "--out", "out"}, t.dir);
    INFO(again.err);
    CHECK(again.code == 0);
    CHECK(again.err.find("0 to run") != std::string::npos);
    CHECK(fs::last_write_time(t.dir / "out/lr=0.05/seed0.h5") == mtime);
    CHECK(index_without_wall(t.path("out/index.csv")) == before);

    // status prints the per-point table; collect rebuilds the same index.
    const Result st = run_sweep_cmd({"status", "out"}, t.dir);
    CHECK(st.code == 0);
    CHECK(st.out.find("runs: 4, 4 complete") != std::string::npos);
    CHECK(std::regex_search(st.out, std::regex(R"(lr=0\.01\s+2\s+2\s+0\s+\d)")));
    fs::remove(t.dir / "out/index.csv");
    CHECK(run_sweep_cmd({"collect", "out"}, t.dir).code == 0);
    CHECK(index_without_wall(t.path("out/index.csv")) == before);
    CHECK(run_sweep_cmd({"status", "nowhere"}, t.dir).code == 2);
}

namespace {

// Everything a reader sees of b that it sees of a: the datasets and their values, types,
// filters, attributes and dimension scales (how many datasets each scale serves), the
// groups' attributes; not the provenance and times, which differ between invocations,
// nor the addresses HDF5 gave the objects.
void check_same_run_file(hid_t a, hid_t b) {
    CHECK(h5_attr_string(a, "/", "config") == h5_attr_string(b, "/", "config"));
    auto without = [](std::map<std::string, std::string> attrs, std::initializer_list<const char*> names) {
        for (const char* n : names) attrs.erase(n);
        return attrs;
    };
    CHECK(without(h5_attrs(a, "/"), {"command_line", "last_command_line", "config_file", "overrides", "host", "created",
                                     "started", "ended", "wall_time"}) ==
          without(h5_attrs(b, "/"), {"command_line", "last_command_line", "config_file", "overrides", "host", "created",
                                     "started", "ended", "wall_time"}));
    const std::vector<std::string> datasets = h5_datasets(a, "/");
    CHECK(datasets == h5_datasets(b, "/"));
    std::set<std::string> groups{"/"};
    for (const std::string& d : datasets) {
        INFO(d);
        CHECK(h5_raw(a, d) == h5_raw(b, d));
        CHECK(h5_dim_names(a, d) == h5_dim_names(b, d));
        ctr::h5::Handle da(H5Dopen2(a, d.c_str(), H5P_DEFAULT)), db(H5Dopen2(b, d.c_str(), H5P_DEFAULT));
        ctr::h5::Handle ta(H5Dget_type(da.get())), tb(H5Dget_type(db.get()));
        CHECK(H5Tequal(ta.get(), tb.get()) > 0);
        ctr::h5::Handle pa(H5Dget_create_plist(da.get())), pb(H5Dget_create_plist(db.get()));
        CHECK(H5Pget_layout(pa.get()) == H5Pget_layout(pb.get()));
        CHECK(H5Pget_nfilters(pa.get()) == H5Pget_nfilters(pb.get()));
        for (int f = 0; f < H5Pget_nfilters(pa.get()); ++f) {
            unsigned fa = 0, fb = 0, ca[8] = {}, cb[8] = {};
            size_t na = 8, nb = 8;
            CHECK(H5Pget_filter2(pa.get(), f, &fa, &na, ca, 0, nullptr, nullptr) ==
                  H5Pget_filter2(pb.get(), f, &fb, &nb, cb, 0, nullptr, nullptr));
            CHECK(std::vector<unsigned>(ca, ca + na) == std::vector<unsigned>(cb, cb + nb));
        }
        auto attached = [](hid_t ds) {  // datasets a scale serves (its REFERENCE_LIST)
            if (H5Aexists(ds, "REFERENCE_LIST") <= 0) return hssize_t{0};
            ctr::h5::Handle at(H5Aopen(ds, "REFERENCE_LIST", H5P_DEFAULT));
            ctr::h5::Handle sp(H5Aget_space(at.get()));
            return H5Sget_simple_extent_npoints(sp.get());
        };
        CHECK(attached(da.get()) == attached(db.get()));
        CHECK(without(h5_attrs(a, d), {"DIMENSION_LIST", "REFERENCE_LIST"}) ==
              without(h5_attrs(b, d), {"DIMENSION_LIST", "REFERENCE_LIST"}));
        for (size_t slash = d.find('/', 1); slash != std::string::npos; slash = d.find('/', slash + 1))
            groups.insert(d.substr(0, slash));
    }
    for (const std::string& g : groups) {
        INFO(g);
        if (g != "/") CHECK(h5_attrs(a, g) == h5_attrs(b, g));
    }
}

}  // namespace

TEST_CASE("ctr-sweep: a sweep run is bit-identical to ctr-train's run of the same config and seed", "[sweep][cli]") {
    TempDir t("sweep_bits");
    // One job: the second run of each point is made in the worker process that made the
    // run before it, from a copy of that run's skeleton; the first of d_model 4 has other
    // shapes than the run before it.
    const std::string sweep = t.write("tiny.yaml", tiny_sweep("grid:\n  model.d_model: [2, 4]\n", "[5, 3]"));
    REQUIRE(run_sweep_cmd({sweep, "--out", "out", "--jobs", "1", "-q"}, t.dir).code == 0);
    const ctr::SweepSpec spec = ctr::load_sweep(sweep, {}, "");
    for (size_t point = 0; point < 2; ++point)
        for (uint64_t seed : {5, 3}) {
            // The same resolved config through ctr-train: the sweep's fixed settings (its
            // log defaults included) and the point's value, as --set flags.
            const std::string name = "d_model=" + std::string(point ? "4" : "2") + "/seed" + std::to_string(seed) + ".h5";
            INFO(name);
            std::vector<std::string> args{minimal_config(), "--quiet", "--out", "train.h5", "--overwrite"};
            for (const std::string& ov : ctr::sweep_run_overrides(spec, ctr::sweep_points(spec)[point], seed)) {
                args.push_back("--set");
                args.push_back(ov);
            }
            REQUIRE(run_ctr(args, t.dir).code == 0);
            ctr::h5::Handle a(H5Fopen((t.dir / "out" / name).c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
            ctr::h5::Handle b(H5Fopen((t.dir / "train.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
            REQUIRE(a.valid());
            REQUIRE(b.valid());
            check_same_run_file(a.get(), b.get());
        }
}

TEST_CASE("ctr-sweep: shards split the runs, collect joins them into the same index", "[sweep][cli]") {
    TempDir t("sweep_shard");
    const std::string sweep = t.write("tiny.yaml", tiny_sweep("grid:\n  train.lr: [0.05, 0.01]\n", "0..2"));
    REQUIRE(run_sweep_cmd({sweep, "--out", "whole", "-q"}, t.dir).code == 0);
    const Result s0 = run_sweep_cmd({sweep, "--out", "sharded", "--shard", "0/4", "-q"}, t.dir);
    INFO(s0.err);
    REQUIRE(s0.code == 0);
    CHECK_FALSE(fs::exists(t.dir / "sharded/index.csv"));  // shards leave the index to collect
    // Runs 0 and 4 of the sweep order (lr=0.05 seed 0, lr=0.01 seed 1): nothing else.
    CHECK(fs::exists(t.dir / "sharded/lr=0.05/seed0.h5"));
    CHECK(fs::exists(t.dir / "sharded/lr=0.01/seed1.h5"));
    CHECK_FALSE(fs::exists(t.dir / "sharded/lr=0.05/seed1.h5"));
    // The rest under Slurm's variables, as an array task would.
    for (int i = 1; i < 4; ++i) {
        const std::string env_cmd = "SLURM_ARRAY_TASK_ID=" + std::to_string(i) + " SLURM_ARRAY_TASK_COUNT=4 '" +
                                    ctr_sweep_path() + "' '" + sweep + "' --out sharded -q";
        REQUIRE(run_command({"/bin/sh", "-c", env_cmd}, t.dir).code == 0);
    }
    const Result c = run_sweep_cmd({"collect", "sharded"}, t.dir);
    REQUIRE(c.code == 0);
    CHECK(index_without_wall(t.path("sharded/index.csv")) == index_without_wall(t.path("whole/index.csv")));
    CHECK(read_file_bytes(t.dir / "sharded/points.csv") == read_file_bytes(t.dir / "whole/points.csv"));
    CHECK(run_sweep_cmd({sweep, "--out", "x", "--shard", "4/4"}, t.dir).code == 2);
}

TEST_CASE("ctr-sweep: a driver of another shard count on a running sweep is refused, and one after another shards of "
          "any count make every run once",
          "[sweep][cli]") {
    TempDir t("sweep_shard_count");
    // Runs of 3,000 steps (about 0.2 s each).
    const std::string sweep = t.write("tiny.yaml", tiny_sweep("grid:\n  train.lr: [0.05, 0.01]\n", "0..2", 3000));
    const std::string seed1 = t.path("out/lr=0.05/seed1.h5");
    {
        Child first(ctr_sweep_path(), {sweep, "--out", "out", "--shard", "1/2", "--jobs", "1"}, t.dir);
        REQUIRE(first.wait_for_line([](const std::string& l) { return l.find("shard 1/2 into out") != std::string::npos; }));
        // Once its first run has its file, the driver is stopped (SIGSTOP) while the others
        // try: it holds its lock and the rest of its shard, however fast its runs would end.
        REQUIRE(wait_until([&] { return fs::exists(seed1); }));
        first.signal(SIGSTOP);
        const std::string holder = "shard 1/2 (pid " + std::to_string(first.pid()) + " on ";
        // Shard 1/3 holds runs 1 and 4: run 1 is also shard 1/2's.
        const Result other = run_sweep_cmd({sweep, "--out", "out", "--shard", "1/3", "-q"}, t.dir);
        CHECK(other.code == 2);
        CHECK(other.err.find("out: shard 1/3 refused: a ctr-sweep of another shard count is running on this directory: " +
                             holder) != std::string::npos);
        CHECK(other.err.find("shards of different counts overlap") != std::string::npos);
        CHECK_FALSE(fs::exists(t.dir / "out/lr=0.01/seed1.h5"));  // run 4: not shard 1/2's, and 1/3 did not start
        // Also under Slurm's variables (an array of 3 tasks on a directory that an array of 2 is running).
        const Result slurm = run_command({"/bin/sh", "-c", "SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_TASK_COUNT=3 '" +
                                                               ctr_sweep_path() + "' '" + sweep + "' --out out -q"},
                                         t.dir);
        CHECK(slurm.code == 2);
        CHECK(slurm.err.find("shard 2/3 refused") != std::string::npos);
        // So is a shard of the same count of other runs (a seed more moves runs to other shards).
        const Result replanned = run_sweep_cmd({sweep, "--out", "out", "--shard", "0/2", "--seeds", "0..3", "-q"}, t.dir);
        CHECK(replanned.code == 2);
        CHECK(replanned.err.find("out: shard 0/2 refused: a ctr-sweep of other runs (other seeds or grid values) is "
                                 "running on this directory: " + holder) != std::string::npos);
        CHECK_FALSE(fs::exists(t.dir / "out/lr=0.05/seed0.h5"));
        // The whole sweep is refused too, naming the shard that runs.
        const Result whole = run_sweep_cmd({sweep, "--out", "out", "-q"}, t.dir);
        CHECK(whole.code == 2);
        CHECK(whole.err.find("out: another ctr-sweep is running on this directory: " + holder) != std::string::npos);
        // Ctrl-C, seen once it runs again: runs of its shard are left, so it stops (130).
        first.signal(SIGINT);
        first.signal(SIGCONT);
        CHECK(first.wait() == 130);
    }
    // The driver is gone: shards of 3 now continue the sweep, one after another, and
    // make what shard 1/2 left.
    REQUIRE(fs::exists(seed1));  // shard 1/2's first run, interrupted or complete
    for (const char* shard : {"0/3", "1/3", "2/3"}) {
        const Result r = run_sweep_cmd({sweep, "--out", "out", "--shard", shard, "-q"}, t.dir);
        INFO(shard << ": " << r.err);
        CHECK(r.code == 0);
    }
    const auto made = fs::last_write_time(seed1);
    // Shard 1/2 again: every run of it is complete, nothing is made twice.
    const Result again = run_sweep_cmd({sweep, "--out", "out", "--shard", "1/2"}, t.dir);
    CHECK(again.code == 0);
    CHECK(again.err.find("3 runs (2 points x 3 seeds), shard 1/2 into out: 0 to run") != std::string::npos);
    CHECK(fs::last_write_time(seed1) == made);
    const Result c = run_sweep_cmd({"collect", "out"}, t.dir);
    CHECK(c.code == 0);
    CHECK(c.out.find("runs: 6, 6 complete\n") != std::string::npos);
}

TEST_CASE("ctr-sweep: a second driver on the same directory is refused, and a failed run is recorded, not fatal",
          "[sweep][cli]") {
    TempDir t("sweep_lock");
    const std::string sweep = t.write("tiny.yaml", tiny_sweep("", "0..1"));
    fs::create_directories(t.dir / "out");
    {
        // Hold the driver's lock as a running driver would.
        const int fd = ::open(t.path("out/.ctr-sweep.lock").c_str(), O_RDWR | O_CREAT, 0644);
        REQUIRE(fd >= 0);
        REQUIRE(::flock(fd, LOCK_EX | LOCK_NB) == 0);
        REQUIRE(::write(fd, "pid 4242 on somehost\n", 21) == 21);
        const Result r = run_sweep_cmd({sweep, "--out", "out"}, t.dir);
        ::close(fd);
        CHECK(r.code == 2);
        CHECK(r.err.find("another ctr-sweep is running on this directory (pid 4242 on somehost)") != std::string::npos);
        CHECK_FALSE(fs::exists(t.dir / "out/base"));
    }
    // A run whose file cannot be written (a directory in its place) fails; the other runs.
    fs::create_directories(t.dir / "out/base/seed1.h5");
    const Result r = run_sweep_cmd({sweep, "--out", "out", "-q"}, t.dir);
    INFO(r.err);
    CHECK(r.code == 1);
    const std::string csv = read_file_bytes(t.dir / "out/index.csv");
    CHECK(csv.find("base/seed0.h5,complete,") != std::string::npos);
    CHECK(std::regex_search(csv, std::regex(R"(base/seed1\.h5,failed,.*cannot open the run file)")));
    const Result st = run_sweep_cmd({"status", "out"}, t.dir);
    CHECK(st.out.find("1 complete, 1 failed") != std::string::npos);
}

TEST_CASE("ctr-sweep --help, status --help and collect --help exit 0 with the usage; status of no directory is 2",
          "[sweep][cli]") {
    TempDir t("sweep_help");
    for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
             {"--help"}, {"submit", "--help"}, {"status", "--help"}, {"collect", "-h"}}) {
        const Result r = run_sweep_cmd(args, t.dir);
        INFO(args.front() << " " << args.back() << ": " << r.err);
        CHECK(r.code == 0);
        CHECK_THAT(r.out, Catch::Matchers::Contains("usage: ctr-sweep SWEEP.yaml"));
        CHECK_THAT(r.out, Catch::Matchers::Contains("ctr-sweep status DIR"));
        CHECK(r.err.empty());
    }
    // Without a directory it is still a usage error, and a directory that is not a sweep is 2.
    CHECK(run_sweep_cmd({"status"}, t.dir).code == 2);
    CHECK(run_sweep_cmd({"collect", "--out"}, t.dir).code == 2);
    const Result none = run_sweep_cmd({"status", "."}, t.dir);
    CHECK(none.code == 2);
    CHECK_THAT(none.err, Catch::Matchers::Contains("not a sweep directory"));
    CHECK_FALSE(fs::exists(t.dir / "index.csv"));
}

TEST_CASE("ctr-sweep submit --dry-run prints the array and collect scripts and submits nothing", "[sweep][cli]") {
    TempDir t("sweep_submit");
    const std::string sweep = t.write("tiny.yaml", tiny_sweep("grid:\n  train.lr: [0.05, 0.01]\n", "0..2"));
    const Result r = run_sweep_cmd({"submit", sweep, "--array", "3", "--out", "out", "--dry-run", "--", "--time=5"}, t.dir);
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("#SBATCH --array=0-2\n") != std::string::npos);
    CHECK(r.out.find("/out/sweep.yaml' --out '") != std::string::npos);
    CHECK(r.out.find("collect '" + fs::canonical(t.dir).string() + "/out'") != std::string::npos);
    CHECK(r.out.find("sbatch --parsable --time=5 " + fs::canonical(t.dir).string() + "/out/slurm/array.sbatch") !=
          std::string::npos);
    CHECK(r.out.find("--dependency=afterany:ARRAY_JOB_ID") != std::string::npos);
    CHECK_FALSE(fs::exists(t.dir / "out"));
    CHECK(run_sweep_cmd({"submit", sweep, "--out", "out"}, t.dir).code == 2);  // --array missing
}

TEST_CASE("ctr-sweep: a diverged run exits 3 as in ctr-train, is 'diverged' in the index and is not rerun",
          "[sweep][cli]") {
    TempDir t("sweep_diverged");
    // Two points: SGD at lr 1e-3 trains, at lr 1e4 it diverges.
    const std::string sweep = t.write("tiny.yaml", tiny_sweep("grid:\n  train.lr: [0.001, 1.0e+4]\n  train.optimizer: [sgd]\n", "0"));
    const Result r = run_sweep_cmd({sweep, "--out", "out", "-q"}, t.dir);
    INFO(r.err);
    CHECK(r.code == 0);  // a diverged run is a result, not a failure of the sweep
    // The progress line counts it as diverged, as the index and status do, not as failed.
    CHECK(r.err.find("2/2 done (1 diverged),") != std::string::npos);
    CHECK(r.err.find("failed") == std::string::npos);
    const std::string csv = read_file_bytes(t.dir / "out/index.csv");
    INFO(csv);
    CHECK(std::regex_search(
        csv, std::regex(R"(,diverged,.*the run diverged: (training loss|gradient norm) is (nan|inf|-inf) at step \d+)")));
    CHECK(std::regex_search(csv, std::regex(R"(,complete,)")));
    // The run's log ends with ctr-train's code for a diverged run.
    bool saw_exit3 = false;
    for (const auto& e : fs::recursive_directory_iterator(t.dir / "out"))
        if (e.path().extension() == ".log" && read_file_bytes(e.path()).find("ctr-sweep: exit 3 after") != std::string::npos)
            saw_exit3 = true;
    CHECK(saw_exit3);
    const Result st = run_sweep_cmd({"status", "out"}, t.dir);
    CHECK(st.out.find("1 complete, 1 diverged") != std::string::npos);
    // A rerun leaves it as it is (resumed, it would diverge again).
    const Result again = run_sweep_cmd({sweep, "--out", "out", "-q"}, t.dir);
    CHECK(again.code == 0);
    CHECK(read_file_bytes(t.dir / "out/index.csv") == csv);
}

TEST_CASE("a table that cannot replace its file names the system's reason", "[sweep]") {
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / ("ctr-table-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir / "index.csv" / "x");  // a non-empty directory where the file goes
    ctr::Table t;
    t.columns.push_back({"seed", "", std::vector<int64_t>{0, 1}});
    try {
        ctr::write_table_csv(t, (dir / "index.csv").string());
        FAIL("write_table_csv replaced a directory");
    } catch (const std::exception& e) {
        const std::string what = e.what();
        CHECK(what.find("cannot write " + (dir / "index.csv").string() + ": ") == 0);
        CHECK(what.find("Success") == std::string::npos);  // the rename's error, not the clean-up's
    }
    CHECK(fs::is_directory(dir / "index.csv" / "x"));
    CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator{}) == 1);  // no temporary left
    fs::remove_all(dir);
}
