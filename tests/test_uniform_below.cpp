// util/rng.hpp's uniform_below is Boost's uniform_int_distribution without its
// divisions: the epoch shuffle's order, and so every run, must not change with it.
#include <catch2/catch.hpp>

#include <boost/random/uniform_int_distribution.hpp>
#include <cstdint>
#include <limits>
#include <vector>

#include "util/rng.hpp"

namespace {

// An engine of 64 bits that replays a list: the draws at the edges of Boost's buckets
// and the top ones it rejects, which a random engine almost never gives.
struct Replay {
    using result_type = uint64_t;
    static constexpr uint64_t min() { return 0; }
    static constexpr uint64_t max() { return std::numeric_limits<uint64_t>::max(); }
    std::vector<uint64_t> values;
    size_t next = 0;
    uint64_t operator()() { return values.at(next++); }
};

uint64_t boost_below(auto& eng, uint64_t n) { return boost::random::uniform_int_distribution<uint64_t>(0, n - 1)(eng); }

}  // namespace

TEST_CASE("uniform_below draws what Boost's uniform_int_distribution draws", "[rng]") {
    SECTION("random draws, every n of an epoch and some large ones") {
        ctr::Rng a(12345), b(12345);
        std::vector<uint64_t> sizes;
        for (uint64_t n = 2; n <= 9000; ++n) sizes.push_back(n);
        for (uint64_t n : {uint64_t{1} << 20, (uint64_t{1} << 31) - 1, uint64_t{1} << 31, (uint64_t{1} << 32) + 7, (uint64_t{1} << 63) + 1, ~uint64_t{0} - 1})
            sizes.push_back(n);
        for (int pass = 0; pass < 3; ++pass)
            for (uint64_t n : sizes) REQUIRE(ctr::uniform_below(a, n, ctr::bucket_of(n)) == boost_below(b, n));
        REQUIRE(a == b);  // the same number of draws
    }
    SECTION("draws at the bucket edges and rejected draws") {
        for (uint64_t n : {uint64_t{2}, uint64_t{3}, uint64_t{7}, uint64_t{256}, uint64_t{1000}, uint64_t{8191},
                           uint64_t{8192}, (uint64_t{1} << 31) - 1, (uint64_t{1} << 62) + 3, (uint64_t{1} << 63) + 1, ~uint64_t{0} - 1}) {
            const uint64_t bucket = ctr::bucket_of(n);
            std::vector<uint64_t> edges{0, 1, ~uint64_t{0}, ~uint64_t{0} - 1};
            for (uint64_t q : {uint64_t{1}, n / 2, n - 1, n})
                if (q > 0 && q <= ~uint64_t{0} / bucket) {
                    const uint64_t at = q * bucket;
                    edges.insert(edges.end(), {at - 1, at, at + 1});
                }
            // Each value alone (a rejected one is followed by 0, which is accepted).
            for (uint64_t v : edges) {
                Replay a{{v, 0}}, b{{v, 0}};
                REQUIRE(ctr::uniform_below(a, n, bucket) == boost_below(b, n));
                REQUIRE(a.next == b.next);
            }
        }
    }
}
