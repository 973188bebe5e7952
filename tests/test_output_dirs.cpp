// Output locations that cannot be written (docs/reliability.md, docs/sweeps.md): each
// message names the real cause and what was expected, with the documented exit code.
// The tests run as root, for whom permissions do not stop writes: a read-only tmpfs and
// regular files where directories are expected stand in for unwritable places.
#include <sys/mount.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>

#include "cli_helpers.hpp"
#include "helpers/sweep.hpp"
#include "util/dir_problem.hpp"

using namespace ctr_test;

namespace {

const std::vector<std::string> kSmall = sets({"train.steps=20", "task.train_size=256", "train.batch_size=64",
                                              "task.eval_size=64", "task.probe_size=4", "train.eval_every=10"});

// A read-only file system on dir while it lives (mounted() false where that is not allowed).
class ReadOnlyDir {
public:
    explicit ReadOnlyDir(const fs::path& dir) : dir_(dir) {
        fs::create_directories(dir_);
        mounted_ = ::mount("tmpfs", dir_.c_str(), "tmpfs", MS_RDONLY, "size=64k") == 0;
    }
    ~ReadOnlyDir() {
        if (mounted_) ::umount(dir_.c_str());
    }
    bool mounted() const { return mounted_; }

private:
    fs::path dir_;
    bool mounted_ = false;
};

}  // namespace

TEST_CASE("lock_file_problem: the directory, the lock file, what it locks and the system's reason", "[messages]") {
    // ctr-train's run lock and ctr-sweep's directory locks say it in the same words.
    CHECK(ctr::lock_file_problem("runs/a/x.h5.lock", "runs/a/x.h5", EROFS) ==
          "cannot write in directory runs/a: creating the lock file runs/a/x.h5.lock of runs/a/x.h5 failed: Read-only "
          "file system (expected a directory this user can write in)");
    CHECK(ctr::lock_file_problem("x.h5.lock", "x.h5", EACCES) ==
          "cannot write in directory .: creating the lock file x.h5.lock of x.h5 failed: Permission denied (expected a "
          "directory this user can write in)");
}

TEST_CASE("ctr-train: --out under a file or in a read-only directory names the cause", "[cli][messages]") {
    TempDir t("out_dirs");
    const std::string blocker = t.write("plain_file", "not a directory\n");
    for (const std::string& out : {std::string("plain_file/x.h5"), std::string("plain_file/sub/x.h5")}) {
        const Result r = run_ctr(with({minimal_config(), "--out", out}, kSmall), t.dir);
        INFO(r.err);
        CHECK(r.code == 1);
        CHECK(r.err == "ctr-train: error: --out " + out +
                           ": plain_file is a file, not a directory (expected the directory to write the run file in)\n");
    }
    ReadOnlyDir ro(t.dir / "ro");
    if (!ro.mounted()) {
        WARN("cannot mount a read-only tmpfs here (" << std::strerror(errno) << "): read-only cases not run");
        return;
    }
    const Result in_ro = run_ctr(with({minimal_config(), "--out", "ro/x.h5"}, kSmall), t.dir);
    INFO(in_ro.err);
    CHECK(in_ro.code == 1);
    CHECK(in_ro.err == "ctr-train: error: --out ro/x.h5: cannot write in directory ro: creating the lock file "
                       "ro/x.h5.lock of ro/x.h5 failed: Read-only file system (expected a directory this user can "
                       "write in)\n");
    const Result below_ro = run_ctr(with({minimal_config(), "--out", "ro/sub/x.h5"}, kSmall), t.dir);
    INFO(below_ro.err);
    CHECK(below_ro.code == 1);
    CHECK(below_ro.err == "ctr-train: error: --out ro/sub/x.h5: cannot create directory ro/sub: Read-only file system "
                          "(expected the directory to write the run file in)\n");
    CHECK(files_under(t.dir) == std::vector<std::string>{"plain_file"});
}

TEST_CASE("ctr-sweep: a sweep directory that is a file or read-only, and submit without sbatch, name the cause",
          "[sweep][messages]") {
    TempDir t("sweep_dirs");
    const std::string sweep = t.write("tiny.yaml", tiny_sweep("grid:\n  train.lr: [0.05, 0.01]\n", "0", 20));
    t.write("plain_file", "not a directory\n");
    for (const std::string& out : {std::string("plain_file"), std::string("plain_file/sub")}) {
        const Result r = run_sweep_cmd({sweep, "--out", out, "-q"}, t.dir);
        INFO(r.err);
        CHECK(r.code == 2);
        CHECK(r.err == "ctr-sweep: error: --out " + out + ": plain_file is a file, not a directory (expected the sweep "
                                                          "directory)\n");
    }
    // submit, with a PATH that has no sbatch: refused before anything is written.
    fs::create_directories(t.dir / "empty_bin");
    const Result sub = run_command({"/usr/bin/env", "PATH=" + t.path("empty_bin"), ctr_sweep_path(), "submit", sweep,
                                    "--array", "2", "--out", "out"},
                                   t.dir);
    INFO(sub.err);
    CHECK(sub.code == 1);
    CHECK_THAT(sub.err, Catch::Matchers::StartsWith("ctr-sweep: error: submit: sbatch not found on PATH (" +
                                                    t.path("empty_bin") + "): "));
    CHECK_THAT(sub.err, Catch::Matchers::Contains("nothing was written"));
    CHECK_FALSE(fs::exists(t.dir / "out"));
    // submit with sbatch at hand (never called: the directory fails first), --out below a file.
    fs::create_directories(t.dir / "bin");
    t.write("bin/sbatch", "#!/bin/sh\nexit 1\n");
    fs::permissions(t.dir / "bin/sbatch", fs::perms::owner_all);
    const Result sub_file = run_command({"/usr/bin/env", "PATH=" + t.path("bin") + ":/usr/bin:/bin", ctr_sweep_path(),
                                         "submit", sweep, "--array", "2", "--out", "plain_file/sub"},
                                        t.dir);
    INFO(sub_file.err);
    CHECK(sub_file.code == 2);
    CHECK_THAT(sub_file.err, Catch::Matchers::StartsWith("ctr-sweep: error: --out plain_file/sub: "));
    CHECK_THAT(sub_file.err,
               Catch::Matchers::EndsWith("plain_file is a file, not a directory (expected the sweep directory)\n"));

    ReadOnlyDir ro(t.dir / "ro");
    if (!ro.mounted()) {
        WARN("cannot mount a read-only tmpfs here (" << std::strerror(errno) << "): read-only cases not run");
        return;
    }
    const Result in_ro = run_sweep_cmd({sweep, "--out", "ro", "-q"}, t.dir);
    INFO(in_ro.err);
    CHECK(in_ro.code == 2);
    CHECK(in_ro.err == "ctr-sweep: error: cannot write in directory ro: creating the lock file "
                       "ro/.ctr-sweep-register.lock of the sweep failed: Read-only file system (expected a directory "
                       "this user can write in)\n");
    const Result below_ro = run_sweep_cmd({sweep, "--out", "ro/sweep", "-q"}, t.dir);
    INFO(below_ro.err);
    CHECK(below_ro.code == 2);
    CHECK(below_ro.err == "ctr-sweep: error: --out ro/sweep: cannot create directory ro/sweep: Read-only file system "
                          "(expected the sweep directory)\n");
}
