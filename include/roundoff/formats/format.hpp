// Number formats that implementations compute in, and correctly rounded conversion into them.
// Derivations and edge cases: docs/formats.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace roundoff {

/// Binary floating-point formats. Every value of every format is exactly representable in double.
enum class format_id : std::uint8_t { f64, f32, tf32, bf16, f16, e4m3, e5m2 };

/// Static description of a format, IEEE-style: a normal value is 1.m * 2^e with emin <= e <= emax.
struct format_traits {
  std::string_view name;  ///< "f64", "f32", "tf32", "bf16", "f16", "e4m3", "e5m2"
  int precision;          ///< significand bits including the implicit bit (f32: 24)
  int emin;               ///< exponent of the smallest normal (f32: -126)
  int emax;               ///< exponent of the largest finite (f32: 127)
  double unit_roundoff;   ///< u = 2^-precision
  double min_normal;      ///< 2^emin
  double min_subnormal;   ///< 2^(emin - precision + 1)
  double max_finite;      ///< largest finite value
  bool has_infinity;      ///< false for e4m3 (saturating/NaN-only encoding, OCP FP8)
  int storage_bits;       ///< 64, 32, 19 (tf32 stored in 32), 16, 16, 8, 8
};

/// Traits of a format; constexpr-friendly table lookup.
const format_traits& traits(format_id f) noexcept;

/// Parses "f64"/"float64"/"double", "f32"/"float32"/"float", "tf32", "bf16"/"bfloat16",
/// "f16"/"float16"/"half", "e4m3"/"fp8_e4m3", "e5m2"/"fp8_e5m2". Returns nullopt otherwise.
std::optional<format_id> parse_format(std::string_view name) noexcept;

/// Underflow behaviour of a rounding.
enum class underflow_mode : std::uint8_t { gradual, flush_to_zero };

/// Round a double to the nearest value of format f (ties to even), with IEEE overflow
/// (to +-Inf; for e4m3, which has no Inf, to NaN) and gradual underflow or flush-to-zero.
/// NaN maps to NaN; +-0 and +-Inf keep their sign.
double round_to(format_id f, double x, underflow_mode u = underflow_mode::gradual) noexcept;

/// True when x is exactly a (finite, non-flushed) value of format f.
bool is_representable(format_id f, double x) noexcept;

}  // namespace roundoff
