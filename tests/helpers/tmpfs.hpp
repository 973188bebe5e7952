#pragma once
// A small disk for the full-disk tests: a tmpfs of a chosen size mounted on a directory
// (needs root), unmounted when it goes out of scope.
#include <sys/mount.h>

#include <cstdint>
#include <filesystem>
#include <string>

namespace ctr_test {

class Tmpfs {
public:
    // Check mounted() after: false (errno says why) where this machine does not allow it.
    Tmpfs(std::filesystem::path dir, uintmax_t kib) : dir_(std::move(dir)) {
        mounted_ = ::mount("tmpfs", dir_.c_str(), "tmpfs", 0, size_option(kib).c_str()) == 0;
    }
    ~Tmpfs() {
        if (mounted_) ::umount(dir_.c_str());
    }
    Tmpfs(const Tmpfs&) = delete;
    Tmpfs& operator=(const Tmpfs&) = delete;

    bool mounted() const { return mounted_; }
    // Grows (or shrinks) the disk in place, keeping its files.
    bool resize(uintmax_t kib) {
        return ::mount("tmpfs", dir_.c_str(), "tmpfs", MS_REMOUNT, size_option(kib).c_str()) == 0;
    }

private:
    static std::string size_option(uintmax_t kib) { return "size=" + std::to_string(kib) + "k"; }
    std::filesystem::path dir_;
    bool mounted_ = false;
};

}  // namespace ctr_test
