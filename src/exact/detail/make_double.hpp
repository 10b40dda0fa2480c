// Internal to src/exact: building a double from an integer significand and an exponent with
// integer operations only (no floating-point arithmetic, so no dependence on the caller's
// rounding mode or flush-to-zero setting).
#pragma once

#ifndef ROUNDOFF_EXACT_INTERNAL
#error "roundoff/src/exact/detail headers are internal to the exact layer"
#endif

#include <bit>
#include <cstdint>

namespace roundoff::exact::detail {

/// sig * 2^q as a double, for sig < 2^53 and a value inside the double range whose bits all lie
/// at or above 2^-1074 (the caller guarantees both), with the given sign.
inline double make_double(bool neg, std::uint64_t sig, int q) noexcept {
  if (sig == 0) return neg ? -0.0 : 0.0;
  const int shift = std::countl_zero(sig) - 11;  // bring the leading bit to position 52
  if (shift > 0) {
    sig <<= shift;
    q -= shift;
  }
  std::uint64_t bits;
  if (q < -1074) {
    bits = sig >> (-1074 - q);  // subnormal: the dropped bits are zero by the precondition
  } else {
    bits = (static_cast<std::uint64_t>(q + 1075) << 52) | (sig & ((std::uint64_t{1} << 52) - 1));
  }
  return std::bit_cast<double>(bits | (static_cast<std::uint64_t>(neg) << 63));
}

}  // namespace roundoff::exact::detail
