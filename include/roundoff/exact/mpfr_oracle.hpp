// The MPFR oracle (Boost.Multiprecision over MPFR), 256 bits by default. Test and reference
// use only: slow by design. Exactness is reported per element through MPFR ternary values.
#pragma once

#include <cstdint>
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

}  // namespace roundoff::exact
