// Internal to the backends layer: the lowering of every op to a batch of "NT" matrix products
// C = A B^T, so that the GEMM-only backends (Eigen, OpenBLAS, cuBLAS, naive loops) can run
// convolutions through im2col. PyTorch's shape and argument rules are the ops layer's
// (ops::output_shape, ops::resolve_conv); tests/backends/lowering_shape_test.cpp checks that
// the lowering covers exactly the output ops says. Not a public header.
#pragma once

#include <cstdint>
#include <vector>

#include "roundoff/ops/op.hpp"
#include "roundoff/tensor.hpp"

namespace roundoff::backends::detail {

/// out = op(x, w) + b as `count` products C_p = A_p B_p^T, each m x n with inner size k.
/// A_p is a_data[a_off[p] ...] (m x k row-major), B_p is b_data[b_off[p] ...] (n x k).
/// Element (i, j) of product p is output element out_index[(p*m + i)*n + j]. The lowering adds
/// only exact zeros (padding, zero insertion), so the set of nonzero products per output is the
/// op's own.
struct gemm_lowering {
  std::vector<std::int64_t> out_shape;
  std::int64_t count = 0, m = 0, n = 0, k = 0;
  std::vector<double> a_data, b_data;
  std::vector<std::int64_t> a_off, b_off;
  std::vector<std::int64_t> out_index;
  /// Bias broadcast to the output (numel(out) values), empty when there is no bias.
  std::vector<double> bias;
};

/// Validates the problem with the ops layer's rules (throws its input_error) and lowers it.
gemm_lowering lower_to_gemm(const ops::op_spec& op, const tensor& x, const tensor& w,
                            const tensor* b);

}  // namespace roundoff::backends::detail
