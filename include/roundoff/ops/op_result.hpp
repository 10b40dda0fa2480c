// What every op provides per output element: the exact result, the number of products that
// feed it (n_i), and their magnitude sum |x||w| + |b| rounded upward. See docs/ops.md.
#pragma once

#include <cstdint>
#include <vector>

#include "roundoff/exact/gemm.hpp"
#include "roundoff/exact/value.hpp"
#include "roundoff/tensor.hpp"

namespace roundoff::ops {

/// Which exact engine computes the reference.
enum class method : std::uint8_t { fast, simple, mpfr };

struct reference_options {
  method how = method::fast;
  long precision_bits = 256;  ///< for method::mpfr
  /// For method::mpfr: recompute an element that rounds at precision_bits at a precision that
  /// provably suffices (exact::mpfr_options::auto_raise) instead of flagging it inexact.
  bool mpfr_auto_raise = false;
  int threads = 1;
  /// Compute `magnitude` (one more exact contraction on |x|, |w|, |b|). Off: magnitude is empty.
  bool want_magnitude = true;
  /// Byte budget of one im2col tile for convs (0: the default, 64 MiB). Smaller tiles bound
  /// memory; results do not depend on it.
  std::int64_t tile_bytes = 0;
};

struct op_result {
  /// Exact result, shape = the op's output shape. For method::mpfr it holds the oracle's
  /// round-to-nearest doubles (gemm_mpfr returns no more than that).
  exact::exact_tensor exact;
  /// n_i: products x*w an implementation may perform for output i (bias excluded). For convs
  /// this includes products with zero padding (and with the zeros a transposed conv inserts):
  /// the conservative count, uniform over the output. See docs/ops.md, "Term counts".
  std::vector<std::int64_t> terms;
  /// Products whose x operand is real input data (padding and inserted zeros excluded);
  /// data_terms[i] <= terms[i]. gamma_{data_terms} is also a valid bound (docs/ops.md).
  std::vector<std::int64_t> data_terms;
  /// sum |x||w| + |b| for output i: the exact sum rounded upward once (never below it).
  std::vector<double> magnitude;
  bool has_bias = false;
  /// For method::mpfr: 1 where the oracle was exact at the requested precision.
  std::vector<std::uint8_t> oracle_exact;
};

}  // namespace roundoff::ops
