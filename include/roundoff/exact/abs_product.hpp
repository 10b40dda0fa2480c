// The magnitude sum T = |A| |B|^T + |bias| in floating point, on the exact engine's native
// packed-panel micro-kernels (src/exact/abs_product.cpp). NOT exact: each output is one FMA chain
// in a fixed order, rounded to nearest at every step; the bounds enlarge it into a certified
// upper bound of the exact sum (docs/bounds.md §3.5).
#pragma once

#include <cstdint>
#include <functional>

namespace roundoff::exact {

/// A 2-D operand of doubles or floats: element (r, c) at data + r*row_stride + c*col_stride
/// (strides in elements, any sign).
struct abs_operand {
  const void* data = nullptr;
  bool is_float = false;  ///< float elements, else double
  std::int64_t row_stride = 0, col_stride = 0;
};

/// Floating-point, not exact: t[i*n + j] = |bias[j]| + sum_{k' < k} |a(i, k')| |b(j, k')| for
/// i < m, j < n (bias null: 0), each output an FMA chain over k' in increasing order, in
/// pieces of a fixed depth (the kernel's) added to the running value in order, every operation
/// rounded to nearest. The doubles depend on the kernel (native-avx512 or native-avx2, as
/// gemm_exact_kernel() reports it) and on k, never on m, on the thread count or on which rows
/// are passed together: a block of A's rows gets the rows of the whole product. NaN and Inf
/// propagate as IEEE arithmetic does. Runs on `threads` threads (engine_threads(threads)).
/// Memory: |A| packed whole (about m x k doubles), and one B micro-panel per thread; meant for
/// blocks of rows (the bounds pass about 2^19 values of A at a time). Returns false, writing
/// nothing, when no native kernel runs (gemm_exact_kernel() is
/// "openblas"): the caller computes T another way.
/// `finish`, when given, is called once on every finished stretch of a row's outputs
/// (finish(t + i*n + j, count)), on the worker that formed them, before the call returns: the
/// caller's per-element post-processing, spread over the threads.
bool abs_product_sum(std::int64_t m, std::int64_t n, std::int64_t k, const abs_operand& a,
                     const abs_operand& b, const double* bias, double* t, int threads,
                     const std::function<void(double*, std::int64_t)>& finish = {});

}  // namespace roundoff::exact
