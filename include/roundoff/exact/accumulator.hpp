// Exact accumulation of sums of doubles and of products of doubles (Kulisch-style).
// Contract and proofs: docs/exact.md.
#pragma once

#include <cstdint>
#include <vector>

#include "roundoff/formats/format.hpp"

namespace roundoff::exact {

/// Classification of an exact result, following IEEE 754 sum semantics for special inputs:
/// any NaN term, Inf*0, or +Inf and -Inf terms together give `nan`; otherwise any +-Inf term
/// gives that infinity; otherwise the result is `finite` (possibly beyond the double range).
enum class value_kind : std::uint8_t { finite, pos_inf, neg_inf, nan };

/// Direction of a final rounding.
enum class rounding : std::uint8_t { nearest_even, upward, downward, toward_zero };

/// An exact binary fixed-point number covering every sum of doubles and of products of two
/// doubles (exponents 2^-2148 .. 2^2048 and carry room for 2^60 terms). Adding is exact; the
/// only rounding happens in `round*`, once.
class accumulator {
 public:
  accumulator();

  void clear() noexcept;
  /// Adds x exactly. Inf/NaN update kind() per IEEE sum semantics.
  void add(double x) noexcept;
  /// Adds a*b exactly (the 106-bit product, never rounded, never overflowing or underflowing).
  void add_product(double a, double b) noexcept;
  /// Adds -a*b exactly.
  void sub_product(double a, double b) noexcept;
  /// Adds another accumulator exactly.
  void add(const accumulator& other) noexcept;
  /// Negates in place.
  void negate() noexcept;

  value_kind kind() const noexcept;
  /// -1, 0 or +1 for finite values (0 only for an exact zero).
  int sign() const noexcept;

  /// The exact value rounded once to double (direction r), with IEEE overflow to +-Inf
  /// (or to +-DBL_MAX where the direction requires it) and gradual underflow.
  /// NaN/Inf kinds give NaN/Inf. An exact zero gives +0.
  double round(rounding r = rounding::nearest_even) const noexcept;
  /// The exact value rounded once to format f (no double rounding), nearest-even.
  double round_to(format_id f, underflow_mode u = underflow_mode::gradual) const noexcept;
  /// |exact - observed| rounded once in direction r. Infinite or NaN operands give +Inf/NaN.
  double abs_diff(double observed, rounding r = rounding::nearest_even) const noexcept;

 private:
  friend class value;
  // Implementation state is private to src/exact; see accumulator.cpp.
  static constexpr int limb_count = 70;
  std::uint64_t limbs_[limb_count];
  int lo_ = limb_count, hi_ = -1;  // touched limb range, to keep clear/round cheap
  value_kind kind_ = value_kind::finite;
  bool saw_pos_inf_ = false, saw_neg_inf_ = false;
};

}  // namespace roundoff::exact
