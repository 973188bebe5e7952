#pragma once
// One writer per run file, whatever HDF5's own locking is set to. HDF5 locks with
// flock(), which HDF5_USE_FILE_LOCKING=FALSE (common on clusters) turns off, and which
// a file replaced by a rename (a new run under --overwrite) does not carry over. So ctr
// takes its own lock first: an fcntl() open-file-description write lock on the sidecar
// RUN.h5.lock, a path that is never renamed. fcntl locks are the ones NFS (NLM, NFSv4)
// carries to the server, so two writers on different hosts also exclude each other where
// the mount supports locking. The kernel drops the lock when its holder dies (kill -9
// included), so a lock file left behind is stale and harmless. The file holds the
// holder's pid, host, program and start time, for the message of the one refused.
#include <string>

#include "io/h5.hpp"

namespace ctr {

class RunLock {
public:
    RunLock() = default;
    // Locks run_path for writing (RUN.h5 -> RUN.h5.lock; its directory must exist).
    // Throws h5::IoError with Cause::kLocked naming the holder when another process holds
    // it, or naming why the lock file cannot be made or locked.
    static RunLock acquire(const std::string& run_path);

    RunLock(RunLock&& o) noexcept : fd_(o.fd_), lock_path_(std::move(o.lock_path_)) { o.fd_ = -1; }
    RunLock& operator=(RunLock&& o) noexcept;
    RunLock(const RunLock&) = delete;
    RunLock& operator=(const RunLock&) = delete;
    // Removes the lock file, then releases the lock.
    ~RunLock() { release(); }
    void release() noexcept;

    bool held() const { return fd_ >= 0; }
    static std::string lock_path_of(const std::string& run_path) { return run_path + ".lock"; }

private:
    int fd_ = -1;
    std::string lock_path_;
};

}  // namespace ctr
