// round_to over an array: the same function as the scalar round_to (src/formats/round_to.cpp),
// written without branches so that the compiler can vectorize it, with the format's constants
// known at compile time. Equality with the scalar version is tested on every generator of
// tests/formats/round_to_test.cpp.
#include <bit>
#include <cassert>
#include <cstdint>
#include <span>

#include "format_params.hpp"
#include "roundoff/formats/format.hpp"

namespace roundoff {
namespace {

using u64 = std::uint64_t;
constexpr u64 quiet_nan_bits = 0x7FF8000000000000ull;

template <int P, int Emin, u64 MaxBits, bool HasInf, bool Ftz>
void kernel(const double* in, double* out, std::size_t n) noexcept {
  constexpr int s = 53 - P;  // dropped fraction bits in the normal range
  constexpr u64 min_normal_bits = detail::pow2_bits(Emin);
  constexpr int qmin = Emin - P + 1;  // subnormal quantum exponent
  constexpr u64 ftz_threshold = min_normal_bits - (u64{1} << (52 - P));
  constexpr u64 overflow_bits = HasInf ? detail::inf_bits : quiet_nan_bits;
  constexpr u64 anchor_bits = detail::pow2_bits(qmin + 52);  // 2^(qmin+52): ulp is 2^qmin
  const double anchor = std::bit_cast<double>(anchor_bits);
  for (std::size_t i = 0; i < n; ++i) {
    const u64 b = std::bit_cast<u64>(in[i]);
    const u64 sign = b & detail::sign_mask;
    const u64 a = b ^ sign;
    // Normal range (see round_to.cpp): add half-1+lsb, clear the low s bits.
    u64 rn = (a + ((u64{1} << (s - 1)) - 1 + ((a >> s) & 1))) & ~((u64{1} << s) - 1);
    rn = rn > MaxBits ? overflow_bits : rn;
    // Below min_normal.
    u64 rs;
    if constexpr (Ftz) {
      rs = a < ftz_threshold ? 0 : min_normal_bits;
    } else {
      // Integer RNE of the 53-bit significand at the fixed quantum 2^qmin. Below min_normal the
      // shift is >= 54 - P; clamping it to 63 sends everything at or below half the smallest
      // subnormal (including zeros and double subnormals) to 0, the tie at exactly half included.
      // The lower clamp only keeps the (unused) computation defined for a >= min_normal.
      const auto e = static_cast<std::int64_t>(a >> 52) - 1023;
      std::int64_t sh = 52 + qmin - e;
      sh = sh > 63 ? 63 : sh;
      sh = sh < 1 ? 1 : sh;
      const u64 m = (a & detail::frac_mask) | (u64{1} << 52);
      u64 r = m >> sh;
      const u64 rem = m & ((u64{1} << sh) - 1);
      const u64 half = u64{1} << (sh - 1);
      r += (rem > half) | ((rem == half) & r);
      // r * 2^qmin (r <= 2^(P-1)) as (2^(qmin+52) + r*2^qmin) - 2^(qmin+52): both operations
      // exact (the sum is built from bits, the difference is exact by Sterbenz), so the result is
      // independent of the rounding mode.
      rs = std::bit_cast<u64>(std::bit_cast<double>(anchor_bits | r) - anchor);
    }
    u64 r = a >= min_normal_bits ? rn : rs;
    // NaN: quiet, sign kept. Inf: kept, or NaN without infinity.
    const u64 special = a > detail::inf_bits ? (a | 0x0008000000000000ull)
                                             : (HasInf ? detail::inf_bits : quiet_nan_bits);
    r = a >= detail::inf_bits ? special : r;
    out[i] = std::bit_cast<double>(r | sign);
  }
}

template <bool Ftz>
void f64_kernel(const double* in, double* out, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    const u64 b = std::bit_cast<u64>(in[i]);
    const u64 a = b & ~detail::sign_mask;
    u64 r = b;
    if constexpr (Ftz) r = a < detail::pow2_bits(-1022) ? b & detail::sign_mask : b;
    r = a > detail::inf_bits ? (b | 0x0008000000000000ull) : r;
    out[i] = std::bit_cast<double>(r);
  }
}

template <bool Ftz>
void dispatch(format_id f, const double* in, double* out, std::size_t n) noexcept {
  constexpr u64 f32_max = 0x47EFFFFFE0000000ull;   // (2 - 2^-23) * 2^127
  constexpr u64 tf32_max = 0x47EFFC0000000000ull;  // (2 - 2^-10) * 2^127
  constexpr u64 bf16_max = 0x47EFE00000000000ull;  // (2 - 2^-7) * 2^127
  constexpr u64 f16_max = 0x40EFFC0000000000ull;   // 65504
  constexpr u64 e4m3_max = 0x407C000000000000ull;  // 448
  constexpr u64 e5m2_max = 0x40EC000000000000ull;  // 57344
  switch (f) {
    case format_id::f64:
      return f64_kernel<Ftz>(in, out, n);
    case format_id::f32:
      return kernel<24, -126, f32_max, true, Ftz>(in, out, n);
    case format_id::tf32:
      return kernel<11, -126, tf32_max, true, Ftz>(in, out, n);
    case format_id::bf16:
      return kernel<8, -126, bf16_max, true, Ftz>(in, out, n);
    case format_id::f16:
      return kernel<11, -14, f16_max, true, Ftz>(in, out, n);
    case format_id::e4m3:
      return kernel<4, -6, e4m3_max, false, Ftz>(in, out, n);
    case format_id::e5m2:
      return kernel<3, -14, e5m2_max, true, Ftz>(in, out, n);
  }
}

}  // namespace

void round_to(format_id f, std::span<const double> in, std::span<double> out,
              underflow_mode u) noexcept {
  assert(in.size() == out.size());
  const std::size_t n = in.size() < out.size() ? in.size() : out.size();
  // The max-finite constants above must match the traits table.
  assert(std::bit_cast<u64>(traits(f).max_finite) == detail::params(f).max_bits);
  if (u == underflow_mode::flush_to_zero) {
    dispatch<true>(f, in.data(), out.data(), n);
  } else {
    dispatch<false>(f, in.data(), out.data(), n);
  }
}

}  // namespace roundoff
