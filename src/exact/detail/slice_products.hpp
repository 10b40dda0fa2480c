// Internal to src/exact: the products of slices behind an interface, so that one orchestration
// (the planner's slicing, the tile executors' remainder and exact combination) serves the CPU and
// a GPU. docs/exact-gpu.md states the contract and why every implementation is exact.
#pragma once

#ifndef ROUNDOFF_EXACT_INTERNAL
#error "roundoff/src/exact/detail headers are internal to the exact layer"
#endif

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace roundoff::exact {
struct gemm_problem;
class exact_tensor;
}  // namespace roundoff::exact

namespace roundoff::exact::detail {

struct plan;
struct tile_shape;

/// Forms products of slice blocks. The orchestration calls multiply() from one thread at a time.
class slice_products {
 public:
  virtual ~slice_products() = default;
  /// "openblas", "cublas-dgemm", ...
  virtual const char* name() const noexcept = 0;
  /// Bytes one multiply() may use for its operands and result (8 * (rows_a * kn + rows_b * kn +
  /// rows_a * rows_b)); the orchestration cuts tiles so that no call asks for more.
  virtual std::size_t memory_bytes() const noexcept = 0;
  /// c[r * rows_b + s] = sum_{k < kn} a[r * kn + k] * b[s * kn + k] for r < rows_a, s < rows_b
  /// (row-major, "NT"). Every a and b is an integer-valued double and, for every (r, s), the sum
  /// of |a[r, k] * b[s, k]| is at most 2^53 (docs/exact-fast.md, Lemma 2), so any evaluation
  /// built from IEEE binary64 +, * and FMA, in any order, is exact. Throws std::runtime_error on
  /// a device failure.
  virtual void multiply(std::int64_t rows_a, std::int64_t rows_b, std::int64_t kn, const double* a,
                        const double* b, double* c) = 0;
};

/// The CPU implementation: cblas_dgemm (single-threaded OpenBLAS calls), with a stated memory
/// budget (the tests give small ones to force many tiles).
std::unique_ptr<slice_products> make_blas_slice_products(std::size_t memory_bytes);

/// Bytes of one multiply() on a tile of `rows` rows of A by `columns` rows of B under plan pl
/// (Karatsuba: three calls of rows x columns; plain: one call of the stacked blocks).
std::size_t tile_product_bytes(const plan& pl, std::int64_t rows, std::int64_t columns);

/// Tiles for gemm_exact_with: A's slices over all of K within 2^25 doubles per host thread, each
/// tile's product within memory_bytes, and at least `threads` tiles where the shape allows.
/// Throws std::runtime_error when even a 1 x 1 tile does not fit.
tile_shape choose_device_tiles(const gemm_problem& p, const plan& pl, int threads,
                               std::size_t memory_bytes);

/// gemm_exact with the products of slices formed by `products` (the OpenBLAS tile executor's
/// steps otherwise: same plan, slicing, remainder and combination). Every value products
/// returns is checked to be an integer of magnitude at most 2^53, as Lemma 2 says it must be; a
/// violation throws std::runtime_error naming the implementation.
void gemm_exact_with(const gemm_problem& p, exact_tensor& dest, int threads,
                     slice_products& products);

/// The CUDA implementation, loaded from roundoff_exact_cuda.so on first use (null, with *reason,
/// when that library, the driver or a device is missing). memory_bytes 0: 90% of the free
/// device memory. One instance per process per memory budget.
slice_products* cuda_slice_products(std::size_t memory_bytes, std::string* reason);

}  // namespace roundoff::exact::detail

/// The CUDA engine library's entry points (src/exact/cuda/cublas_slice_products.cpp).
/// roundoff_exact_cuda_make returns a new implementation, or null with a one-line reason in
/// error[0 .. error_size).
extern "C" {
using roundoff_exact_cuda_abi_fn = const char* (*)();
using roundoff_exact_cuda_make_fn =
    roundoff::exact::detail::slice_products* (*)(std::size_t memory_bytes, char* error,
                                                 std::size_t error_size);
}
