#pragma once
// Helpers for the tests that run the real ctr-train binary ([cli], [runfile]) and read
// its run files: fresh temp directories, running a command with its output captured,
// a child process to signal, HDF5 C API readers, and h5dump as an independent reader.
// No Python: the run files are checked with the HDF5 C library and hdf5-tools only.
#include <fcntl.h>
#include <hdf5.h>
#include <hdf5_hl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
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

// A ctr-train child whose stderr is a pipe read line by line, so a test can signal it
// at a known point of the run (progress lines) or after a delay.
class Child {
public:
    Child(const std::vector<std::string>& args, const fs::path& cwd) {
        std::vector<std::string> a{ctr_train_path()};
        a.insert(a.end(), args.begin(), args.end());
        detail::Argv argv(a);
        const std::string dir = cwd.string();
        int fds[2];
        REQUIRE(::pipe(fds) == 0);
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
    // One read from the pipe; false at EOF (or when nothing came within timeout_ms).
    bool read_some(int timeout_ms) {
        if (fd_ < 0) return false;
        pollfd p{fd_, POLLIN, 0};
        const int n = ::poll(&p, 1, timeout_ms);
        if (n == 0) return false;
        if (n < 0) return errno == EINTR;
        char buf[4096];
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

// The step of a plain progress line "epoch E  step S/N  ...", or -1.
inline long long progress_step(const std::string& line) {
    const size_t at = line.find("step ");
    if (at == std::string::npos || line.find('/', at) == std::string::npos) return -1;
    return std::atoll(line.c_str() + at + 5);
}

// ---------------------------------------------------------------- HDF5 C API readers

// A run file opened read-only. Close it (let it go out of scope) before a child opens
// the same file: HDF5's file locks would make the child's open fail.
class H5File {
public:
    explicit H5File(const std::string& path) {
        H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
        id_ = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
        if (id_ < 0) throw std::runtime_error("cannot open " + path + " with the HDF5 C API");
    }
    ~H5File() {
        if (id_ >= 0) H5Fclose(id_);
    }
    H5File(const H5File&) = delete;
    H5File& operator=(const H5File&) = delete;
    hid_t id() const { return id_; }

private:
    hid_t id_ = -1;
};

inline bool h5_exists(hid_t loc, const std::string& path) {
    std::string prefix;
    size_t start = 0;
    for (;;) {
        const size_t slash = path.find('/', start);
        prefix = path.substr(0, slash);
        if (!prefix.empty() && H5Lexists(loc, prefix.c_str(), H5P_DEFAULT) <= 0) return false;
        if (slash == std::string::npos) return true;
        start = slash + 1;
    }
}

inline std::vector<hsize_t> h5_shape(hid_t loc, const std::string& path) {
    const hid_t ds = H5Dopen2(loc, path.c_str(), H5P_DEFAULT);
    if (ds < 0) throw std::runtime_error("cannot open dataset " + path);
    const hid_t space = H5Dget_space(ds);
    const int rank = H5Sget_simple_extent_ndims(space);
    std::vector<hsize_t> dims(rank > 0 ? rank : 0);
    if (rank > 0) H5Sget_simple_extent_dims(space, dims.data(), nullptr);
    H5Sclose(space);
    H5Dclose(ds);
    return dims;
}

// The whole dataset as the bytes of its native memory type (for bit-for-bit compares).
inline std::vector<unsigned char> h5_raw(hid_t loc, const std::string& path) {
    const hid_t ds = H5Dopen2(loc, path.c_str(), H5P_DEFAULT);
    if (ds < 0) throw std::runtime_error("cannot open dataset " + path);
    const hid_t ftype = H5Dget_type(ds);
    const hid_t mtype = H5Tget_native_type(ftype, H5T_DIR_ASCEND);
    const hid_t space = H5Dget_space(ds);
    const hssize_t n = H5Sget_simple_extent_npoints(space);
    std::vector<unsigned char> bytes(static_cast<size_t>(n) * H5Tget_size(mtype));
    herr_t st = 0;
    if (n > 0) st = H5Dread(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes.data());
    H5Sclose(space);
    H5Tclose(mtype);
    H5Tclose(ftype);
    H5Dclose(ds);
    if (st < 0) throw std::runtime_error("cannot read dataset " + path);
    return bytes;
}

template <class T>
std::vector<T> h5_read(hid_t loc, const std::string& path) {
    hid_t mtype;
    if constexpr (std::is_same_v<T, double>) mtype = H5T_NATIVE_DOUBLE;
    else if constexpr (std::is_same_v<T, float>) mtype = H5T_NATIVE_FLOAT;
    else if constexpr (std::is_same_v<T, int64_t>) mtype = H5T_NATIVE_INT64;
    else mtype = H5T_NATIVE_INT32;
    const hid_t ds = H5Dopen2(loc, path.c_str(), H5P_DEFAULT);
    if (ds < 0) throw std::runtime_error("cannot open dataset " + path);
    const hid_t space = H5Dget_space(ds);
    std::vector<T> v(static_cast<size_t>(H5Sget_simple_extent_npoints(space)));
    herr_t st = 0;
    if (!v.empty()) st = H5Dread(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
    H5Sclose(space);
    H5Dclose(ds);
    if (st < 0) throw std::runtime_error("cannot read dataset " + path);
    return v;
}

// Full paths of every dataset below group (recursively), sorted.
inline std::vector<std::string> h5_datasets(hid_t loc, const std::string& group) {
    std::vector<std::string> out;
    const hid_t g = H5Gopen2(loc, group.c_str(), H5P_DEFAULT);
    if (g < 0) throw std::runtime_error("cannot open group " + group);
    H5G_info_t info;
    H5Gget_info(g, &info);
    for (hsize_t i = 0; i < info.nlinks; ++i) {
        char name[1024];
        H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT);
        const std::string full = group + "/" + name;
        H5O_info_t oi;
        H5Oget_info_by_name2(loc, full.c_str(), &oi, H5O_INFO_BASIC, H5P_DEFAULT);
        if (oi.type == H5O_TYPE_GROUP) {
            for (auto& s : h5_datasets(loc, full)) out.push_back(s);
        } else {
            out.push_back(full);
        }
    }
    H5Gclose(g);
    std::sort(out.begin(), out.end());
    return out;
}

// The series below group: its datasets except the fixed dimension scales (batch, pos,
// ...: every dimension but `step`, which is itself a series).
inline std::vector<std::string> h5_series(hid_t loc, const std::string& group) {
    std::vector<std::string> out;
    for (const std::string& name : h5_datasets(loc, group)) {
        const hid_t ds = H5Dopen2(loc, name.c_str(), H5P_DEFAULT);
        const bool fixed_scale = H5DSis_scale(ds) > 0 && name.substr(name.rfind('/') + 1) != "step";
        H5Dclose(ds);
        if (!fixed_scale) out.push_back(name);
    }
    return out;
}

inline bool h5_has_attr(hid_t loc, const std::string& obj, const std::string& name) {
    return H5Aexists_by_name(loc, obj.c_str(), name.c_str(), H5P_DEFAULT) > 0;
}

inline std::string h5_attr_string(hid_t loc, const std::string& obj, const std::string& name) {
    const hid_t a = H5Aopen_by_name(loc, obj.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) throw std::runtime_error("no attribute " + obj + "@" + name);
    const hid_t t = H5Aget_type(a);
    std::string s;
    if (H5Tget_class(t) == H5T_STRING) {
        if (H5Tis_variable_str(t) > 0) {
            char* buf = nullptr;
            H5Aread(a, t, &buf);
            s = buf ? buf : "";
            H5free_memory(buf);
        } else {
            s.assign(H5Tget_size(t), '\0');
            H5Aread(a, t, s.data());
            s.resize(std::strlen(s.c_str()));
        }
    }
    H5Tclose(t);
    H5Aclose(a);
    return s;
}

// A list-of-strings attribute (variable-length UTF-8), e.g. `axes`.
inline std::vector<std::string> h5_attr_strings(hid_t loc, const std::string& obj, const std::string& name) {
    const hid_t a = H5Aopen_by_name(loc, obj.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) throw std::runtime_error("no attribute " + obj + "@" + name);
    const hid_t t = H5Aget_type(a), space = H5Aget_space(a);
    std::vector<char*> ptrs(static_cast<size_t>(H5Sget_simple_extent_npoints(space)), nullptr);
    const bool ok = H5Tis_variable_str(t) > 0 && H5Aread(a, t, ptrs.data()) >= 0;
    std::vector<std::string> out;
    for (char* p : ptrs) {
        out.emplace_back(p ? p : "");
        H5free_memory(p);
    }
    H5Sclose(space);
    H5Tclose(t);
    H5Aclose(a);
    if (!ok) throw std::runtime_error("attribute " + obj + "@" + name + " is not a list of strings");
    return out;
}

// The names of the dimension scales attached to each axis of a dataset ("" for none).
inline std::vector<std::string> h5_dim_names(hid_t loc, const std::string& dataset) {
    const hid_t ds = H5Dopen2(loc, dataset.c_str(), H5P_DEFAULT);
    if (ds < 0) throw std::runtime_error("no dataset " + dataset);
    const hid_t space = H5Dget_space(ds);
    const int rank = H5Sget_simple_extent_ndims(space);
    H5Sclose(space);
    std::vector<std::string> out;
    for (int i = 0; i < rank; ++i) {
        std::string name;
        if (H5DSget_num_scales(ds, static_cast<unsigned>(i)) == 1) {
            H5DSiterate_scales(ds, static_cast<unsigned>(i), nullptr,
                               [](hid_t, unsigned, hid_t scale, void* out) -> herr_t {
                                   char buf[256] = {};
                                   H5DSget_scale_name(scale, buf, sizeof buf);
                                   *static_cast<std::string*>(out) = buf;
                                   return 1;
                               },
                               &name);
        }
        out.push_back(name);
    }
    H5Dclose(ds);
    return out;
}

// A scalar numeric attribute, read as T (HDF5 converts); also tells its class and sign.
template <class T>
T h5_attr_number(hid_t loc, const std::string& obj, const std::string& name) {
    hid_t mtype;
    if constexpr (std::is_same_v<T, double>) mtype = H5T_NATIVE_DOUBLE;
    else if constexpr (std::is_same_v<T, uint64_t>) mtype = H5T_NATIVE_UINT64;
    else mtype = H5T_NATIVE_INT64;
    const hid_t a = H5Aopen_by_name(loc, obj.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) throw std::runtime_error("no attribute " + obj + "@" + name);
    T v{};
    const herr_t st = H5Aread(a, mtype, &v);
    H5Aclose(a);
    if (st < 0) throw std::runtime_error("cannot read attribute " + obj + "@" + name);
    return v;
}

// Every attribute of obj, name -> its value as bytes (strings as their text, numbers in
// their native memory type), for bit-for-bit compares.
inline std::map<std::string, std::string> h5_attrs(hid_t loc, const std::string& obj) {
    std::map<std::string, std::string> out;
    H5O_info_t oi;
    if (H5Oget_info_by_name2(loc, obj.c_str(), &oi, H5O_INFO_NUM_ATTRS, H5P_DEFAULT) < 0)
        throw std::runtime_error("cannot inspect " + obj);
    for (hsize_t i = 0; i < oi.num_attrs; ++i) {
        char name[1024];
        H5Aget_name_by_idx(loc, obj.c_str(), H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT);
        const hid_t a = H5Aopen_by_name(loc, obj.c_str(), name, H5P_DEFAULT, H5P_DEFAULT);
        const hid_t t = H5Aget_type(a);
        std::string value;
        if (H5Tget_class(t) == H5T_STRING) {
            value = "string:" + h5_attr_string(loc, obj, name);
        } else {
            const hid_t mt = H5Tget_native_type(t, H5T_DIR_ASCEND);
            const hid_t space = H5Aget_space(a);
            value.assign(H5Tget_size(mt) * static_cast<size_t>(H5Sget_simple_extent_npoints(space)), '\0');
            H5Aread(a, mt, value.data());
            H5Sclose(space);
            H5Tclose(mt);
        }
        H5Tclose(t);
        H5Aclose(a);
        out[name] = value;
    }
    return out;
}

// ---------------------------------------------------------------- h5dump

// Runs h5dump with args (the run file last) and returns its result.
inline Result h5dump(const std::vector<std::string>& args, const std::string& file) {
    std::vector<std::string> argv{"/usr/bin/h5dump"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back(file);
    return run_command(argv, fs::temp_directory_path());
}

// The numbers of the first DATA { ... } block of h5dump output (run it with -y so no
// indices are printed, and -m %.17g so doubles round-trip exactly).
inline std::vector<double> h5dump_values(const std::string& text) {
    std::vector<double> v;
    const size_t open = text.find("DATA {");
    if (open == std::string::npos) return v;
    const size_t close = text.find('}', open);
    std::string body = text.substr(open + 6, close - open - 6);
    for (char& c : body)
        if (c == ',') c = ' ';
    std::istringstream is(body);
    std::string tok;
    while (is >> tok) v.push_back(std::strtod(tok.c_str(), nullptr));
    return v;
}

// "( 19, 2, 2, 3 ) / ( H5S_UNLIMITED, 2, 2, 3 )" from an h5dump header.
inline std::string h5dump_dataspace(const std::string& text) {
    const size_t at = text.find("DATASPACE  SIMPLE {");
    if (at == std::string::npos) return {};
    const size_t open = text.find('(', at), end = text.find('}', at);
    std::string s = text.substr(open, end - open);
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s;
}

}  // namespace ctr_test
