// round_to against the MPFR oracle, bit for bit, on >= 10^6 random doubles per format (scaled by
// ROUNDOFF_TEST_MULTIPLIER) and on every edge value, in both underflow modes.
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <sstream>
#include <vector>

#include <gtest/gtest.h>

#include "formats_testing.hpp"
#include "mpfr_round.hpp"
#include "property.hpp"
#include "roundoff/formats/format.hpp"
#include "roundoff/formats/rounding.hpp"

namespace {

using roundoff::format_id;
using roundoff::round_to;
using roundoff::underflow_mode;
namespace rt = roundoff::test;

using rt::all_formats;
using rt::bits;
using rt::hex;
using rt::same;

// Checks one input in both modes against the oracle, and against round_significand applied to
// the decomposed double. Returns false (after recording a failure) on mismatch.
bool check(format_id f, rt::mpfr_rounder& o, double x, const std::string& where) {
  const double want = o.round_double(x);
  const double got = round_to(f, x);
  if (!same(got, want)) {
    ADD_FAILURE() << roundoff::traits(f).name << " gradual: x=" << hex(x) << " got " << hex(got)
                  << " want " << hex(want) << "; " << where;
    return false;
  }
  const double want_ftz = o.round_double_ftz(x);
  const double got_ftz = round_to(f, x, underflow_mode::flush_to_zero);
  if (!same(got_ftz, want_ftz)) {
    ADD_FAILURE() << roundoff::traits(f).name << " ftz: x=" << hex(x) << " got " << hex(got_ftz)
                  << " want " << hex(want_ftz) << "; " << where;
    return false;
  }
  if (std::isfinite(x)) {  // the general routine must agree with the fast one on doubles
    int e;
    const double m = std::frexp(std::fabs(x), &e);  // |x| = m * 2^e, m in [1/2, 1)
    const auto sig = static_cast<std::uint64_t>(std::ldexp(m, 64));
    for (auto u : {underflow_mode::gradual, underflow_mode::flush_to_zero}) {
      const double g = roundoff::round_significand(f, std::signbit(x), sig, e - 64, false, u);
      const double w = u == underflow_mode::gradual ? got : got_ftz;
      if (!same(g, w)) {
        ADD_FAILURE() << roundoff::traits(f).name << " round_significand vs round_to: x=" << hex(x)
                      << " got " << hex(g) << " want " << hex(w) << "; " << where;
        return false;
      }
    }
  }
  return true;
}

// The array overload must equal the scalar one bit for bit (NaN: both NaN), in both modes and in
// place; the scalar one is checked against MPFR on the same inputs.
void check_array(format_id f, const std::vector<double>& xs, const std::string& where) {
  for (auto u : {underflow_mode::gradual, underflow_mode::flush_to_zero}) {
    std::vector<double> ys(xs.size()), zs = xs;
    round_to(f, xs, ys, u);
    round_to(f, zs, zs, u);  // in place
    std::int64_t failures = 0;
    for (std::size_t i = 0; i < xs.size() && failures < 10; ++i) {
      const double want = round_to(f, xs[i], u);
      if (!same(ys[i], want) || !same(zs[i], want)) {
        ++failures;
        ADD_FAILURE() << roundoff::traits(f).name << " array round_to, mode " << static_cast<int>(u)
                      << ": x=" << hex(xs[i]) << " got " << hex(ys[i]) << " / in place "
                      << hex(zs[i]) << " want " << hex(want) << "; " << where << " element " << i;
      }
    }
  }
}

// Interesting magnitudes of format f: boundaries of its ranges and of its rounding behaviour.
std::vector<double> boundaries(format_id f) {
  const auto& t = roundoff::traits(f);
  const double ms = t.min_subnormal, mn = t.min_normal, mx = t.max_finite;
  const double ulp_max = std::ldexp(1.0, t.emax - t.precision + 1);
  std::vector<double> v = {
      ms / 2,
      ms,
      1.5 * ms,
      2.5 * ms,
      3 * ms / 4,
      mn - ms,
      mn - ms / 2,
      mn,
      mn * (1 - std::ldexp(1.0, -t.precision - 1)),
      mn + ms / 2,
      1.0,
      1.0 + t.unit_roundoff,
      1.0 + 3 * t.unit_roundoff,  // odd tie: goes up to 1 + 4u
      1.0 - t.unit_roundoff / 2,  // tie below 1: goes to 1
      mx,
      mx - ulp_max / 2,
      mx + ulp_max / 2,  // overflow threshold
      mx + ulp_max,      // halfway between max_finite and 2^(emax+1) for e4m3 (448 + 32 = 480)
      std::ldexp(1.0, t.emax + 1),
      (mx + std::ldexp(1.0, t.emax + 1)) / 2,
      std::ldexp(1.0, t.emax),
  };
  if (f == format_id::f64) v.resize(14);  // the rest is beyond double or not a tie in double
  return v;
}

TEST(RoundTo, EdgeValuesAgainstMpfr) {
  for (format_id f : all_formats) {
    rt::mpfr_rounder o(f);
    std::vector<double> xs;
    for (double b : boundaries(f)) {
      for (double x = b, k = 0; k < 5; ++k, x = std::nextafter(x, 0.0)) {
        for (double s : {1.0, -1.0}) {
          check(f, o, s * x, "edge below " + hex(b));
          xs.push_back(s * x);
        }
      }
      for (double x = b, k = 0; k < 5; ++k, x = std::nextafter(x, 1e308)) {
        for (double s : {1.0, -1.0}) {
          check(f, o, s * x, "edge above " + hex(b));
          xs.push_back(s * x);
        }
      }
    }
    const double inf = std::numeric_limits<double>::infinity();
    for (double x :
         {0.0, -0.0, inf, -inf, std::numeric_limits<double>::quiet_NaN(),
          -std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::signaling_NaN(),
          std::numeric_limits<double>::denorm_min(), -std::numeric_limits<double>::min(),
          std::numeric_limits<double>::max(), -std::numeric_limits<double>::max()}) {
      check(f, o, x, "special");
      xs.push_back(x);
    }
    check_array(f, xs, "edge values");
  }
}

// Hand-computed results (independent of MPFR) for the edge cases the issue names.
TEST(RoundTo, GoldenEdgeValues) {
  const double inf = std::numeric_limits<double>::infinity();
  struct g {
    format_id f;
    double x, want;
    underflow_mode u = underflow_mode::gradual;
  };
  const g cases[] = {
      {format_id::f32, 1 + 0x1p-24, 1.0},          // tie, even below
      {format_id::f32, 1 + 0x3p-24, 1 + 0x1p-22},  // tie, even above
      {format_id::f32, 0x1.ffffffp127, inf},       // threshold: overflow
      {format_id::f32, std::nextafter(0x1.ffffffp127, 0.0), 0x1.fffffep127},
      {format_id::f32, 0x1p-150, 0.0},  // half min subnormal: tie to 0
      {format_id::f32, std::nextafter(0x1p-150, 1.0), 0x1p-149},
      {format_id::f32, -0x3p-150, -0x1p-148},  // 1.5 min_sub: tie to even 2
      {format_id::f32, 0x1.fffffep-127, 0.0, underflow_mode::flush_to_zero},
      {format_id::f32, 0x1.fffffep-127, 0x1p-126},  // gradual: rounds up to normal
      {format_id::f32, 0x1.ffffffp-127, 0x1p-126, underflow_mode::flush_to_zero},
      {format_id::f32, 0x1p-149, 0.0, underflow_mode::flush_to_zero},
      {format_id::bf16, 1.00390625, 1.0},
      {format_id::bf16, 1.01171875, 1.015625},
      {format_id::tf32, 1 + 0x1p-11, 1.0},
      {format_id::tf32, 1 + 0x1.0000000001p-11, 1 + 0x1p-10},
      {format_id::f16, 65519.0, 65504.0},
      {format_id::f16, 65520.0, inf},
      {format_id::f16, -65520.0, -inf},
      {format_id::f16, 0x1p-25, 0.0},
      {format_id::f16, 0x1.8p-24, 0x1p-23},
      {format_id::e4m3, 464.0, 448.0},  // tie at the threshold goes to the even 448
      {format_id::e4m3, 0.5 * 0x1p-9, 0.0},
      {format_id::e4m3, 0x1.8p-9, 0x1p-8},
      {format_id::e4m3, 17.0, 16.0},  // tie between 16 and 18
      {format_id::e4m3, 19.0, 20.0},  // tie between 18 and 20
      {format_id::e5m2, 61440.0, inf},
      {format_id::e5m2, 61439.0, 57344.0},
      {format_id::e5m2, 0x1p-17, 0.0},
      {format_id::e5m2, 1.125, 1.0},
      {format_id::e5m2, 1.375, 1.5},
      {format_id::f64, 0x1p-1074, 0x1p-1074},
      {format_id::f64, 0x1p-1074, 0.0, underflow_mode::flush_to_zero},
      {format_id::f64, -0x0.fffffffffffffp-1022, -0.0, underflow_mode::flush_to_zero},
      {format_id::f64, 0x1p-1022, 0x1p-1022, underflow_mode::flush_to_zero},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(bits(round_to(c.f, c.x, c.u)), bits(c.want))
        << roundoff::traits(c.f).name << " x=" << hex(c.x) << " got "
        << hex(round_to(c.f, c.x, c.u));
  }
  for (double x : {465.0, 480.0, 1e9, inf}) {
    EXPECT_TRUE(std::isnan(round_to(format_id::e4m3, x)));
    EXPECT_TRUE(std::isnan(round_to(format_id::e4m3, -x)));
  }
}

// Random doubles: (a) raw bit patterns over the whole double range, (b) exponents spread over the
// format's range and a few binades beyond, (c) format values plus exact half-ulps and tiny
// offsets (ties and near-ties), (d) a few double ulps from each boundary.
TEST(RoundTo, RandomAgainstMpfr) {
  const std::int64_t n = rt::iterations(1'000'000);
  for (format_id f : all_formats) {
    const auto& t = roundoff::traits(f);
    rt::mpfr_rounder o(f);
    auto gen = rt::rng(0x70 + static_cast<std::uint64_t>(f));
    const auto bnd = boundaries(f);
    std::int64_t failures = 0;
    std::vector<double> xs;
    xs.reserve(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n && failures < 10; ++i) {
      const std::uint64_t r = gen();
      const std::uint64_t r2 = gen();
      std::uint64_t xb;
      switch (i % 4) {
        case 0:
          xb = r;
          break;
        case 1: {
          const int lo = t.emin - t.precision - 3, hi = std::min(t.emax + 3, 1023);
          const int e =
              std::max(lo + static_cast<int>(r2 % static_cast<std::uint64_t>(hi - lo + 1)), -1022);
          xb = (r & 0x800FFFFFFFFFFFFFull) | static_cast<std::uint64_t>(e + 1023) << 52;
          break;
        }
        case 2: {
          // A format value v (p-bit significand, exponent in range), plus k * ulp(v)/2 + d.
          const int p = t.precision;
          const int lo = t.emin - p + 1, hi = std::min(t.emax - p + 2, 1023 - p);  // ulp exponent
          const int qe = lo + static_cast<int>(r2 % static_cast<std::uint64_t>(hi - lo + 1));
          // Above the subnormal range, a full p-bit significand so that ulp(v) = 2^qe.
          std::uint64_t m = r >> (64 - p);
          if (qe > lo) m |= std::uint64_t{1} << (p - 1);
          const std::uint64_t m2 = (r2 >> 60) & 1 ? (m | 1) : (m & ~std::uint64_t{1});
          double v = std::ldexp(static_cast<double>(m2), qe);
          const double half = std::ldexp(1.0, qe - 1);
          const int mode = static_cast<int>((r2 >> 56) & 7);
          if (mode < 4) v += half;                             // exact tie
          if (mode == 4) v = std::nextafter(v + half, 0.0);    // just below a tie
          if (mode == 5) v = std::nextafter(v + half, 1e308);  // just above a tie
          if (mode == 6) v += std::ldexp(static_cast<double>((r >> 8) & 0xFFFF), qe - 17);
          if (std::isinf(v) || v == 0) v = half;
          xb = bits(v) | (r2 & (1ull << 63));
          break;
        }
        default: {
          double v = bnd[r2 % bnd.size()];
          const int k = static_cast<int>(r % 64) - 32;
          for (int j = 0; j < std::abs(k); ++j) v = std::nextafter(v, k < 0 ? 0.0 : 1e308);
          xb = bits(v) | (r2 & (1ull << 63));
          break;
        }
      }
      if (!check(f, o, std::bit_cast<double>(xb), rt::replay(i))) ++failures;
      xs.push_back(std::bit_cast<double>(xb));
    }
    check_array(f, xs, "random inputs, " + rt::replay(0));
  }
}

// The oracle checks itself: rounding the double directly and via the exact path agree.
TEST(RoundTo, OracleSelfConsistency) {
  const std::int64_t n = rt::iterations(20'000);
  mpfr_t v;
  mpfr_init2(v, 53);
  for (format_id f : all_formats) {
    rt::mpfr_rounder o(f);
    auto gen = rt::rng(0x80 + static_cast<std::uint64_t>(f));
    const auto& t = roundoff::traits(f);
    for (std::int64_t i = 0; i < n; ++i) {
      const int e = t.emin - t.precision - 2 + static_cast<int>(gen() % 40);
      const double x = std::ldexp(1.0 + static_cast<double>(gen() >> 11) * 0x1p-53, e);
      mpfr_set_d(v, x, MPFR_RNDN);
      ASSERT_TRUE(same(o.round_double(x), o.round_exact(v))) << hex(x) << rt::replay(i);
    }
  }
  mpfr_clear(v);
}

}  // namespace
