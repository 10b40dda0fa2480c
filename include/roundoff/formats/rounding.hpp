// Correct rounding of an exact binary value (sign, 64-bit significand, exponent, sticky bit) to
// any format. This is the one final rounding behind exact::accumulator::round_to: whoever holds
// an exact value extracts its top 64 bits plus a sticky bit and calls round_significand.
// Contract and proof: docs/formats.md, section "Rounding an exact significand".
#pragma once

#include <cstdint>

#include "roundoff/formats/format.hpp"

namespace roundoff {

/// Rounds the real number  v = (-1)^negative * (sig + sticky * delta) * 2^exp2,  for some
/// unknown 0 < delta < 1, to format f: round-to-nearest, ties to even, with the same overflow,
/// underflow and special-value rules as round_to (overflow to +-Inf, e4m3 to NaN; gradual
/// underflow or flush_to_zero with tininess detected after rounding). There is exactly one
/// rounding: the result is the format value nearest to v, as a double.
///
/// - sticky == false: v = +-sig * 2^exp2 exactly. Any sig and exp2 are allowed; sig == 0 gives
///   -0.0 if negative else +0.0.
/// - sticky == true: v lies strictly between sig*2^exp2 and (sig+1)*2^exp2. Precondition:
///   sig has more bits than the format's precision (bit_width(sig) > traits(f).precision), so the
///   rounding point falls at or above bit 1 of sig and sticky can only break ties. Normalising
///   sig so that bit 63 is set (shift left, decrease exp2, keep sticky) always satisfies this.
///   Violating it is checked by assert() in debug builds; release builds return the rounding of
///   sig*2^exp2 as if sticky were false.
///
/// Any exp2 in [-2^30, 2^30] is allowed (no intermediate overflow); the value may lie far
/// outside the format's range. The caller typically takes the 64 most significant bits of an
/// exact value as sig, sets exp2 to the weight of sig's bit 0, and ORs every lower bit into sticky.
///
/// Example: round_significand(format_id::f32, false, (1ull << 63) | 1, -63, false) == 1.0f
/// (1 + 2^-63 rounds down); the same call with sig = (1ull << 63) | (1ull << 39) is a tie that
/// goes to the even 1.0f, and sticky = true makes it round up to 1 + 2^-23.
double round_significand(format_id f, bool negative, std::uint64_t sig, int exp2, bool sticky,
                         underflow_mode u = underflow_mode::gradual) noexcept;

}  // namespace roundoff
