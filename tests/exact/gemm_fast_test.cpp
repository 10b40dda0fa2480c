// gemm_exact (fast, DGEMM slicing) against gemm_exact_simple (one accumulator per output) and,
// on small problems, the MPFR oracle: the exact values must agree bit for bit. Randomized
// (Arb's t-*.c habit): shapes, formats, distributions, strides, batches and bias are drawn per
// iteration; every failure prints the replay seed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "property.hpp"

#if defined(__SSE2__)
#include <xmmintrin.h>
#endif
#include "roundoff/exact/gemm.hpp"
#include "roundoff/exact/mpfr_oracle.hpp"
#include "roundoff/formats/format.hpp"

namespace {

using roundoff::format_id;
using namespace roundoff::exact;
using i64 = std::int64_t;

enum class dist { normal, uniform, wide, cancel, special, tiny };
const char* dist_name(dist d) {
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

i64 pick(std::mt19937_64& g, std::initializer_list<i64> v) {
  std::uniform_int_distribution<std::size_t> u(0, v.size() - 1);
  return *(v.begin() + static_cast<std::ptrdiff_t>(u(g)));
}

// Draws a random problem. big_k: allow K up to ~20000 (with small M, N).
layout make_problem(std::mt19937_64& g, bool allow_big) {
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

bool same_double(double x, double y) {
  if (std::isnan(x) || std::isnan(y)) return std::isnan(x) && std::isnan(y);
  return std::bit_cast<std::uint64_t>(x) == std::bit_cast<std::uint64_t>(y);
}

// Compares every output element: the rounding in all four directions of the loaded exact
// values, and abs_diff for a few observed values (which sees every bit of the exact value).
void expect_equal(const layout& L, const exact_tensor& fast, const exact_tensor& simple,
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

void run_property(std::uint64_t salt, i64 base_iters, bool allow_big, bool with_mpfr) {
  auto g = roundoff::test::rng(salt);
  const i64 iters = roundoff::test::iterations(base_iters);
  int failures = 0;
  for (i64 it = 0; it < iters && failures == 0; ++it) {
    layout L = make_problem(g, allow_big);
    engine_options opt;
    opt.threads = static_cast<int>(pick(g, {1, 2, 3}));
    exact_tensor fast({L.dest_size}), simple({L.dest_size});
    gemm_exact(L.p, fast, opt);
    gemm_exact_simple(L.p, simple);
    expect_equal(L, fast, simple, it, &failures);
    const i64 terms = L.p.batch * L.p.m * L.p.n * L.p.k;
#ifndef GEMM_FAST_TEST_NO_MPFR_YET
    if (with_mpfr && terms <= 40000 && failures == 0) {
      mpfr_options mo;
      mo.auto_raise = true;
      const mpfr_result ref = gemm_mpfr(L.p, mo);
      EXPECT_TRUE(ref.all_exact()) << L.describe << "; " << roundoff::test::replay(it);
      const gemm_problem& p = L.p;
      for (i64 bt = 0; bt < p.batch; ++bt)
        for (i64 i = 0; i < p.m; ++i)
          for (i64 j = 0; j < p.n; ++j) {
            const i64 c =
                p.c_offset + bt * p.c_batch_stride + i * p.c_row_stride + j * p.c_col_stride;
            const double o = ref.rounded[static_cast<std::size_t>((bt * p.m + i) * p.n + j)];
            if (!same_double(fast.rounded(c), o) && failures++ < 5)
              ADD_FAILURE() << L.describe << " element (" << bt << "," << i << "," << j
                            << "): fast " << fast.rounded(c) << " mpfr " << o << "; "
                            << roundoff::test::replay(it);
          }
    }
#else
    (void)terms, (void)with_mpfr;
#endif
  }
}

TEST(GemmFast, EqualsSimpleRandomShapes) {
  run_property(0x6a11, 150, true, false);
}

TEST(GemmFast, EqualsMpfrOnSmallProblems) {
  run_property(0x6a12, 120, false, true);
}

// The seed shape's structure (fp32 normal, M=32, K=2048) with a linear-style bias, two threads.
TEST(GemmFast, SeedShapeFp32Normal) {
  auto g = roundoff::test::rng(0x6a13);
  std::normal_distribution<double> nd;
  const i64 m = 32, n = 96, k = 2048;
  std::vector<double> a(m * k), b(n * k), bias(n);
  for (auto& x : a) x = roundoff::round_to(format_id::f32, nd(g));
  for (auto& x : b) x = roundoff::round_to(format_id::f32, nd(g));
  for (auto& x : bias) x = roundoff::round_to(format_id::f32, nd(g));
  gemm_problem p;
  p.m = m, p.n = n, p.k = k, p.a = a.data(), p.lda = k, p.b = b.data(), p.ldb = k;
  p.bias = bias.data(), p.bias_col_stride = 1, p.c_row_stride = n;
  exact_tensor fast({m * n}), simple({m * n});
  gemm_exact(p, fast, {2});
  gemm_exact_simple(p, simple);
  layout L;
  L.p = p;
  L.describe = "seed-like fp32 normal";
  int failures = 0;
  expect_equal(L, fast, simple, 0, &failures);
}

// Every element of a row below the slices' reach: the whole product goes through the sparse
// remainder, and Inf/NaN rows through the simple path, in one problem.
// The worker pool persists between calls and serves one call at a time: calls from several user
// threads at once (the others start their own threads), back-to-back calls with different
// thread counts, and the default thread count must all give the simple path's values.
TEST(GemmFast, ConcurrentCallsAndThreadCounts) {
  auto g = roundoff::test::rng(0x9001);
  std::normal_distribution<double> nd;
  const i64 m = 20, n = 50, k = 300;
  std::vector<double> a(m * k), b(n * k);
  for (auto& x : a) x = roundoff::round_to(format_id::f32, nd(g));
  for (auto& x : b) x = roundoff::round_to(format_id::f32, nd(g));
  gemm_problem p;
  p.m = m, p.n = n, p.k = k, p.a = a.data(), p.lda = k, p.b = b.data(), p.ldb = k;
  p.c_row_stride = n;
  exact_tensor simple({m * n});
  gemm_exact_simple(p, simple);
  layout L;
  L.p = p;
  int failures = 0;
  for (const int threads : {0, 3, 1, 2, 3}) {
    exact_tensor fast({m * n});
    gemm_exact(p, fast, {threads});
    L.describe = "sequential, threads=" + std::to_string(threads);
    expect_equal(L, fast, simple, 0, &failures);
  }
  std::vector<exact_tensor> outs;
  for (int t = 0; t < 4; ++t) outs.emplace_back(std::vector<i64>{m * n});
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t)
    callers.emplace_back([&, t] {
      for (int rep = 0; rep < 3; ++rep) gemm_exact(p, outs[static_cast<std::size_t>(t)], {2});
    });
  for (auto& c : callers) c.join();
  for (int t = 0; t < 4; ++t) {
    L.describe = "concurrent caller " + std::to_string(t);
    expect_equal(L, outs[static_cast<std::size_t>(t)], simple, 0, &failures);
  }
  EXPECT_EQ(engine_threads(5), 5);
  const char* before = std::getenv("ROUNDOFF_THREADS");
  const std::string saved = before ? before : "";
  setenv("ROUNDOFF_THREADS", "3", 1);
  EXPECT_EQ(engine_threads(0), 3);
  setenv("ROUNDOFF_THREADS", "many", 1);  // ignored: every core
  EXPECT_EQ(engine_threads(0), static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  unsetenv("ROUNDOFF_THREADS");
  EXPECT_EQ(engine_threads(0), static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  if (before) setenv("ROUNDOFF_THREADS", saved.c_str(), 1);
}

TEST(GemmFast, RemainderAndSpecialRows) {
  const i64 m = 4, n = 3, k = 300;
  std::vector<double> a(m * k), b(n * k);
  for (i64 t = 0; t < k; ++t) {
    a[t] = std::ldexp(1.0, 200) + std::ldexp(1.0, -300) * static_cast<double>(t % 7);  // wide row
    a[k + t] = t == 0 ? 1.0 : std::ldexp(1.0 + std::ldexp(1.0, -52), -900);            // huge span
    a[2 * k + t] = t == 5 ? std::numeric_limits<double>::infinity() : 1.0;
    a[3 * k + t] = std::ldexp(static_cast<double>(t + 1), -1074);  // subnormals
    b[t] = 1.0 + std::ldexp(1.0, -52) * static_cast<double>(t);
    b[k + t] = t == 7 ? std::numeric_limits<double>::quiet_NaN() : -0.5;
    b[2 * k + t] = std::ldexp(1.0, 900) * (t % 2 ? 1 : -1);
  }
  gemm_problem p;
  p.m = m, p.n = n, p.k = k, p.a = a.data(), p.lda = k, p.b = b.data(), p.ldb = k;
  p.c_row_stride = n;
  exact_tensor fast({m * n}), simple({m * n});
  gemm_exact(p, fast);
  gemm_exact_simple(p, simple);
  layout L;
  L.p = p;
  L.describe = "remainder/special rows";
  int failures = 0;
  expect_equal(L, fast, simple, 0, &failures);
  EXPECT_TRUE(std::isnan(fast.rounded(1 * n + 1)));  // NaN in B row 1
  EXPECT_TRUE(std::isinf(fast.rounded(2 * n + 0)));  // Inf * finite
}

// Row exponents that a prefix underestimates. The OpenBLAS path guesses each row's exponent
// from its first 64 entries (plus one bit) when K is one chunk, and must check the guess
// against the whole row; the native path analyzes every row first. Rows whose first 100
// entries are 16 times smaller than the rest, rows with an Inf or a NaN after the prefix, and
// ordinary rows, over several 12-row panels, 1 and 2 threads. Results must equal the simple
// path. (Dropping the OpenBLAS path's check fails this test and EqualsMpfrOnSmallProblems.)
TEST(GemmFast, GuessedRowExponentsAreChecked) {
  auto g = roundoff::test::rng(0x6a15);
  std::normal_distribution<double> nd;
  const i64 m = 40, n = 30, k = 300;
  auto fill = [&](std::vector<double>& v, i64 rows) {
    v.resize(static_cast<std::size_t>(rows * k));
    for (i64 r = 0; r < rows; ++r)
      for (i64 t = 0; t < k; ++t) {
        double x = roundoff::round_to(format_id::f32, nd(g));
        if (r % 3 == 0 && t < 100) x = std::ldexp(x, -4);  // the prefix underestimates
        if (r % 7 == 1 && t == 200) x = std::numeric_limits<double>::infinity();
        if (r % 5 == 2 && t == 150) x = std::numeric_limits<double>::quiet_NaN();
        v[static_cast<std::size_t>(r * k + t)] = x;
      }
  };
  std::vector<double> a, b;
  fill(a, m);
  fill(b, n);
  gemm_problem p;
  p.m = m, p.n = n, p.k = k, p.a = a.data(), p.lda = k, p.b = b.data(), p.ldb = k;
  p.c_row_stride = n;
  for (int threads : {1, 2}) {
    exact_tensor fast({m * n}), simple({m * n});
    gemm_exact(p, fast, {threads});
    gemm_exact_simple(p, simple);
    layout L;
    L.p = p;
    L.describe = "guessed exponents, threads=" + std::to_string(threads);
    int failures = 0;
    expect_equal(L, fast, simple, 0, &failures);
  }
}

// Regression (found by EqualsSimpleRandomShapes, ROUNDOFF_TEST_SEED=1795926455226014973,
// iteration 2: f64 "tiny", m=2 n=7 k=1): products of subnormals have combined slice unit
// 2^-2148, and accumulator::add_scaled(x, e) with e that low wrote below its limb window (its
// 53-bit significand reaches 2^(e-52)). gemm_fast now adds v * 2^e with add_integer.
TEST(GemmFast, SubnormalTimesSubnormalRegression) {
  const double a[3] = {std::ldexp(3.0, -1074), std::ldexp(-5.0, -1070), std::ldexp(1.0, -1022)};
  const double b[3] = {std::ldexp(7.0, -1073), std::ldexp(9.0, -1074), std::ldexp(-1.0, -1074)};
  for (const double* bias : {static_cast<const double*>(nullptr), &a[2]}) {
    gemm_problem p;
    p.m = 3, p.n = 3, p.k = 1, p.a = a, p.lda = 1, p.b = b, p.ldb = 1, p.c_row_stride = 3;
    p.bias = bias;
    exact_tensor fast({9}), simple({9});
    gemm_exact(p, fast);
    gemm_exact_simple(p, simple);
    layout L;
    L.p = p;
    L.describe = bias ? "subnormal products + bias" : "subnormal products";
    int failures = 0;
    expect_equal(L, fast, simple, 0, &failures);
  }
}

// Several M- and N-tiles per problem: A's slices are cached per M-tile (and tile_m shrinks for
// long K), B's are made per tile; both orders of tile visits by 1-3 threads.
TEST(GemmFast, ManyTiles) {
  auto g = roundoff::test::rng(0x6a14);
  std::normal_distribution<double> nd;
  struct shape {
    i64 m, n, k;
    format_id f;
  };
  // 3 x 29 x 30011: a K so long that B panels are sliced K block by K block.
  for (const shape s : {shape{300, 290, 64, format_id::f32}, shape{100, 5, 20011, format_id::f32},
                        shape{3, 29, 30011, format_id::f32}, shape{260, 140, 700, format_id::f64},
                        shape{520, 3, 33, format_id::bf16}}) {
    std::vector<double> a(s.m * s.k), b(s.n * s.k);
    for (auto& x : a) x = roundoff::round_to(s.f, nd(g));
    for (auto& x : b) x = roundoff::round_to(s.f, nd(g));
    gemm_problem p;
    p.m = s.m, p.n = s.n, p.k = s.k, p.a = a.data(), p.lda = s.k, p.b = b.data(), p.ldb = s.k;
    p.c_row_stride = s.n;
    for (int threads : {1, 3}) {
      exact_tensor fast({s.m * s.n}), simple({s.m * s.n});
      gemm_exact(p, fast, {threads});
      gemm_exact_simple(p, simple);
      layout L;
      L.p = p;
      L.describe = "many tiles m=" + std::to_string(s.m) + " n=" + std::to_string(s.n) +
                   " k=" + std::to_string(s.k) + " threads=" + std::to_string(threads);
      int failures = 0;
      expect_equal(L, fast, simple, 0, &failures);
    }
  }
}

#if defined(__SSE2__)
// With flush-to-zero and denormals-are-zero set by the caller (as some ML runtimes do), the
// slicing would silently drop subnormal bits; gemm_exact runs its threads in IEEE mode instead
// and restores the caller's mode.
TEST(GemmFast, IgnoresCallerFlushToZero) {
  const unsigned saved = _mm_getcsr();
  auto g = roundoff::test::rng(0x6a15);
  std::uniform_real_distribution<double> u(-1, 1);
  std::normal_distribution<double> nd;
  const i64 m = 5, n = 9, k = 70;
  std::vector<double> a(m * k), b(n * k);
  // A: subnormals with 20-bit significands (the fast path covers them, DAZ would zero them);
  // B: fp32 normals, so the products are subnormal or tiny.
  for (auto& x : a) x = std::ldexp(std::round(u(g) * 1e6), -1074);
  for (auto& x : b) x = roundoff::round_to(format_id::f32, nd(g));
  gemm_problem p;
  p.m = m, p.n = n, p.k = k, p.a = a.data(), p.lda = k, p.b = b.data(), p.ldb = k;
  p.c_row_stride = n;
  exact_tensor simple({m * n});
  gemm_exact_simple(p, simple);
  for (int threads : {1, 2}) {
    exact_tensor fast({m * n});
    _mm_setcsr(saved | 0x8040u);  // FTZ | DAZ
    gemm_exact(p, fast, {threads});
    const unsigned after = _mm_getcsr();
    _mm_setcsr(saved);
    EXPECT_EQ(after & 0x8040u, 0x8040u) << "caller's FP mode not restored";
    layout L;
    L.p = p;
    L.describe = "FTZ/DAZ caller, threads=" + std::to_string(threads);
    int failures = 0;
    expect_equal(L, fast, simple, 0, &failures);
  }
}
#endif

// Which kernel runs: the best native one this CPU has (AVX-512F, then AVX2 + FMA), the AVX2 one
// when ROUNDOFF_EXACT_KERNEL=avx2 asks for it, and the OpenBLAS one for "blas" or on CPUs with
// neither (the ".avx2" and ".blas" copies of these tests rely on that). Asserts only what holds
// on the running machine.
TEST(GemmFast, KernelChoiceFollowsCpuAndEnvironment) {
  const char* before = std::getenv("ROUNDOFF_EXACT_KERNEL");
  const std::string saved = before ? before : "";
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f");
#else
  const bool avx2 = false, avx512 = false;
#endif
  const char* best_avx2 = avx2 ? "native-avx2" : "openblas";
  setenv("ROUNDOFF_EXACT_KERNEL", "blas", 1);
  EXPECT_STREQ(gemm_exact_kernel(), "openblas");
  setenv("ROUNDOFF_EXACT_KERNEL", "avx2", 1);
  EXPECT_STREQ(gemm_exact_kernel(), best_avx2);
  unsetenv("ROUNDOFF_EXACT_KERNEL");
  EXPECT_STREQ(gemm_exact_kernel(), avx512 ? "native-avx512" : best_avx2);
  if (!avx512) std::printf("(no AVX-512F on this CPU: the AVX-512 kernel is not checked here)\n");
  if (before) setenv("ROUNDOFF_EXACT_KERNEL", saved.c_str(), 1);
}

}  // namespace
