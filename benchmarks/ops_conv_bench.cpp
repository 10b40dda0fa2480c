// Speed of the exact conv2d reference (issue 3, "Speed and memory"): ops::conv2d (im2col tiles
// through gemm_exact) against im2col + OpenBLAS DGEMM for the same conv on the same threads.
// Shape: x 8x64x56x56, w 64x64x3x3, padding 1, bias; values random normal rounded to fp32
// (--f64: full doubles). Prints both times and the ratios; benchmarks/README.md records them.
//
//   roundoff_bench_ops_conv [--f64] [--threads N] [--reps R]
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bench_timing.hpp"
#include "roundoff/ops/conv.hpp"

namespace {

using i64 = std::int64_t;
using roundoff::bench::measure;
using roundoff::bench::timing;

// The baseline a user would write: per sample, im2col [C*kh*kw, P] then one DGEMM.
void im2col_dgemm(const roundoff::tensor& x, const roundoff::tensor& w, const roundoff::tensor& b,
                  std::vector<double>& y, std::vector<double>& col) {
  const i64 N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
  const i64 O = w.shape[0], kh = w.shape[2], kw = w.shape[3], pad = 1;
  const i64 Ho = H + 2 * pad - kh + 1, Wo = W + 2 * pad - kw + 1, P = Ho * Wo, K = C * kh * kw;
  col.resize(static_cast<std::size_t>(K * P));
  y.resize(static_cast<std::size_t>(N * O * P));
  for (i64 n = 0; n < N; ++n) {
    for (i64 c = 0; c < C; ++c) {
      for (i64 i = 0; i < kh; ++i) {
        for (i64 j = 0; j < kw; ++j) {
          double* row = col.data() + ((c * kh + i) * kw + j) * P;
          for (i64 oh = 0; oh < Ho; ++oh) {
            const i64 ih = oh - pad + i;
            for (i64 ow = 0; ow < Wo; ++ow) {
              const i64 iw = ow - pad + j;
              row[oh * Wo + ow] =
                  (ih < 0 || ih >= H || iw < 0 || iw >= W)
                      ? 0.0
                      : x.data[static_cast<std::size_t>(((n * C + c) * H + ih) * W + iw)];
            }
          }
        }
      }
    }
    double* yn = y.data() + n * O * P;
    for (i64 o = 0; o < O; ++o)
      std::fill(yn + o * P, yn + (o + 1) * P, b.data[static_cast<std::size_t>(o)]);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(O), static_cast<int>(P),
                static_cast<int>(K), 1.0, w.data.data(), static_cast<int>(K), col.data(),
                static_cast<int>(P), 1.0, yn, static_cast<int>(P));
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool f64 = false;
  int threads_max = 2, reps = 3;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--f64")) f64 = true;
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads_max = std::atoi(argv[++i]);
    if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) reps = std::atoi(argv[++i]);
  }
  roundoff::tensor x, w, b;
  x.shape = {8, 64, 56, 56};
  w.shape = {64, 64, 3, 3};
  b.shape = {64};
  std::mt19937_64 g(42);
  std::normal_distribution<double> nd;
  for (auto* t : {&x, &w, &b}) {
    t->data.resize(static_cast<std::size_t>(t->numel()));
    for (auto& v : t->data) v = f64 ? nd(g) : static_cast<double>(static_cast<float>(nd(g)));
  }
  roundoff::ops::conv_params p;
  p.padding = {1};
  std::printf("conv2d x 8x64x56x56, w 64x64x3x3, padding 1, bias, %s values; median of %d\n",
              f64 ? "f64" : "fp32", reps);
  std::printf("im2col tile budget %lld MiB (largest im2col tile here: %.1f MiB)\n",
              static_cast<long long>(roundoff::ops::reference_options{}.tile_bytes > 0
                                         ? roundoff::ops::reference_options{}.tile_bytes >> 20
                                         : 64),
              64.0 * 9 * 56 * 56 * 8 / (1 << 20));
  std::vector<double> y, col;
  for (int t = 1; t <= threads_max; ++t) {
    openblas_set_num_threads(t);
    const timing base = measure(reps, [&] { im2col_dgemm(x, w, b, y, col); });
    roundoff::ops::reference_options o;
    o.threads = t;
    o.want_magnitude = false;
    roundoff::ops::op_result r;
    const timing exact_only = measure(reps, [&] { r = roundoff::ops::conv2d(x, w, &b, p, o); });
    // Sanity: the DGEMM result is close to the exact one (first element).
    const double d0 = std::fabs(r.exact.rounded(0) - y[0]);
    o.want_magnitude = true;
    const timing with_mag = measure(reps, [&] { r = roundoff::ops::conv2d(x, w, &b, p, o); });
    o.magnitude_how = roundoff::ops::magnitude_method::blas_bound;
    const timing with_bound = measure(reps, [&] { r = roundoff::ops::conv2d(x, w, &b, p, o); });
    for (const bool cpu : {false, true}) {
      auto v = [cpu](const timing& tm) { return cpu ? tm.cpu : tm.wall; };
      std::printf(
          "threads %d, %s: im2col+DGEMM %.3f s | exact result %.3f s (%.1fx) | + exact "
          "magnitude %.3f s (%.1fx) | + BLAS-bound magnitude %.3f s (%.1fx)\n",
          t, cpu ? "CPU " : "wall", v(base), v(exact_only), v(exact_only) / v(base), v(with_mag),
          v(with_mag) / v(base), v(with_bound), v(with_bound) / v(base));
    }
    std::printf("  |y0 dgemm - exact| = %.3g\n", d0);
  }
  return 0;
}
