// Ties-away and truncating conversions (docs/formats.md, §1.5).
#include "roundoff/formats/convert.hpp"

#include <algorithm>
#include <cmath>

namespace roundoff {

std::string_view to_string(conversion c) noexcept {
  switch (c) {
    case conversion::nearest_even:
      return "rne";
    case conversion::nearest_away:
      return "rna";
    case conversion::toward_zero:
      return "rz";
  }
  return "?";
}

double convert(format_id f, double x, conversion c, underflow_mode u) noexcept {
  const auto& t = traits(f);
  if (c == conversion::nearest_even || f == format_id::f64 || !std::isfinite(x) || x == 0)
    return round_to(f, x, u);
  const double ax = std::fabs(x);
  if (u == underflow_mode::flush_to_zero && ax < t.min_normal) {
    // DAZ/FTZ: the result is zero unless rounding reaches min_normal, exactly as round_to.
    const double r = round_to(f, x, u);
    if (c == conversion::toward_zero || r == 0) return std::copysign(0.0, x);
  }
  // The spacing of f at |x| (subnormal spacing below min_normal). |x| / ulp is exact (a power of
  // two scaling that stays in the normal range), and so is its fraction m - floor(m) (Sterbenz).
  // m + 1/2 would not be: for m < 1/2 it needs 54 bits.
  const int e = std::max(std::ilogb(ax), t.emin);
  const double ulp = std::ldexp(1.0, e - (t.precision - 1));
  const double m = ax / ulp;
  double k = std::floor(m);
  if (c == conversion::nearest_away && m - k >= 0.5) k += 1;
  double r = k * ulp;
  if (r > t.max_finite) {
    if (c == conversion::toward_zero)
      r = t.max_finite;
    else
      return round_to(f, x, u);  // at or beyond the overflow threshold: as ties to even
  }
  if (u == underflow_mode::flush_to_zero && r < t.min_normal) r = 0;
  return std::copysign(r, x);
}

}  // namespace roundoff
