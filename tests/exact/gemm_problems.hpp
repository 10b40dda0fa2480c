// Random exact-contraction problems for the exact-engine tests (gemm_fast_test, the device
// tests): formats, distributions (normal, uniform, wide, cancellation-heavy, special values,
// subnormals), skewed shapes, strides, shared batches, every bias layout and output layout, and a
// bit-for-bit comparison of two exact results through every rounding and abs_diff, and of one
// against the MPFR oracle.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "property.hpp"
#include "roundoff/exact/gemm.hpp"
#include "roundoff/exact/mpfr_oracle.hpp"
#include "roundoff/formats/format.hpp"

namespace roundoff::test::gemm_problems {

using roundoff::format_id;
using namespace roundoff::exact;  // NOLINT(google-build-using-namespace): test helpers
using i64 = std::int64_t;

enum class dist { normal, uniform, wide, cancel, special, tiny };
inline const char* dist_name(dist d) {
  switch (d) {
    case dist::normal:
      return "normal";
    case dist::uniform:
      return "uniform";
    case dist::wide:
      return "wide";
    case dist::cancel:
      return "cancel";
    case dist::special:
      return "special";
    case dist::tiny:
      return "tiny";
  }
  return "?";
}

struct generator {
  std::mt19937_64& g;
  format_id f;
  dist d;

  double raw() {
    std::normal_distribution<double> nd;
    std::uniform_real_distribution<double> ud(-1, 1);
    const auto& tr = roundoff::traits(f);
    switch (d) {
      case dist::normal:
      case dist::cancel:
        return nd(g);
      case dist::uniform:
        return ud(g);
      case dist::wide: {
        // Log-uniform over most of the format's range (f64: a span DGEMM slicing cannot hold).
        const int lo = std::max(tr.emin - tr.precision, -1070), hi = std::min(tr.emax, 900);
        std::uniform_int_distribution<int> e(lo, hi);
        return std::ldexp(ud(g), e(g));
      }
      case dist::tiny: {
        // Around the format's subnormal range, and (for f64) double's own subnormals.
        std::uniform_int_distribution<int> e(tr.emin - tr.precision - 2, tr.emin + 4);
        return std::ldexp(ud(g), e(g));
      }
      case dist::special: {
        std::uniform_int_distribution<int> pick(0, 60);
        switch (pick(g)) {
          case 0:
            return std::numeric_limits<double>::quiet_NaN();
          case 1:
            return std::numeric_limits<double>::infinity();
          case 2:
            return -std::numeric_limits<double>::infinity();
          case 3:
            return 0.0;
          case 4:
            return -0.0;
          case 5:
            return f == format_id::f64 ? std::ldexp(nd(g), 1000) : tr.max_finite;
          default:
            return nd(g);
        }
      }
    }
    return 0;
  }
  double operator()() {
    const double x = roundoff::round_to(f, raw());
    return std::isinf(x) && d != dist::special ? 0.0 : x;
  }
};

struct layout {
  std::vector<double> a, b, bias;
  gemm_problem p;
  i64 dest_size = 0;
  std::string describe;
};

inline i64 pick(std::mt19937_64& g, std::initializer_list<i64> v) {
  std::uniform_int_distribution<std::size_t> u(0, v.size() - 1);
  return *(v.begin() + static_cast<std::ptrdiff_t>(u(g)));
}

// Draws a random problem. big_k: allow K up to ~20000 (with small M, N).
inline layout make_problem(std::mt19937_64& g, bool allow_big) {
  layout L;
  const format_id formats[] = {format_id::f32, format_id::tf32, format_id::bf16, format_id::f16,
                               format_id::f64};
  const dist dists[] = {dist::normal, dist::uniform, dist::wide,
                        dist::cancel, dist::special, dist::tiny};
  std::uniform_int_distribution<int> fi(0, 4), di(0, 5), coin(0, 1);
  const format_id f = formats[fi(g)];
  const dist d = di(g) < 2 ? dist::normal : dists[di(g)];
  i64 m, n, k;
  const i64 size_class = pick(g, {0, 0, 1, 1, 2});
  if (size_class == 0) {
    m = pick(g, {0, 1, 2, 3, 5, 7, 13, 31});
    n = pick(g, {0, 1, 2, 3, 7, 17, 33});
    k = pick(g, {0, 1, 2, 3, 5, 61, 127, 257, 1031});
  } else if (size_class == 1) {
    m = pick(g, {1, 8, 32, 37});
    n = pick(g, {64, 131, 257, 300});
    k = pick(g, {31, 64, 509, 2048, 2053});
  } else if (allow_big) {
    m = pick(g, {1, 2, 3, 5});
    n = pick(g, {1, 3, 7, 11});
    k = pick(g, {4099, 8192, 12007, 20011});
  } else {
    m = 3, n = 5, k = 4099;
  }
  const i64 batch = pick(g, {1, 1, 1, 2, 3});
  const i64 lda = k + pick(g, {0, 0, 1, 5}), ldb = k + pick(g, {0, 0, 3});
  L.p.batch = batch, L.p.m = m, L.p.n = n, L.p.k = k;
  L.p.lda = lda, L.p.ldb = ldb;
  L.p.a_batch_stride = m * lda + pick(g, {0, 2});
  L.p.b_batch_stride = pick(g, {0, 1}) && batch > 1 && coin(g) ? 0 : n * ldb + 1;  // 0: shared B
  L.a.resize(static_cast<std::size_t>(std::max<i64>(1, batch * L.p.a_batch_stride + m * lda)));
  L.b.resize(static_cast<std::size_t>(std::max<i64>(1, batch * L.p.b_batch_stride + n * ldb)));
  generator ga{g, f, d};
  // A: one shared format; B: same format, or f32 weights against f64 data now and then.
  for (auto& x : L.a) x = ga();
  generator gb{g, coin(g) ? f : format_id::f32, d == dist::cancel ? dist::normal : d};
  for (auto& x : L.b) x = gb();
  if (d == dist::cancel) {
    // Massive cancellation: even/odd k pairs cancel up to a few low bits of one term.
    for (i64 bt = 0; bt < batch; ++bt)
      for (i64 i = 0; i < m; ++i) {
        double* row = L.a.data() + bt * L.p.a_batch_stride + i * lda;
        for (i64 t = 0; t + 1 < k; t += 2) row[t + 1] = row[t];
      }
    for (auto& x : L.b) x = gb();
    for (i64 bt = 0; bt < batch; ++bt)
      for (i64 j = 0; j < n; ++j) {
        double* row = L.b.data() + bt * L.p.b_batch_stride + j * ldb;
        for (i64 t = 0; t + 1 < k; t += 2)
          row[t + 1] = roundoff::round_to(gb.f, -row[t] * (1 + std::ldexp(1.0, -20)));
      }
  }
  L.p.a = L.a.data();
  L.p.b = L.b.data();
  const i64 bias_kind = pick(g, {0, 1, 2, 3});  // none, per column (linear), per element, scalar
  if (bias_kind) {
    generator gbias{g, f, d == dist::special ? dist::special : dist::normal};
    L.bias.resize(static_cast<std::size_t>(std::max<i64>(1, batch * m * n)));
    for (auto& x : L.bias) x = gbias();
    L.p.bias = L.bias.data();
    if (bias_kind == 1) L.p.bias_col_stride = 1;
    if (bias_kind == 2)
      L.p.bias_batch_stride = m * n, L.p.bias_row_stride = n, L.p.bias_col_stride = 1;
  }
  // Output layout: row-major, column-major (transposed) or padded, with an offset.
  const i64 out_kind = pick(g, {0, 1, 2});
  L.p.c_offset = pick(g, {0, 3});
  if (out_kind == 0) L.p.c_row_stride = n, L.p.c_col_stride = 1, L.p.c_batch_stride = m * n;
  if (out_kind == 1) L.p.c_row_stride = 1, L.p.c_col_stride = m, L.p.c_batch_stride = m * n;
  if (out_kind == 2)
    L.p.c_row_stride = n + 2, L.p.c_col_stride = 1, L.p.c_batch_stride = m * (n + 2) + 1;
  L.dest_size = L.p.c_offset + batch * L.p.c_batch_stride + 4;
  std::ostringstream os;
  os << "format=" << roundoff::traits(f).name << " dist=" << dist_name(d) << " batch=" << batch
     << " m=" << m << " n=" << n << " k=" << k << " lda=" << lda << " ldb=" << ldb
     << " bias=" << bias_kind << " out=" << out_kind;
  L.describe = os.str();
  return L;
}

inline bool same_double(double x, double y) {
  if (std::isnan(x) || std::isnan(y)) return std::isnan(x) && std::isnan(y);
  return std::bit_cast<std::uint64_t>(x) == std::bit_cast<std::uint64_t>(y);
}

// Compares every output element: the rounding in all four directions of the loaded exact
// values, and abs_diff for a few observed values (which sees every bit of the exact value).
inline void expect_equal(const layout& L, const exact_tensor& fast, const exact_tensor& simple,
                         std::int64_t iter, int* failures) {
  const gemm_problem& p = L.p;
  accumulator af, as;
  for (i64 bt = 0; bt < p.batch; ++bt)
    for (i64 i = 0; i < p.m; ++i)
      for (i64 j = 0; j < p.n; ++j) {
        const i64 c = p.c_offset + bt * p.c_batch_stride + i * p.c_row_stride + j * p.c_col_stride;
        fast.load(c, af);
        simple.load(c, as);
        bool ok = same_double(fast.rounded(c), simple.rounded(c)) && af.kind() == as.kind();
        for (auto r :
             {rounding::nearest_even, rounding::upward, rounding::downward, rounding::toward_zero})
          ok = ok && same_double(af.round(r), as.round(r));
        const double y = simple.rounded(c);
        for (double obs : {y, std::nextafter(y, 0.0), 0.0, 1.0, std::ldexp(y, -40)})
          ok = ok && same_double(fast.abs_diff(c, obs), simple.abs_diff(c, obs)) &&
               same_double(fast.abs_diff(c, obs, rounding::upward),
                           simple.abs_diff(c, obs, rounding::upward));
        if (!ok && (*failures)++ < 5)
          ADD_FAILURE() << L.describe << " element (" << bt << "," << i << "," << j << "): fast "
                        << fast.rounded(c) << " simple " << simple.rounded(c) << "; "
                        << roundoff::test::replay(iter);
      }
}

/// Compares `got`'s correctly rounded results with the MPFR oracle's (gemm_mpfr, raised until
/// exact), element by element; `who` names `got` in the failure messages ("fast", "device ...").
inline void expect_equal_mpfr(const layout& L, const exact_tensor& got, const std::string& who,
                              std::int64_t iter, int* failures) {
  mpfr_options mo;
  mo.auto_raise = true;
  const mpfr_result ref = gemm_mpfr(L.p, mo);
  EXPECT_TRUE(ref.all_exact()) << L.describe << "; " << roundoff::test::replay(iter);
  if (!ref.all_exact()) {
    ++*failures;
    return;
  }
  const gemm_problem& p = L.p;
  for (i64 bt = 0; bt < p.batch; ++bt)
    for (i64 i = 0; i < p.m; ++i)
      for (i64 j = 0; j < p.n; ++j) {
        const i64 c = p.c_offset + bt * p.c_batch_stride + i * p.c_row_stride + j * p.c_col_stride;
        const double o = ref.rounded[static_cast<std::size_t>((bt * p.m + i) * p.n + j)];
        if (!same_double(got.rounded(c), o) && (*failures)++ < 5)
          ADD_FAILURE() << L.describe << " element (" << bt << "," << i << "," << j << "): " << who
                        << " " << got.rounded(c) << " mpfr " << o << "; "
                        << roundoff::test::replay(iter);
      }
}

}  // namespace roundoff::test::gemm_problems
