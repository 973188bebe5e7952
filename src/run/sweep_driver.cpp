#include "run/sweep_driver.hpp"

#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include "config/load.hpp"
#include <omp.h>

#include "io/run_file_reader.hpp"
#include "run/exit_codes.hpp"
#include "run/start.hpp"
#include "run/sweep_index.hpp"
#include "run/sweep_lock.hpp"
#include "util/dir_problem.hpp"

namespace ctr {

namespace fs = std::filesystem;

namespace {

volatile std::sig_atomic_t g_signal = 0;
extern "C" void on_sweep_signal(int sig) { g_signal = sig; }
extern "C" void on_sweep_child(int) {}

// The signals the driver waits for: blocked except while it waits (ppoll), so that one
// arriving between a check and the wait is not lost, and the driver wakes as soon as a
// run ends (a poll with a sleep left a core idle for up to the sleep per run).
sigset_t driver_signals() {
    sigset_t set;
    sigemptyset(&set);
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGCHLD}) sigaddset(&set, sig);
    return set;
}

void install_signal_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_sweep_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGHUP, &sa, nullptr);
    sa.sa_handler = on_sweep_child;
    sa.sa_flags = SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, nullptr);
}

std::string read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write_atomically(const std::string& path, const std::string& text) {
    const std::string tmp = path + ".tmp." + std::to_string(::getpid());
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out << text;
        out.flush();
        if (!out) throw SweepRefused("cannot write " + path + " (is the directory writable? disk full?)");
    }
    fs::rename(tmp, path);
}

// What is on disk for one run before the driver starts it.
enum class Start { kFresh, kResume, kSkip, kBroken };

struct Plan {
    Start start = Start::kFresh;
    std::string problem;  // kBroken: why the file can be neither resumed nor replaced
};

Plan plan_run(const std::string& full, const Config& resolved) {
    std::error_code ec;
    if (!fs::exists(full, ec)) return {};
    // A run file still being closed by a child of a driver that was just killed: HDF5's
    // lock refuses it for a moment.
    for (int attempt = 0;; ++attempt) {
        try {
            const RunFileReader f = RunFileReader::open(full);
            const Config had = load_config_text(f.config_yaml(), full + ":/config").config;
            std::vector<std::string> diff = config_diff(had, resolved);
            // How often the state is saved changes no number and no logged row: a run
            // started under another checkpoint default (before 2026-11-29 sweeps saved
            // every 200 steps) is still this run, and resumes with its own interval.
            std::erase(diff, std::string("log.checkpoint_every"));
            if (!diff.empty()) {
                std::string keys;
                for (const std::string& k : diff) keys += (keys.empty() ? "" : ", ") + k;
                throw SweepRefused(full + ": holds a run of another config (keys that differ: " + keys +
                                   "); the sweep would not replace it: give another --out, or move the file away");
            }
            // A diverged run is a result too: resumed, it would diverge again.
            if (f.status() == "complete" || f.status() == "diverged") return {Start::kSkip, {}};
            if (f.checkpoint_step()) return {Start::kResume, {}};
            // Killed before its first checkpoint: nothing in it can be continued, and
            // the run is the sweep's own (same config), so it starts again.
            return {Start::kFresh, {}};
        } catch (const SweepRefused&) {
            throw;
        } catch (const std::exception& e) {
            if (attempt >= 4) return {Start::kBroken, std::string("cannot open the run file: ") + e.what()};
            std::this_thread::sleep_for(std::chrono::milliseconds(250));
        }
    }
}

std::string duration_text(double s) {
    if (!std::isfinite(s) || s < 0) return "?";
    const long t = std::lround(s);
    char b[32];
    if (t >= 3600) std::snprintf(b, sizeof b, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
    else if (t >= 60) std::snprintf(b, sizeof b, "%ldm%02lds", t / 60, t % 60);
    else std::snprintf(b, sizeof b, "%lds", t);
    return b;
}

volatile std::sig_atomic_t g_child_stop = 0;
extern "C" void on_child_signal(int) { g_child_stop = 1; }

// What a worker reports when a run ends: the run and ctr-train's exit code for it.
struct RunEnd {
    int64_t run;
    int64_t code;
};
// The code of a run a worker was sent but did not start (a stop signal came first): it
// stays pending, with nothing written for it.
constexpr int64_t kRunNotStarted = -1;

// In a worker: one run, exactly as ctr-train makes it (run/start.hpp), with ctr-train's
// exit codes. Output goes to the run's log. Returns the exit code when the worker may go
// on to the next run (the run is complete and its file closed) or when nothing was
// opened; after a failure while training, reports the run and leaves with _exit without
// closing the file (closing would retry the failed writes).
int run_one(const Config* cfg, const Invocation& inv, const std::string& full, const std::string& log_path, int64_t index,
            int reply) {
    std::fflush(nullptr);
    const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        ::close(fd);
    }
    std::optional<Run> run;
    auto fail = [&](int code, const char* what) {
        std::fprintf(stderr, "ctr-sweep: error: %s\n", what);
        std::fflush(stderr);
        return code;
    };
    // The worker's runs share their shapes (unless a grid changes them): each new run
    // file starts as a copy of the last one's skeleton (io/run_file_writer.hpp).
    static SkeletonCache skeletons;
    try {
        if (cfg) run.emplace(start_run({*cfg, full, false, inv, {}, &skeletons}));
        else run.emplace(resume_run(full, {}, inv));
    } catch (const std::exception& e) {
        return fail(exit_code_of(e), e.what());  // ctr-train's table: 2 refused, 4 locked, 1 failed
    }
    LoopHooks hooks;
    hooks.should_stop = [] { return g_child_stop != 0; };
    int code = 0;
    try {
        const RunResult r = run->train(hooks);
        if (r.end == LoopEnd::kInterrupted) {
            std::printf("interrupted at step %lld\n", static_cast<long long>(r.last_step));
            code = kExitInterrupted;
        } else if (r.end == LoopEnd::kDiverged) {
            std::fprintf(stderr, "ctr-sweep: error: the run diverged: %s is %s at step %lld; stopped there\n",
                         r.divergence.quantity.c_str(), r.divergence.value_text().c_str(),
                         static_cast<long long>(r.divergence.step));
            std::printf("verdict: %s\n", r.verdict.summary.c_str());
            code = kExitDiverged;
        } else {
            std::printf("done: %lld steps in %.2fs  eval loss %.4g  rel_err %.4g\nverdict: %s\n",
                        static_cast<long long>(r.last_step), r.seconds, r.final_eval.loss, r.final_eval.rel_error,
                        r.verdict.summary.c_str());
        }
    } catch (const std::exception& e) {
        // A full disk, typically: keep what was flushed and leave without closing.
        std::fprintf(stderr, "ctr-sweep: error: %s\n", e.what());
        run->salvage_after_failure();
        std::fflush(nullptr);
        const int code = exit_code_of(e);
        const RunEnd end{index, code};
        if (::write(reply, &end, sizeof end) < 0) {
            // the driver is gone; the exit code says it all
        }
        ::_exit(code);
    }
    run.reset();  // closes the run file
    std::fflush(nullptr);
    return code;
}

// A worker process: runs the runs the driver sends (their index into the sweep's runs,
// one at a time on `in`), reports each end on `reply`, and leaves when `in` closes, on a
// stop signal, or after a run that did not complete. Running many runs in one process
// spares each run the start of a process (fork, and the page faults of its fresh
// memory); a crash still ends that worker alone, and with it only its current run.
[[noreturn]] void worker_main(int in, int reply, const std::function<int(size_t, int)>& run_at) {
    // Unlike ctr-train's, a second signal does not kill: under Slurm the run gets the
    // cluster's SIGTERM and the driver's.
    struct sigaction sa {};
    sa.sa_handler = on_child_signal;
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
    std::signal(SIGCHLD, SIG_DFL);
    // As in ctr-train (ignore_fatal_signals): a report to a driver that was killed fails
    // with EPIPE, and the worker still leaves with its run's exit code, not SIGPIPE's.
    std::signal(SIGPIPE, SIG_IGN);
    const sigset_t waited = driver_signals();
    sigprocmask(SIG_UNBLOCK, &waited, nullptr);  // the driver's mask, inherited
    omp_set_num_threads(1);
    // Memory a run frees stays with the process for the next run: glibc would hand the
    // model's large buffers back to the kernel (mmap, trimming), and every run would
    // fault them in again, page by page (about a tenth of a short run's fixed cost).
    mallopt(M_MMAP_THRESHOLD, 512 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
    while (!g_child_stop) {
        int64_t index = -1;
        const ssize_t n = ::read(in, &index, sizeof index);
        if (n != static_cast<ssize_t>(sizeof index)) break;  // closed, or a signal
        if (g_child_stop) {
            const RunEnd end{index, kRunNotStarted};
            if (::write(reply, &end, sizeof end) < 0) {
                // the driver is gone
            }
            break;
        }
        const int code = run_at(static_cast<size_t>(index), reply);
        const RunEnd end{index, code};
        if (::write(reply, &end, sizeof end) != static_cast<ssize_t>(sizeof end) || code != 0) {
            std::fflush(nullptr);
            ::_exit(code);
        }
    }
    std::fflush(nullptr);
    ::_exit(0);
}

struct Worker {
    int to = -1;                 // the driver's end of the run pipe
    int from = -1;               // the driver's end of the reply pipe
    std::optional<size_t> run;   // the run it is on (into runs)
    std::chrono::steady_clock::time_point started;
};

// Starts a worker (a fork of the driver; see worker_main). `others`: the driver's pipe
// ends of the other workers, closed in the new one so that each sees its own pipe close.
pid_t launch_worker(Worker& w, const std::vector<int>& others, const std::function<int(size_t, int)>& run_at) {
    int to[2], from[2];
    if (::pipe2(to, O_CLOEXEC) != 0) throw std::runtime_error(std::string("cannot start a worker: pipe: ") + std::strerror(errno));
    if (::pipe2(from, O_CLOEXEC) != 0) {
        ::close(to[0]);
        ::close(to[1]);
        throw std::runtime_error(std::string("cannot start a worker: pipe: ") + std::strerror(errno));
    }
    const pid_t parent = ::getpid();
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) {
        for (int fd : {to[0], to[1], from[0], from[1]}) ::close(fd);
        throw std::runtime_error(std::string("cannot start a run: fork: ") + std::strerror(errno));
    }
    if (pid == 0) {
        // Own process group: a Ctrl-C reaches the driver alone, which passes it on once.
        ::setpgid(0, 0);
        // A driver killed with SIGKILL takes its runs down with it (they checkpoint on
        // SIGTERM), so a restarted driver never meets a second writer.
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (::getppid() != parent) ::_exit(130);
        for (int fd : others) ::close(fd);
        ::close(to[1]);
        ::close(from[0]);
        worker_main(to[0], from[1], run_at);
    }
    ::close(to[0]);
    ::close(from[1]);
    w.to = to[1];
    w.from = from[0];
    return pid;
}

}  // namespace

Shard parse_shard(const std::string& text) {
    const std::string expected = "--shard " + text + ": expected I/N with 0 <= I < N, e.g. --shard 0/4";
    const size_t slash = text.find('/');
    if (slash == std::string::npos) throw SweepRefused(expected);
    try {
        size_t u1 = 0, u2 = 0;
        const std::string a = text.substr(0, slash), b = text.substr(slash + 1);
        const long i = std::stol(a, &u1), n = std::stol(b, &u2);
        if (u1 != a.size() || u2 != b.size() || n < 1 || i < 0 || i >= n || n > 1'000'000) throw SweepRefused(expected);
        return {static_cast<int>(i), static_cast<int>(n)};
    } catch (const SweepRefused&) {
        throw;
    } catch (const std::exception&) {
        throw SweepRefused(expected);
    }
}

Shard shard_from_environment() {
    const char* id = std::getenv("SLURM_ARRAY_TASK_ID");
    const char* count = std::getenv("SLURM_ARRAY_TASK_COUNT");
    if (!id || !count) return {};
    const char* min = std::getenv("SLURM_ARRAY_TASK_MIN");
    const long i = std::atol(id) - (min ? std::atol(min) : 0), n = std::atol(count);
    if (n < 1 || i < 0 || i >= n)
        throw SweepRefused("SLURM_ARRAY_TASK_ID=" + std::string(id) + ", SLURM_ARRAY_TASK_COUNT=" + count +
                           ": expected an array --array=0-(N-1) (ctr-sweep submit writes one)");
    return {static_cast<int>(i), static_cast<int>(n)};
}

int default_jobs() {
    if (std::getenv("SLURM_JOB_ID")) {
        for (const char* var : {"SLURM_CPUS_PER_TASK", "SLURM_JOB_CPUS_PER_NODE"})
            if (const char* v = std::getenv(var); v && std::atoi(v) > 0) return std::atoi(v);
        return 1;
    }
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
    return std::max(1u, std::thread::hardware_concurrency());
}

SweepSpec load_sweep_plan(const std::string& dir) {
    const std::string plan = (fs::path(dir) / "sweep.yaml").string();
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) throw SweepRefused(dir + ": no such sweep directory");
    if (!fs::exists(plan, ec))
        throw SweepRefused(dir + ": not a sweep directory (no sweep.yaml; ctr-sweep writes it when a sweep starts)");
    return load_sweep(plan, {}, "", false);
}

int run_sweep(const SweepSpec& spec, const SweepOptions& opt) {
    const fs::path dir = opt.dir;
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec || !fs::is_directory(dir))
        throw SweepRefused("--out " + opt.dir + ": " + dir_problem(dir, ec) + " (expected the sweep directory)");

    // One whole-sweep driver, or any number of drivers of distinct shards of one count.
    const bool sharded = opt.shard.count > 1;
    const std::string plan_text = sweep_plan_yaml(spec);
    const SweepDirLock lock(dir.string(), opt.dir, opt.shard, plan_text);

    // The plan: a rerun may add points or seeds, not change what every run is.
    const std::string plan_path = (dir / "sweep.yaml").string();
    if (fs::exists(plan_path)) {
        const SweepSpec before = load_sweep(plan_path, {}, "", false);
        const std::vector<std::string> diff = sweep_fixed_diff(before, spec);
        if (!diff.empty()) {
            std::string d;
            for (const std::string& x : diff) d += "\n  " + x;
            throw SweepRefused("--out " + opt.dir + ": holds a sweep with other settings (" + plan_path +
                               " vs this one):" + d + "\ngive another --out, or remove the directory");
        }
    }
    if (read_all(plan_path) != plan_text) write_atomically(plan_path, plan_text);

    const std::vector<SweepPoint> points = sweep_points(spec);
    const std::vector<SweepRun> runs = sweep_runs(spec);
    std::vector<size_t> mine;
    for (const SweepRun& r : runs)
        if (static_cast<int>(r.index % static_cast<size_t>(opt.shard.count)) == opt.shard.index) mine.push_back(r.index);

    // What is on disk already; refuse before running anything if it is not ours.
    std::vector<Plan> plans(runs.size());
    std::vector<RunRecord> records(runs.size());
    for (size_t i : mine) {
        const SweepRun& r = runs[i];
        plans[i] = plan_run((dir / r.path).string(), sweep_run_config(spec, points[r.point], r.seed));
    }
    for (size_t i = 0; i < runs.size(); ++i)
        if (!sharded || static_cast<int>(i % static_cast<size_t>(opt.shard.count)) == opt.shard.index)
            records[i] = read_run_record(opt.dir, runs[i].path);
    for (size_t i : mine)
        if (plans[i].start == Start::kBroken) {
            // Left as it is (never overwritten); the log says why, for status and collect.
            const fs::path full = dir / runs[i].path;
            fs::create_directories(full.parent_path(), ec);
            std::ofstream(run_log_path(full.string()), std::ios::trunc) << "ctr-sweep: not run: " << plans[i].problem << "\n";
            records[i] = read_run_record(opt.dir, runs[i].path);
        }

    std::deque<size_t> queue;
    for (size_t i : mine)
        if (plans[i].start == Start::kFresh || plans[i].start == Start::kResume) queue.push_back(i);

    install_signal_handlers();
    const sigset_t waited = driver_signals();
    sigset_t wait_mask;  // the mask while waiting: the caller's
    sigprocmask(SIG_BLOCK, &waited, &wait_mask);
    struct RestoreMask {
        sigset_t mask;
        ~RestoreMask() { sigprocmask(SIG_SETMASK, &mask, nullptr); }
    } restore_mask{wait_mask};
    const bool tty = ::isatty(2) && !opt.quiet;
    const auto t0 = std::chrono::steady_clock::now();
    auto last_index = t0;
    size_t finished_now = 0;
    size_t busy = 0;  // runs being made

    auto progress = [&](bool final_line) {
        if (opt.quiet && !final_line) return;
        int64_t done = 0, failed = 0, diverged = 0, complete = 0, succ = 0;
        for (size_t i : mine) {
            const RunRecord& r = records[i];
            if (r.status == "complete") {
                ++complete;
                succ += r.success == 1;
            }
            failed += r.status == "failed";
            diverged += r.status == "diverged";  // a result, not a failure (docs/sweeps.md)
        }
        done = complete + failed + diverged;
        const Wilson w = wilson_interval(succ, complete);
        const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const double eta = finished_now ? elapsed / finished_now * static_cast<double>(mine.size() - done) : NAN;
        auto fixed3 = [](double v) {
            if (std::isnan(v)) return std::string("-");
            char b[16];
            std::snprintf(b, sizeof b, "%.3f", v);
            return std::string(b);
        };
        std::string failed_text;
        if (failed) failed_text = std::to_string(failed) + " failed";
        if (diverged) failed_text += (failed ? ", " : "") + std::to_string(diverged) + " diverged";
        if (!failed_text.empty()) failed_text = " (" + failed_text + ")";
        const std::string eta_text = done == static_cast<int64_t>(mine.size()) ? "0s" : duration_text(eta);
        const std::string rate_text = complete ? fixed3(static_cast<double>(succ) / static_cast<double>(complete)) : "-";
        char line[512];
        std::snprintf(line, sizeof line, "ctr-sweep: %lld/%zu done%s, %zu running, %lld/%lld successes, rate %s [%s, %s], ETA %s",
                      static_cast<long long>(done), mine.size(), failed_text.c_str(), busy,
                      static_cast<long long>(succ), static_cast<long long>(complete), rate_text.c_str(),
                      fixed3(w.lo).c_str(), fixed3(w.hi).c_str(), eta_text.c_str());
        if (tty) std::fprintf(stderr, "\r\033[K%s%s", line, final_line ? "\n" : "");
        else std::fprintf(stderr, "%s\n", line);
        std::fflush(stderr);
    };
    auto write_index = [&] {
        if (sharded) return;  // shards run side by side: collect writes the index once they are done
        write_sweep_index(opt.dir, spec, runs, records);
        last_index = std::chrono::steady_clock::now();
    };

    if (!opt.quiet) {
        std::fprintf(stderr, "ctr-sweep: %zu runs (%zu points x %zu seeds)%s into %s: %zu to run, %d at a time\n",
                     mine.size(), points.size(), spec.seeds.size(),
                     sharded ? (", shard " + std::to_string(opt.shard.index) + "/" + std::to_string(opt.shard.count)).c_str()
                             : "",
                     opt.dir.c_str(), queue.size(), opt.jobs);
    }
    progress(false);

    // In a worker (a fork of this process): the run at index i, from what the driver
    // knew when it forked, which is all a run needs (the sweep, its runs and their plans).
    const std::function<int(size_t, int)> run_at = [&](size_t i, int reply) {
        const SweepRun& r = runs[i];
        const std::string full = (dir / r.path).string();
        // The run file records the sweep's command line and the run's overrides.
        const Invocation inv{opt.argv, spec.base_config, sweep_run_overrides(spec, points[r.point], r.seed)};
        std::optional<Config> cfg;
        if (plans[i].start != Start::kResume) cfg = sweep_run_config(spec, points[r.point], r.seed);
        return run_one(cfg ? &*cfg : nullptr, inv, full, run_log_path(full), static_cast<int64_t>(i), reply);
    };
    std::signal(SIGPIPE, SIG_IGN);  // a worker that died: its pipe's write fails with EPIPE
    std::map<pid_t, Worker> workers;
    auto end_run = [&](Worker& w, const std::string& how) {
        const size_t i = *w.run;
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - w.started).count();
        {
            std::ofstream log(run_log_path((dir / runs[i].path).string()), std::ios::app);
            char end[128];
            std::snprintf(end, sizeof end, "ctr-sweep: %s after %.3f s\n", how.c_str(), secs);
            log << end;
        }
        w.run.reset();
        --busy;
        records[i] = read_run_record(opt.dir, runs[i].path);
        ++finished_now;
    };
    // A run its worker left without starting (stopped first): as it was before it was sent.
    auto not_started = [&](Worker& w) {
        records[*w.run] = read_run_record(opt.dir, runs[*w.run].path);
        w.run.reset();
        --busy;
    };
    // Reads a worker's reports; false when its pipe is closed (the worker has ended).
    auto read_replies = [&](Worker& w) {
        for (;;) {
            pollfd p{w.from, POLLIN, 0};
            if (::poll(&p, 1, 0) <= 0) return true;
            RunEnd end{};
            const ssize_t n = ::read(w.from, &end, sizeof end);
            if (n != static_cast<ssize_t>(sizeof end)) return false;
            if (w.run && static_cast<int64_t>(*w.run) == end.run) {
                if (end.code == kRunNotStarted) not_started(w);
                else end_run(w, "exit " + std::to_string(end.code));
            }
        }
    };
    auto close_worker = [](Worker& w) {
        if (w.to >= 0) ::close(w.to);
        if (w.from >= 0) ::close(w.from);
        w.to = w.from = -1;
    };

    int forwarded = 0;
    bool changed = false;  // a run ended since the last progress line
    while (!queue.empty() || busy > 0) {
        if (g_signal && forwarded != g_signal) {
            // Stop starting runs; each running one checkpoints and exits on the signal,
            // idle workers leave.
            for (const auto& [pid, w] : workers) ::kill(pid, g_signal == SIGINT ? SIGINT : SIGTERM);
            forwarded = g_signal;
            g_signal = 0;
            queue.clear();
        }
        while (!forwarded && !queue.empty() && static_cast<int>(busy) < opt.jobs) {
            const size_t i = queue.front();
            const SweepRun& r = runs[i];
            const std::string full = (dir / r.path).string();
            fs::create_directories(fs::path(full).parent_path());
            if (plans[i].start != Start::kResume)
                fs::remove(full, ec);  // only a file of this run's config without a checkpoint (plan_run)
            auto idle = std::find_if(workers.begin(), workers.end(), [](const auto& pw) { return !pw.second.run && pw.second.to >= 0; });
            if (idle == workers.end()) {
                std::vector<int> others;
                for (const auto& [pid, w] : workers)
                    for (int fd : {w.to, w.from})
                        if (fd >= 0) others.push_back(fd);
                Worker w;
                const pid_t pid = launch_worker(w, others, run_at);
                idle = workers.emplace(pid, w).first;
            }
            Worker& w = idle->second;
            const int64_t index = static_cast<int64_t>(i);
            if (::write(w.to, &index, sizeof index) != static_cast<ssize_t>(sizeof index)) {
                ::close(w.to);  // it has died: reaped below; the run goes to another worker
                w.to = -1;
                continue;
            }
            queue.pop_front();
            w.run = i;
            w.started = std::chrono::steady_clock::now();
            ++busy;
            records[i].status = "running";
        }
        if (changed) {
            progress(false);
            changed = false;
        }
        const size_t finished_before = finished_now;
        for (auto& [pid, w] : workers)
            if (w.from >= 0 && !read_replies(w)) {
                ::close(w.from);
                w.from = -1;
            }
        int status = 0;
        const pid_t pid = ::waitpid(-1, &status, WNOHANG);
        if (pid > 0) {
            const auto it = workers.find(pid);
            if (it != workers.end()) {
                Worker& w = it->second;
                if (w.from >= 0) read_replies(w);  // a report written just before it left
                // A worker that leaves with 0 between runs had not started the one it was sent.
                if (w.run && WIFEXITED(status) && WEXITSTATUS(status) == 0) not_started(w);
                if (w.run) {
                    char how[64];
                    if (WIFSIGNALED(status)) std::snprintf(how, sizeof how, "killed by signal %d", WTERMSIG(status));
                    else std::snprintf(how, sizeof how, "exit %d", WEXITSTATUS(status));
                    end_run(w, how);
                }
                close_worker(w);
                workers.erase(it);
            }
        }
        if (finished_now != finished_before) {
            changed = true;
            if (std::chrono::steady_clock::now() - last_index > std::chrono::seconds(2)) write_index();
            continue;
        }
        if (pid > 0) continue;
        // Until a report, a signal (a worker ended: SIGCHLD; or a stop) or, at the latest, a second.
        std::vector<pollfd> fds;
        for (const auto& [p, w] : workers)
            if (w.from >= 0) fds.push_back({w.from, POLLIN, 0});
        const timespec timeout{1, 0};
        ::ppoll(fds.data(), fds.size(), &timeout, &wait_mask);
    }
    // No more runs: each worker sees its pipe close and leaves.
    for (auto& [pid, w] : workers) close_worker(w);
    for (const auto& [pid, w] : workers) {
        int status = 0;
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
    }
    workers.clear();
    write_index();
    if (changed || tty || opt.quiet) progress(true);

    int64_t failed = 0, incomplete = 0;
    for (size_t i : mine) {
        failed += records[i].status == "failed";
        incomplete += records[i].status != "complete" && records[i].status != "failed" && records[i].status != "diverged";
    }
    if (forwarded) {
        std::fprintf(stderr, "ctr-sweep: interrupted; run the same command again to continue\n");
        return kSweepExitInterrupted;
    }
    if (sharded && !opt.quiet)
        std::fprintf(stderr, "ctr-sweep: shard done; once every shard is, build the index with: ctr-sweep collect %s\n",
                     opt.dir.c_str());
    else if (!opt.quiet)
        std::fprintf(stderr, "ctr-sweep: index: %s/index.csv, %s/points.csv, %s/index.h5\n", opt.dir.c_str(),
                     opt.dir.c_str(), opt.dir.c_str());
    if (failed > 0 || incomplete > 0) {
        std::fprintf(stderr, "ctr-sweep: %lld run(s) failed%s; their errors are in the index (error column) and in "
                             "their .log files\n",
                     static_cast<long long>(failed + incomplete),
                     incomplete ? " or did not finish" : "");
        return kSweepExitRunsFailed;
    }
    return kSweepExitOk;
}

namespace {

std::vector<RunRecord> collect_records(const std::string& dir, const SweepSpec& spec, const std::vector<SweepRun>& runs) {
    std::vector<RunRecord> records;
    records.reserve(runs.size());
    for (const SweepRun& r : runs) records.push_back(read_run_record(dir, r.path));
    (void)spec;
    return records;
}

void print_counts(const std::vector<RunRecord>& records) {
    std::map<std::string, int64_t> n;
    for (const RunRecord& r : records) ++n[r.status];
    std::printf("runs: %zu", records.size());
    for (const char* s : {"complete", "diverged", "failed", "running", "interrupted", "pending"})
        if (n[s]) std::printf(", %lld %s", static_cast<long long>(n[s]), s);
    std::printf("\n");
}

}  // namespace

int sweep_status(const std::string& dir) {
    const SweepSpec spec = load_sweep_plan(dir);
    const std::vector<SweepRun> runs = sweep_runs(spec);
    const std::vector<RunRecord> records = collect_records(dir, spec, runs);
    print_counts(records);
    std::fputs(format_point_table(spec, summarize_points(spec, runs, records)).c_str(), stdout);
    return kSweepExitOk;
}

int sweep_collect(const std::string& dir) {
    const SweepSpec spec = load_sweep_plan(dir);
    const std::vector<SweepRun> runs = sweep_runs(spec);
    const std::vector<RunRecord> records = collect_records(dir, spec, runs);
    write_sweep_index(dir, spec, runs, records);
    print_counts(records);
    std::fputs(format_point_table(spec, summarize_points(spec, runs, records)).c_str(), stdout);
    std::printf("index: %s/index.csv, %s/points.csv, %s/index.h5\n", dir.c_str(), dir.c_str(), dir.c_str());
    return kSweepExitOk;
}

}  // namespace ctr
