// torch.nn.functional.conv_transpose1d/2d/3d, exactly. Full contract: docs/ops.md.
#pragma once

#include "roundoff/ops/op.hpp"
#include "roundoff/ops/op_result.hpp"

namespace roundoff::ops {

/// Exact F.conv_transpose{1,2,3}d(x, w, b, stride, padding, output_padding, groups, dilation).
/// x: [N, C_in, *spatial] or unbatched [C_in, *spatial]; w: [C_in, C_out/groups, *kernel];
/// b: [C_out] or null. Output size per dim: (in-1)*stride - 2*padding + dilation*(k-1) +
/// output_padding + 1. Only explicit padding and padding_mode zeros (as PyTorch).
op_result conv_transpose(int dims, const tensor_view& x, const tensor_view& w, optional_view b,
                         const conv_params& p, const reference_options& opt = {});

std::vector<std::int64_t> conv_transpose_output_shape(int dims, const tensor_view& x,
                                                      const tensor_view& w, optional_view b,
                                                      const conv_params& p);

inline op_result conv_transpose1d(const tensor_view& x, const tensor_view& w, optional_view b,
                                  const conv_params& p, const reference_options& opt = {}) {
  return conv_transpose(1, x, w, b, p, opt);
}
inline op_result conv_transpose2d(const tensor_view& x, const tensor_view& w, optional_view b,
                                  const conv_params& p, const reference_options& opt = {}) {
  return conv_transpose(2, x, w, b, p, opt);
}
inline op_result conv_transpose3d(const tensor_view& x, const tensor_view& w, optional_view b,
                                  const conv_params& p, const reference_options& opt = {}) {
  return conv_transpose(3, x, w, b, p, opt);
}

}  // namespace roundoff::ops
