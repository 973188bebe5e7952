// Time of one training step's model work (zero the gradients, forward, backward) on the
// paper's minimal model and on a larger one. Built twice: bench_step (ctr::real = double)
// and bench_step_f32 (CTR_REAL_FLOAT), from this one source.
//
//   bench_step [--repeats R] [--seconds S] [--steps N] [--warmup W] [--only minimal|larger]
//              [--simd scalar|sse2|avx2|avx512]
//
// Each config: warm-up (W steps, or about 0.2 s), then R repeats of a timed loop (N steps
// each, or as many as fill about S seconds); prints the median, min and max per step.
// A fixed --warmup and --steps make the step count exact, for instruction counts under
// callgrind. --simd picks the kernels' vector width (default: the widest available). Every heap allocation made
// inside the timed loops is counted (malloc and friends are wrapped, glibc only); a step
// must allocate nothing, and the benchmark exits with status 2 if one does.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "model/init.hpp"
#include "model/simd.hpp"
#include "model/transformer.hpp"
#include "task/averaging.hpp"
#include "util/real.hpp"
#include "util/rng.hpp"

// ---------------------------------------------------------------------------------------
// Allocation counter: this executable's malloc family, forwarding to glibc's. The dynamic
// linker binds every malloc call in the process (libstdc++'s operator new, Eigen's
// aligned_malloc, ...) to these.
namespace {
std::atomic<long> g_allocs{0};
}

#if defined(__GLIBC__)
#define CTR_COUNT_ALLOCS 1
extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
void __libc_free(void*);

void* malloc(size_t n) noexcept {
    g_allocs.fetch_add(1, std::memory_order_relaxed);
    return __libc_malloc(n);
}
void* calloc(size_t n, size_t size) noexcept {
    g_allocs.fetch_add(1, std::memory_order_relaxed);
    return __libc_calloc(n, size);
}
void* realloc(void* p, size_t n) noexcept {
    g_allocs.fetch_add(1, std::memory_order_relaxed);
    return __libc_realloc(p, n);
}
void* aligned_alloc(size_t alignment, size_t n) noexcept {
    g_allocs.fetch_add(1, std::memory_order_relaxed);
    return __libc_memalign(alignment, n);
}
int posix_memalign(void** out, size_t alignment, size_t n) noexcept {
    g_allocs.fetch_add(1, std::memory_order_relaxed);
    void* p = __libc_memalign(alignment, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
void free(void* p) noexcept { __libc_free(p); }
}
#else
#define CTR_COUNT_ALLOCS 0
#endif

// ---------------------------------------------------------------------------------------

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
    int repeats = 7;
    double seconds = 0.3;  // per repeat, when steps == 0
    long steps = 0;
    long warmup = 0;  // 0: time-based
    std::string only;
};

struct BenchConfig {
    std::string name;
    ctr::ModelConfig model;
    ctr::TaskConfig task;
    int batch = 0;
};

std::vector<BenchConfig> configs() {
    std::vector<BenchConfig> c;
    BenchConfig minimal{"minimal", {}, {}, 256};  // the paper's: 2 layers, 1 head, d_model 2
    minimal.task.seq_len = 16;
    c.push_back(minimal);

    BenchConfig larger{"larger", {}, {}, 64};
    larger.model.n_layers = 2;
    larger.model.n_heads = 4;
    larger.model.d_model = 64;
    larger.model.d_head = 16;
    larger.model.d_mlp = 256;
    larger.model.act = ctr::Activation::kGelu;
    larger.model.norm = ctr::Norm::kLayerNorm;
    larger.model.attn_scale = ctr::AttnScale::kInvSqrtDHead;
    larger.task.seq_len = 64;
    c.push_back(larger);
    return c;
}

std::string describe(const BenchConfig& c, size_t n_params) {
    const ctr::ModelConfig& m = c.model;
    char buf[256];
    std::snprintf(buf, sizeof buf, "L=%d H=%d D=%d Dh=%d M=%d %s norm=%s scale=%s pos=%s | B=%d T=%d | %zu params",
                  m.n_layers, m.n_heads, m.d_model, m.d_head, m.d_mlp, m.d_mlp ? ctr::name_of(m.act).data() : "attn-only",
                  ctr::name_of(m.norm).data(), ctr::name_of(m.attn_scale).data(), ctr::name_of(m.positions).data(), c.batch, c.task.seq_len, n_params);
    return buf;
}

struct Result {
    double median_us, min_us, max_us;
    long steps_per_repeat;
    long allocs;
};

Result run(const BenchConfig& c, const Options& opt) {
    ctr::Transformer model(c.model, c.task.seq_len, c.task.bos, c.batch);
    ctr::Rng init_rng = ctr::make_stream(1, ctr::Stream::kInit);
    ctr::Rng data_rng = ctr::make_stream(1, ctr::Stream::kTrainData);
    std::vector<ctr::real> params;
    ctr::init_params_random(params, model.layout(), init_rng);
    const ctr::Batch batch = ctr::as_batch(ctr::generate_sequences(c.task, c.batch, data_rng));
    std::vector<ctr::real> grads(params.size());
    volatile double sink = 0;

    auto step = [&] {
        std::fill(grads.begin(), grads.end(), ctr::real(0));
        // what Trainer::train_step runs: the last block computes only the queries the loss reads
        const ctr::real loss = model.loss_and_gradient(params.data(), grads.data(), batch);
        sink = sink + static_cast<double>(loss) + static_cast<double>(grads[0]);
    };
    auto seconds_since = [](Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); };

    // Warm-up (caches, page faults, CPU clock), which also calibrates the repeat length.
    long warm = 0;
    const Clock::time_point w0 = Clock::now();
    while (opt.warmup > 0 ? warm < opt.warmup : (warm < 5 || seconds_since(w0) < 0.2)) {
        step();
        ++warm;
    }
    const double est = seconds_since(w0) / static_cast<double>(warm);
    const long n = opt.steps > 0 ? opt.steps : std::max(1L, static_cast<long>(opt.seconds / est));

    std::vector<double> us(static_cast<size_t>(opt.repeats));
    const long allocs0 = g_allocs.load();
    for (int r = 0; r < opt.repeats; ++r) {
        const Clock::time_point t0 = Clock::now();
        for (long i = 0; i < n; ++i) step();
        us[static_cast<size_t>(r)] = seconds_since(t0) * 1e6 / static_cast<double>(n);
    }
    const long allocs = g_allocs.load() - allocs0;
    std::vector<double> sorted = us;
    std::sort(sorted.begin(), sorted.end());
    const size_t m = sorted.size();
    const double median = m % 2 ? sorted[m / 2] : 0.5 * (sorted[m / 2 - 1] + sorted[m / 2]);
    (void)sink;
    return {median, sorted.front(), sorted.back(), n, allocs};
}

int usage(const char* argv0) {
    std::fprintf(stderr,
                 "usage: %s [--repeats R] [--seconds S] [--steps N] [--warmup W] [--only minimal|larger] "
                 "[--simd scalar|sse2|avx2|avx512]\n",
                 argv0);
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    Options opt;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (i + 1 >= argc) return usage(argv[0]);
        const char* v = argv[++i];
        if (a == "--repeats")
            opt.repeats = std::atoi(v);
        else if (a == "--seconds")
            opt.seconds = std::atof(v);
        else if (a == "--steps")
            opt.steps = std::atol(v);
        else if (a == "--warmup")
            opt.warmup = std::atol(v);
        else if (a == "--only")
            opt.only = v;
        else if (a == "--simd") {
            try {
                ctr::set_simd_level(ctr::parse_simd_level(v));
            } catch (const std::exception& e) {
                std::fprintf(stderr, "--simd: %s\n", e.what());
                return 1;
            }
        }
        else
            return usage(argv[0]);
    }
    if (opt.repeats < 1) return usage(argv[0]);
    // The counter must see an ordinary allocation, or its zeros mean nothing. It does not
    // under valgrind with --soname-synonyms=somalloc=NONE, whose malloc replaces ours;
    // compare valgrind's "total heap usage" of two runs with different --steps instead.
    bool counting = CTR_COUNT_ALLOCS;
    if (counting) {
        const long before = g_allocs.load();
        auto* probe = new std::vector<double>(100);
        counting = g_allocs.load() - before >= 2;
        delete probe;
        if (!counting) std::printf("note: the allocation counter sees no allocations (valgrind?); not counting\n");
    }

    std::printf("bench_step: zero grads + forward + backward per step; ctr::real = %s (%zu bytes); SIMD %s; Eigen %d.%d.%d\n",
                sizeof(ctr::real) == 8 ? "double" : "float", sizeof(ctr::real), ctr::simd_name(ctr::simd_level()),
                EIGEN_WORLD_VERSION, EIGEN_MAJOR_VERSION, EIGEN_MINOR_VERSION);
    std::printf("median of %d repeats after warm-up%s\n", opt.repeats,
                counting ? "; heap allocations counted over all timed steps" : "");
    bool allocated = false;
    for (const BenchConfig& c : configs()) {
        if (!opt.only.empty() && opt.only != c.name) continue;
        const Result r = run(c, opt);
        ctr::ParamLayout layout(c.model, c.task.seq_len, c.task.bos);
        std::printf("%-8s %s\n", c.name.c_str(), describe(c, layout.total()).c_str());
        std::printf("         %10.2f us/step  %10.1f steps/s  (min %.2f, max %.2f us; %ld steps x %d)  allocs: %s\n",
                    r.median_us, 1e6 / r.median_us, r.min_us, r.max_us, r.steps_per_repeat, opt.repeats,
                    counting ? std::to_string(r.allocs).c_str() : "not counted");
        std::fflush(stdout);
        allocated = allocated || (counting && r.allocs != 0);
    }
    if (allocated) {
        std::printf("ERROR: the step loop allocated on the heap\n");
        return 2;
    }
    return 0;
}
