#pragma once
// The locks that keep drivers of one sweep directory from making a run twice
// (docs/sweeps.md#running-it-again-stopping-killing): one whole-sweep driver, or any
// number of drivers of distinct shards of one shard count and one plan (the same runs
// in the same order). flocks, which the kernel drops when the driver and its workers
// (forks, which share them) are gone.
#include <string>
#include <vector>

namespace ctr {

struct Shard;

class SweepDirLock {
public:
    // Takes the locks of dir for this shard (count 1: the whole sweep) of the sweep whose
    // plan (DIR/sweep.yaml's text) is `plan`, or throws SweepRefused naming the running
    // driver in the way; `shown` is dir as the user gave it.
    SweepDirLock(const std::string& dir, const std::string& shown, const Shard& shard, const std::string& plan);
    ~SweepDirLock();
    SweepDirLock(const SweepDirLock&) = delete;
    SweepDirLock& operator=(const SweepDirLock&) = delete;

private:
    std::vector<int> fds_;
};

}  // namespace ctr
