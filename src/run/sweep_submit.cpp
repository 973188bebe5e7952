#include "run/sweep_submit.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "run/sweep_driver.hpp"
#include "util/dir_problem.hpp"

namespace ctr {

namespace fs = std::filesystem;

namespace {

// Single-quoted for sh.
std::string sh_quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

std::string job_name(const SweepSpec& spec, const std::string& dir) {
    std::string n = fs::path(dir).filename().string();
    if (n.empty()) n = fs::path(spec.source).stem().string();
    return "ctr-sweep-" + n;
}

// Runs argv, returns its exit code and its stdout+stderr.
int run_capture(const std::vector<std::string>& args, std::string& output) {
    int pipefd[2];
    if (::pipe(pipefd) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        ::dup2(pipefd[1], 1);
        ::dup2(pipefd[1], 2);
        ::close(pipefd[0]);
        ::close(pipefd[1]);
        std::vector<char*> argv;
        for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        ::execvp(argv[0], argv.data());
        std::fprintf(stderr, "cannot run %s: %s\n", argv[0], std::strerror(errno));
        ::_exit(127);
    }
    ::close(pipefd[1]);
    output.clear();
    char buf[4096];
    for (ssize_t n; (n = ::read(pipefd[0], buf, sizeof buf)) > 0;) output.append(buf, static_cast<size_t>(n));
    ::close(pipefd[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Where execvp would find program, or "" when no directory of PATH (unset: the
// system's default, as for execvp) holds an executable of that name.
// Not boost::process::search_path: it needs Boost.Filesystem linked, and finds nothing when PATH is unset.
std::string find_on_path(const std::string& program, std::string& searched) {
    const char* env = std::getenv("PATH");
    searched = env ? env : "/bin:/usr/bin";
    size_t from = 0;
    for (;;) {
        const size_t to = searched.find(':', from);
        const std::string dir = searched.substr(from, to == std::string::npos ? std::string::npos : to - from);
        const std::string candidate = (dir.empty() ? "." : dir) + "/" + program;
        std::error_code ec;
        if (fs::is_regular_file(candidate, ec) && ::access(candidate.c_str(), X_OK) == 0) return candidate;
        if (to == std::string::npos) return "";
        from = to + 1;
    }
}

std::string trim_newlines(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    return s;
}

}  // namespace

SubmitScripts submit_scripts(const SweepSpec& spec, const SubmitOptions& opt) {
    const std::string dir = fs::absolute(opt.dir).lexically_normal().string();
    const std::string exe = fs::absolute(opt.sweep_exe).lexically_normal().string();
    const std::string name = job_name(spec, dir);
    const size_t n_runs = sweep_runs(spec).size();
    SubmitScripts s;
    s.array = "#!/bin/sh\n"
              "# Written by ctr-sweep submit: task I of this array runs shard I/" +
              std::to_string(opt.array) + " of the sweep\n# (" + std::to_string(n_runs) +
              " runs in all; ctr-sweep reads SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT).\n"
              "#SBATCH --job-name=" + name + "\n"
              "#SBATCH --array=0-" + std::to_string(opt.array - 1) + "\n"
              "#SBATCH --output=" + dir + "/slurm/task-%a.out\n"
              "exec " + sh_quote(exe) + " " + sh_quote(dir + "/sweep.yaml") + " --out " + sh_quote(dir) + "\n";
    s.collect = "#!/bin/sh\n"
                "# Written by ctr-sweep submit: builds the index once the array is over.\n"
                "#SBATCH --job-name=" + name + "-collect\n"
                "#SBATCH --output=" + dir + "/slurm/collect.out\n"
                "exec " + sh_quote(exe) + " collect " + sh_quote(dir) + "\n";
    return s;
}

int submit_sweep(const SweepSpec& spec, const SubmitOptions& opt) {
    const std::string dir = fs::absolute(opt.dir).lexically_normal().string();
    const SubmitScripts s = submit_scripts(spec, opt);
    const std::string array_path = dir + "/slurm/array.sbatch", collect_path = dir + "/slurm/collect.sbatch";
    std::vector<std::string> array_cmd = {"sbatch", "--parsable"};
    array_cmd.insert(array_cmd.end(), opt.sbatch_args.begin(), opt.sbatch_args.end());
    array_cmd.push_back(array_path);
    auto cmd_text = [](const std::vector<std::string>& c) {
        std::string t;
        for (const std::string& a : c) t += (t.empty() ? "" : " ") + (a.find_first_of(" '\"$") == std::string::npos ? a : sh_quote(a));
        return t;
    };
    if (opt.dry_run) {
        std::printf("# %s\n%s\n# %s\n%s\n", array_path.c_str(), s.array.c_str(), collect_path.c_str(), s.collect.c_str());
        std::vector<std::string> collect_cmd = {"sbatch", "--parsable", "--dependency=afterany:ARRAY_JOB_ID"};
        collect_cmd.insert(collect_cmd.end(), opt.sbatch_args.begin(), opt.sbatch_args.end());
        collect_cmd.push_back(collect_path);
        std::printf("# dry run: would run\n%s\n%s\n", cmd_text(array_cmd).c_str(), cmd_text(collect_cmd).c_str());
        return kSweepExitOk;
    }

    // Before anything is written: without Slurm's sbatch there is nothing to submit to.
    std::string searched;
    if (find_on_path("sbatch", searched).empty()) {
        std::fprintf(stderr,
                     "ctr-sweep: error: submit: sbatch not found on PATH (%s): submit hands the sweep to Slurm, whose "
                     "sbatch command it needs (run it where Slurm's client commands are installed, e.g. a login node "
                     "of the cluster); nothing was written. --dry-run shows the scripts, and the same command "
                     "without submit and --array runs the sweep on this machine\n",
                     searched.c_str());
        return kSweepExitRunsFailed;
    }
    std::error_code ec;
    fs::create_directories(dir + "/slurm", ec);
    if (ec) throw SweepRefused("--out " + opt.dir + ": " + dir_problem(dir + "/slurm", ec) + " (expected the sweep directory)");
    // The plan first: the array's tasks and the collect job read it.
    const std::string plan_path = dir + "/sweep.yaml";
    if (fs::exists(plan_path)) {
        const std::vector<std::string> diff = sweep_fixed_diff(load_sweep(plan_path, {}, "", false), spec);
        if (!diff.empty())
            throw SweepRefused("--out " + opt.dir + ": holds a sweep with other settings (" + diff.front() +
                               "); give another --out, or remove the directory");
    }
    for (const auto& [path, text] : {std::pair{plan_path, sweep_plan_yaml(spec)}, std::pair{array_path, s.array},
                                     std::pair{collect_path, s.collect}}) {
        std::ofstream out(path, std::ios::trunc);
        out << text;
        if (!out) throw SweepRefused("cannot write " + path);
    }

    std::string out;
    int rc = run_capture(array_cmd, out);
    const std::string array_id = trim_newlines(out).substr(0, trim_newlines(out).find(';'));
    if (rc != 0 || array_id.empty() || array_id.find_first_not_of("0123456789") != std::string::npos) {
        std::fprintf(stderr, "ctr-sweep: error: %s failed (exit %d): %s\n", cmd_text(array_cmd).c_str(), rc,
                     trim_newlines(out).c_str());
        return kSweepExitRunsFailed;
    }
    std::vector<std::string> collect_cmd = {"sbatch", "--parsable", "--dependency=afterany:" + array_id};
    collect_cmd.insert(collect_cmd.end(), opt.sbatch_args.begin(), opt.sbatch_args.end());
    collect_cmd.push_back(collect_path);
    rc = run_capture(collect_cmd, out);
    const std::string collect_id = trim_newlines(out).substr(0, trim_newlines(out).find(';'));
    if (rc != 0 || collect_id.empty() || collect_id.find_first_not_of("0123456789") != std::string::npos) {
        std::fprintf(stderr,
                     "ctr-sweep: error: the array is job %s, but submitting the collect job failed (exit %d): %s\n"
                     "once the array is over, run: ctr-sweep collect %s\n",
                     array_id.c_str(), rc, trim_newlines(out).c_str(), dir.c_str());
        return kSweepExitRunsFailed;
    }
    std::printf("array job %s (%d tasks, %zu runs), collect job %s; sweep directory %s\n", array_id.c_str(), opt.array,
                sweep_runs(spec).size(), collect_id.c_str(), dir.c_str());
    std::printf("follow it with: squeue -j %s,%s   and: ctr-sweep status %s\n", array_id.c_str(), collect_id.c_str(),
                dir.c_str());
    return kSweepExitOk;
}

}  // namespace ctr
