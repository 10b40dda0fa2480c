// T_i = sum_k |x_ik||w_jk| + |b_j| for linear and 2-D-weight matmul, from the exact engine's
// native kernels when the rows fit one call (exact::abs_product_sum), else OpenBLAS DGEMM calls
// over blocks of |x| rows and panels of |W|, and the certified enlargement of docs/ops.md §3.2,
// without a copy of |x| (docs/bounds.md §3.5, "The magnitude"). Internal: not installed.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "roundoff/ops/op.hpp"
#include "roundoff/tensor_view.hpp"

namespace roundoff::verdicts::detail {

/// The magnitude of every output element of `op` on (x, w, b), each >= the exact sum (the same
/// doubles ops::evaluate gives with magnitude_method::blas_bound, up to the DGEMM's summation
/// order); nullopt when this path does not apply (another op or layout, a bias of more than one
/// dim, flush-to-zero or denormals-are-zero set, a size beyond BLAS's int): use ops then.
/// Whether magnitude_by_blocks applies to these operands (it may still return nullopt).
bool magnitude_by_blocks_applies(const ops::op_spec& op, const tensor_view& x, const tensor_view& w,
                                 const tensor_view* b);

/// `block_rows`: rows of |x| per DGEMM call (0: magnitude_block_rows(K)); `whole_rows`: the rows
/// of the problem whose T this is part of (0: x's), which choose the panels (magnitude_panel).
/// An element's T is the same doubles at every thread count, and depends on which rows share
/// its DGEMM call only through the BLAS's kernel choice, so the blocked judging (check.cpp)
/// cuts the rows where this does, at multiples of block_rows, with the whole problem's rows.
std::optional<std::vector<double>> magnitude_by_blocks(const ops::op_spec& op, const tensor_view& x,
                                                       const tensor_view& w, const tensor_view* b,
                                                       int threads, std::int64_t block_rows = 0,
                                                       std::int64_t whole_rows = 0);

/// The piece of |W| that one DGEMM call takes: `columns` output columns by `depth` of the K
/// products. `one_call`: the problem's rows fit one DGEMM call, so the threads can share only
/// its columns: panels of at most 512 KiB (L2-sized: |W|'s piece is copied, |.| taken, just
/// before OpenBLAS packs it). Otherwise all n columns in one panel (the threads share the rows).
struct magnitude_panel_shape {
  std::int64_t columns, depth;
};
magnitude_panel_shape magnitude_panel(std::int64_t n, std::int64_t k, bool one_call) noexcept;

/// The default rows of |x| per DGEMM call for rows of k values: about 4 MiB of |x|, at least 64.
std::int64_t magnitude_block_rows(std::int64_t k) noexcept;

}  // namespace roundoff::verdicts::detail
