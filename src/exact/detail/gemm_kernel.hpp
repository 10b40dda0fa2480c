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

/// Micro-tile: mr rows of A times nr rows of B. Packed panels hold, for each k of a K block,
/// the mr (or nr) values of consecutive rows: a panel of A is [k][mr], one of B is [k][nr].
inline constexpr int mr = 4;
inline constexpr int nr = 12;
/// Length of a K block: one B micro-panel (nr * kb doubles) stays in L1 across the A panels.
inline constexpr std::int64_t kb = 256;

/// Whether the native path can run here: an x86-64 build and a CPU with AVX2 and FMA, unless
/// the environment variable ROUNDOFF_EXACT_KERNEL is "blas" (then the OpenBLAS path is used;
/// tests run both). Read on every call.
bool enabled() noexcept;

/// Slices `width` consecutive rows (width = mr or nr; rows[t], slicer sl[t]) over columns
/// [k0, k0 + n) into packed panels: the value of slice block t of row r at column k0 + kk goes
/// to out[t][kk * width + r]. Blocks: `slices` slices, lowest first, plus lo + hi as block 2
/// when karatsuba. Each slice is computed by exactly the operations of slicer::split. A row
/// that must not contribute (padding, or a bad row) is given as a pointer to zeros and the
/// slicer of a zero row. Every nonzero residual is appended to rem as {row0 + r, k0 + kk, x'}.
void split_panel(int width, const double* const* rows, const slicer* sl, int slices, bool karatsuba,
                 std::int64_t k0, std::int64_t n, double* const* out, std::int32_t row0,
                 std::vector<rem_entry>& rem);

/// C[i * ldc + j] (+)= sum_{k < kc} a[k * mr + i] * b[k * nr + j] for i < mr, j < nr, with
/// FMA. Adds to C when accumulate, else overwrites it.
void kernel(std::int64_t kc, const double* a, const double* b, double* c, std::int64_t ldc,
            bool accumulate) noexcept;

}  // namespace native
}  // namespace roundoff::exact::detail
