// round_to: double -> format, nearest-even, by integer operations on the bit pattern.
// Algorithm and why it is correct: docs/formats.md §2.1 ("round_to") and §3 ("Why it is correct").
#include <bit>
#include <cstdint>

#include "format_params.hpp"
#include "roundoff/formats/format.hpp"

namespace roundoff {

using detail::frac_mask;
using detail::inf_bits;
using detail::sign_mask;

double round_to(format_id f, double x, underflow_mode u) noexcept {
  const std::uint64_t b = std::bit_cast<std::uint64_t>(x);
  const std::uint64_t sign = b & sign_mask;
  const std::uint64_t a = b ^ sign;  // |x|
  const auto& P = detail::params(f);

  if (a >= inf_bits) {                                                          // NaN or Inf
    if (a > inf_bits) return std::bit_cast<double>(b | 0x0008000000000000ull);  // quiet
    return P.has_infinity ? x : std::bit_cast<double>(sign | 0x7FF8000000000000ull);
  }
  const std::uint64_t min_normal_bits = detail::pow2_bits(P.emin);

  if (f == format_id::f64) {
    // Every finite double is an f64; only FTZ changes anything. Unbounded-exponent rounding of a
    // double is the double itself, so "tiny after rounding" is |x| < DBL_MIN.
    if (u == underflow_mode::flush_to_zero && a < min_normal_bits) {
      return std::bit_cast<double>(sign);
    }
    return x;
  }

  // Non-f64 formats: p <= 24 and emin - p + 1 >= -149, so every value involved (results,
  // thresholds) is a normal double and a double subnormal input is far below half the format's
  // smallest subnormal.
  if (a >= min_normal_bits) {
    // The result quantum is 2^(E-p+1): drop the low s = 53 - p fraction bits with round to
    // nearest even. Adding half-1+lsb to the bit pattern lets a carry out of the fraction field
    // bump the exponent, which is exactly the rounding up to 2^(E+1).
    const int s = 53 - P.precision;
    const std::uint64_t lsb = (a >> s) & 1;
    std::uint64_t r = a + ((std::uint64_t{1} << (s - 1)) - 1 + lsb);
    r &= ~((std::uint64_t{1} << s) - 1);
    if (r > P.max_bits) {  // the unbounded-exponent rounding exceeds max_finite: overflow
      return std::bit_cast<double>(sign | (P.has_infinity ? inf_bits : 0x7FF8000000000000ull));
    }
    return std::bit_cast<double>(sign | r);
  }

  const int p = P.precision;
  if (u == underflow_mode::flush_to_zero) {
    // Rounding to p bits with unbounded exponent reaches min_normal iff |x| >= min_normal *
    // (1 - 2^-(p+1)) (the tie goes to the even min_normal); gradual rounding then also gives
    // min_normal (its threshold min_normal * (1 - 2^-p) is lower).
    const std::uint64_t ftz_threshold = min_normal_bits - (std::uint64_t{1} << (52 - p));
    return std::bit_cast<double>(sign | (a < ftz_threshold ? 0 : min_normal_bits));
  }

  // Gradual underflow: fixed quantum 2^qmin, qmin = emin - p + 1.
  const int qmin = P.emin - p + 1;
  const std::uint64_t half_min_sub = detail::pow2_bits(qmin - 1);
  if (a <= half_min_sub) return std::bit_cast<double>(sign);  // the tie goes to the even 0
  // Here 2^(qmin-1) < |x| < 2^emin, so |x| is a normal double with exponent E in
  // [qmin-1, emin-1], and s = 52 + qmin - E lies in [54 - p, 53].
  const int E = static_cast<int>(a >> 52) - 1023;
  const int s = 52 + qmin - E;
  const std::uint64_t m = (a & frac_mask) | (std::uint64_t{1} << 52);
  std::uint64_t r = m >> s;
  const std::uint64_t rem = m & ((std::uint64_t{1} << s) - 1);
  const std::uint64_t half = std::uint64_t{1} << (s - 1);
  r += (rem > half) | ((rem == half) & r);
  return detail::make_double(sign != 0, r, qmin);
}

}  // namespace roundoff
