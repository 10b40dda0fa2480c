// Internal to the backends layer: PyTorch-semantics shape checking and the lowering of every op
// to a batch of "NT" matrix products C = A B^T, so that the GEMM-only backends (Eigen, OpenBLAS,
// cuBLAS, naive loops) can run convolutions through im2col. Not a public header.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "roundoff/ops/op.hpp"
#include "roundoff/tensor.hpp"

namespace roundoff::backends::detail {

/// The op's PyTorch name ("linear", "conv_transpose2d", ...). Same strings as ops::op_name.
std::string_view kind_name(ops::op_kind k) noexcept;

/// A convolution's arguments with every default and broadcast resolved, per spatial dim.
struct conv_geometry {
  int dims = 0;  ///< 1, 2 or 3
  bool transposed = false;
  bool batched = true;  ///< false for PyTorch's unbatched input [C, *spatial]
  std::int64_t batch = 1, in_channels = 0, out_channels = 0, groups = 1;
  std::vector<std::int64_t> in, kernel, out;  ///< spatial sizes
  std::vector<std::int64_t> stride, dilation;
  std::vector<std::int64_t> pad_left, pad_right;  ///< conv: resolved (same => asymmetric)
  std::vector<std::int64_t> output_padding;       ///< transposed only
  ops::padding_mode mode = ops::padding_mode::zeros;
};

/// Validates conv/conv_transpose arguments as PyTorch does (throws input_error).
conv_geometry resolve_conv(const ops::op_spec& op, const tensor& x, const tensor& w,
                           const tensor* b);

/// Validates the op's shapes and arguments like PyTorch and returns the output shape.
std::vector<std::int64_t> output_shape(const ops::op_spec& op, const tensor& x, const tensor& w,
                                       const tensor* b);

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

gemm_lowering lower_to_gemm(const ops::op_spec& op, const tensor& x, const tensor& w,
                            const tensor* b);

/// b broadcast (NumPy rules) to shape `to`; throws input_error unless b broadcasts to exactly
/// `to`.
std::vector<double> broadcast_to(const tensor& b, const std::vector<std::int64_t>& to,
                                 const char* what);

}  // namespace roundoff::backends::detail
