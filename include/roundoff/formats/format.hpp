// Number formats that implementations compute in, and correctly rounded conversion into them.
// Derivations and edge cases: docs/formats.md.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
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
  /// t = max_finite + ulp(max_finite)/2, the real number at which round-to-nearest overflows:
  /// |x| > t always overflows; |x| == t overflows iff `overflow_at_threshold` (the tie goes to the
  /// even neighbour: 2^(emax+1) for IEEE formats, whose max_finite has an odd significand; for
  /// e4m3, max_finite = 448 = 1.110b * 2^8 is even, so 464 rounds to 448). For f64,
  /// t = 2^1024 - 2^970 is not a double and this field is +Inf: no finite double overflows f64.
  double overflow_threshold;
  bool overflow_at_threshold;  ///< true for every format except e4m3
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
/// NaN maps to NaN; +-0 and +-Inf keep their sign (+-Inf -> NaN for e4m3). NaN results carry
/// the sign of x (e4m3's NaN encodings are S.1111.111), which callers should not rely on.
///
/// flush_to_zero returns +-0 (sign of x) exactly when x rounded to `precision` bits with an
/// unbounded exponent range is below min_normal in magnitude ("tininess after rounding", the x86
/// SSE/AVX FTZ convention), i.e. when |x| < min_normal * (1 - 2^-(precision+1)); every other x
/// gives the same result as with gradual underflow. Flushed results are never subnormal.
/// Bit manipulation only: independent of the FP environment (rounding mode, FTZ/DAZ flags).
/// Example: round_to(format_id::bf16, 1.00390625) == 1.0 (tie, to even).
double round_to(format_id f, double x, underflow_mode u = underflow_mode::gradual) noexcept;

/// Elementwise round_to: out[i] = round_to(f, in[i], u), bit for bit, including the NaN and
/// signed-zero rules. Precondition: in.size() == out.size() (asserted in debug builds; release
/// builds process the shorter length). in and out may be the same array (in place), but must not
/// otherwise overlap. Branch-free and vectorizable: use it for tensors.
void round_to(format_id f, std::span<const double> in, std::span<double> out,
              underflow_mode u = underflow_mode::gradual) noexcept;

/// True when x is exactly a finite value of format f (subnormals and +-0 included),
/// i.e. round_to(f, x, gradual) == x. NaN and +-Inf give false.
bool is_representable(format_id f, double x) noexcept;

/// Exact f16 / bf16 bit patterns to double (no rounding: every such value is a double).
/// NaN payloads are kept in the top significand bits. The one decoder of 16-bit storage: the
/// file readers (io), tensor views (ops) and the Python extension use it.
double f16_bits_to_double(std::uint16_t bits) noexcept;
double bf16_bits_to_double(std::uint16_t bits) noexcept;

}  // namespace roundoff
