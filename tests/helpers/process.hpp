#pragma once
// Running the real binaries from tests: paths, command lines, fresh temp directories,
// a command with its output captured, and a child process to signal mid-run.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace ctr_test {

namespace fs = std::filesystem;

inline std::string ctr_train_path() { return std::string(CTR_BINARY_DIR) + "/ctr-train"; }
inline std::string source_path(const std::string& rel) { return std::string(CTR_SOURCE_DIR) + "/" + rel; }
inline std::string minimal_config() { return source_path("configs/minimal.yaml"); }

// Command lines: a with b appended; --set flags from "key=value" pairs.
inline std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

inline std::vector<std::string> sets(const std::vector<std::string>& kv) {
    std::vector<std::string> out;
    for (const std::string& s : kv) {
        out.push_back("--set");
        out.push_back(s);
    }
    return out;
}

// A fresh directory under the system temp dir, removed (with everything in it) at the end.
struct TempDir {
    fs::path dir;
    explicit TempDir(const std::string& tag) {
        static int counter = 0;
        dir = fs::temp_directory_path() /
              ("ctr_test_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        fs::remove_all(dir);
        fs::create_directories(dir);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    std::string path(const std::string& name) const { return (dir / name).string(); }
    std::string write(const std::string& name, const std::string& text) const {
        std::ofstream(dir / name, std::ios::binary) << text;
        return path(name);
    }
};

inline std::string read_file_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream os;
    os << in.rdbuf();
    return os.str();
}

// Every regular file below dir (recursively), as paths relative to dir.
inline std::vector<std::string> files_under(const fs::path& dir) {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir))
        if (e.is_regular_file()) out.push_back(fs::relative(e.path(), dir).string());
    return out;
}

struct Result {
    int code = -1;            // exit status; 128 + signal number when killed by a signal
    std::string out, err;     // captured stdout and stderr
};

inline int decode_status(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

namespace detail {
// argv as the char* array execv wants; built before fork (nothing allocates after it).
struct Argv {
    std::vector<std::string> strings;
    std::vector<char*> ptrs;
    explicit Argv(std::vector<std::string> a) : strings(std::move(a)) {
        for (auto& s : strings) ptrs.push_back(s.data());
        ptrs.push_back(nullptr);
    }
};

// In the child: default signal handling (Catch2 installs handlers, exec keeps a blocked
// mask), the working directory, then exec. Never returns.
[[noreturn]] inline void exec_child(const Argv& argv, const std::string& cwd) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (::chdir(cwd.c_str()) != 0) _exit(121);
    ::execv(argv.ptrs[0], argv.ptrs.data());
    _exit(127);
}
}  // namespace detail

// Runs argv (argv[0] an absolute path) in cwd and waits; stdout and stderr go to files
// beside nothing else in cwd (a private capture directory) and are read back.
inline Result run_command(const std::vector<std::string>& args, const fs::path& cwd) {
    static int counter = 0;
    const fs::path capture = fs::temp_directory_path() /
                             ("ctr_test_capture_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(capture);
    const std::string out_path = (capture / "stdout").string(), err_path = (capture / "stderr").string();
    detail::Argv argv(args);
    const std::string dir = cwd.string();
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        const int o = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        const int e = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        const int in = ::open("/dev/null", O_RDONLY);
        if (o < 0 || e < 0 || in < 0) _exit(122);
        ::dup2(in, 0);
        ::dup2(o, 1);
        ::dup2(e, 2);
        detail::exec_child(argv, dir);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    Result r;
    r.code = decode_status(status);
    r.out = read_file_bytes(out_path);
    r.err = read_file_bytes(err_path);
    std::error_code ec;
    fs::remove_all(capture, ec);
    return r;
}

inline Result run_ctr(const std::vector<std::string>& args, const fs::path& cwd) {
    std::vector<std::string> argv{ctr_train_path()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, cwd);
}

// A ctr-train child (or another program's) whose stderr is a pipe read line by line, so a
// test can signal it at a known point of the run (progress lines) or after a delay.
//
// The pipe holds one page (4 KiB, about 40 progress lines) instead of Linux's 64 KiB: a
// child writing its progress blocks once that much is unread. So when wait_for_line()
// returns, the run is at most two pages of lines past the line it found (the rest of the
// read chunk and a full pipe) and stays there until the test reads again (wait() or
// wait_for_line()), however fast it trains and however late the test is scheduled.
// With progress every 10 steps that is under 1,000 steps; every step, under 100.
class Child {
public:
    Child(const std::vector<std::string>& args, const fs::path& cwd) : Child(ctr_train_path(), args, cwd) {}
    Child(const std::string& program, const std::vector<std::string>& args, const fs::path& cwd) {
        std::vector<std::string> a{program};
        a.insert(a.end(), args.begin(), args.end());
        detail::Argv argv(a);
        const std::string dir = cwd.string();
        int fds[2];
        REQUIRE(::pipe(fds) == 0);
        // Before the fork: once the child has written more than a page, the pipe cannot shrink.
        REQUIRE(::fcntl(fds[0], F_SETPIPE_SZ, kPipeBytes) == kPipeBytes);
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            const int null_fd = ::open("/dev/null", O_RDWR);
            if (null_fd < 0) _exit(122);
            ::dup2(null_fd, 0);
            ::dup2(null_fd, 1);
            ::dup2(fds[1], 2);
            ::close(fds[0]);
            ::close(fds[1]);
            detail::exec_child(argv, dir);
        }
        ::close(fds[1]);
        fd_ = fds[0];
    }
    ~Child() {
        if (pid_ > 0 && !waited_) {
            ::kill(pid_, SIGKILL);
            wait();
        }
        if (fd_ >= 0) ::close(fd_);
    }
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;

    pid_t pid() const { return pid_; }
    const std::string& err() const { return err_; }

    // Reads stderr until a complete line satisfies pred (true), or EOF / timeout (false).
    bool wait_for_line(const std::function<bool(const std::string&)>& pred, double timeout_s = 60) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
        for (;;) {
            while (scanned_ < err_.size()) {
                const size_t nl = err_.find('\n', scanned_);
                if (nl == std::string::npos) break;
                const std::string line = err_.substr(scanned_, nl - scanned_);
                scanned_ = nl + 1;
                if (pred(line)) return true;
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return false;
            if (!read_some(static_cast<int>(left.count()))) return false;
        }
    }

    void signal(int sig) { REQUIRE(::kill(pid_, sig) == 0); }

    // Reads stderr to EOF, reaps the child and returns its exit code (128 + signal).
    int wait() {
        while (read_some(-1)) {
        }
        int status = 0;
        while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
        waited_ = true;
        code_ = decode_status(status);
        return code_;
    }

private:
    static constexpr int kPipeBytes = 4096;

    // One read from the pipe; false at EOF (or when nothing came within timeout_ms).
    bool read_some(int timeout_ms) {
        if (fd_ < 0) return false;
        pollfd p{fd_, POLLIN, 0};
        const int n = ::poll(&p, 1, timeout_ms);
        if (n == 0) return false;
        if (n < 0) return errno == EINTR;
        char buf[kPipeBytes];
        const ssize_t got = ::read(fd_, buf, sizeof buf);
        if (got < 0) return errno == EINTR;
        if (got == 0) {
            ::close(fd_);
            fd_ = -1;
            return false;
        }
        err_.append(buf, static_cast<size_t>(got));
        return true;
    }

    pid_t pid_ = -1;
    int fd_ = -1;
    std::string err_;
    size_t scanned_ = 0;
    bool waited_ = false;
    int code_ = -1;
};

// Polls cond every 2 ms until it holds (true) or timeout_s passed (false): for what a
// test can only see on disk, such as a run file a sweep's worker creates.
inline bool wait_until(const std::function<bool()>& cond, double timeout_s = 60) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    for (;;) {
        if (cond()) return true;
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
}

// The step of a plain progress line "epoch E  step S/N  ...", or -1.
inline long long progress_step(const std::string& line) {
    const size_t at = line.find("step ");
    if (at == std::string::npos || line.find('/', at) == std::string::npos) return -1;
    return std::atoll(line.c_str() + at + 5);
}

}  // namespace ctr_test
