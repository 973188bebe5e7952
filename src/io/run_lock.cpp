#include "io/run_lock.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>

#include "util/dir_problem.hpp"

namespace ctr {
namespace {

std::string holder_text() {
    char host[256] = "?";
    ::gethostname(host, sizeof host - 1);
    std::string program = "?";
    std::ifstream("/proc/self/comm") >> program;
    const std::time_t t = std::time(nullptr);
    char when[32];
    std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return "pid " + std::to_string(::getpid()) + " on host " + host + " (" + program + ", since " + when + ")";
}

std::string read_all(int fd) {
    std::string s;
    char buf[512];
    for (off_t at = 0;;) {
        const ssize_t n = ::pread(fd, buf, sizeof buf, at);
        if (n <= 0) break;
        s.append(buf, static_cast<size_t>(n));
        at += n;
        if (s.size() > 4096) break;
    }
    while (!s.empty() && (s.back() == '\n' || s.back() == '\0')) s.pop_back();
    return s;
}

// A write lock on the whole file: open-file-description lock, or a classic POSIX lock
// on kernels without OFD locks (both are fcntl locks, which NFS supports).
int lock_whole_file(int fd) {
    struct flock fl {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = 0;
    fl.l_len = 0;
#ifdef F_OFD_SETLK
    if (::fcntl(fd, F_OFD_SETLK, &fl) == 0) return 0;
    if (errno != EINVAL) return -1;
#endif
    return ::fcntl(fd, F_SETLK, &fl);
}

}  // namespace

RunLock& RunLock::operator=(RunLock&& o) noexcept {
    if (this != &o) {
        release();
        fd_ = o.fd_;
        lock_path_ = std::move(o.lock_path_);
        o.fd_ = -1;
    }
    return *this;
}

RunLock RunLock::acquire(const std::string& run_path) {
    using h5::Cause;
    const std::string path = lock_path_of(run_path);
    // The holder removes the lock file before it lets go; a process that opened the old
    // file meanwhile finds the path gone or another file there, and tries again.
    for (int attempt = 0; attempt < 100; ++attempt) {
        const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
            const int err = errno;
            throw h5::IoError(lock_file_problem(path, run_path, err),
                              err == EACCES || err == EPERM || err == EROFS ? Cause::kPermission : Cause::kOther);
        }
        if (lock_whole_file(fd) != 0) {
            const int err = errno;
            if (err == EAGAIN || err == EACCES) {
                std::string holder = read_all(fd);
                ::close(fd);
                if (holder.empty()) holder = "a process that has not yet said which";
                throw h5::IoError(run_path + " is being written by another process: " + holder +
                                      ". Wait for it to finish (or stop it), then try again; reading the run "
                                      "(ctr-inspect, h5py) needs no lock",
                                  Cause::kLocked);
            }
            ::close(fd);
            throw h5::IoError("cannot lock " + path + " (the lock that keeps a run file to one writer): " +
                                  std::strerror(err) +
                                  (err == ENOLCK || err == EOPNOTSUPP || err == ENOSYS
                                       ? "; this file system does not support file locks: write runs to a local disk "
                                         "or an NFS mount with locking (no 'nolock' option)"
                                       : ""),
                              Cause::kOther);
        }
        struct stat held {}, now {};
        if (::fstat(fd, &held) != 0 || ::stat(path.c_str(), &now) != 0 || held.st_ino != now.st_ino ||
            held.st_dev != now.st_dev) {
            ::close(fd);
            continue;
        }
        const std::string text = holder_text() + "\n";
        if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
            // The lock holds without the text; the refused process then cannot name us.
        }
        RunLock lock;
        lock.fd_ = fd;
        lock.lock_path_ = path;
        return lock;
    }
    throw h5::IoError("cannot lock " + path + ": it keeps being replaced by other processes", Cause::kLocked);
}

void RunLock::release() noexcept {
    if (fd_ < 0) return;
    ::unlink(lock_path_.c_str());
    ::close(fd_);
    fd_ = -1;
}

}  // namespace ctr
