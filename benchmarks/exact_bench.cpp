// Speed of the fast exact contraction (issue 2, "Speed"): gemm_exact against OpenBLAS DGEMM on
// the same shape and thread count, and against the MPFR-256 oracle loop. One run prints the
// times and the ratios; benchmarks/README.md records them.
//
//   roundoff_bench_exact [--quick | --only fp32|f64|large]
//     --quick: skip the 1024x4096x4096 case; --only: run one case (for profiling)
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "bench_timing.hpp"
#include "roundoff/exact/gemm.hpp"
#include "roundoff/exact/mpfr_oracle.hpp"
#include "roundoff/formats/format.hpp"

namespace {

/// Runs f with ROUNDOFF_EXACT_KERNEL=kernel, then restores the variable as it was (set by the
/// user to force a kernel for the whole run, or unset).
template <class F>
auto with_kernel(const char* kernel, F f) {
  const char* before = std::getenv("ROUNDOFF_EXACT_KERNEL");
  const std::optional<std::string> saved =
      before ? std::optional<std::string>(before) : std::nullopt;
  setenv("ROUNDOFF_EXACT_KERNEL", kernel, 1);
  auto result = f();
  if (saved)
    setenv("ROUNDOFF_EXACT_KERNEL", saved->c_str(), 1);
  else
    unsetenv("ROUNDOFF_EXACT_KERNEL");
  return result;
}

using namespace roundoff::exact;
using roundoff::bench::measure;
using roundoff::bench::median;
using roundoff::bench::timing;
using i64 = std::int64_t;
using clk = std::chrono::steady_clock;

struct problem_data {
  i64 m, n, k;
  std::vector<double> x, w, b;
  gemm_problem p;
};

problem_data make(i64 m, i64 n, i64 k, roundoff::format_id f, std::uint64_t seed) {
  problem_data d{m, n, k, {}, {}, {}, {}};
  std::mt19937_64 g(seed);
  std::normal_distribution<double> nd;
  d.x.resize(static_cast<std::size_t>(m * k));
  d.w.resize(static_cast<std::size_t>(n * k));
  d.b.resize(static_cast<std::size_t>(n));
  for (auto* v : {&d.x, &d.w, &d.b})
    for (auto& e : *v) e = roundoff::round_to(f, nd(g));
  // y = x W^T + b, as F.linear: bias broadcast over rows.
  d.p.m = m, d.p.n = n, d.p.k = k;
  d.p.a = d.x.data(), d.p.lda = k;
  d.p.b = d.w.data(), d.p.ldb = k;
  d.p.bias = d.b.data(), d.p.bias_col_stride = 1;
  d.p.c_row_stride = n, d.p.c_col_stride = 1;
  return d;
}

struct pair_timing {
  timing dgemm, fast;
};

// DGEMM and gemm_exact alternate in blocks of up to 5 timed calls, so that both see the same
// (shared, noisy) machine. Each block starts with 150 ms of untimed calls of its own kind, so
// each side is timed in its steady state. This matters at 2 threads: after a multithreaded
// call, OpenBLAS's idle worker keeps spinning for about 2^28 cycles (its THREAD_TIMEOUT, ~0.1
// s) and would take a core from gemm_exact's second worker; and after an idle pause the
// second vCPU of this VM needs several milliseconds to come back to speed
// (docs/exact-fast.md, "Speed").
pair_timing time_pair(const problem_data& d, int threads, int reps) {
  std::vector<double> c(static_cast<std::size_t>(d.m * d.n));
  const auto m = static_cast<blasint>(d.m), n = static_cast<blasint>(d.n),
             k = static_cast<blasint>(d.k);
  exact_tensor out({d.m * d.n});
  engine_options opt;
  opt.threads = threads;
  // Same work as F.linear in f64: C = X W^T, then + b (the bias pass is part of the baseline).
  auto dgemm = [&] {
    openblas_set_num_threads(threads);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0, d.x.data(), k, d.w.data(), k,
                0.0, c.data(), n);
    for (i64 i = 0; i < d.m; ++i)
      for (i64 j = 0; j < d.n; ++j) c[static_cast<std::size_t>(i * d.n + j)] += d.b[j];
  };
  auto fast = [&] { gemm_exact(d.p, out, opt); };
  dgemm(), fast();  // warm-up: page faults, OpenBLAS buffers, gemm_exact workspaces
  std::vector<double> dw, dc, fw, fc;
  const int block = std::min(reps, 5);
  auto settle = [](const auto& f) {  // untimed calls for at least 150 ms
    const auto t0 = clk::now();
    do f();
    while (clk::now() - t0 < std::chrono::milliseconds(150));
  };
  for (int done = 0; done < reps; done += block) {
    const int now = std::min(block, reps - done);
    settle(dgemm);
    for (int r = 0; r < now; ++r) {
      const timing a = measure(1, dgemm);
      dw.push_back(a.wall), dc.push_back(a.cpu);
    }
    settle(fast);
    for (int r = 0; r < now; ++r) {
      const timing b = measure(1, fast);
      fw.push_back(b.wall), fc.push_back(b.cpu);
    }
  }
  return {{median(dw), median(dc)}, {median(fw), median(fc)}};
}

// MPFR-256 on the first `rows` rows (all n outputs of each), scaled to m rows.
timing time_mpfr(const problem_data& d, i64 rows) {
  gemm_problem sub = d.p;
  sub.m = rows;
  const timing t = measure(1, [&] { (void)gemm_mpfr(sub); });
  const double scale = static_cast<double>(d.m) / static_cast<double>(rows);
  return {t.wall * scale, t.cpu * scale};
}

double time_simple(const problem_data& d, i64 rows) {
  gemm_problem sub = d.p;
  sub.m = rows;
  exact_tensor out({rows * d.n});
  const double t = measure(1, [&] { gemm_exact_simple(sub, out); }).wall;
  return t * static_cast<double>(d.m) / static_cast<double>(rows);
}

void seed_case(const char* label, roundoff::format_id f, int reps) {
  const problem_data d = make(32, 512, 2048, f, 2);
  std::printf("\n== %s: x 32x2048, W 512x2048, b 512, random normal ==\n", label);
  const i64 mpfr_rows = 2;
  const timing tm = time_mpfr(d, mpfr_rows);
  const double ts = time_simple(d, 8);
  std::printf(
      "MPFR-256 loop (gemm_mpfr, 1 thread): %.3f s (CPU %.3f s)  [timed %lld of 32 rows, "
      "scaled x%lld]\n",
      tm.wall, tm.cpu, static_cast<long long>(mpfr_rows), static_cast<long long>(32 / mpfr_rows));
  std::printf("gemm_exact_simple (1 thread)       : %.2f ms  [timed 8 of 32 rows, scaled x4]\n",
              ts * 1e3);
  const std::string kernel = gemm_exact_kernel();  // as ROUNDOFF_EXACT_KERNEL chose it
  for (int t : {1, 2}) {
    if (kernel != "openblas") {
      // For context: the same call on the OpenBLAS path (ROUNDOFF_EXACT_KERNEL=blas).
      const pair_timing pb = with_kernel("blas", [&] { return time_pair(d, t, reps); });
      std::printf(
          "threads=%d  [OpenBLAS path, for context: DGEMM %.3f ms | gemm_exact %.3f ms | "
          "fast/DGEMM %.2fx wall, %.2fx CPU]\n",
          t, pb.dgemm.wall * 1e3, pb.fast.wall * 1e3, pb.fast.wall / pb.dgemm.wall,
          pb.fast.cpu / pb.dgemm.cpu);
    }
    if (kernel == "native-avx512") {
      // For context: the same call on the AVX2 kernel (ROUNDOFF_EXACT_KERNEL=avx2).
      const pair_timing pb = with_kernel("avx2", [&] { return time_pair(d, t, reps); });
      std::printf(
          "threads=%d  [AVX2 kernel, for context: DGEMM %.3f ms | gemm_exact %.3f ms | "
          "fast/DGEMM %.2fx wall, %.2fx CPU]\n",
          t, pb.dgemm.wall * 1e3, pb.fast.wall * 1e3, pb.fast.wall / pb.dgemm.wall,
          pb.fast.cpu / pb.dgemm.cpu);
    }
    const pair_timing pt = time_pair(d, t, reps);
    // MPFR/fast twice: against the oracle loop as it is (one thread), and crediting the oracle
    // a perfect t-fold speed-up on t threads (the stricter reading of the target).
    std::printf(
        "threads=%d  wall: DGEMM %.3f ms | gemm_exact %.3f ms | fast/DGEMM %.2fx (target <= 4) | "
        "MPFR/fast %.0fx, %.0fx with MPFR/%d (target >= 200)\n",
        t, pt.dgemm.wall * 1e3, pt.fast.wall * 1e3, pt.fast.wall / pt.dgemm.wall,
        tm.wall / pt.fast.wall, tm.wall / t / pt.fast.wall, t);
    // CPU time sums all threads; on a shared machine it is the steadier measure.
    std::printf(
        "            CPU:  DGEMM %.3f ms | gemm_exact %.3f ms | fast/DGEMM %.2fx | MPFR/fast "
        "%.0fx\n",
        pt.dgemm.cpu * 1e3, pt.fast.cpu * 1e3, pt.fast.cpu / pt.dgemm.cpu, tm.cpu / pt.fast.cpu);
  }
}

void large_case(int reps) {
  const problem_data d = make(1024, 4096, 4096, roundoff::format_id::f32, 3);
  std::printf("\n== fp32 1024x4096 . (4096x4096)^T, random normal (DGEMM vs fast) ==\n");
  for (int t : {1, 2}) {
    const pair_timing pt = time_pair(d, t, reps);
    std::printf(
        "threads=%d  DGEMM %.3f s | gemm_exact %.3f s | fast/DGEMM %.2fx   "
        "(CPU time: %.3f s | %.3f s | %.2fx)\n",
        t, pt.dgemm.wall, pt.fast.wall, pt.fast.wall / pt.dgemm.wall, pt.dgemm.cpu, pt.fast.cpu,
        pt.fast.cpu / pt.dgemm.cpu);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const char* only = argc > 2 && std::strcmp(argv[1], "--only") == 0 ? argv[2] : nullptr;
  const auto runs = [&](const char* name) { return !only || std::strcmp(only, name) == 0; };
  std::printf(
      "roundoff_bench_exact: medians of alternating blocks of runs (wall clock; CPU time = "
      "process "
      "CPU seconds, all threads). DGEMM = OpenBLAS cblas_dgemm + bias pass, same shape "
      "and threads.\ngemm_exact kernel: %s\n",
      gemm_exact_kernel());
  if (runs("fp32")) seed_case("seed shape, fp32 inputs", roundoff::format_id::f32, 15);
  if (runs("f64")) seed_case("seed shape, f64 inputs", roundoff::format_id::f64, 7);
  if (!quick && runs("large")) large_case(2);
  return 0;
}
