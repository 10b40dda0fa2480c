// Internal: bit-level constants of each format, shared by the rounding routines.
#pragma once

#include <bit>
#include <cstdint>

#include "roundoff/formats/format.hpp"

namespace roundoff::detail {

inline constexpr std::uint64_t sign_mask = 0x8000000000000000ull;
inline constexpr std::uint64_t frac_mask = 0x000FFFFFFFFFFFFFull;
inline constexpr std::uint64_t inf_bits = 0x7FF0000000000000ull;

/// +-2^e as double bits, for -1074 <= e <= 1023.
constexpr std::uint64_t pow2_bits(int e) noexcept {
  return e >= -1022 ? static_cast<std::uint64_t>(e + 1023) << 52 : std::uint64_t{1} << (e + 1074);
}
constexpr double pow2(int e) noexcept {
  return std::bit_cast<double>(pow2_bits(e));
}

/// The double r * 2^q (sign applied), for 0 <= r <= 2^53 and a result inside the double range
/// (q >= -1074, r * 2^q <= DBL_MAX). Built from bits: exact, FP-environment independent.
inline double make_double(bool negative, std::uint64_t r, int q) noexcept {
  const std::uint64_t sign = negative ? sign_mask : 0;
  if (r == 0) return std::bit_cast<double>(sign);
  const int bw = static_cast<int>(std::bit_width(r));
  const int e = q + bw - 1;
  std::uint64_t bits;
  if (e >= -1022) {
    bits = (static_cast<std::uint64_t>(e + 1023) << 52) | ((r << (53 - bw)) & frac_mask);
  } else {
    bits = r << (q + 1074);  // subnormal double (only reachable for f64)
  }
  return std::bit_cast<double>(bits | sign);
}

struct format_params {
  int precision;
  int emin;
  int emax;
  std::uint64_t max_bits;  ///< bits of max_finite
  bool has_infinity;
};

const format_params& params(format_id f) noexcept;

}  // namespace roundoff::detail
