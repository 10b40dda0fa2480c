// Traits and names against independent sources (std::numeric_limits, IEEE 754-2019 Table 3.5,
// OCP FP8 spec Table 1, NVIDIA TF32), and exhaustive checks of every value of the small formats
// decoded from its bit pattern.
#include "roundoff/formats/format.hpp"

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

#include "formats_testing.hpp"

namespace {

using roundoff::format_id;
using roundoff::round_to;
using roundoff::traits;
using roundoff::underflow_mode;
using roundoff::test::all_formats;

TEST(FormatTraits, MatchNumericLimits) {
  const auto& d = traits(format_id::f64);
  using D = std::numeric_limits<double>;
  EXPECT_EQ(d.precision, D::digits);
  EXPECT_EQ(d.emin, D::min_exponent - 1);  // C's exponents are IEEE's + 1
  EXPECT_EQ(d.emax, D::max_exponent - 1);
  EXPECT_EQ(d.unit_roundoff, D::epsilon() / 2);
  EXPECT_EQ(d.min_normal, D::min());
  EXPECT_EQ(d.min_subnormal, D::denorm_min());
  EXPECT_EQ(d.max_finite, D::max());
  EXPECT_TRUE(std::isinf(d.overflow_threshold));
  const auto& s = traits(format_id::f32);
  using F = std::numeric_limits<float>;
  EXPECT_EQ(s.precision, F::digits);
  EXPECT_EQ(s.emin, F::min_exponent - 1);
  EXPECT_EQ(s.emax, F::max_exponent - 1);
  EXPECT_EQ(s.unit_roundoff, F::epsilon() / 2);
  EXPECT_EQ(s.min_normal, F::min());
  EXPECT_EQ(s.min_subnormal, F::denorm_min());
  EXPECT_EQ(s.max_finite, F::max());
}

struct golden {
  format_id f;
  const char* name;
  int p, emin, emax;
  double u, min_normal, min_sub, max, threshold;
  bool has_inf, at_threshold;
  int storage;
};
// Hand-written from the format definitions (hex float literals, not computed from the table).
constexpr golden goldens[] = {
    {format_id::f64, "f64", 53, -1022, 1023, 0x1p-53, 0x1p-1022, 0x1p-1074, 0x1.fffffffffffffp1023,
     std::numeric_limits<double>::infinity(), true, true, 64},
    {format_id::f32, "f32", 24, -126, 127, 0x1p-24, 0x1p-126, 0x1p-149, 0x1.fffffep127,
     0x1.ffffffp127, true, true, 32},
    {format_id::tf32, "tf32", 11, -126, 127, 0x1p-11, 0x1p-126, 0x1p-136, 0x1.ffcp127, 0x1.ffep127,
     true, true, 19},
    {format_id::bf16, "bf16", 8, -126, 127, 0x1p-8, 0x1p-126, 0x1p-133, 0x1.fep127, 0x1.ffp127,
     true, true, 16},
    {format_id::f16, "f16", 11, -14, 15, 0x1p-11, 0x1p-14, 0x1p-24, 65504.0, 65520.0, true, true,
     16},
    {format_id::e4m3, "e4m3", 4, -6, 8, 0x1p-4, 0x1p-6, 0x1p-9, 448.0, 464.0, false, false, 8},
    {format_id::e5m2, "e5m2", 3, -14, 15, 0x1p-3, 0x1p-14, 0x1p-16, 57344.0, 61440.0, true, true,
     8},
};

TEST(FormatTraits, GoldenTable) {
  for (const auto& g : goldens) {
    const auto& t = traits(g.f);
    SCOPED_TRACE(g.name);
    EXPECT_EQ(t.name, g.name);
    EXPECT_EQ(t.precision, g.p);
    EXPECT_EQ(t.emin, g.emin);
    EXPECT_EQ(t.emax, g.emax);
    EXPECT_EQ(t.unit_roundoff, g.u);
    EXPECT_EQ(t.min_normal, g.min_normal);
    EXPECT_EQ(t.min_subnormal, g.min_sub);
    EXPECT_EQ(t.max_finite, g.max);
    EXPECT_EQ(t.overflow_threshold, g.threshold);
    EXPECT_EQ(t.has_infinity, g.has_inf);
    EXPECT_EQ(t.overflow_at_threshold, g.at_threshold);
    EXPECT_EQ(t.storage_bits, g.storage);
    EXPECT_EQ(roundoff::parse_format(g.name), g.f);
  }
}

TEST(FormatTraits, ConsistentWithRounding) {
  for (format_id f : all_formats) {
    const auto& t = traits(f);
    SCOPED_TRACE(t.name);
    EXPECT_TRUE(roundoff::is_representable(f, t.max_finite));
    EXPECT_TRUE(roundoff::is_representable(f, t.min_subnormal));
    EXPECT_TRUE(roundoff::is_representable(f, t.min_normal));
    if (f == format_id::f64) continue;  // min_subnormal / 2 and the threshold are not doubles
    EXPECT_FALSE(roundoff::is_representable(f, t.min_subnormal / 2));
    EXPECT_EQ(round_to(f, t.min_subnormal / 2), 0.0);
    const double th = t.overflow_threshold;
    const bool overflows = !std::isfinite(round_to(f, th));
    EXPECT_EQ(overflows, t.overflow_at_threshold);
    EXPECT_EQ(round_to(f, std::nextafter(th, 0.0)), t.max_finite);
    EXPECT_FALSE(std::isfinite(round_to(f, std::nextafter(th, 1e300))));
    EXPECT_EQ(t.unit_roundoff, std::ldexp(1.0, -t.precision));
    EXPECT_EQ(t.min_subnormal, std::ldexp(t.min_normal, 1 - t.precision));
  }
}

TEST(FormatNames, Parse) {
  using roundoff::parse_format;
  EXPECT_EQ(parse_format("double"), format_id::f64);
  EXPECT_EQ(parse_format("float64"), format_id::f64);
  EXPECT_EQ(parse_format("float"), format_id::f32);
  EXPECT_EQ(parse_format("float32"), format_id::f32);
  EXPECT_EQ(parse_format("bfloat16"), format_id::bf16);
  EXPECT_EQ(parse_format("half"), format_id::f16);
  EXPECT_EQ(parse_format("float16"), format_id::f16);
  EXPECT_EQ(parse_format("fp8_e4m3"), format_id::e4m3);
  EXPECT_EQ(parse_format("float8_e4m3fn"), format_id::e4m3);
  EXPECT_EQ(parse_format("fp8_e5m2"), format_id::e5m2);
  EXPECT_EQ(parse_format("float8_e5m2"), format_id::e5m2);
  EXPECT_EQ(parse_format(""), std::nullopt);
  EXPECT_EQ(parse_format("F32"), std::nullopt);
  EXPECT_EQ(parse_format("f32 "), std::nullopt);
  EXPECT_EQ(parse_format("fp8"), std::nullopt);
  EXPECT_EQ(parse_format("int8"), std::nullopt);
}

// --- Exhaustive checks: decode every encoding, independently of src/formats. ---------------

// Decodes an IEEE-like binary format with `eb` exponent bits and `mb` mantissa bits.
// e4m3fn: no Inf; exponent field all-ones is normal except mantissa all-ones (NaN).
double decode(std::uint32_t bits, int eb, int mb, bool fn) {
  const std::uint32_t mant = bits & ((1u << mb) - 1);
  const std::uint32_t ef = (bits >> mb) & ((1u << eb) - 1);
  const bool neg = (bits >> (eb + mb)) & 1;
  const int bias = (1 << (eb - 1)) - 1;
  double v;
  if (ef == (1u << eb) - 1 && !fn) {
    v = mant ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
  } else if (fn && ef == (1u << eb) - 1 && mant == (1u << mb) - 1) {
    v = std::numeric_limits<double>::quiet_NaN();
  } else if (ef == 0) {
    v = std::ldexp(static_cast<double>(mant), 1 - bias - mb);
  } else {
    v = std::ldexp(static_cast<double>(mant | (1u << mb)), static_cast<int>(ef) - bias - mb);
  }
  return neg ? -v : v;
}

struct layout {
  format_id f;
  int eb, mb;
  bool fn;
};
constexpr layout layouts[] = {{format_id::f16, 5, 10, false},
                              {format_id::bf16, 8, 7, false},
                              {format_id::tf32, 8, 10, false},
                              {format_id::e4m3, 4, 3, true},
                              {format_id::e5m2, 5, 2, false}};

// All non-negative finite values in increasing order, with their encodings.
std::vector<std::pair<double, std::uint32_t>> positive_values(const layout& l) {
  std::vector<std::pair<double, std::uint32_t>> out;
  for (std::uint32_t b = 0; b < (1u << (l.eb + l.mb)); ++b) {
    const double v = decode(b, l.eb, l.mb, l.fn);
    if (std::isfinite(v)) out.emplace_back(v, b);
  }
  return out;
}

TEST(FormatExhaustive, EveryValueAndEveryMidpoint) {
  for (const auto& l : layouts) {
    const auto& t = traits(l.f);
    SCOPED_TRACE(t.name);
    const auto vals = positive_values(l);
    ASSERT_EQ(vals.back().first, t.max_finite);
    ASSERT_EQ(vals[1].first, t.min_subnormal);
    for (std::size_t i = 0; i < vals.size(); ++i) {
      for (double s : {1.0, -1.0}) {
        const double v = s * vals[i].first;
        ASSERT_EQ(std::bit_cast<std::uint64_t>(round_to(l.f, v)), std::bit_cast<std::uint64_t>(v))
            << v;
        ASSERT_TRUE(roundoff::is_representable(l.f, v)) << v;
      }
      // The midpoint to the next value (or to the next grid point beyond max_finite) is a tie:
      // it goes to the neighbour with the even encoding, and just off it to the nearer one.
      const double a = vals[i].first;
      const bool last = i + 1 == vals.size();
      const double b = last ? a + (a - vals[i - 1].first) : vals[i + 1].first;
      const double m = a + (b - a) / 2;
      const double even = (vals[i].second & 1) == 0 ? a : b;
      const double b_rounded = last ? round_to(l.f, b) : b;  // beyond max: overflow
      for (double s : {1.0, -1.0}) {
        const double expect_tie = even == b ? s * b_rounded : s * a;
        const double got = round_to(l.f, s * m);
        if (std::isnan(expect_tie)) {
          ASSERT_TRUE(std::isnan(got)) << m;
        } else {
          ASSERT_EQ(got, expect_tie) << "tie " << m;
        }
        ASSERT_EQ(round_to(l.f, s * std::nextafter(m, 0.0)), s * a) << m;
        const double above = round_to(l.f, s * std::nextafter(m, 1e300));
        if (last) {
          ASSERT_FALSE(std::isfinite(above)) << m;
          ASSERT_EQ(std::isinf(above), t.has_infinity);
          ASSERT_EQ(std::signbit(above), s < 0);
        } else {
          ASSERT_EQ(above, s * b) << m;
        }
        // Flush-to-zero changes nothing at or above min_normal and gives no subnormal result.
        const double ftz = round_to(l.f, s * m, underflow_mode::flush_to_zero);
        if (std::fabs(ftz) != 0 && std::isfinite(ftz)) {
          ASSERT_GE(std::fabs(ftz), t.min_normal);
        }
        if (a >= t.min_normal) {
          ASSERT_TRUE(std::isnan(got)
                          ? std::isnan(ftz)
                          : std::bit_cast<std::uint64_t>(ftz) == std::bit_cast<std::uint64_t>(got))
              << m;
        }
      }
    }
  }
}

// tf32 and bf16 are f32 with fewer fraction bits; f32's own conversion is the hardware's.
TEST(FormatHardware, F32MatchesCast) {
  std::uint64_t state = 0x9E3779B97F4A7C15ull;
  for (int i = 0; i < 200000; ++i) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    double x = std::bit_cast<double>(state);
    // Concentrate on f32's range: keep the fraction, pick an exponent in [-160, 130].
    const std::uint64_t e = static_cast<std::uint64_t>(1023 - 160 + (state >> 40) % 291);
    x = std::bit_cast<double>((std::bit_cast<std::uint64_t>(x) & 0x800FFFFFFFFFFFFFull) | e << 52);
    const double hw = static_cast<double>(static_cast<float>(x));
    ASSERT_EQ(std::bit_cast<std::uint64_t>(round_to(format_id::f32, x)),
              std::bit_cast<std::uint64_t>(hw))
        << std::hexfloat << x;
  }
}

TEST(FormatSpecials, ZerosInfNaN) {
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double snan = std::numeric_limits<double>::signaling_NaN();
  for (format_id f : all_formats) {
    SCOPED_TRACE(traits(f).name);
    for (auto u : {underflow_mode::gradual, underflow_mode::flush_to_zero}) {
      EXPECT_EQ(std::bit_cast<std::uint64_t>(round_to(f, 0.0, u)), 0u);
      EXPECT_EQ(std::bit_cast<std::uint64_t>(round_to(f, -0.0, u)), 1ull << 63);
      EXPECT_TRUE(std::isnan(round_to(f, nan, u)));
      EXPECT_TRUE(std::isnan(round_to(f, -nan, u)));
      EXPECT_TRUE(std::isnan(round_to(f, snan, u)));
      if (traits(f).has_infinity) {
        EXPECT_EQ(round_to(f, inf, u), inf);
        EXPECT_EQ(round_to(f, -inf, u), -inf);
      } else {
        EXPECT_TRUE(std::isnan(round_to(f, inf, u)));
        EXPECT_TRUE(std::isnan(round_to(f, -inf, u)));
      }
    }
    EXPECT_FALSE(roundoff::is_representable(f, inf));
    EXPECT_FALSE(roundoff::is_representable(f, nan));
    EXPECT_TRUE(roundoff::is_representable(f, -0.0));
  }
  // The signaling NaN comes back quiet for f64.
  const auto q = std::bit_cast<std::uint64_t>(round_to(format_id::f64, snan));
  EXPECT_NE(q & 0x0008000000000000ull, 0u);
}

}  // namespace
