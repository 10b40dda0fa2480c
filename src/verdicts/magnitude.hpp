// T_i = sum_k |x_ik||w_jk| + |b_j| for linear and 2-D-weight matmul, from OpenBLAS DGEMM over
// blocks of |x| rows and the certified enlargement of docs/ops.md §3.2, without a copy of |x|
// (docs/bounds.md §3.5, "The magnitude"). Internal: not installed.
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

/// `block_rows`: rows of |x| per DGEMM call (0: magnitude_block_rows(K)). An element's T
/// depends on which rows share its DGEMM call only through the BLAS's kernel choice, so the
/// blocked judging (check.cpp) cuts the rows where this does, at multiples of block_rows.
std::optional<std::vector<double>> magnitude_by_blocks(const ops::op_spec& op, const tensor_view& x,
                                                       const tensor_view& w, const tensor_view* b,
                                                       int threads, std::int64_t block_rows = 0);

/// The piece of |W| that one DGEMM call takes: `columns` output columns by `depth` of the K
/// products. Depends on (n, k) alone, so that an element's T does not depend on the rows.
struct magnitude_panel_shape {
  std::int64_t columns, depth;
};
magnitude_panel_shape magnitude_panel(std::int64_t n, std::int64_t k) noexcept;

/// The default rows of |x| per DGEMM call for rows of k values: about 4 MiB of |x|, at least 64.
std::int64_t magnitude_block_rows(std::int64_t k) noexcept;

}  // namespace roundoff::verdicts::detail
