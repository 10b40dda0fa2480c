// Internal to src/exact: the native packed-panel kernel of the fast exact contraction
// (gemm_fast.cpp). It does what the OpenBLAS path does with cblas_dgemm on slice blocks, but
// slices each row straight into the packed layout its micro-kernel reads, so the slice blocks
// are written once and never copied again. Exactness does not depend on the kernel: every
// product and partial sum is an integer below 2^53 (docs/exact-fast.md, Lemma 2).
#pragma once

#ifndef ROUNDOFF_EXACT_INTERNAL
#error "roundoff/src/exact/detail headers are internal to the exact layer"
#endif

#include <cstdint>
#include <vector>

#include "gemm_fast_split.hpp"

namespace roundoff::exact::detail {

/// A bit of a row below its lowest slice: row (within the tile), column k, the residual r.
struct rem_entry {
  std::int32_t row;
  std::int64_t k;
  double r;
};

namespace native {

/// sums[r * ld + j] += c[r * ld + j] for r < rows and j0 <= j < j1: a chunk's slice sums,
/// integer-valued doubles of magnitude <= 2^53 (docs/exact-fast.md, Lemma 2), each converted
/// to int64 exactly (every conversion is exact for integer values below 2^63, Lemma 4).
using chunk_sums_fn = void (*)(const double* c, std::int64_t* sums, std::int64_t rows,
                               std::int64_t ld, std::int64_t j0, std::int64_t j1) noexcept;

/// One way of converting chunk sums: "scalar", "avx2" (4 lanes, by bit patterns) or
/// "avx512dq" (8 lanes, cvttpd_epi64).
struct chunk_sum_conversion {
  const char* name;
  chunk_sums_fn add;
};

/// One native micro-kernel and the packed layout it reads. Micro-tile: mr rows of A times nr
/// rows of B. Packed panels hold, for each k of a K block, the mr (or nr) values of consecutive
/// rows: a panel of A is [k][mr], one of B is [k][nr]. A K block has at most kb columns, so
/// that one B micro-panel (nr * kb doubles) stays in L1 across the A panels.
struct micro_kernel {
  const char* name;  ///< as gemm_exact_kernel() reports it
  int mr, nr;        ///< multiples of 4
  std::int64_t kb;
  /// Whether split_panel may slice 8 rows at a time with AVX-512 (else 4 with AVX2).
  bool wide_split;
  /// C[i * ldc + j] (+)= sum_{k < kc} a[k * mr + i] * b[k * nr + j] for i < mr, j < nr, with
  /// FMA. Adds to C when accumulate, else overwrites it.
  void (*run)(std::int64_t kc, const double* a, const double* b, double* c, std::int64_t ldc,
              bool accumulate) noexcept;
  /// The chunk-sum conversion of this kernel's instruction set.
  chunk_sums_fn add_chunk_sums;
};

/// The native kernel for this CPU, or nullptr when the OpenBLAS path must run. Best first:
/// AVX-512F (8 x 24 tile), then AVX2 + FMA (4 x 12), on x86-64 builds. The environment variable
/// ROUNDOFF_EXACT_KERNEL can ask for less: "blas" (the OpenBLAS path) or "avx2" (the AVX2
/// kernel when the CPU has it, else the OpenBLAS path); tests run every kernel this way. Read on
/// every call.
const micro_kernel* chosen() noexcept;

/// Slices `width` consecutive rows (width = mr or nr, a multiple of 4; 8 at a time with AVX-512
/// when `wide` and width is a multiple of 8, else 4 with AVX2; rows[t], slicer sl[t]) over
/// columns [k0, k0 + n) into packed panels: the value of slice block t of row r at column k0 + kk
/// goes to out[t][kk * width + r]. Blocks: `slices` slices, lowest first, then when karatsuba
/// the pairwise sums: 2 slices, lo + hi as block 2; 3 slices, x0 + x1, x0 + x2, x1 + x2 as
/// blocks 3, 4, 5. Each slice is computed by exactly the operations of slicer::split. A row
/// that must not contribute (padding, or a bad row) is given as a pointer to zeros and the
/// slicer of a zero row. Every nonzero residual is appended to rem as {row0 + r, k0 + kk, x'}.
void split_panel(int width, bool wide, const double* const* rows, const slicer* sl, int slices,
                 bool karatsuba, std::int64_t k0, std::int64_t n, double* const* out,
                 std::int32_t row0, std::vector<rem_entry>& rem);

/// All conversions a build and CPU offer (scalar first), for the tests: each must give the same
/// int64 sums.
std::vector<chunk_sum_conversion> chunk_sum_conversions();

/// The scalar conversion (no kernel uses it; the tests run it beside the vector ones).
void add_chunk_sums_scalar(const double* c, std::int64_t* sums, std::int64_t rows, std::int64_t ld,
                           std::int64_t j0, std::int64_t j1) noexcept;

}  // namespace native
}  // namespace roundoff::exact::detail
