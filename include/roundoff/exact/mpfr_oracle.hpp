// The MPFR oracle (Boost.Multiprecision over MPFR), 256 bits by default. Test and reference
// use only: slow by design. Exactness is reported per element through MPFR ternary values.
// Precision rule for auto_raise and the special-value semantics: docs/exact.md ("The oracle").
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "roundoff/exact/gemm.hpp"

namespace roundoff::exact {

struct mpfr_options {
  long precision_bits = 256;
  /// When an element's sum rounds at precision_bits, recompute it at a precision that
  /// provably suffices (see docs/exact.md) instead of reporting it inexact.
  bool auto_raise = false;
};

struct mpfr_result {
  std::vector<double> rounded;      ///< RN-even to double of the MPFR value
  std::vector<std::uint8_t> exact;  ///< 1 where every MPFR operation had ternary value 0
  long max_precision_used = 0;
  bool all_exact() const noexcept;
};

/// Oracle for a gemm_problem, indexed like a dense [batch, m, n] row-major result (the c_*
/// fields of p are ignored).
mpfr_result gemm_mpfr(const gemm_problem& p, const mpfr_options& opt = {});

/// Oracle dot product; returns RN-even(sum) and whether it was exact.
double dot_mpfr(std::int64_t k, const double* a, const double* b, const double* bias,
                long precision_bits, bool* exact);

/// One oracle sum held at full MPFR precision, so that tests can compare whole exact values
/// (every rounding direction, roundings to formats, |exact - observed|) and not only the RN
/// double. Special values follow the accumulator's rules (docs/exact.md); an exact zero is +0.
class mpfr_value {
 public:
  mpfr_value();
  ~mpfr_value();
  mpfr_value(mpfr_value&&) noexcept;
  mpfr_value& operator=(mpfr_value&&) noexcept;

  /// True when every MPFR operation that produced the value had ternary value 0.
  bool exact() const noexcept;
  /// Precision (bits) of the value's final computation.
  long precision() const noexcept;
  value_kind kind() const noexcept;
  /// -1, 0, +1 (0 for zero and NaN).
  int sign() const noexcept;

  /// Rounded once to double in direction r (IEEE overflow, gradual underflow, via MPFR's
  /// mpfr_check_range + mpfr_subnormalize).
  double round(rounding r = rounding::nearest_even) const;
  /// Rounded once to format f, nearest-even.
  double round_to(format_id f, underflow_mode u = underflow_mode::gradual) const;
  /// |value - observed| rounded once in direction r; NaN, Inf as accumulator::abs_diff.
  double abs_diff(double observed, rounding r = rounding::nearest_even) const;

  struct impl;

 private:
  std::unique_ptr<impl> p_;
  friend mpfr_value dot_mpfr_value(std::int64_t, const double*, const double*, const double*,
                                   const mpfr_options&);
};

/// Oracle dot product sum_k a[k]*b[k] (+ *bias) kept as an mpfr_value. With auto_raise, an
/// inexact sum is recomputed at the sufficient precision of docs/exact.md, and the result is
/// then always exact (a failure to be exact there throws internal_error).
mpfr_value dot_mpfr_value(std::int64_t k, const double* a, const double* b, const double* bias,
                          const mpfr_options& opt = {});

/// The precision (bits) that makes every partial sum of sum_k a[k]*b[k] (+ *bias) exact:
/// from the largest leading exponent, the smallest trailing-bit exponent and the term count.
long sufficient_precision(std::int64_t k, const double* a, const double* b, const double* bias);

}  // namespace roundoff::exact
