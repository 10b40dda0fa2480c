// What every op provides per output element: the exact result, the number of products that
// feed it (n_i), and their magnitude sum |x||w| + |b| rounded upward. See docs/ops.md.
#pragma once

#include <cstdint>
#include <vector>

#include "roundoff/exact/exact_tensor.hpp"
#include "roundoff/exact/gemm.hpp"
#include "roundoff/tensor.hpp"
#include "roundoff/tensor_view.hpp"

namespace roundoff::ops {

/// Which exact engine computes the reference.
enum class method : std::uint8_t { fast, simple, mpfr };

/// How `magnitude` is computed. Both never underestimate (proofs: docs/ops.md, "Magnitude").
enum class magnitude_method : std::uint8_t {
  exact,       ///< exact contraction over |x|, |w|, |b|, rounded upward once: RU(sum)
  blas_bound,  ///< one DGEMM over |x|, |w|, |b| and an a-posteriori bound: >= RU(sum), at most
               ///< a relative ~2(n+1)u above it; ~5x cheaper for large convs
};

struct reference_options {
  method how = method::fast;
  long precision_bits = 256;  ///< for method::mpfr
  /// For method::mpfr: recompute an element that rounds at precision_bits at a precision that
  /// provably suffices (exact::mpfr_options::auto_raise) instead of flagging it inexact.
  bool mpfr_auto_raise = false;
  /// Threads of the exact engine; 0: exact::engine_threads(0), every core unless
  /// ROUNDOFF_THREADS says otherwise.
  int threads = 0;
  /// Where the fast engine forms its slice products (exact::device_kind; docs/exact-gpu.md). The
  /// exact result does not depend on it; device_kind::cuda applies to method::fast only.
  exact::device_kind device = exact::device_kind::cpu;
  /// Compute `magnitude` (one more exact contraction on |x|, |w|, |b|). Off: magnitude is empty.
  bool want_magnitude = true;
  magnitude_method magnitude_how = magnitude_method::exact;
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
  /// sum |x||w| + |b| for output i, never below it: the exact sum rounded upward once
  /// (magnitude_method::exact) or a certified upper bound (magnitude_method::blas_bound).
  std::vector<double> magnitude;
  bool has_bias = false;
  /// For method::mpfr: 1 where the oracle was exact at the requested precision.
  std::vector<std::uint8_t> oracle_exact;
};

}  // namespace roundoff::ops
