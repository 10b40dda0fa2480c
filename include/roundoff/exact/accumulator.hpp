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

class exact_tensor;

/// An exact binary fixed-point number covering every sum of doubles and of products of two
/// doubles (exponents 2^-2148 .. 2^2048 and carry room for far more than 2^60 terms). Adding is
/// exact; the only rounding happens in `round*`/`abs_diff`, once.
///
/// Example:
///   accumulator acc;
///   for (k...) acc.add_product(a[k], b[k]);
///   double y = acc.round();  // correctly rounded dot product
class accumulator {
 public:
  accumulator() noexcept;
  accumulator(const accumulator& other) noexcept;
  accumulator& operator=(const accumulator& other) noexcept;

  /// Resets to exact zero, kind finite. O(1).
  void clear() noexcept;
  /// Adds x exactly. Inf/NaN update kind() per IEEE sum semantics.
  void add(double x) noexcept;
  /// Adds x * 2^e exactly, for any e such that the value's lowest set bit is >= 2^-2176 and
  /// |x*2^e| < 2^2176. A value outside that range cannot be held exactly: kind() becomes NaN.
  /// Inf/NaN x update kind() like add(x).
  void add_scaled(double x, int e) noexcept;
  /// Adds (negative ? -1 : 1) * (hi * 2^64 + lo) * 2^e exactly: any 128-bit integer at any
  /// scale whose lowest set bit is >= 2^-2176 and whose magnitude is < 2^2176 (outside that,
  /// kind() becomes NaN), e.g. a DGEMM slice sum folded into an integer as in Ozaki-style
  /// splitting. One three-limb add, like add_product.
  void add_integer(std::uint64_t lo, std::uint64_t hi, bool negative, int e) noexcept;
  /// Adds a*b exactly (the 106-bit product, never rounded, never overflowing or underflowing).
  void add_product(double a, double b) noexcept;
  /// Adds -a*b exactly.
  void sub_product(double a, double b) noexcept;
  /// Adds sum_{t<n} a[t]*b[t] exactly (the hot loop of the simple path, inlined in one place).
  void add_dot(std::int64_t n, const double* a, const double* b) noexcept;
  /// Adds another accumulator exactly (kinds combine as in a sum).
  void add(const accumulator& other) noexcept;
  /// Negates in place (kind +-Inf swaps sign).
  void negate() noexcept;

  value_kind kind() const noexcept;
  /// -1, 0 or +1 for finite values (0 only for an exact zero); the infinity's sign for +-Inf;
  /// 0 for NaN.
  int sign() const noexcept;

  /// The exact value rounded once to double (direction r), with IEEE overflow to +-Inf
  /// (or to +-DBL_MAX where the direction requires it) and gradual underflow.
  /// NaN/Inf kinds give NaN/Inf. An exact zero gives +0; a nonzero value that rounds to zero
  /// gives a zero of its own sign.
  double round(rounding r = rounding::nearest_even) const noexcept;
  /// As round(r), and sets *inexact to whether rounding changed the value (MPFR's ternary != 0).
  double round(rounding r, bool* inexact) const noexcept;
  /// The exact value rounded once to format f (no double rounding), nearest-even.
  double round_to(format_id f, underflow_mode u = underflow_mode::gradual) const noexcept;
  /// |exact - observed| rounded once in direction r. NaN in either gives NaN; an infinity
  /// matching the exact result's infinity gives 0; any other infinity gives +Inf.
  double abs_diff(double observed, rounding r = rounding::nearest_even) const noexcept;

  /// Internal scaling: limb j holds the bits of weight 2^(64*j - bias_bits) .. 2^(64*j + 63 -
  /// bias_bits).
  static constexpr int limb_count = 70;
  static constexpr int bias_bits = 2176;

 private:
  friend class exact_tensor;

  void add_magnitude(std::uint64_t plo, std::uint64_t phi, int e, bool neg) noexcept;
  void add_special(double x) noexcept;
  void add_checked(std::uint64_t lo, std::uint64_t hi, int e, bool neg) noexcept;
  void add_product_slow(double a, double b, bool neg) noexcept;
  void add_product_inline(double a, double b, bool neg) noexcept;
  void extend(int lo, int hi) noexcept;
  void carry_from(int j) noexcept;
  void borrow_from(int j) noexcept;
  /// Writes |value| to out[0..n) (limb out[0] has index lo_), returns n (0 for an empty window).
  int magnitude(std::uint64_t* out) const noexcept;
  /// Sets the value to (neg ? -1 : 1) * sum mag[t] * 2^(64*(lo+t) - bias_bits); kind finite.
  void set_magnitude(const std::uint64_t* mag, int n, int lo, bool neg) noexcept;
  struct split_view;
  bool split_double(split_view& v) const noexcept;
  /// RN(S) in *rn and, when S - RN(S) is exactly a double, that double in *tail (0 when S is a
  /// double or special); returns false when S - RN(S) is not a double or S is beyond double.
  bool round_split(double* rn, double* tail) const noexcept;

  // Infinite two's complement: limbs_[lo_..hi_] explicit, every bit above hi_ equals
  // neg_fill_, every bit below lo_ is 0; limbs outside [lo_, hi_] are not stored (left
  // uninitialized, never read). See docs/exact.md.
  std::uint64_t limbs_[limb_count];
  int lo_ = limb_count, hi_ = -1;
  bool neg_fill_ = false;
  bool saw_nan_ = false, saw_pos_inf_ = false, saw_neg_inf_ = false;
};

}  // namespace roundoff::exact
