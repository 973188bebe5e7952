#include "run/sweep_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <regex>

#include "run/sweep_driver.hpp"
#include "util/dir_problem.hpp"

namespace ctr {

namespace fs = std::filesystem;

namespace {

std::string hostname() {
    char buf[256] = {};
    gethostname(buf, sizeof buf - 1);
    return buf;
}

std::string now_utc() {
    const std::time_t t = std::time(nullptr);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return buf;
}

std::string shard_text(int index, int count) { return std::to_string(index) + "/" + std::to_string(count); }

int open_lock_file(const fs::path& path) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        const int err = errno;
        throw SweepRefused(lock_file_problem(path, "the sweep", err));
    }
    return fd;
}

bool try_flock(int fd, int how) {
    for (;;) {
        if (::flock(fd, how | LOCK_NB) == 0) return true;
        if (errno != EINTR) return false;
    }
}

// The holder's note, "pid P on HOST, since T", written by whoever holds a lock exclusively.
std::string holder_note(const fs::path& path) {
    std::string note;
    std::ifstream in(path);
    std::getline(in, note);
    return note;
}

// The plan's fingerprint (FNV-1a, the same in every build) on the note's second line.
std::string plan_id(const std::string& plan) {
    uint64_t h = 14695981039346656037ull;
    for (unsigned char c : plan) h = (h ^ c) * 1099511628211ull;
    char b[24];
    std::snprintf(b, sizeof b, "plan %016llx", static_cast<unsigned long long>(h));
    return b;
}

std::string note_plan(const fs::path& path) {
    std::string note, plan;
    std::ifstream in(path);
    std::getline(in, note);
    std::getline(in, plan);
    return plan;
}

void write_note(int fd, const std::string& plan) {
    const std::string me = "pid " + std::to_string(::getpid()) + " on " + hostname() + ", since " + now_utc() + "\n" +
                           plan_id(plan) + "\n";
    if (::ftruncate(fd, 0) == 0 && ::write(fd, me.data(), me.size()) < 0) {
        // the lock holds without the note
    }
}

struct RunningShard {
    int index, count;
    std::string note, plan;
};

// Drivers of shards running on dir now (their shard locks are held), optionally only
// those of another count than `except_count`. Call with the registration lock held: a
// probe holds a free shard lock for a moment.
std::vector<RunningShard> running_shards(const fs::path& dir, int except_count) {
    static const std::regex name(R"(\.ctr-sweep-shard-(\d+)-of-(\d+)\.lock)");
    std::vector<RunningShard> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        std::smatch m;
        const std::string file = e.path().filename().string();
        if (!std::regex_match(file, m, name)) continue;
        const int index = std::stoi(m[1].str()), count = std::stoi(m[2].str());
        if (count == except_count) continue;
        const int fd = ::open(e.path().c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        if (!try_flock(fd, LOCK_EX)) out.push_back({index, count, holder_note(e.path()), note_plan(e.path())});
        ::close(fd);  // releases the probe's lock
    }
    std::sort(out.begin(), out.end(), [](const RunningShard& a, const RunningShard& b) {
        return a.count != b.count ? a.count < b.count : a.index < b.index;
    });
    return out;
}

std::string describe(const std::vector<RunningShard>& shards) {
    std::string s;
    for (const RunningShard& r : shards)
        s += (s.empty() ? "" : ", ") + std::string("shard ") + shard_text(r.index, r.count) +
             (r.note.empty() ? "" : " (" + r.note + ")");
    return s;
}

const char* const kWait = "; wait for it to finish or stop it first";

}  // namespace

SweepDirLock::SweepDirLock(const std::string& dir_text, const std::string& shown, const Shard& shard,
                           const std::string& plan) {
    const fs::path dir = dir_text;
    const fs::path whole = dir / ".ctr-sweep.lock";
    // Held only while a driver checks and takes its locks, so that the checks of two
    // drivers starting at once cannot interleave (each would see the other's lock free).
    const int registration = open_lock_file(dir / ".ctr-sweep-register.lock");
    fds_.push_back(registration);
    while (::flock(registration, LOCK_EX) != 0 && errno == EINTR) {
    }
    try {
        const int w = open_lock_file(whole);
        fds_.push_back(w);
        if (shard.count == 1) {
            if (!try_flock(w, LOCK_EX)) {
                const std::vector<RunningShard> shards = running_shards(dir, 0);
                const std::string note = holder_note(whole);
                throw SweepRefused(shown + ": another ctr-sweep is running on this directory" +
                                   (!shards.empty() ? ": " + describe(shards)
                                                    : note.empty() ? std::string() : " (" + note + ")") + kWait);
            }
            write_note(w, plan);
        } else {
            const std::string mine = shard_text(shard.index, shard.count);
            if (!try_flock(w, LOCK_SH)) {
                const std::string note = holder_note(whole);
                throw SweepRefused(shown + " (shard " + mine + "): another ctr-sweep is running on this directory (the whole sweep" +
                                   (note.empty() ? std::string() : ": " + note) + ")" + kWait);
            }
            // Shards of another count, or of another plan (other seeds or grid values
            // move runs to other positions), overlap this one: together they would make
            // some runs twice (at once, in one file) and leave others out.
            std::vector<RunningShard> others, replanned;
            for (RunningShard& r : running_shards(dir, shard.count)) others.push_back(r);
            for (RunningShard& r : running_shards(dir, 0))
                if (r.count == shard.count && r.plan != plan_id(plan)) replanned.push_back(r);
            if (!others.empty())
                throw SweepRefused(shown + ": shard " + mine + " refused: a ctr-sweep of another shard count is running on "
                                   "this directory: " + describe(others) +
                                   "; shards of different counts overlap (a run would be made by both, another by "
                                   "neither): wait for it to finish, or run shards of the same count (I/" +
                                   std::to_string(others.front().count) + ")");
            if (!replanned.empty())
                throw SweepRefused(shown + ": shard " + mine + " refused: a ctr-sweep of other runs (other seeds or grid "
                                   "values) is running on this directory: " + describe(replanned) +
                                   "; shards of different runs overlap: wait for it to finish, or give the same "
                                   "sweep as it (" + shown + "/sweep.yaml)");
            const fs::path own = dir / (".ctr-sweep-shard-" + std::to_string(shard.index) + "-of-" + std::to_string(shard.count) + ".lock");
            const int s = open_lock_file(own);
            fds_.push_back(s);
            if (!try_flock(s, LOCK_EX)) {
                const std::string note = holder_note(own);
                throw SweepRefused(shown + " (shard " + mine + "): another ctr-sweep is running on this directory" +
                                   (note.empty() ? std::string() : " (" + note + ")") + kWait);
            }
            write_note(s, plan);
        }
    } catch (...) {
        for (int fd : fds_) ::close(fd);
        throw;
    }
    ::close(registration);
    fds_.erase(fds_.begin());
}

SweepDirLock::~SweepDirLock() {
    for (int fd : fds_) ::close(fd);
}

}  // namespace ctr
