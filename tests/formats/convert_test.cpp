// convert() against GNU MPFR: toward zero is MPFR_RNDZ (with the format's exponent range and
// subnormals); ties away is whichever of MPFR_RNDZ and MPFR_RNDA is nearer, the away one on a
// tie, decided with exact MPFR differences. Random doubles around every binade of each format,
// exact ties and their neighbours, subnormals, overflow, specials.
#include <cmath>
#include <limits>
#include <random>

#include <gtest/gtest.h>
#include <mpfr.h>

#include "formats_testing.hpp"
#include "mpfr_round.hpp"
#include "property.hpp"
#include "roundoff/formats/convert.hpp"

namespace {

using roundoff::conversion;
using roundoff::format_id;
namespace rt = roundoff::test;

class oracle {
 public:
  explicit oracle(format_id f) : f_(rt::oracle_params(f)) {
    mpfr_inits2(f_.p, z_, a_, static_cast<mpfr_ptr>(nullptr));
    mpfr_inits2(256, x_, dz_, da_, static_cast<mpfr_ptr>(nullptr));
  }
  ~oracle() { mpfr_clears(z_, a_, x_, dz_, da_, static_cast<mpfr_ptr>(nullptr)); }
  oracle(const oracle&) = delete;
  oracle& operator=(const oracle&) = delete;

  double toward_zero(double x) { return round(x, z_, MPFR_RNDZ); }
  double nearest_away(double x) {
    const double z = round(x, z_, MPFR_RNDZ);
    const double a = round(x, a_, MPFR_RNDA);
    if (z == a) return z;
    if (std::isinf(a)) {
      // Beyond max_finite: overflow iff |x| >= max_finite + half an ulp of the top binade.
      const double half = std::ldexp(1.0, f_.emax - f_.p);
      return std::fabs(x) >= f_.max_finite + half ? a : z;
    }
    mpfr_set_d(x_, x, MPFR_RNDN);
    mpfr_sub_d(dz_, x_, z, MPFR_RNDN);  // exact at 256 bits
    mpfr_d_sub(da_, a, x_, MPFR_RNDN);
    mpfr_abs(dz_, dz_, MPFR_RNDN);
    mpfr_abs(da_, da_, MPFR_RNDN);
    return mpfr_cmp(dz_, da_) < 0 ? z : a;
  }

 private:
  double round(double x, mpfr_t y, mpfr_rnd_t r) {
    rt::mpfr_range range(f_);
    int t = mpfr_set_d(y, x, r);
    t = mpfr_check_range(y, t, r);
    mpfr_subnormalize(y, t, r);
    return mpfr_get_d(y, MPFR_RNDN);
  }
  rt::oracle_format f_;
  mpfr_t z_, a_, x_, dz_, da_;
};

const format_id kFormats[] = {format_id::f32, format_id::tf32, format_id::bf16, format_id::f16};

void expect_both(format_id f, oracle& o, double x) {
  const double z = roundoff::convert(f, x, conversion::toward_zero);
  const double a = roundoff::convert(f, x, conversion::nearest_away);
  ASSERT_TRUE(rt::same(z, o.toward_zero(x)))
      << roundoff::traits(f).name << " rz x=" << rt::hex(x) << " got " << rt::hex(z);
  ASSERT_TRUE(rt::same(a, o.nearest_away(x)))
      << roundoff::traits(f).name << " rna x=" << rt::hex(x) << " got " << rt::hex(a);
}

TEST(convert, MatchesMpfrOnRandomValuesAndTies) {
  auto g = rt::rng(0xC0117E);
  const std::int64_t iters = rt::iterations(200'000);
  std::uniform_real_distribution<double> ud(1.0, 2.0);
  for (format_id f : kFormats) {
    oracle o(f);
    const auto& t = roundoff::traits(f);
    const int lo = t.emin - t.precision - 2, hi = t.emax + 1;
    for (std::int64_t i = 0; i < iters; ++i) {
      const int e = lo + static_cast<int>(g() % static_cast<unsigned>(hi - lo + 1));
      double x = std::ldexp(ud(g), e);
      if (i % 3 == 0) {
        // An exact tie between two values of f (or its neighbours one double away).
        const int q = std::max(e, t.emin) - (t.precision - 1);
        x = std::ldexp(std::floor(std::ldexp(x, -q)) + 0.5, q);
        if (i % 9 == 3) x = std::nextafter(x, 0.0);
        if (i % 9 == 6) x = std::nextafter(x, INFINITY);
      }
      if (g() & 1) x = -x;
      expect_both(f, o, x);
    }
  }
}

TEST(convert, EdgesAndSpecials) {
  for (format_id f : kFormats) {
    oracle o(f);
    const auto& t = roundoff::traits(f);
    const double half_top = std::ldexp(1.0, t.emax - t.precision);
    for (double x : {t.max_finite, t.max_finite + half_top,
                     std::nextafter(t.max_finite + half_top, 0.0), t.min_normal, t.min_subnormal,
                     t.min_subnormal / 2, t.min_subnormal * 1.5, t.min_subnormal / 4, 1.0, 3.0})
      for (double s : {1.0, -1.0}) expect_both(f, o, s * x);
    for (conversion c : {conversion::nearest_away, conversion::toward_zero}) {
      EXPECT_TRUE(std::isnan(roundoff::convert(f, NAN, c)));
      EXPECT_EQ(roundoff::convert(f, INFINITY, c), INFINITY);
      EXPECT_TRUE(std::signbit(roundoff::convert(f, -0.0, c)));
    }
  }
  // The documented example and the TF32 tie cuDNN and cuBLAS resolve differently.
  EXPECT_EQ(roundoff::convert(format_id::bf16, 1.00390625, conversion::nearest_away), 1.0078125);
  const double tie = 1 + 0x1p-11;  // halfway between two TF32 values (10 fraction bits)
  EXPECT_EQ(roundoff::convert(format_id::tf32, tie, conversion::nearest_away), 1 + 0x1p-10);
  EXPECT_EQ(roundoff::convert(format_id::tf32, tie, conversion::nearest_even), 1.0);
  EXPECT_EQ(roundoff::convert(format_id::tf32, 1 + 0x1.fp-11, conversion::toward_zero), 1.0);
}

TEST(convert, FlushToZero) {
  using roundoff::underflow_mode;
  for (format_id f : kFormats) {
    const auto& t = roundoff::traits(f);
    EXPECT_EQ(roundoff::convert(f, t.min_normal / 2, conversion::toward_zero,
                                underflow_mode::flush_to_zero),
              0.0);
    EXPECT_EQ(roundoff::convert(f, t.min_normal * 3, conversion::nearest_away,
                                underflow_mode::flush_to_zero),
              t.min_normal * 3);
    // Just below min_normal, nearest rounds up to min_normal as round_to does.
    const double below = t.min_normal * (1 - std::ldexp(1.0, -t.precision - 2));
    EXPECT_EQ(roundoff::convert(f, below, conversion::nearest_away, underflow_mode::flush_to_zero),
              roundoff::round_to(f, below, underflow_mode::flush_to_zero));
  }
}

}  // namespace
