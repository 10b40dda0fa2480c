// What every op provides per output element: the exact result, the number of products that
// feed it (n_i), and their magnitude sum |x||w| + |b| rounded upward. See docs/ops.md.
#pragma once

#include <cstddef>
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

/// n_i for every output element, stored by its period: element i holds period[i % period.size()]
/// (a linear layer's count is one value for the whole output; a conv's depends on the output
/// position only, one value per position), so that it costs no per-element memory.
///
///   term_counts t(6, {2, 3});   // 2, 3, 2, 3, 2, 3
///   t[3] == 3; t.total() == 15;
class term_counts {
 public:
  term_counts() = default;
  /// `size` elements repeating `period` (size must be a multiple of period.size(); an empty
  /// period only for size 0).
  term_counts(std::int64_t size, std::vector<std::int64_t> period);
  /// `size` elements, each `value`.
  static term_counts uniform(std::int64_t size, std::int64_t value) {
    return term_counts(size, {value});
  }

  std::int64_t operator[](std::int64_t i) const noexcept {
    return period_.size() == 1
               ? period_[0]
               : period_[static_cast<std::size_t>(i % static_cast<std::int64_t>(period_.size()))];
  }
  std::int64_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  /// The sum over all elements.
  std::int64_t total() const noexcept;
  /// One count per element (for tests and small outputs).
  std::vector<std::int64_t> to_vector() const;
  /// Bytes held (the period), independent of size() for a uniform count.
  std::size_t memory_bytes() const noexcept { return period_.size() * sizeof(std::int64_t); }
  /// Element-wise equality (whatever the periods).
  friend bool operator==(const term_counts& a, const term_counts& b);

 private:
  std::int64_t size_ = 0;
  std::vector<std::int64_t> period_;
};

struct op_result {
  /// Exact result, shape = the op's output shape. For method::mpfr it holds the oracle's
  /// round-to-nearest doubles (gemm_mpfr returns no more than that).
  exact::exact_tensor exact;
  /// n_i: products x*w an implementation may perform for output i (bias excluded). For convs
  /// this includes products with zero padding (and with the zeros a transposed conv inserts):
  /// the conservative count, uniform over the output. See docs/ops.md, "Term counts".
  term_counts terms;
  /// Products whose x operand is real input data (padding and inserted zeros excluded);
  /// data_terms[i] <= terms[i]. gamma_{data_terms} is also a valid bound (docs/ops.md).
  term_counts data_terms;
  /// sum |x||w| + |b| for output i, never below it: the exact sum rounded upward once
  /// (magnitude_method::exact) or a certified upper bound (magnitude_method::blas_bound).
  std::vector<double> magnitude;
  bool has_bias = false;
  /// For method::mpfr: 1 where the oracle was exact at the requested precision.
  std::vector<std::uint8_t> oracle_exact;
};

}  // namespace roundoff::ops
