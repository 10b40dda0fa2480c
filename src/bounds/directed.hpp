// Upward-rounded double arithmetic (docs/bounds.md §3.5), inline so that the per-element bound
// loops run without calls: RN(a op b) plus an exact residual (TwoSum, or fma for products and
// quotients) that says whether the exact result lies above RN; if so, one step up. The step is
// taken on the bit pattern (the same double as std::nextafter(r, +Inf) for finite r), not by a
// libm call. bounds.cpp's detail::add_up etc. are these functions. Internal: not installed.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace roundoff::bounds::detail::directed {

/// The next double above finite r (std::nextafter(r, +Inf)); +-Inf and NaN unchanged.
inline double step_up(double r) noexcept {
  if (!std::isfinite(r)) return r;
  if (r == 0) return std::numeric_limits<double>::denorm_min();
  std::uint64_t bits;
  std::memcpy(&bits, &r, sizeof bits);
  bits = r > 0 ? bits + 1 : bits - 1;
  std::memcpy(&r, &bits, sizeof bits);
  return r;
}
/// The next double below finite r (std::nextafter(r, -Inf)); +-Inf and NaN unchanged.
inline double step_down(double r) noexcept {
  return -step_up(-r);
}

// Outside this range the error-free transformations may lose their exactness (underflow of the
// residual, overflow of intermediates): there the helpers step unconditionally.
inline bool safe(double r) noexcept {
  return std::fabs(r) > 0x1p-900 && std::fabs(r) < 0x1p+900;
}

// RN(a+b) with TwoSum's exact residual: the true sum is r + e, so r is an upper bound iff e <= 0.
inline double add_up(double a, double b) noexcept {
  const double r = a + b;
  if (std::isinf(r) || std::isnan(r)) return r;
  if (!safe(r)) return (r == 0 && a == 0 && b == 0) ? 0.0 : step_up(r);
  const double bb = r - a;
  const double e = (a - (r - bb)) + (b - bb);
  return e > 0 ? step_up(r) : r;
}

inline double sub_down(double a, double b) noexcept {
  const double r = a - b;
  if (std::isinf(r) || std::isnan(r)) return r;
  if (!safe(r)) return (r == 0 && a == b) ? 0.0 : step_down(r);
  const double nb = -b;
  const double bb = r - a;
  const double e = (a - (r - bb)) + (nb - bb);
  return e < 0 ? step_down(r) : r;
}

// fma gives the exact residual a*b - r when it does not underflow.
inline double mul_up(double a, double b) noexcept {
  if (a == 0 || b == 0) return 0.0;
  const double r = a * b;
  if (std::isinf(r) || std::isnan(r)) return r;
  if (!safe(r)) return step_up(r);
  return std::fma(a, b, -r) > 0 ? step_up(r) : r;
}

// For b > 0: a/b > r iff a - r*b > 0, and that residual is exact (fma) away from underflow.
inline double div_up(double a, double b) noexcept {
  if (a == 0) return 0.0;
  const double r = a / b;
  if (std::isinf(r) || std::isnan(r)) return r;
  if (!safe(r) || !safe(a)) return step_up(r);
  return std::fma(-r, b, a) > 0 ? step_up(r) : r;
}

}  // namespace roundoff::bounds::detail::directed
