// Format traits and names. See docs/formats.md for the table and its sources.
#include "roundoff/formats/format.hpp"

#include <array>
#include <bit>
#include <cmath>
#include <limits>

#include "format_params.hpp"

namespace roundoff {
namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

// max_finite = (2 - 2^(1-p)) * 2^emax for IEEE-like formats; e4m3 gives up its top mantissa
// code at emax to NaN, so its max is (2 - 2^(2-p)) * 2^emax = 1.75 * 2^8 = 448.
constexpr double ieee_max(int p, int emax) {
  return (2.0 - detail::pow2(1 - p)) * detail::pow2(emax);
}
constexpr format_traits make(std::string_view name, int p, int emin, int emax, double max_finite,
                             bool has_inf, int storage) {
  const double ulp_max = detail::pow2(emax - p + 1);
  // t = max + ulp/2 is a double for every format but f64 (it needs p+1 bits).
  const double t = p < 53 ? max_finite + ulp_max / 2 : inf;
  return format_traits{name,
                       p,
                       emin,
                       emax,
                       detail::pow2(-p),
                       detail::pow2(emin),
                       detail::pow2(emin - p + 1),
                       max_finite,
                       has_inf,
                       storage,
                       t,
                       max_finite == ieee_max(p, emax)};
}

constexpr std::array<format_traits, 7> table = {
    make("f64", 53, -1022, 1023, std::numeric_limits<double>::max(), true, 64),
    make("f32", 24, -126, 127, ieee_max(24, 127), true, 32),
    make("tf32", 11, -126, 127, ieee_max(11, 127), true, 19),
    make("bf16", 8, -126, 127, ieee_max(8, 127), true, 16),
    make("f16", 11, -14, 15, ieee_max(11, 15), true, 16),
    make("e4m3", 4, -6, 8, 448.0, false, 8),
    make("e5m2", 3, -14, 15, ieee_max(3, 15), true, 8),
};

constexpr std::array<detail::format_params, 7> make_params() {
  std::array<detail::format_params, 7> out{};
  for (std::size_t i = 0; i < table.size(); ++i) {
    const auto& t = table[i];
    out[i] = {t.precision, t.emin, t.emax, std::bit_cast<std::uint64_t>(t.max_finite),
              t.has_infinity};
  }
  return out;
}
constexpr std::array<detail::format_params, 7> params_table = make_params();

static_assert(table[1].max_finite == static_cast<double>(std::numeric_limits<float>::max()));
static_assert(table[4].max_finite == 65504.0 && table[6].max_finite == 57344.0);
static_assert(table[4].overflow_threshold == 65520.0 && table[5].overflow_threshold == 464.0);
static_assert(!table[5].overflow_at_threshold && table[1].overflow_at_threshold);

}  // namespace

const format_traits& traits(format_id f) noexcept {
  return table[static_cast<std::size_t>(f)];
}

const detail::format_params& detail::params(format_id f) noexcept {
  return params_table[static_cast<std::size_t>(f)];
}

std::optional<format_id> parse_format(std::string_view name) noexcept {
  struct entry {
    std::string_view name;
    format_id id;
  };
  static constexpr entry names[] = {
      {"f64", format_id::f64},   {"float64", format_id::f64},   {"double", format_id::f64},
      {"f32", format_id::f32},   {"float32", format_id::f32},   {"float", format_id::f32},
      {"tf32", format_id::tf32}, {"bf16", format_id::bf16},     {"bfloat16", format_id::bf16},
      {"f16", format_id::f16},   {"float16", format_id::f16},   {"half", format_id::f16},
      {"e4m3", format_id::e4m3}, {"fp8_e4m3", format_id::e4m3}, {"float8_e4m3fn", format_id::e4m3},
      {"e5m2", format_id::e5m2}, {"fp8_e5m2", format_id::e5m2}, {"float8_e5m2", format_id::e5m2},
  };
  for (const auto& e : names) {
    if (e.name == name) return e.id;
  }
  return std::nullopt;
}

bool is_representable(format_id f, double x) noexcept {
  if (!std::isfinite(x)) return false;
  return round_to(f, x, underflow_mode::gradual) == x;
}

namespace {

// A 16-bit binary format with a sign bit, E exponent bits (bias 2^(E-1) - 1) and M = 15 - E
// fraction bits, widened exactly to double (every such value is a double).
template <int E, int M>
double binary16_bits_to_double(std::uint16_t h) noexcept {
  static_assert(1 + E + M == 16);
  constexpr unsigned exp_max = (1u << E) - 1;
  constexpr int bias = (1 << (E - 1)) - 1;
  const std::uint64_t sign = static_cast<std::uint64_t>(h >> 15) << 63;
  const unsigned exp = (h >> M) & exp_max;
  const std::uint64_t mant = h & ((1u << M) - 1);
  std::uint64_t bits;
  if (exp == exp_max) {
    bits = sign | 0x7FF0000000000000ull | (mant << (52 - M));  // Inf, or NaN keeping its payload
  } else if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {
      // Subnormal: mant * 2^(1 - bias - M) = 1.f * 2^(p + 1 - bias - M) with p the leading bit of
      // mant (f16: 2^(p - 24); bf16: 2^(p - 133)).
      const int p = static_cast<int>(std::bit_width(mant)) - 1;
      const std::uint64_t frac = (mant << (52 - p)) & 0xFFFFFFFFFFFFFull;
      bits = sign | (static_cast<std::uint64_t>(p + 1 - bias - M + 1023) << 52) | frac;
    }
  } else {
    bits = sign | (static_cast<std::uint64_t>(static_cast<int>(exp) - bias + 1023) << 52) |
           (mant << (52 - M));
  }
  return std::bit_cast<double>(bits);
}

}  // namespace

double f16_bits_to_double(std::uint16_t h) noexcept {
  return binary16_bits_to_double<5, 10>(h);
}

double bf16_bits_to_double(std::uint16_t h) noexcept {
  return binary16_bits_to_double<8, 7>(h);
}

}  // namespace roundoff
