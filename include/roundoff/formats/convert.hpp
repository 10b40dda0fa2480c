// Conversions of a value to a narrower format by the rules real hardware uses, beside the IEEE
// default (round_to: nearest, ties to even). NVIDIA's cuBLAS converts f32 to TF32 to nearest even,
// some cuDNN kernels to nearest with ties away from zero (docs/formats.md, §1.5).
#pragma once

#include <cstdint>
#include <string_view>

#include "roundoff/formats/format.hpp"

namespace roundoff {

/// How a value is converted to a narrower format.
enum class conversion : std::uint8_t {
  nearest_even,  ///< round to nearest, ties to even (IEEE roundTiesToEven; round_to)
  nearest_away,  ///< round to nearest, ties away from zero (IEEE roundTiesToAway)
  toward_zero,   ///< truncation (IEEE roundTowardZero)
};

/// "rne", "rna", "rz".
std::string_view to_string(conversion c) noexcept;

/// x converted to format f by rule c, with the overflow and underflow rules of round_to: ties
/// away overflows to +-Inf exactly where ties to even does (|x| >= max_finite + ulp/2); toward
/// zero never overflows (it saturates at +-max_finite). e4m3 (no Inf) follows round_to beyond
/// max_finite. NaN, +-0 and +-Inf map as round_to maps them. f64 returns x.
/// Example: convert(format_id::bf16, 1.00390625, conversion::nearest_away) == 1.0078125.
double convert(format_id f, double x, conversion c,
               underflow_mode u = underflow_mode::gradual) noexcept;

}  // namespace roundoff
