// Internal to src/exact: the tile executors of the fast exact contraction. One tile is rows
// [i0, i1) of A by rows [j0, j1) of B of one batch; a tile executor slices those rows (the
// planner's plan), forms the slice products (native AVX-512/AVX2 kernels or OpenBLAS DGEMM),
// adds the sparse remainder and stores every output of the tile exactly. Proofs:
// docs/exact-fast.md, "Fast path" §2 steps 3-6 and §3.
#pragma once

#ifndef ROUNDOFF_EXACT_INTERNAL
#error "roundoff/src/exact/detail headers are internal to the exact layer"
#endif

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "gemm_fast_split.hpp"
#include "gemm_kernel.hpp"
#include "gemm_plan.hpp"
#include "roundoff/exact/accumulator.hpp"
#include "roundoff/exact/exact_tensor.hpp"
#include "roundoff/exact/gemm.hpp"
#include "slice_products.hpp"

namespace roundoff::exact::detail {

/// Per-thread buffers, reused across tiles and chunks (no allocation per term).
struct workspace {
  // OpenBLAS path: row-major slice blocks of A (all of K) and B (one chunk), the DGEMM output
  // and, when K is chunked, its int64 running sums.
  std::vector<double> a_slices, b_slices, products, residuals;
  std::vector<std::int64_t> chunk_sums;
  // Rows of the tile: exponent and path, slicing constants, and where each row starts.
  std::vector<row_info> a_rows, b_rows;
  std::vector<slicer> a_slicers, b_slicers;
  std::vector<const double*> a_row_pointers, b_row_pointers;
  // The sparse remainder: entries as found, bucketed by row, and each row's range of them.
  std::vector<rem_entry> a_remainders, b_remainders, a_remainders_by_row, b_remainders_by_row;
  std::vector<std::int64_t> a_remainder_offsets, b_remainder_offsets;
  // Native path: packed A slices (all of K), one packed B panel, rows and slicers as packed
  // (padding and bad rows read zeros), and a zero row.
  std::vector<double> a_packed, b_packed, zeros;
  double* a_packed_base = nullptr;  ///< a_packed's first 64-byte-aligned element
  std::vector<const double*> a_packed_rows, b_packed_rows;
  std::vector<slicer> a_packed_slicers, b_packed_slicers;
  /// A's slices are those of rows [a_row_begin, a_row_end) of batch a_batch while a_cached;
  /// a_any_fast: some row among them takes the fast path.
  bool a_cached = false, a_any_fast = false;
  std::int64_t a_batch = 0, a_row_begin = 0, a_row_end = 0;
  accumulator sum;
};

/// Workspaces outlive a call (their pages stay mapped: refaulting tens of MiB per call cost as
/// much as a DGEMM); at most one per thread that ever ran concurrently, each at most the
/// O(tile) sizes of docs/exact-fast.md §2 step 7. They are kept until the process exits. A lease
/// returns its workspace to the pool when it ends.
class workspace_lease {
 public:
  workspace_lease();
  ~workspace_lease();
  workspace_lease(const workspace_lease&) = delete;
  workspace_lease& operator=(const workspace_lease&) = delete;
  workspace& get() noexcept { return *held_; }

 private:
  std::unique_ptr<workspace> held_;
};

/// Runs the tiles of one call: every output of a tile is stored into dest exactly.
class tile_executor {
 public:
  /// native: the micro-kernel to run, or nullptr for the OpenBLAS path. products: when not
  /// null (and native is null), the OpenBLAS path forms its slice products there instead of
  /// with cblas_dgemm, one call at a time, and checks them (slice_products.hpp).
  tile_executor(const gemm_problem& p, exact_tensor& dest, const plan& pl,
                const native::micro_kernel* native, slice_products* products = nullptr)
      : problem_(p), dest_(dest), plan_(pl), native_(native), products_(products) {
    if (native_) init_b_row_cache();
  }

  void run_tile(workspace& ws, std::int64_t batch, std::int64_t i0, std::int64_t i1,
                std::int64_t j0, std::int64_t j1) const {
    if (native_)
      run_tile_native(ws, batch, i0, i1, j0, j1);
    else
      run_tile_blas(ws, batch, i0, i1, j0, j1);
  }

 private:
  const double* a_row(std::int64_t batch, std::int64_t i) const {
    return problem_.a + batch * problem_.a_batch_stride + i * problem_.lda;
  }
  const double* b_row(std::int64_t batch, std::int64_t j) const {
    return problem_.b + batch * problem_.b_batch_stride + j * problem_.ldb;
  }
  const double* bias(std::int64_t batch, std::int64_t i, std::int64_t j) const {
    return problem_.bias ? problem_.bias + batch * problem_.bias_batch_stride +
                               i * problem_.bias_row_stride + j * problem_.bias_col_stride
                         : nullptr;
  }
  std::int64_t dest_index(std::int64_t batch, std::int64_t i, std::int64_t j) const;

  void run_tile_blas(workspace& ws, std::int64_t batch, std::int64_t i0, std::int64_t i1,
                     std::int64_t j0, std::int64_t j1) const;
  void run_tile_native(workspace& ws, std::int64_t batch, std::int64_t i0, std::int64_t i1,
                       std::int64_t j0, std::int64_t j1) const;
  /// Turns the slice products into each output's exact value. S(x, y, i, j) is the exact
  /// integer sum for slice pair (x, y) (Karatsuba: x = y = 0 lo*lo, 1 hi*hi, 2 sum*sum).
  template <class Products>
  void combine(workspace& ws, std::int64_t batch, std::int64_t i0, std::int64_t j0, std::int64_t mt,
               std::int64_t nt, const Products& S) const;
  void analyze_rows(const double* const* rows, std::int64_t count, int bits, int slices, int w,
                    row_info* info, slicer* sl) const;
  bool split_rows(const double* const* rows, std::int64_t count, std::int64_t k0, std::int64_t kn,
                  bool analyze, int bits, int slices, int w, row_info* info, slicer* sl, int blocks,
                  double* out, std::vector<double>& res, std::vector<rem_entry>& rem) const;

  /// Native path: B row j's exponent and slice unit (as row_setup computes them), computed once
  /// per call and shared by every tile that reads the row (each M-tile reads all of B).
  void init_b_row_cache();
  row_info b_row_info(std::int64_t batch, std::int64_t j, const double* row) const;

  /// The products of one chunk of a tile through products_, checked (Lemma 2's integers).
  void form_products(const double* a_slices, const double* b_slices, double* products,
                     std::int64_t mt, std::int64_t nt, std::int64_t kn, std::int64_t count) const;

  const gemm_problem& problem_;
  exact_tensor& dest_;
  const plan& plan_;
  const native::micro_kernel* const native_;
  slice_products* const products_;
  mutable std::mutex products_lock_;
  mutable std::uint64_t products_calls_ = 0;  ///< under products_lock_: seeds the checks
  /// b_row_info's cache: entry (batch, j) is written once, by the thread that moves its state
  /// from 0 to 1, and read only after its state is 2 (release/acquire). Empty: no cache.
  mutable std::vector<row_info> b_row_cache_;
  mutable std::unique_ptr<std::atomic<unsigned char>[]> b_row_state_;
};

}  // namespace roundoff::exact::detail
