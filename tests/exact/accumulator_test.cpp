// The accumulator against the MPFR oracle, value for value: every rounding direction, every
// format, and |exact - observed|, on random dot products in every input format and on the
// dedicated generators of issue 2 (cancellation, ties, exponent extremes, specials).
#include "roundoff/exact/accumulator.hpp"

#include <gtest/gtest.h>

#include <cfloat>
#include <chrono>
#include <iostream>

#include "exact_testing.hpp"
#include "property.hpp"
#include "roundoff/exact/gemm.hpp"
#include "roundoff/exact/mpfr_oracle.hpp"

namespace roundoff::test {
namespace {

using exact::accumulator;
using exact::dot_exact;
using exact::dot_mpfr_value;
using exact::rounding;
using exact::value_kind;

// Checks dot_exact(a, b, bias) against the oracle; returns the failure text or "".
::testing::AssertionResult check_dot(const std::vector<double>& a, const std::vector<double>& b,
                                     const double* bias, std::mt19937_64& g,
                                     bool all_formats_too = true) {
  accumulator acc;
  const auto n = static_cast<std::int64_t>(a.size());
  dot_exact(n, a.data(), b.data(), bias, acc);
  const auto ov = dot_mpfr_value(n, a.data(), b.data(), bias, oracle_options());
  auto r = same_exact_value(acc, ov, g, naive_dot(n, a.data(), b.data(), bias), all_formats_too);
  if (r && all_formats_too) r = same_value_by_peeling(acc, n, a.data(), b.data(), bias);
  return r;
}

// One random dot product of values of format f: Gaussian data, a moderate exponent window, or
// the format's full range (subnormals included).
void random_dot(std::mt19937_64& g, format_id f, std::int64_t n, std::vector<double>& a,
                std::vector<double>& b, double& bias, bool& has_bias) {
  a.resize(static_cast<std::size_t>(n));
  b.resize(static_cast<std::size_t>(n));
  const int mode = static_cast<int>(g() % 10);
  const fmt_range r = range_of(f);
  const double scale = std::ldexp(1.0, static_cast<int>(g() % 17) - 8);
  int lo = -30, hi = 30;
  if (mode >= 8) {
    lo = r.emin - r.p + 1;
    hi = r.emax;
  }
  auto draw = [&] { return mode < 5 ? draw_gaussian(g, f, scale) : draw_format(g, f, lo, hi); };
  for (std::size_t t = 0; t < a.size(); ++t) {
    a[t] = draw();
    b[t] = draw();
  }
  has_bias = g() % 3 == 0;
  bias = has_bias ? draw() : 0.0;
}

class RandomDots : public ::testing::TestWithParam<format_id> {};

// The bar: >= 1e5 random dot products per format, lengths 0..1e5 (log-uniform over
// 0..64 for the bulk, plus long ones up to 1e5), bit for bit with the oracle.
TEST_P(RandomDots, MatchOracleBitForBit) {
  const format_id f = GetParam();
  auto g = rng(0x100 + static_cast<std::uint64_t>(f));
  const std::int64_t n_short = iterations(100000), n_long = iterations(12);
  std::vector<double> a, b;
  double bias;
  bool has_bias;
  const auto t0 = std::chrono::steady_clock::now();
  std::int64_t terms = 0;
  for (std::int64_t it = 0; it < n_short + n_long; ++it) {
    const bool is_long = it >= n_short;
    std::int64_t n = is_long ? 1000 + skewed_length(g, 99000) : skewed_length(g, 64);
    if (is_long && it == n_short) n = 100000;  // the top of the length range
    random_dot(g, f, n, a, b, bias, has_bias);
    terms += n;
    // All formats and all observed values on every 4th short one and on every long one.
    ASSERT_TRUE(check_dot(a, b, has_bias ? &bias : nullptr, g, is_long || it % 4 == 0))
        << traits(f).name << " n=" << n << ' ' << replay(it);
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cerr << "[roundoff] " << traits(f).name << ": " << n_short + n_long << " dot products, "
            << terms << " terms, " << s << " s\n";
}

INSTANTIATE_TEST_SUITE_P(AllInputFormats, RandomDots, ::testing::ValuesIn(input_formats),
                         [](const auto& param_info) {
                           return std::string(traits(param_info.param).name);
                         });

// Why check_dot also peels: 1 + 2^-200 + 2^-400 and 1 + 2^-200 + 2^-401 agree in every
// rounding and every abs_diff against the observed values used, but are different numbers.
TEST(AccumulatorOracleCheck, PeelingSeesDifferencesRoundingsMiss) {
  auto g = rng(0x150);
  accumulator acc;
  acc.add(1.0);
  acc.add(0x1p-200);
  acc.add(0x1p-400);
  const double a[] = {1.0, 0x1p-200, 0x1p-401}, ones[] = {1.0, 1.0, 1.0};
  const auto ov = dot_mpfr_value(3, a, ones, nullptr, oracle_options());
  EXPECT_TRUE(same_exact_value(acc, ov, g));
  EXPECT_FALSE(same_value_by_peeling(acc, 3, a, ones, nullptr));
  const double right[] = {1.0, 0x1p-200, 0x1p-400};
  EXPECT_TRUE(same_value_by_peeling(acc, 3, right, ones, nullptr));
}

// Massive cancellation: terms that cancel to exactly zero or to a tiny remainder, including
// the rounding error of a naive sum (x_1 + ... + x_n - fl(x_1 + ... + x_n)).
TEST(AccumulatorCancellation, MatchesOracle) {
  auto g = rng(0x200);
  const std::int64_t iters = iterations(4000);
  std::vector<double> a, b;
  for (std::int64_t it = 0; it < iters; ++it) {
    const format_id f = input_formats[g() % 5];
    const std::int64_t half = skewed_length(g, 200);
    a.clear();
    b.clear();
    const int mode = static_cast<int>(g() % 3);
    for (std::int64_t t = 0; t < half; ++t) {
      const double x = draw_format(g, f, -60, 60), y = draw_format(g, f, -60, 60);
      a.push_back(x);
      b.push_back(y);
      // The negated product, written differently: (-x*2^k) * (y*2^-k) when exact.
      const int k = static_cast<int>(g() % 5) - 2;
      a.push_back(-std::ldexp(x, k));
      b.push_back(std::ldexp(y, -k));
    }
    if (mode >= 1) {  // leave a tiny remainder: a product far below the cancelled ones
      a.push_back(draw_format(g, format_id::f64, -900, -700));
      b.push_back(draw_format(g, format_id::f64, -300, -100));
    }
    if (mode == 2) {  // and the naive sum's rounding error
      const double s = naive_dot(static_cast<std::int64_t>(a.size()), a.data(), b.data(), nullptr);
      a.push_back(-s);
      b.push_back(1.0);
    }
    // Shuffle the terms (pairs stay pairs).
    for (std::size_t t = a.size(); t > 1; --t) {
      const std::size_t j = g() % t;
      std::swap(a[t - 1], a[j]);
      std::swap(b[t - 1], b[j]);
    }
    ASSERT_TRUE(check_dot(a, b, nullptr, g)) << "mode " << mode << ' ' << replay(it);
    if (mode == 0) {
      accumulator acc;
      dot_exact(static_cast<std::int64_t>(a.size()), a.data(), b.data(), nullptr, acc);
      ASSERT_EQ(acc.sign(), 0) << replay(it);
      ASSERT_TRUE(same_double(acc.round(), 0.0)) << "exact zero must be +0 " << replay(it);
    }
  }
}

// Exact ties at the double rounding boundary: d + ulp(d)/2 for both parities of d's last bit,
// hidden among cancelling terms, then +-1 tiny term that breaks the tie. Hand-derived expected
// results, plus the oracle.
TEST(AccumulatorTies, DoubleBoundary) {
  auto g = rng(0x300);
  const std::int64_t iters = iterations(4000);
  for (std::int64_t it = 0; it < iters; ++it) {
    // d: random double with a chosen parity, normal or subnormal.
    double d = draw_format(g, format_id::f64, -1070, 1000);
    auto bits = std::bit_cast<std::uint64_t>(d);
    const bool odd = it % 2;
    bits = (bits & ~std::uint64_t{1}) | (odd ? 1 : 0);
    d = std::bit_cast<double>(bits);
    if (d == 0) continue;
    const double up = std::nextafter(d, d > 0 ? inf : -inf);
    const double half_ulp = (up - d) / 2;  // exact: a power of two (or half the subnormal step)
    if (half_ulp == 0) continue;           // d = +-min subnormal: the half step is 2^-1075
    std::vector<double> a, b;
    // d = d * 1, the half ulp as a product of two doubles split at a random point.
    a.push_back(d);
    b.push_back(1.0);
    const int split = static_cast<int>(g() % 200) - 100;
    a.push_back(std::ldexp(half_ulp, split));
    b.push_back(std::ldexp(1.0, -split));
    if (a.back() == 0 || std::isinf(a.back()) || b.back() == 0 || std::isinf(b.back())) {
      a.back() = half_ulp;
      b.back() = 1.0;
    }
    // Cancelling noise.
    for (int t = static_cast<int>(g() % 6); t > 0; --t) {
      const double x = draw_format(g, format_id::f64, -200, 200);
      const double y = draw_format(g, format_id::f64, -200, 200);
      a.push_back(x);
      b.push_back(y);
      a.push_back(-x);
      b.push_back(y);
    }
    const int tiebreak = static_cast<int>(g() % 3) - 1;  // -1, 0, +1
    if (tiebreak != 0) {
      a.push_back(tiebreak * std::ldexp(1.0, -1074));
      b.push_back(std::ldexp(1.0, -static_cast<int>(g() % 1000)));
    }
    accumulator acc;
    dot_exact(static_cast<std::int64_t>(a.size()), a.data(), b.data(), nullptr, acc);
    // Expected RN: the tie goes to the even one of d and up; a tiny term toward up (same
    // sign as d) rounds up, against it rounds to d.
    const bool toward_up = (tiebreak > 0) == (d > 0);
    const double expect = tiebreak == 0 ? (odd ? up : d) : (toward_up ? up : d);
    ASSERT_TRUE(same_double(acc.round(), expect))
        << hex(acc.round()) << " expected " << hex(expect) << " d=" << hex(d) << ' ' << replay(it);
    const auto ov = dot_mpfr_value(static_cast<std::int64_t>(a.size()), a.data(), b.data(), nullptr,
                                   oracle_options());
    ASSERT_TRUE(same_exact_value(acc, ov, g, d, it % 8 == 0)) << replay(it);
  }
}

// Ties at each format's own boundary (round_to must not double-round through double).
TEST(AccumulatorTies, FormatBoundary) {
  auto g = rng(0x310);
  const std::int64_t iters = iterations(3000);
  for (std::int64_t it = 0; it < iters; ++it) {
    const format_id f = all_formats[1 + g() % 6];
    const fmt_range r = range_of(f);
    const double v = draw_format(g, f, r.emin - 2, r.emax - 1);
    if (v == 0) continue;
    // Next value of the format: one unit in its last place at v's exponent.
    int e;
    std::frexp(v, &e);
    const double ulp = std::ldexp(1.0, std::max(e - 1, r.emin) - r.p + 1);
    const int tiebreak = static_cast<int>(g() % 3) - 1;
    accumulator acc;
    acc.add(v);
    acc.add_product(v > 0 ? ulp : -ulp, 0.5);
    if (tiebreak) acc.add_product(tiebreak * std::ldexp(1.0, -600), std::ldexp(1.0, -400));
    std::vector<double> a = {v, v > 0 ? ulp : -ulp}, b = {1.0, 0.5};
    if (tiebreak) {
      a.push_back(tiebreak * std::ldexp(1.0, -600));
      b.push_back(std::ldexp(1.0, -400));
    }
    const auto ov = dot_mpfr_value(static_cast<std::int64_t>(a.size()), a.data(), b.data(), nullptr,
                                   oracle_options());
    for (auto u : {underflow_mode::gradual, underflow_mode::flush_to_zero})
      ASSERT_TRUE(same_double(acc.round_to(f, u), ov.round_to(f, u)))
          << traits(f).name << ' ' << hex(acc.round_to(f, u)) << " vs " << hex(ov.round_to(f, u))
          << ' ' << replay(it);
  }
}

// Full exponent range: f64 inputs from the smallest subnormal to the largest finite, so
// products under- and overflow double (2^-2148 .. 2^2048); sums rounding to subnormals, to
// zero, past DBL_MAX, and huge terms cancelling back into range.
TEST(AccumulatorExponentRange, FullDoubleRange) {
  auto g = rng(0x400);
  const std::int64_t iters = iterations(3000);
  std::vector<double> a, b;
  for (std::int64_t it = 0; it < iters; ++it) {
    const std::int64_t n = skewed_length(g, 40);
    a.assign(static_cast<std::size_t>(n), 0);
    b.assign(static_cast<std::size_t>(n), 0);
    const int mode = static_cast<int>(g() % 4);
    for (std::int64_t t = 0; t < n; ++t) {
      const auto ut = static_cast<std::size_t>(t);
      switch (mode) {
        case 0:  // anything
          a[ut] = draw_format(g, format_id::f64, -1074, 1023);
          b[ut] = draw_format(g, format_id::f64, -1074, 1023);
          break;
        case 1:  // products overflowing double
          a[ut] = draw_format(g, format_id::f64, 500, 1023);
          b[ut] = draw_format(g, format_id::f64, 500, 1023);
          break;
        case 2:  // products underflowing double (below 2^-1074), subnormal inputs
          a[ut] = draw_format(g, format_id::f64, -1074, -400);
          b[ut] = draw_format(g, format_id::f64, -1074, -400);
          break;
        default:  // products around the subnormal range
          a[ut] = draw_format(g, format_id::f64, -1074, -1000);
          b[ut] = draw_format(g, format_id::f64, -60, 30);
          break;
      }
    }
    if (mode == 1 && n > 0 && g() % 2) {  // cancel the huge part back into double range
      const double s = naive_dot(n, a.data(), b.data(), nullptr);
      (void)s;
      std::vector<double> a2 = a, b2 = b;
      for (std::size_t t = 0; t < a2.size(); ++t) a2[t] = -a2[t];
      a.insert(a.end(), a2.begin(), a2.end());
      b.insert(b.end(), b2.begin(), b2.end());
      a.push_back(draw_format(g, format_id::f64, -100, 100));
      b.push_back(1.0);
    }
    double bias = draw_format(g, format_id::f64, -1074, 1023);
    ASSERT_TRUE(check_dot(a, b, g() % 2 ? &bias : nullptr, g, it % 4 == 0))
        << "mode " << mode << ' ' << replay(it);
  }
}

// fp32 products that overflow fp32 but not double, and sums beyond fp32's range that must
// round to +-Inf in f32 but stay finite in double.
TEST(AccumulatorExponentRange, F32ProductsOverflowF32) {
  auto g = rng(0x500);
  const std::int64_t iters = iterations(3000);
  std::vector<double> a, b;
  for (std::int64_t it = 0; it < iters; ++it) {
    const std::int64_t n = 1 + skewed_length(g, 60);
    a.resize(static_cast<std::size_t>(n));
    b.resize(static_cast<std::size_t>(n));
    for (std::size_t t = 0; t < a.size(); ++t) {
      a[t] = draw_format(g, format_id::f32, 60, 127);
      b[t] = draw_format(g, format_id::f32, 60, 127);
    }
    if (g() % 2) {  // a term that cancels most of it, leaving an f32-range result
      accumulator acc;
      dot_exact(n, a.data(), b.data(), nullptr, acc);
      a.push_back(-acc.round(rounding::toward_zero));
      b.push_back(1.0);
    }
    accumulator acc;
    dot_exact(static_cast<std::int64_t>(a.size()), a.data(), b.data(), nullptr, acc);
    const auto ov = dot_mpfr_value(static_cast<std::int64_t>(a.size()), a.data(), b.data(), nullptr,
                                   oracle_options());
    ASSERT_TRUE(same_exact_value(acc, ov, g)) << replay(it);
    if (std::fabs(acc.round()) > FLT_MAX * (1 + 1e-7)) {
      ASSERT_TRUE(std::isinf(acc.round_to(format_id::f32))) << replay(it);
    }
  }
}

TEST(AccumulatorSpecial, ZeroLength) {
  auto g = rng(0x600);
  accumulator acc;
  dot_exact(0, nullptr, nullptr, nullptr, acc);
  EXPECT_EQ(acc.kind(), value_kind::finite);
  EXPECT_EQ(acc.sign(), 0);
  for (auto r : all_roundings) EXPECT_TRUE(same_double(acc.round(r), 0.0));
  EXPECT_TRUE(same_exact_value(acc, dot_mpfr_value(0, nullptr, nullptr, nullptr), g));
  for (double bias : {1.5, -0.0, 0.0, -3e-310, 1e308, inf, -inf, nan}) {
    dot_exact(0, nullptr, nullptr, &bias, acc);
    const auto ov = dot_mpfr_value(0, nullptr, nullptr, &bias);
    EXPECT_TRUE(same_exact_value(acc, ov, g)) << hex(bias);
    if (bias != 0) {
      EXPECT_TRUE(same_double(acc.round(), bias));
    }
  }
}

// NaN and +-Inf inputs: IEEE sum semantics (NaN, Inf*0, +Inf and -Inf together -> NaN).
TEST(AccumulatorSpecial, NanInfSemantics) {
  auto g = rng(0x700);
  const double specials[] = {inf, -inf, nan, 0.0, -0.0, 1.0, -2.5, 1e300, 5e-324};
  const std::int64_t iters = iterations(3000);
  std::vector<double> a, b;
  for (std::int64_t it = 0; it < iters; ++it) {
    const std::int64_t n = skewed_length(g, 12);
    a.resize(static_cast<std::size_t>(n));
    b.resize(static_cast<std::size_t>(n));
    for (std::size_t t = 0; t < a.size(); ++t) {
      a[t] = g() % 3 ? draw_format(g, format_id::f64, -20, 20) : specials[g() % 9];
      b[t] = g() % 3 ? draw_format(g, format_id::f64, -20, 20) : specials[g() % 9];
    }
    double bias = specials[g() % 9];
    ASSERT_TRUE(check_dot(a, b, g() % 2 ? &bias : nullptr, g, false)) << replay(it);
  }
  // Hand-checked cases.
  accumulator acc;
  acc.add_product(inf, 0.0);
  EXPECT_EQ(acc.kind(), value_kind::nan);
  acc.clear();
  acc.add(inf);
  acc.add_product(-1.0, inf);
  EXPECT_EQ(acc.kind(), value_kind::nan);
  acc.clear();
  acc.add_product(-inf, -2.0);
  acc.add(1e308);
  EXPECT_EQ(acc.kind(), value_kind::pos_inf);
  EXPECT_EQ(acc.round(rounding::downward), inf);
  EXPECT_EQ(acc.abs_diff(inf), 0.0);
  EXPECT_EQ(acc.abs_diff(-inf), inf);
  EXPECT_EQ(acc.abs_diff(1.0), inf);
  EXPECT_TRUE(std::isnan(acc.abs_diff(nan)));
  acc.sub_product(inf, 1.0);  // + (-Inf): NaN
  EXPECT_EQ(acc.kind(), value_kind::nan);
  EXPECT_TRUE(std::isnan(acc.round()));
}

// Signed zeros: an exact zero is +0 however it arises; a nonzero value that underflows to zero
// keeps its sign.
TEST(AccumulatorSpecial, SignedZeros) {
  auto g = rng(0x800);
  accumulator acc;
  acc.add(-0.0);
  acc.add_product(-0.0, 3.0);
  acc.add_product(-0.0, -0.0);
  EXPECT_TRUE(same_double(acc.round(), 0.0));
  EXPECT_TRUE(same_double(acc.round(rounding::downward), 0.0));
  EXPECT_EQ(acc.sign(), 0);
  acc.add_product(1e-300, -1e-300);  // -1e-600: RN gives -0, RD gives -min subnormal
  EXPECT_TRUE(same_double(acc.round(), -0.0));
  EXPECT_TRUE(same_double(acc.round(rounding::toward_zero), -0.0));
  EXPECT_TRUE(same_double(acc.round(rounding::downward), -5e-324));
  EXPECT_TRUE(same_double(acc.round(rounding::upward), -0.0));
  std::vector<double> a = {-0.0, -0.0, 1e-300}, b = {1.0, -0.0, -1e-300};
  EXPECT_TRUE(same_exact_value(acc, dot_mpfr_value(3, a.data(), b.data(), nullptr), g));
  acc.add_product(1e-300, 1e-300);
  EXPECT_TRUE(same_double(acc.round(), 0.0));
}

// clear() after arbitrary use gives a state indistinguishable from a fresh accumulator, and
// the touched-range bookkeeping survives windows far apart (low, high, then both).
TEST(AccumulatorState, ClearAndReuse) {
  auto g = rng(0x900);
  const std::int64_t iters = iterations(2000);
  accumulator reused;
  for (std::int64_t it = 0; it < iters; ++it) {
    reused.clear();
    accumulator fresh;
    const int n = static_cast<int>(g() % 30);
    std::vector<double> a, b;
    for (int t = 0; t < n; ++t) {
      a.push_back(draw_format(g, format_id::f64, -1074, 1023));
      b.push_back(draw_format(g, format_id::f64, -1074, 1023));
      reused.add_product(a.back(), b.back());
      fresh.add_product(a.back(), b.back());
    }
    for (auto r : all_roundings) ASSERT_TRUE(same_double(reused.round(r), fresh.round(r)));
    const auto ov = dot_mpfr_value(n, a.data(), b.data(), nullptr, oracle_options());
    ASSERT_TRUE(same_exact_value(reused, ov, g, 0.0, false)) << replay(it);
  }
}

// negate, sub_product, add(accumulator), add_scaled and copies, against the oracle.
TEST(AccumulatorState, CompositeOperations) {
  auto g = rng(0xa00);
  const std::int64_t iters = iterations(3000);
  for (std::int64_t it = 0; it < iters; ++it) {
    std::vector<double> a, b;  // the oracle's terms
    accumulator x, y;
    for (int t = static_cast<int>(g() % 10); t > 0; --t) {
      const double p = draw_format(g, format_id::f64, -1074, 1023);
      const double q = draw_format(g, format_id::f64, -1074, 1023);
      switch (g() % 4) {
        case 0:
          x.add_product(p, q), a.push_back(p), b.push_back(q);
          break;
        case 1:
          x.sub_product(p, q), a.push_back(-p), b.push_back(q);
          break;
        case 2:
          y.add_product(p, q), a.push_back(p), b.push_back(q);
          break;
        default: {
          // p * 2^e for the oracle as (p * 2^(e/2)) * 2^(e - e/2), used only when both
          // factors are exact doubles.
          const int e = static_cast<int>(g() % 1001) - 500;
          const double f1 = std::ldexp(p, e / 2), f2 = std::ldexp(1.0, e - e / 2);
          if (f1 == 0 || std::isinf(f1) || std::ldexp(f1, -(e / 2)) != p || f2 == 0 ||
              std::isinf(f2))
            break;
          y.add_scaled(p, e);
          a.push_back(f1);
          b.push_back(f2);
          break;
        }
      }
    }
    if (g() % 2) {  // x + y via add(accumulator)
      x.add(y);
    } else {  // x - (-y): negate twice through a copy
      accumulator ny(y);
      ny.negate();
      x.negate();
      x.add(ny);
      x.negate();
    }
    const auto ov = dot_mpfr_value(static_cast<std::int64_t>(a.size()), a.data(), b.data(), nullptr,
                                   oracle_options());
    ASSERT_TRUE(same_exact_value(x, ov, g, 0.0, false)) << replay(it);
  }
}

// Window growth: a value doubled repeatedly through add(accumulator) climbs out of the limbs
// its terms touched, so carries and borrows leave the explicit window (extending it, or
// flipping the sign fill), and -2^(64j) lands exactly on a limb boundary. Oracle at each step.
TEST(AccumulatorState, WindowGrowthByDoubling) {
  auto g = rng(0xa80);
  const std::int64_t iters = iterations(300);
  auto split = [](double s, int e, double& x, double& y) {  // s*2^e as x*y, both exact
    x = std::ldexp(s, e / 2);
    y = std::ldexp(1.0, e - e / 2);
  };
  for (std::int64_t it = 0; it < iters; ++it) {
    // Top term s*2^e: a power of two or a random 53-bit significand, either sign.
    const bool pow2 = g() % 2;
    double s = pow2 ? 1.0 : 1.0 + static_cast<double>(g() >> 12) * 0x1p-52;
    if (g() % 2) s = -s;
    const int e = static_cast<int>(g() % 3000) - 1900;
    // Optional low term u*2^f far below.
    const bool low = g() % 2;
    const double u = (g() % 2 ? 1.0 : -1.0) * (1.0 + static_cast<double>(g() >> 40) * 0x1p-24);
    const int f = e - 60 - static_cast<int>(g() % 150);
    accumulator acc;
    acc.add_scaled(s, e);
    if (low && f > -2100) acc.add_scaled(u, f);
    const int steps = std::min(160, 2040 - e);
    for (int k = 1; k <= steps; ++k) {
      accumulator copy(acc);
      acc.add(copy);  // doubling
      std::vector<double> a(2), b(2);
      split(s, e + k, a[0], b[0]);
      const bool has_low = low && f > -2100;
      if (has_low) split(u, f + k, a[1], b[1]);
      const auto ov =
          dot_mpfr_value(has_low ? 2 : 1, a.data(), b.data(), nullptr, oracle_options());
      ASSERT_TRUE(same_exact_value(acc, ov, g, 0.0, false))
          << "s=" << hex(s) << " e=" << e << " k=" << k << ' ' << replay(it);
    }
  }
}

// add_integer: 128-bit integers at any scale (the fast path's folded DGEMM slices), against
// the oracle with the integer cut into 43-bit pieces, each an exact product of two doubles.
TEST(AccumulatorState, AddInteger) {
  auto g = rng(0xa90);
  const std::int64_t iters = iterations(3000);
  for (std::int64_t it = 0; it < iters; ++it) {
    accumulator acc;
    std::vector<double> a, b;
    for (int term = static_cast<int>(g() % 4); term >= 0; --term) {
      const int width = 1 + static_cast<int>(g() % 128);
      std::uint64_t lo = g(), hi = g();
      if (width <= 64) {
        hi = 0;
        if (width < 64) lo &= (std::uint64_t{1} << width) - 1;
      } else if (width < 128) {
        hi &= (std::uint64_t{1} << (width - 64)) - 1;
      }
      const bool neg = g() % 2;
      const int e = static_cast<int>(g() % 3800) - 2100;  // top bit below 2^(e+128) < 2^1828
      acc.add_integer(lo, hi, neg, e);
      for (int k = 0; k < 3; ++k) {  // bits [43k, 43k+43)
        const int sh = 43 * k;
        std::uint64_t piece;
        if (sh == 0) {
          piece = lo & ((std::uint64_t{1} << 43) - 1);
        } else if (sh == 43) {
          piece = ((lo >> 43) | (hi << 21)) & ((std::uint64_t{1} << 43) - 1);
        } else {
          piece = hi >> 22;
        }
        if (piece == 0) continue;
        const int E = e + sh;
        a.push_back(std::ldexp(static_cast<double>(piece) * (neg ? -1.0 : 1.0), E / 2));
        b.push_back(std::ldexp(1.0, E - E / 2));
      }
    }
    const auto ov = dot_mpfr_value(static_cast<std::int64_t>(a.size()), a.data(), b.data(), nullptr,
                                   oracle_options());
    ASSERT_TRUE(same_exact_value(acc, ov, g, 0.0, it % 8 == 0)) << replay(it);
  }
}

// Regression (gemm_fast's SubnormalTimesSubnormalRegression, ROUNDOFF_TEST_SEED=
// 1795926455226014973): add_scaled(d, e) with an integer d and e near -2148 put d's significand
// LSB (2^-52 below its leading bit) under limb 0 and wrote outside the limbs. The value's
// lowest set bit is what must be >= 2^-2176; trailing zeros are now dropped first. Values that
// cannot be held exactly (lowest bit below 2^-2176, or >= 2^2176) make the kind NaN.
TEST(AccumulatorState, ScaledRangeEdges) {
  auto g = rng(0xaa0);
  accumulator acc;
  acc.add_scaled(1.0, -2148);  // significand LSB at 2^-2200, value 2^-2148
  acc.add_scaled(3.0, -2176);  // lowest set bit exactly 2^-2176
  acc.add_integer(std::uint64_t{1} << 40, 0, true, -2200);   // -2^-2160
  acc.add_integer(0, std::uint64_t{1} << 63, false, -2303);  // 2^-2176
  EXPECT_EQ(acc.kind(), value_kind::finite);
  // 2^-2148 + 3*2^-2176 - 2^-2160 + 2^-2176 = 2^-2148 - 2^-2160 + 2^-2174: no product of
  // doubles reaches below 2^-2148, so scale by 2^1200 (exact doublings) before the oracle.
  for (int k = 0; k < 1200; ++k) {
    const accumulator copy(acc);
    acc.add(copy);
  }
  const double a[] = {0x1p-474, -0x1p-480, 0x1p-487}, b[] = {0x1p-474, 0x1p-480, 0x1p-487};
  EXPECT_TRUE(same_exact_value(acc, dot_mpfr_value(3, a, b, nullptr), g));
  EXPECT_EQ(acc.round(), 0x1p-948 - 0x1p-960 + 0x1p-974);
  // Largest allowed: 2^2175 (top bit 2175), as a double and as a 128-bit integer.
  accumulator big;
  big.add_scaled(1.0, 2175);
  big.add_integer(~std::uint64_t{0}, ~std::uint64_t{0}, true, 2175 - 127);
  EXPECT_EQ(big.kind(), value_kind::finite);
  // 2^2175 - (2^128 - 1) * 2^2048 = -2^2175 + 2^2048: beyond double, negative.
  EXPECT_EQ(big.sign(), -1);
  EXPECT_EQ(big.round(rounding::toward_zero), -DBL_MAX);
  EXPECT_EQ(big.round(), -std::numeric_limits<double>::infinity());
  big.add_scaled(-1.0, 2175);
  big.add_integer(~std::uint64_t{0}, ~std::uint64_t{0}, false, 2175 - 127);
  EXPECT_EQ(big.sign(), 0);
  // Out of range: NaN, never memory corruption.
  for (auto add : {+[](accumulator& x) { x.add_scaled(1.0, 2176); },
                   +[](accumulator& x) { x.add_scaled(1.5, -2177); },
                   +[](accumulator& x) { x.add_integer(3, 0, false, -2177); },
                   +[](accumulator& x) { x.add_integer(0, 1, false, 2112); },
                   +[](accumulator& x) { x.add_scaled(0x1p-1074, -1200); }}) {
    accumulator x;
    x.add(1.0);
    add(x);
    EXPECT_EQ(x.kind(), value_kind::nan);
  }
  accumulator zero;
  zero.add_integer(0, 0, true, -5000);  // zero at any scale is fine
  zero.add_scaled(0.0, 99999);
  EXPECT_EQ(zero.kind(), value_kind::finite);
  EXPECT_EQ(zero.sign(), 0);
}

// Carry room: 2^20 products near DBL_MAX^2 (sum ~2^2068, far beyond 2^2048) and back down.
TEST(AccumulatorState, CarryRoomForHugeSums) {
  auto g = rng(0xb00);
  accumulator acc;
  const int n = static_cast<int>(iterations(1 << 20));
  for (int t = 0; t < n; ++t) acc.add_product(DBL_MAX, DBL_MAX);
  acc.add(1.0);
  std::vector<double> a(static_cast<std::size_t>(n), DBL_MAX), b = a;
  a.push_back(1.0);
  b.push_back(1.0);
  const auto ov = dot_mpfr_value(n + 1, a.data(), b.data(), nullptr, oracle_options());
  EXPECT_TRUE(same_exact_value(acc, ov, g));
  for (int t = 0; t < n; ++t) acc.sub_product(DBL_MAX, DBL_MAX);
  EXPECT_TRUE(same_double(acc.round(), 1.0));
  // And the same with negative first: the fill flips sign correctly.
  acc.clear();
  for (int t = 0; t < 1000; ++t) acc.sub_product(DBL_MAX, DBL_MAX);
  acc.add(std::ldexp(1.0, -1074));
  for (int t = 0; t < 1000; ++t) acc.add_product(DBL_MAX, DBL_MAX);
  EXPECT_TRUE(same_double(acc.round(), std::ldexp(1.0, -1074)));
  EXPECT_EQ(acc.sign(), 1);
}

}  // namespace
}  // namespace roundoff::test
