// An LD_PRELOAD shim for the fault suite (tests/test_faults.cpp): it counts the pwrite()
// calls of the process (HDF5's sec2 driver writes a file with pwrite and nothing else in
// ctr-train does) and kills the process with SIGKILL just before the one numbered
// CTR_KILL_AT_WRITE (1-based), so a test can stop a writer at any chosen point of a
// flush instead of at random moments. With CTR_WRITE_COUNT_FILE set, the number of
// pwrite calls is written there at exit, and the count at each H5Olink (a checkpoint
// swap, io/run_file_writer.cpp) is appended to CTR_WRITE_MARKS_FILE.
#include <dlfcn.h>
#include <hdf5.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace {

long writes = 0;

long env_long(const char* name) {
    const char* v = std::getenv(name);
    return v ? std::atol(v) : 0;
}

struct Report {
    ~Report() {
        if (const char* path = std::getenv("CTR_WRITE_COUNT_FILE")) {
            if (FILE* f = std::fopen(path, "w")) {
                std::fprintf(f, "%ld\n", writes);
                std::fclose(f);
            }
        }
    }
} report;

}  // namespace

extern "C" ssize_t pwrite(int fd, const void* buf, size_t count, off_t offset) {
    using Fn = ssize_t (*)(int, const void*, size_t, off_t);
    static const Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "pwrite"));
    static const long kill_at = env_long("CTR_KILL_AT_WRITE");
    if (++writes == kill_at) raise(SIGKILL);
    return real(fd, buf, count, offset);
}

extern "C" ssize_t pwrite64(int fd, const void* buf, size_t count, off_t offset) { return pwrite(fd, buf, count, offset); }

extern "C" herr_t H5Olink(hid_t obj, hid_t loc, const char* name, hid_t lcpl, hid_t lapl) {
    using Fn = herr_t (*)(hid_t, hid_t, const char*, hid_t, hid_t);
    static const Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "H5Olink"));
    if (const char* path = std::getenv("CTR_WRITE_MARKS_FILE")) {
        if (FILE* f = std::fopen(path, "a")) {
            std::fprintf(f, "%ld\n", writes);
            std::fclose(f);
        }
    }
    return real(obj, loc, name, lcpl, lapl);
}
