// What the formats tests share: the list of formats, and bit-for-bit comparison of doubles
// (with hex-float printing for failure messages).
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>

#include "roundoff/formats/format.hpp"

namespace roundoff::test {

inline constexpr format_id all_formats[] = {format_id::f64,  format_id::f32, format_id::tf32,
                                            format_id::bf16, format_id::f16, format_id::e4m3,
                                            format_id::e5m2};

inline std::uint64_t bits(double x) {
  return std::bit_cast<std::uint64_t>(x);
}

// Same double, or both NaN (NaN signs and payloads are not part of the contract).
inline bool same(double a, double b) {
  return (std::isnan(a) && std::isnan(b)) || bits(a) == bits(b);
}

inline std::string hex(double x) {
  std::ostringstream s;
  s << std::hexfloat << x;
  return s.str();
}

}  // namespace roundoff::test
