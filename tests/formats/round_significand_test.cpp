// round_significand against MPFR: the exact value sig*2^exp2 (+ a sticky amount strictly between
// 0 and 2^exp2) is built at 128 bits, checked exact, and rounded by the oracle.
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>

#include <gtest/gtest.h>

#include "formats_testing.hpp"
#include "mpfr_round.hpp"
#include "property.hpp"
#include "roundoff/formats/rounding.hpp"

namespace {

using roundoff::format_id;
using roundoff::round_significand;
using roundoff::underflow_mode;
namespace rt = roundoff::test;

using rt::all_formats;
using rt::bits;
using rt::hex;
using rt::same;

class exact_value {
 public:
  exact_value() { mpfr_init2(v_, 128); }
  ~exact_value() { mpfr_clear(v_); }
  exact_value(const exact_value&) = delete;
  exact_value& operator=(const exact_value&) = delete;

  /// v = +-(sig + frac/2^32) * 2^exp2 with 0 <= frac < 2^32, exactly (asserted).
  const mpfr_t& set(bool neg, std::uint64_t sig, int exp2, std::uint32_t frac) {
    mpfr_t t;
    mpfr_init2(t, 128);
    int inex = mpfr_set_uj(v_, sig, MPFR_RNDN);
    inex |= mpfr_mul_2si(v_, v_, 32, MPFR_RNDN);
    inex |= mpfr_set_ui(t, frac, MPFR_RNDN);
    inex |= mpfr_add(v_, v_, t, MPFR_RNDN);
    inex |= mpfr_mul_2si(v_, v_, exp2 - 32, MPFR_RNDN);
    if (neg) inex |= mpfr_neg(v_, v_, MPFR_RNDN);
    mpfr_clear(t);
    if (inex != 0) throw std::logic_error("oracle: exact value was rounded");
    return v_;
  }

 private:
  mpfr_t v_;
};

struct draw {
  bool neg;
  std::uint64_t sig;
  int exp2;
  std::uint32_t frac;  // nonzero iff sticky
};

bool check(format_id f, rt::mpfr_rounder& o, exact_value& ev, const draw& d,
           const std::string& where) {
  const auto& v = ev.set(d.neg, d.sig, d.exp2, d.frac);
  for (auto u : {underflow_mode::gradual, underflow_mode::flush_to_zero}) {
    const double want = u == underflow_mode::gradual ? o.round_exact(v) : o.round_exact_ftz(v);
    const double got = round_significand(f, d.neg, d.sig, d.exp2, d.frac != 0, u);
    if (!same(got, want)) {
      ADD_FAILURE() << roundoff::traits(f).name
                    << (u == underflow_mode::gradual ? " gradual" : " ftz") << ": neg=" << d.neg
                    << " sig=0x" << std::hex << d.sig << std::dec << " exp2=" << d.exp2
                    << " sticky_frac=" << d.frac << " got " << hex(got) << " want " << hex(want)
                    << "; " << where;
      return false;
    }
  }
  return true;
}

// Draws: random bit widths; exponents concentrated on the format's range (subnormal, normal,
// overflow edges) with some far outside; significands with exact ties and near-ties at the
// rounding point; sticky amounts tiny, mid and nearly one unit.
draw random_draw(std::mt19937_64& gen, format_id f) {
  const auto& t = roundoff::traits(f);
  const int p = t.precision;
  draw d{};
  d.neg = gen() & 1;
  const std::uint64_t r = gen(), r2 = gen();
  const bool sticky = (r2 & 3) == 0 || (r2 & 3) == 1;
  const int min_bw = sticky ? p + 1 : 1;
  const int bw = min_bw + static_cast<int>((r2 >> 2) % static_cast<std::uint64_t>(65 - min_bw));
  d.sig = (bw == 64 ? r : r >> (64 - bw)) | (std::uint64_t{1} << (bw - 1));
  // Target exponent of the leading bit.
  int E;
  const int sel = static_cast<int>((r2 >> 10) % 8);
  if (sel == 0) {
    E = -3000 + static_cast<int>((r2 >> 20) % 6001);
  } else if (sel == 1) {
    E = t.emax - 1 + static_cast<int>((r2 >> 20) % 3);  // emax-1 .. emax+1
  } else if (sel == 2) {
    E = t.emin - p - 2 + static_cast<int>((r2 >> 20) % 5);  // around half the min subnormal
  } else if (sel == 3) {
    E = t.emin - 2 + static_cast<int>((r2 >> 20) % 3);  // just below min_normal
  } else {
    E = t.emin - p - 2 +
        static_cast<int>((r2 >> 20) % static_cast<std::uint64_t>(t.emax - t.emin + p + 4));
  }
  d.exp2 = E - (bw - 1);
  // Make the bits below the rounding point a tie / near-tie half of the time.
  const int q = std::max(E, t.emin) - p + 1;
  const int s = q - d.exp2;  // bits dropped
  if ((r2 >> 30) & 1 && s >= 1 && s <= 64 && s < bw) {
    const std::uint64_t low = s == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << s) - 1;
    const std::uint64_t half = std::uint64_t{1} << (s - 1);
    const int kind = static_cast<int>((r2 >> 31) % 3);
    std::uint64_t tail = kind == 0 ? half : kind == 1 ? half - 1 : half + 1;
    if (s == 1 && kind != 0) tail = kind == 1 ? 0 : 1;
    d.sig = (d.sig & ~low) | (tail & low);
  }
  if (sticky) {
    const int k = static_cast<int>((r2 >> 40) % 3);
    d.frac = k == 0 ? 1u : k == 1 ? 0x80000000u : static_cast<std::uint32_t>(r >> 32) | 1u;
  }
  return d;
}

TEST(RoundSignificand, RandomAgainstMpfr) {
  const std::int64_t n = rt::iterations(1'000'000);
  exact_value ev;
  for (format_id f : all_formats) {
    rt::mpfr_rounder o(f);
    auto gen = rt::rng(0x90 + static_cast<std::uint64_t>(f));
    std::int64_t failures = 0;
    for (std::int64_t i = 0; i < n && failures < 10; ++i) {
      if (!check(f, o, ev, random_draw(gen, f), rt::replay(i))) ++failures;
    }
  }
}

TEST(RoundSignificand, EdgeValuesAgainstMpfr) {
  exact_value ev;
  for (format_id f : all_formats) {
    const auto& t = roundoff::traits(f);
    const int p = t.precision;
    rt::mpfr_rounder o(f);
    const std::uint64_t top = std::uint64_t{1} << 63;
    // Leading bit at exponent E; the rest of the 64 bits given by `tail` (below the top bit).
    auto at = [&](int E, std::uint64_t tail, std::uint32_t frac, const char* what) {
      for (bool neg : {false, true}) {
        check(f, o, ev, {neg, top | tail, E - 63, frac}, what);
      }
    };
    const std::uint64_t half_ulp = std::uint64_t{1} << (63 - p);  // half an ulp below the top bit
    for (int E : {t.emin - p - 1, t.emin - p, t.emin - p + 1, t.emin - 2, t.emin - 1, t.emin, 0,
                  t.emax, t.emax + 1}) {
      at(E, 0, 0, "power of two");
      at(E, 0, 1, "power of two + sticky");
      at(E, half_ulp, 0, "tie, even below");
      at(E, half_ulp, 1, "tie + sticky");
      at(E, half_ulp - 1, 0x80000000u, "just below tie");
      at(E, 3 * half_ulp, 0, "tie, odd below");
      at(E, ~top, 0, "all ones");
      at(E, ~top, 0xFFFFFFFFu, "all ones + sticky");
      at(E, ~top - half_ulp + 1, 0, "all ones below the tie");
      at(E, (~top) & ~(2 * half_ulp - 1), 0, "max significand");
    }
    // Zero and tiny significands (no sticky), far out of range both ways.
    for (int e : {-100000, -1100, -200, 0, 200, 1100, 100000}) {
      for (std::uint64_t sig : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{3}}) {
        check(f, o, ev, {false, sig, e, 0}, "small sig");
        check(f, o, ev, {true, sig, e, 0}, "small sig");
      }
    }
  }
}

TEST(RoundSignificand, HeaderExamplesAndGolden) {
  const auto f32 = format_id::f32;
  const std::uint64_t one = std::uint64_t{1} << 63;
  EXPECT_EQ(round_significand(f32, false, one | 1, -63, false), 1.0);
  EXPECT_EQ(round_significand(f32, false, one | (std::uint64_t{1} << 39), -63, false), 1.0);
  EXPECT_EQ(round_significand(f32, false, one | (std::uint64_t{1} << 39), -63, true), 1 + 0x1p-23);
  EXPECT_EQ(bits(round_significand(f32, true, 0, 5, false)), bits(-0.0));
  EXPECT_EQ(bits(round_significand(f32, false, 0, 5, false)), bits(0.0));
  // f64: a 54-bit tie at the subnormal boundary, and 2^1024 - 2^970 (the overflow threshold).
  EXPECT_EQ(round_significand(format_id::f64, false, 3, -1076, false), 0x1p-1074);
  EXPECT_EQ(round_significand(format_id::f64, false, 1, -1075, false), 0.0);
  EXPECT_EQ(round_significand(format_id::f64, false, (std::uint64_t{1} << 54) - 1, 970, false),
            std::numeric_limits<double>::infinity());
  EXPECT_EQ(round_significand(format_id::f64, false, (std::uint64_t{1} << 54) - 2, 970, false),
            std::numeric_limits<double>::max());
  EXPECT_EQ(round_significand(format_id::f64, false, std::uint64_t{1} << 63, -1138, true),
            0x1p-1074);  // 2^-1075 + sticky: just above half the min subnormal
  EXPECT_EQ(round_significand(format_id::e4m3, false, 29, 4, false), 448.0);  // 464: tie to even
  EXPECT_TRUE(std::isnan(round_significand(format_id::e4m3, false, 59, 3, false)));  // 472
}

}  // namespace
