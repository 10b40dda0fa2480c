// `roundoff check` against DGEMM (issue 14, "The whole check path scales like a GEMM"): the work
// of the command (verdicts::judge: exact references, per-element bounds, identification, the
// pairwise comparison) on the seed shape with two outputs and on a ViT-B-sized layer with one,
// each against OpenBLAS DGEMM of the same shape in the same run. Also the exact result alone
// and the bounds' magnitude pass (sum |x||w| + |b| by DGEMM over blocks of |x| rows and the
// certified enlargement, docs/bounds.md §3.5). Peak RSS is printed after each case (it
// only grows: read each case's own line, and run `--vit-only` for the ViT-B peak alone).
// `--vit-two`: the ViT-B case alone with two outputs (SGEMM, and split-K SGEMM halves added in
// f32) and their comparison, as `roundoff check` with two outputs judges them.
//
//   roundoff_bench_check [--threads N] [--reps R] [--quick | --vit-only | --vit-two]
#include <cblas.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "../src/verdicts/magnitude.hpp"  // internal: the pass check runs
#include "roundoff/ops/op.hpp"
#include "roundoff/verdicts/judge.hpp"

namespace {

using roundoff::tensor;
using clk = std::chrono::steady_clock;

// `--magnitude-only`: each case times the magnitude pass alone, between two DGEMM timings (at
// least 5 reps each), and rates it against the faster of the two.
bool magnitude_only = false;

double seconds_since(clk::time_point t0) {
  return std::chrono::duration<double>(clk::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Medians of `reps` timed calls after `warm_s` seconds of untimed ones (steady state): wall
// clock, and process CPU time (all threads), which a shared machine disturbs less.
struct timing {
  double wall = 0, cpu = 0;
};
timing time_median(const std::function<void()>& f, int reps, double warm_s) {
  const auto w0 = clk::now();
  do f();
  while (seconds_since(w0) < warm_s);
  std::vector<double> t, c;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = clk::now();
    const double c0 = cpu_seconds();
    f();
    c.push_back(cpu_seconds() - c0);
    t.push_back(seconds_since(t0));
  }
  return {median(t), median(c)};
}

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

tensor random_f32(std::vector<std::int64_t> shape, double scale, std::mt19937_64& g) {
  tensor t;
  t.shape = std::move(shape);
  t.type = roundoff::format_id::f32;
  t.data.resize(static_cast<std::size_t>(t.numel()));
  std::normal_distribution<double> nd(0.0, 1.0);
  for (auto& v : t.data) v = static_cast<double>(static_cast<float>(nd(g) * scale));
  return t;
}

// y = x W^T + b in f32 by OpenBLAS SGEMM over `pieces` consecutive pieces of K (1: one SGEMM;
// 2: split-K, another f32 implementation for a large case, where reversed_output's scalar loop
// would take seconds), the pieces' results added in f32 in order, then the bias in f32.
tensor sgemm_output(const tensor& x, const tensor& w, const tensor& b, std::int64_t rows,
                    std::int64_t k, std::int64_t n, std::vector<std::int64_t> shape,
                    int pieces = 1) {
  std::vector<float> xf(x.data.begin(), x.data.end()), wf(w.data.begin(), w.data.end());
  std::vector<float> sum(static_cast<std::size_t>(rows * n)), part(sum.size());
  for (int p = 0; p < pieces; ++p) {
    const std::int64_t off = k * p / pieces, len = k * (p + 1) / pieces - off;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows),
                static_cast<int>(n), static_cast<int>(len), 1.0f, xf.data() + off,
                static_cast<int>(k), wf.data() + off, static_cast<int>(k), 0.0f,
                p == 0 ? sum.data() : part.data(), static_cast<int>(n));
    if (p > 0)
      for (std::size_t q = 0; q < sum.size(); ++q) sum[q] += part[q];
  }
  tensor y;
  y.shape = std::move(shape);
  y.type = roundoff::format_id::f32;
  y.data.resize(sum.size());
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      const auto q = static_cast<std::size_t>(i * n + j);
      y.data[q] =
          static_cast<double>(sum[q] + static_cast<float>(b.data[static_cast<std::size_t>(j)]));
    }
  return y;
}

// The same output summed in f32 in the opposite order (a second, different f32 implementation).
tensor reversed_output(const tensor& x, const tensor& w, const tensor& b, std::int64_t rows,
                       std::int64_t k, std::int64_t n, std::vector<std::int64_t> shape) {
  tensor y;
  y.shape = std::move(shape);
  y.type = roundoff::format_id::f32;
  y.data.resize(static_cast<std::size_t>(rows * n));
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      float s = 0;
      for (std::int64_t q = k; q-- > 0;)
        s += static_cast<float>(x.data[static_cast<std::size_t>(i * k + q)]) *
             static_cast<float>(w.data[static_cast<std::size_t>(j * k + q)]);
      y.data[static_cast<std::size_t>(i * n + j)] =
          static_cast<double>(s + static_cast<float>(b.data[static_cast<std::size_t>(j)]));
    }
  return y;
}

void run_case(const char* name, std::vector<std::int64_t> x_shape, std::int64_t n, double w_scale,
              int outputs, int threads, int reps, std::uint64_t seed) {
  std::mt19937_64 g(seed);
  const std::int64_t k = x_shape.back();
  tensor x = random_f32(x_shape, 1.0, g);
  const std::int64_t rows = x.numel() / k;
  const tensor w = random_f32({n, k}, w_scale, g);
  const tensor b = random_f32({n}, 0.1, g);
  std::vector<std::int64_t> y_shape = x_shape;
  y_shape.back() = n;
  const tensor y1 = sgemm_output(x, w, b, rows, k, n, y_shape);
  tensor y2;
  if (outputs > 1)
    y2 = rows * n > (1 << 20) ? sgemm_output(x, w, b, rows, k, n, y_shape, 2)
                              : reversed_output(x, w, b, rows, k, n, y_shape);
  const double tensor_mb = static_cast<double>(x.data.size() + w.data.size() + b.data.size() +
                                               y1.data.size() * static_cast<std::size_t>(outputs)) *
                           8.0 / 1048576.0;

  // DGEMM baseline: x W^T with the bias pre-loaded (beta = 1), f64, the same threads.
  openblas_set_num_threads(threads);
  std::vector<double> c(static_cast<std::size_t>(rows * n));
  auto dgemm = [&] {
    for (std::int64_t i = 0; i < rows; ++i)
      std::memcpy(c.data() + i * n, b.data.data(), static_cast<std::size_t>(n) * sizeof(double));
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows),
                static_cast<int>(n), static_cast<int>(k), 1.0, x.data.data(), static_cast<int>(k),
                w.data.data(), static_cast<int>(k), 1.0, c.data(), static_cast<int>(n));
  };
  const int judge_reps = rows * n > (1 << 20) ? std::min(reps, 3) : reps;
  const timing t_dgemm = time_median(dgemm, std::max(reps, 5), 0.15);
  if (magnitude_only) {
    const roundoff::ops::op_spec linear(roundoff::ops::op_kind::linear);
    const roundoff::tensor_view b_view(b);
    const timing t_mag = time_median(
        [&] {
          (void)roundoff::verdicts::detail::magnitude_by_blocks(linear, x, w, &b_view, threads);
        },
        std::max(reps, 5), 0.15);
    const timing t_dgemm2 = time_median(dgemm, std::max(reps, 5), 0.15);
    std::printf(
        "%s, threads=%d\n  wall: DGEMM %.5f s, %.5f s | magnitude pass %.5f s (%.2fx, "
        "target <= 1.5) | CPU: DGEMM %.5f s | magnitude pass %.5f s (%.2fx)\n",
        name, threads, t_dgemm.wall, t_dgemm2.wall, t_mag.wall,
        t_mag.wall / std::min(t_dgemm.wall, t_dgemm2.wall), t_dgemm.cpu, t_mag.cpu,
        t_mag.cpu / std::min(t_dgemm.cpu, t_dgemm2.cpu));
    std::fflush(stdout);
    return;
  }

  // The exact result alone (ops::evaluate without magnitude), and the bounds' magnitude pass as
  // check runs it for linear (DGEMM over blocks of |x| rows, docs/bounds.md §3.5).
  const roundoff::ops::op_spec spec(roundoff::ops::op_kind::linear);
  const roundoff::ops::problem prob{spec, x, w, &b};
  const roundoff::tensor_view bview(b);
  roundoff::ops::reference_options plain;
  plain.threads = threads;
  plain.want_magnitude = false;
  const timing t_plain =
      time_median([&] { (void)roundoff::ops::evaluate(prob, plain); }, judge_reps, 0.0);
  const timing t_mag = time_median(
      [&] { (void)roundoff::verdicts::detail::magnitude_by_blocks(spec, x, w, &bview, threads); },
      std::max(reps, 5), 0.15);

  // The check: verdicts::judge, the kernel of `roundoff check`, declared f32.
  std::vector<roundoff::verdicts::judged_output> outs = {{"sgemm", "f32", y1, {}}};
  if (outputs > 1) outs.push_back({"reversed", "f32", y2, {}});
  roundoff::verdicts::judge_options jo;
  jo.threads = threads;
  std::string verdicts;
  const timing t_check = time_median(
      [&] {
        roundoff::report::results res;
        roundoff::verdicts::judge(prob, outs, roundoff::verdicts::all_pairs(outs.size()), jo, res);
        verdicts.clear();
        for (const auto& it : res.items) verdicts += it.verdict + " ";
        for (const auto& it : res.comparisons) verdicts += it.verdict + " ";
      },
      judge_reps, 0.0);

  std::printf(
      "%s, threads=%d\n  wall: DGEMM %.4f s | exact result %.4f s (%.2fx) | magnitude pass %.4f s "
      "(%.2fx, target <= 1.5) | check, %d output%s %.4f s (%.2fx DGEMM)\n"
      "  CPU:  DGEMM %.4f s | exact result %.4f s (%.2fx) | magnitude pass %.4f s (%.2fx) | check "
      "%.4f s (%.2fx DGEMM)\n  verdicts: %s| peak RSS so far %.0f MB, tensors %.0f MB\n",
      name, threads, t_dgemm.wall, t_plain.wall, t_plain.wall / t_dgemm.wall, t_mag.wall,
      t_mag.wall / t_dgemm.wall, outputs, outputs > 1 ? "s" : "", t_check.wall,
      t_check.wall / t_dgemm.wall, t_dgemm.cpu, t_plain.cpu, t_plain.cpu / t_dgemm.cpu, t_mag.cpu,
      t_mag.cpu / t_dgemm.cpu, t_check.cpu, t_check.cpu / t_dgemm.cpu, verdicts.c_str(),
      peak_rss_mb(), tensor_mb);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> threads = {1, 2};
  int reps = 7;
  bool quick = false, vit_only = false, vit_two = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--magnitude-only")
      magnitude_only = true;
    else if (a == "--threads" && i + 1 < argc)
      threads = {std::atoi(argv[++i])};
    else if (a == "--reps" && i + 1 < argc)
      reps = std::max(1, std::atoi(argv[++i]));
    else if (a == "--quick")
      quick = true;
    else if (a == "--vit-only")
      vit_only = true;
    else if (a == "--vit-two")
      vit_only = vit_two = true;
    else {
      std::fprintf(stderr,
                   "usage: roundoff_bench_check [--threads N] [--reps R] [--quick | --vit-only | "
                   "--vit-two]\n");
      return 2;
    }
  }
  for (int t : threads) {
    if (!vit_only)
      run_case("seed linear x 32x2048, W 512x2048", {32, 2048}, 512, 1.0, 2, t, reps, 1);
    if (!quick)
      run_case("ViT-B linear x 64x197x1536, W 384x1536", {64, 197, 1536}, 384,
               1.0 / std::sqrt(1536.0), vit_two ? 2 : 1, t, reps, 2);
  }
  return 0;
}
