// Shared generators and value comparisons for the exact-engine tests: random values of each
// format, skewed lengths, and a comparison of an exact value (accumulator) with the MPFR
// oracle's value in every rounding direction, every format, and |exact - observed|.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "property.hpp"
#include "roundoff/exact/accumulator.hpp"
#include "roundoff/exact/mpfr_oracle.hpp"
#include "roundoff/formats/format.hpp"

namespace roundoff::test {

inline constexpr format_id input_formats[] = {format_id::f64, format_id::f32, format_id::tf32,
                                              format_id::bf16, format_id::f16};
inline constexpr format_id all_formats[] = {format_id::f64,  format_id::f32, format_id::tf32,
                                            format_id::bf16, format_id::f16, format_id::e4m3,
                                            format_id::e5m2};
inline constexpr exact::rounding all_roundings[] = {
    exact::rounding::nearest_even, exact::rounding::upward, exact::rounding::downward,
    exact::rounding::toward_zero};

inline constexpr double inf = std::numeric_limits<double>::infinity();
inline constexpr double nan = std::numeric_limits<double>::quiet_NaN();

/// Oracle options for tests: 256 bits, raised automatically when a sum needs more.
inline exact::mpfr_options oracle_options() {
  exact::mpfr_options o;
  o.auto_raise = true;
  return o;
}

/// Bit-identical doubles, except that any NaN equals any NaN.
inline bool same_double(double x, double y) {
  if (std::isnan(x) || std::isnan(y)) return std::isnan(x) && std::isnan(y);
  return std::bit_cast<std::uint64_t>(x) == std::bit_cast<std::uint64_t>(y);
}

inline std::string hex(double x) {
  std::ostringstream s;
  s << std::hexfloat << x;
  return s.str();
}

/// Precision and exponent range of a format (from the formats layer's traits).
struct fmt_range {
  int p, emin, emax;
};
inline fmt_range range_of(format_id f) {
  const auto& t = traits(f);
  return {t.precision, t.emin, t.emax};
}

/// A random value of format f with exponent (of the leading bit) in [elo, ehi], sign random.
/// Exponents below the format's emin give its subnormals (fewer significant bits). Built by
/// masking the significand, independently of the formats layer's rounding.
inline double draw_format(std::mt19937_64& g, format_id f, int elo, int ehi) {
  const fmt_range r = range_of(f);
  elo = std::max(elo, r.emin - r.p + 1);
  ehi = std::min(ehi, r.emax);
  const int e = elo + static_cast<int>(g() % static_cast<std::uint64_t>(ehi - elo + 1));
  // Significant bits available at exponent e: p for normals, fewer for subnormals.
  const int bits = e >= r.emin ? r.p : e - (r.emin - r.p + 1) + 1;
  std::uint64_t m = (std::uint64_t{1} << (bits - 1));
  if (bits > 1) m |= g() & ((std::uint64_t{1} << (bits - 1)) - 1);
  // Sometimes few significant bits (short significands make exact ties and cancellations).
  if (g() % 8 == 0 && bits > 3) m &= ~((std::uint64_t{1} << (bits - 3)) - 1);
  const double v = std::ldexp(static_cast<double>(m), e - bits + 1);
  return (g() & 1) ? -v : v;
}

/// A "data-like" value: Gaussian, rounded toward zero to f by masking (normal range only).
inline double draw_gaussian(std::mt19937_64& g, format_id f, double scale = 1.0) {
  std::normal_distribution<double> nd(0.0, scale);
  const fmt_range r = range_of(f);
  double x = nd(g);
  if (x == 0) return 0;
  int e;
  std::frexp(x, &e);  // x = m * 2^e, |m| in [0.5, 1): leading bit exponent e-1
  if (e - 1 < r.emin || e - 1 > r.emax) return 0;
  const double q = std::ldexp(1.0, e - r.p);  // ulp at this binade
  return std::trunc(x / q) * q;
}

/// Length in [0, max_len], log-uniform (most short, a few long).
inline std::int64_t skewed_length(std::mt19937_64& g, std::int64_t max_len) {
  std::uniform_real_distribution<double> u(0.0, std::log(static_cast<double>(max_len) + 1));
  return std::min<std::int64_t>(max_len, static_cast<std::int64_t>(std::exp(u(g))) - 1);
}

/// The observed values to test abs_diff against: the RN value, its neighbours, a naive
/// recursive double sum, zero, a random double near the value, and the oracle's value rounded
/// to f32.
inline std::vector<double> observed_values(std::mt19937_64& g, double rn, double naive,
                                           double rn32) {
  std::vector<double> v = {rn, naive, 0.0, rn32};
  if (std::isfinite(rn)) {
    v.push_back(std::nextafter(rn, std::numeric_limits<double>::infinity()));
    v.push_back(std::nextafter(rn, -std::numeric_limits<double>::infinity()));
    std::uniform_real_distribution<double> u(-2, 2);
    v.push_back(rn * (1 + u(g) * 1e-3) + u(g));
  }
  v.push_back(std::numeric_limits<double>::infinity());
  return v;
}

/// Compares an exact value held in `acc` with the oracle's `ov` in every direction, every
/// format and abs_diff against several observed values. The oracle must be exact.
inline ::testing::AssertionResult same_exact_value(const exact::accumulator& acc,
                                                   const exact::mpfr_value& ov, std::mt19937_64& g,
                                                   double naive = 0.0,
                                                   bool all_formats_too = true) {
  if (!ov.exact())
    return ::testing::AssertionFailure()
           << "the MPFR oracle rounded (precision " << ov.precision() << "): it must be exact here";
  if (acc.kind() != ov.kind())
    return ::testing::AssertionFailure()
           << "kind " << int(acc.kind()) << " vs oracle " << int(ov.kind());
  if (acc.sign() != ov.sign())
    return ::testing::AssertionFailure() << "sign " << acc.sign() << " vs oracle " << ov.sign();
  for (auto r : all_roundings) {
    const double x = acc.round(r), y = ov.round(r);
    if (!same_double(x, y))
      return ::testing::AssertionFailure()
             << "round(dir " << int(r) << "): " << hex(x) << " vs oracle " << hex(y);
  }
  if (all_formats_too) {
    for (auto f : all_formats)
      for (auto u : {underflow_mode::gradual, underflow_mode::flush_to_zero}) {
        const double x = acc.round_to(f, u), y = ov.round_to(f, u);
        if (!same_double(x, y))
          return ::testing::AssertionFailure()
                 << "round_to(" << traits(f).name << ", ftz=" << int(u) << "): " << hex(x)
                 << " vs oracle " << hex(y);
      }
  }
  const double rn = ov.round();
  for (double obs : observed_values(g, rn, naive, ov.round_to(format_id::f32))) {
    for (auto r : all_roundings) {
      const double x = acc.abs_diff(obs, r), y = ov.abs_diff(obs, r);
      if (!same_double(x, y))
        return ::testing::AssertionFailure() << "abs_diff(" << hex(obs) << ", dir " << int(r)
                                             << "): " << hex(x) << " vs oracle " << hex(y);
    }
  }
  return ::testing::AssertionSuccess();
}

/// Exact equality of the whole value, not only of its roundings: peel acc into a
/// nonoverlapping expansion x0 = RN(S), x1 = RN(S - x0), ... (exact in the accumulator) until
/// the remainder is zero, then ask the oracle for  terms - x0 - x1 - ...,  which must be an exact
/// zero. Values whose remainder never reaches zero (bits below 2^-1074, or beyond double) are
/// checked by roundings only; the function then reports success without this extra check.
inline ::testing::AssertionResult same_value_by_peeling(const exact::accumulator& acc,
                                                        std::int64_t n, const double* a,
                                                        const double* b, const double* bias) {
  if (acc.kind() != exact::value_kind::finite) return ::testing::AssertionSuccess();
  std::vector<double> ta(a, a + n), tb(b, b + n);
  if (bias) {
    ta.push_back(*bias);
    tb.push_back(1.0);
  }
  exact::accumulator rest(acc);
  for (int step = 0; rest.sign() != 0; ++step) {
    const double x = rest.round();
    if (step == 80 || x == 0 || !std::isfinite(x)) return ::testing::AssertionSuccess();
    rest.add(-x);
    ta.push_back(-x);
    tb.push_back(1.0);
  }
  const auto ov = exact::dot_mpfr_value(static_cast<std::int64_t>(ta.size()), ta.data(), tb.data(),
                                        nullptr, oracle_options());
  if (!ov.exact()) return ::testing::AssertionFailure() << "the MPFR oracle rounded while peeling";
  if (ov.kind() != exact::value_kind::finite || ov.sign() != 0)
    return ::testing::AssertionFailure()
           << "exact values differ: oracle(terms - expansion of the accumulator) = "
           << hex(ov.round()) << " (RN), sign " << ov.sign();
  return ::testing::AssertionSuccess();
}

/// Naive recursive double evaluation of the dot product (an "observed" implementation).
inline double naive_dot(std::int64_t n, const double* a, const double* b, const double* bias) {
  double s = bias ? *bias : 0.0;
  for (std::int64_t t = 0; t < n; ++t) s += a[t] * b[t];
  return s;
}

}  // namespace roundoff::test
