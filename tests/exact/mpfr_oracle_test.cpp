// The oracle itself: hand-computed golden values, detection of its own rounding (ternary
// values), the auto_raise precision rule, and special values. The other exact tests trust it
// only because of these.
#include "roundoff/exact/mpfr_oracle.hpp"
#include "roundoff/error.hpp"

#include <gtest/gtest.h>

#include <cfloat>

#include "exact_testing.hpp"
#include "property.hpp"
#include "roundoff/exact/accumulator.hpp"

namespace roundoff::test {
namespace {

using exact::dot_mpfr_value;
using exact::mpfr_options;
using exact::rounding;
using exact::value_kind;

TEST(MpfrOracle, GoldenDirectedRoundings) {
  // 1 + 2^-60: RN, RD, RZ give 1, RU gives 1 + 2^-52.
  const double a[] = {1.0, 0x1p-30}, b[] = {1.0, 0x1p-30};
  const auto v = dot_mpfr_value(2, a, b, nullptr);
  ASSERT_TRUE(v.exact());
  EXPECT_EQ(v.round(), 1.0);
  EXPECT_EQ(v.round(rounding::downward), 1.0);
  EXPECT_EQ(v.round(rounding::toward_zero), 1.0);
  EXPECT_EQ(v.round(rounding::upward), 1.0 + 0x1p-52);
  EXPECT_EQ(v.abs_diff(1.0), 0x1p-60);
  EXPECT_EQ(v.abs_diff(1.0 + 0x1p-52), 0x1p-52 - 0x1p-60);
  // With a bias of -2: -(1 - 2^-60), 60 bits: RN and RD give -1, RU and RZ -(1 - 2^-53).
  const double bias = -2.0;
  const auto w = dot_mpfr_value(2, a, b, &bias);
  EXPECT_EQ(w.round(), -1.0);
  EXPECT_EQ(w.round(rounding::downward), -1.0);
  EXPECT_EQ(w.round(rounding::upward), -1.0 + 0x1p-53);
  EXPECT_EQ(w.round(rounding::toward_zero), -1.0 + 0x1p-53);
  EXPECT_EQ(w.abs_diff(-1.0), 0x1p-60);
  EXPECT_EQ(w.sign(), -1);
  // A tie: 1 + 2^-53 -> 1 (even); 1 + 3*2^-53 -> 1 + 2^-51 (even).
  const double t1[] = {1.0, 0x1p-53}, ones[] = {1.0, 1.0};
  EXPECT_EQ(dot_mpfr_value(2, t1, ones, nullptr).round(), 1.0);
  const double t2[] = {1.0 + 0x1p-52, 0x1p-53};
  EXPECT_EQ(dot_mpfr_value(2, t2, ones, nullptr).round(), 1.0 + 0x1p-51);
}

TEST(MpfrOracle, GoldenOverflowAndUnderflow) {
  const double ones[] = {1.0, 1.0};
  // DBL_MAX + DBL_MAX: beyond double.
  const double big[] = {DBL_MAX, DBL_MAX};
  const auto v = dot_mpfr_value(2, big, ones, nullptr);
  EXPECT_EQ(v.round(), inf);
  EXPECT_EQ(v.round(rounding::toward_zero), DBL_MAX);
  EXPECT_EQ(v.round(rounding::downward), DBL_MAX);
  EXPECT_EQ(v.round(rounding::upward), inf);
  EXPECT_EQ(v.abs_diff(DBL_MAX), DBL_MAX);
  // 2^-1075 (half the smallest subnormal): RN tie -> 0, RU -> 2^-1074.
  const double tiny[] = {0x1p-1074}, half[] = {0.5};
  const auto u = dot_mpfr_value(1, tiny, half, nullptr);
  EXPECT_TRUE(same_double(u.round(), 0.0));
  EXPECT_EQ(u.round(rounding::upward), 0x1p-1074);
  // 3 * 2^-1076 = 0.75 * 2^-1074: RN -> 2^-1074; negated: -2^-1074; RZ of negative -> -0.
  const double three[] = {0x3p-1074}, q[] = {0.25};
  EXPECT_EQ(dot_mpfr_value(1, three, q, nullptr).round(), 0x1p-1074);
  const double mthree[] = {-0x3p-1074};
  const auto n = dot_mpfr_value(1, mthree, q, nullptr);
  EXPECT_EQ(n.round(), -0x1p-1074);
  EXPECT_TRUE(same_double(n.round(rounding::toward_zero), -0.0));
}

TEST(MpfrOracle, GoldenFormats) {
  const double one[] = {1.0};
  auto v = [&](double x) {
    const double xs[] = {x};
    return dot_mpfr_value(1, xs, one, nullptr);
  };
  EXPECT_EQ(v(65520.0).round_to(format_id::f16), inf);  // tie above f16 max -> even -> Inf
  EXPECT_EQ(v(65519.0).round_to(format_id::f16), 65504.0);
  EXPECT_EQ(v(464.0).round_to(format_id::e4m3), 448.0);         // tie -> even 448
  EXPECT_TRUE(std::isnan(v(470.0).round_to(format_id::e4m3)));  // no Inf in e4m3: NaN
  EXPECT_EQ(v(0x1p-25).round_to(format_id::f16), 0.0);          // tie at half the f16 subnormal
  EXPECT_EQ(v(0x1p-25 + 0x1p-40).round_to(format_id::f16), 0x1p-24);
  EXPECT_EQ(v(0x1p-15).round_to(format_id::f16, underflow_mode::flush_to_zero), 0.0);
  // Tininess after rounding: just below 2^-14 rounds up to the smallest normal and survives.
  EXPECT_EQ(v(0x1p-14 - 0x1p-30).round_to(format_id::f16, underflow_mode::flush_to_zero), 0x1p-14);
  EXPECT_EQ(v(1.0 + 0x1p-8).round_to(format_id::bf16), 1.0);  // bf16 tie -> even
  EXPECT_EQ(v(1.0 + 0x1p-8 + 0x1p-30).round_to(format_id::bf16), 1.0 + 0x1p-7);
  EXPECT_EQ(v(FLT_MAX * 2.0).round_to(format_id::f32), inf);
}

// The oracle notices when it rounds, and auto_raise then makes it exact.
TEST(MpfrOracle, DetectsItsOwnRoundingAndRaises) {
  // 2^1000 + 2^-1200: 2201 bits.
  const double a[] = {0x1p500, 0x1p-600}, b[] = {0x1p500, 0x1p-600};
  const auto v = dot_mpfr_value(2, a, b, nullptr);
  EXPECT_FALSE(v.exact());
  EXPECT_EQ(v.precision(), 256);
  mpfr_options raise;
  raise.auto_raise = true;
  const auto w = dot_mpfr_value(2, a, b, nullptr, raise);
  ASSERT_TRUE(w.exact());
  EXPECT_GE(w.precision(), 2201);
  EXPECT_EQ(w.round(), 0x1p1000);
  EXPECT_EQ(w.round(rounding::upward), std::nextafter(0x1p1000, inf));
  EXPECT_EQ(w.abs_diff(0x1p1000), 0.0);  // 2^-1200 underflows to 0 in RN
  EXPECT_EQ(w.abs_diff(0x1p1000, rounding::upward), 0x1p-1074);
  bool exact = true;
  EXPECT_EQ(exact::dot_mpfr(2, a, b, nullptr, 256, &exact), 0x1p1000);
  EXPECT_FALSE(exact);
  // A 53-bit oracle cannot hold 1 + 2^-60.
  const double c[] = {1.0, 0x1p-60}, ones[] = {1.0, 1.0};
  exact::dot_mpfr(2, c, ones, nullptr, 53, &exact);
  EXPECT_FALSE(exact);
  exact::dot_mpfr(2, c, ones, nullptr, 61, &exact);
  EXPECT_TRUE(exact);
  // gemm_mpfr reports per element and the largest precision it used.
  exact::gemm_problem p;
  p.m = 1;
  p.n = 2;
  p.k = 2;
  p.a = a;
  p.lda = 2;
  const double bb[] = {0x1p500, 0x1p-600, 1.0, 0.0};
  p.b = bb;
  p.ldb = 2;
  const auto r = exact::gemm_mpfr(p);
  EXPECT_EQ(r.exact[0], 0);
  EXPECT_EQ(r.exact[1], 1);
  EXPECT_FALSE(r.all_exact());
  const auto r2 = exact::gemm_mpfr(p, raise);
  EXPECT_TRUE(r2.all_exact());
  EXPECT_GE(r2.max_precision_used, 2201);
}

// sufficient_precision is enough for random wide sums (exact at that precision, checked by
// MPFR's ternary values), and not wastefully large: within log2(n)+3 bits of the span.
TEST(MpfrOracle, SufficientPrecisionRule) {
  auto g = rng(0x3000);
  const std::int64_t iters = iterations(2000);
  for (std::int64_t it = 0; it < iters; ++it) {
    const std::int64_t n = 1 + skewed_length(g, 50);
    std::vector<double> a(static_cast<std::size_t>(n)), b(a.size());
    for (std::size_t t = 0; t < a.size(); ++t) {
      a[t] = draw_format(g, format_id::f64, -1074, 1023);
      b[t] = draw_format(g, format_id::f64, -1074, 1023);
    }
    const long prec = exact::sufficient_precision(n, a.data(), b.data(), nullptr);
    bool exact = false;
    exact::dot_mpfr(n, a.data(), b.data(), nullptr, prec, &exact);
    ASSERT_TRUE(exact) << "precision " << prec << ' ' << replay(it);
    ASSERT_LE(prec, 2048 + 2148 + 2 + 64) << replay(it);
  }
}

TEST(MpfrOracle, SpecialValues) {
  auto kind_of = [](std::vector<double> a, std::vector<double> b, const double* bias = nullptr) {
    return dot_mpfr_value(static_cast<std::int64_t>(a.size()), a.data(), b.data(), bias).kind();
  };
  EXPECT_EQ(kind_of({inf, 1.0}, {0.0, 1.0}), value_kind::nan);           // Inf * 0
  EXPECT_EQ(kind_of({inf, -inf}, {1.0, 1.0}), value_kind::nan);          // Inf - Inf
  EXPECT_EQ(kind_of({inf, 1e308}, {-1.0, 1e308}), value_kind::neg_inf);  // -Inf + huge
  EXPECT_EQ(kind_of({nan}, {0.0}), value_kind::nan);
  const double pinf = inf;
  EXPECT_EQ(kind_of({-inf}, {-1.0}, &pinf), value_kind::pos_inf);
  EXPECT_EQ(kind_of({1.0}, {1.0}), value_kind::finite);
  // Exact zeros are +0, whatever the signs of the zero terms.
  const double mz = -0.0;
  const double a[] = {-0.0}, b[] = {1.0};
  EXPECT_TRUE(same_double(dot_mpfr_value(1, a, b, &mz).round(), 0.0));
  EXPECT_TRUE(same_double(dot_mpfr_value(0, nullptr, nullptr, &mz).round(), 0.0));
  EXPECT_THROW(dot_mpfr_value(1, a, b, nullptr, mpfr_options{0, false}), internal_error);
}

}  // namespace
}  // namespace roundoff::test
