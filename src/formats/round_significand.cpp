// round_significand: one correct rounding of (sign, sig, exp2, sticky) to a format.
// Contract: include/roundoff/formats/rounding.hpp. Proof: docs/formats.md.
#include <algorithm>
#include <bit>
#include <cassert>
#include <cstdint>

#include "format_params.hpp"
#include "roundoff/formats/rounding.hpp"

namespace roundoff {
namespace {

// sig * 2^exp2 (+ sticky) rounded to a multiple of 2^(exp2 + s), nearest even, returned as the
// integer multiple. s <= 0 needs no rounding (the caller guarantees the result is then exact).
// For s >= 1 the discarded part is rem (+ sticky below it), compared with half = 2^(s-1):
// sticky only matters when rem == half, because rem and half are integers and the sticky amount
// is below 1 (so rem < half implies rem + sticky < half).
std::uint64_t round_shift(std::uint64_t sig, std::int64_t s, bool sticky) noexcept {
  if (s <= 0) return sig << (-s);  // caller ensures the shift keeps the value below 2^64
  if (s > 64) return 0;            // v < 2^(exp2+64) <= half the quantum
  const std::uint64_t r = s == 64 ? 0 : sig >> s;
  const std::uint64_t rem = s == 64 ? sig : sig & ((std::uint64_t{1} << s) - 1);
  const std::uint64_t half = std::uint64_t{1} << (s - 1);
  const bool up = rem > half || (rem == half && (sticky || (r & 1) != 0));
  return r + (up ? 1 : 0);
}

}  // namespace

double round_significand(format_id f, bool negative, std::uint64_t sig, int exp2, bool sticky,
                         underflow_mode u) noexcept {
  const auto& P = detail::params(f);
  const int p = P.precision;
  const int bw = static_cast<int>(std::bit_width(sig));
  assert(!sticky || bw > p);
  if (sticky && bw <= p) sticky = false;  // precondition violated: documented fallback
  if (sig == 0) return detail::make_double(negative, 0, 0);

  // E: exponent of the leading bit of v (v in [2^E, 2^(E+1))). q: quantum of the result,
  // 2^(max(E, emin) - p + 1). With s = q - exp2 low bits dropped from sig.
  const std::int64_t E = static_cast<std::int64_t>(exp2) + bw - 1;
  const std::int64_t q = std::max<std::int64_t>(E, P.emin) - p + 1;

  if (u == underflow_mode::flush_to_zero && E < P.emin) {
    // Tininess after rounding: round to p bits with the unbounded quantum 2^(E-p+1); only a carry
    // to 2^(E+1) = 2^emin can escape the flush.
    const std::uint64_t r = round_shift(sig, E - p + 1 - exp2, sticky);
    if (E + 1 < P.emin || r != (std::uint64_t{1} << p)) return detail::make_double(negative, 0, 0);
  }

  const auto overflow = [&] {
    return std::bit_cast<double>((negative ? detail::sign_mask : 0) |
                                 (P.has_infinity ? detail::inf_bits : 0x7FF8000000000000ull));
  };
  if (E > P.emax) return overflow();  // |v| >= 2^(emax+1) > max_finite + ulp/2

  // s = q - exp2 >= 1 - 64 and the rounded multiple r <= 2^p (see round_shift).
  std::uint64_t r = round_shift(sig, q - exp2, sticky);
  std::int64_t qq = q;
  if (r == (std::uint64_t{1} << p)) {  // carry into the next binade
    r >>= 1;
    ++qq;
  }
  if (qq + static_cast<int>(std::bit_width(r)) - 1 > P.emax) return overflow();
  const double out = detail::make_double(false, r, static_cast<int>(qq));
  if (std::bit_cast<std::uint64_t>(out) > P.max_bits) return overflow();  // e4m3: 480 is NaN
  return negative ? -out : out;
}

}  // namespace roundoff
