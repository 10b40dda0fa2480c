// torch.nn.functional.conv1d/2d/3d, exactly (plus nn.Conv's padding modes). Full contract:
// docs/ops.md.
#pragma once

#include "roundoff/ops/op.hpp"
#include "roundoff/ops/op_result.hpp"

namespace roundoff::ops {

/// Exact F.conv{1,2,3}d(x, w, b, stride, padding, dilation, groups) for `dims` spatial dims.
/// x: [N, C_in, *spatial] or unbatched [C_in, *spatial]; w: [C_out, C_in/groups, *kernel];
/// b: [C_out] or null. p.mode other than zeros pads like nn.Conv (F.pad then conv).
/// Throws input_error with PyTorch's checks and messages.
/// Example: conv(2, x[1,3,5,5], w[4,3,3,3], nullptr, {.stride={2}, .padding={1}}) -> [1,4,3,3].
op_result conv(int dims, const tensor_view& x, const tensor_view& w, optional_view b,
               const conv_params& p, const reference_options& opt = {});

/// Output shape of the same call (validates everything conv validates).
std::vector<std::int64_t> conv_output_shape(int dims, const tensor_view& x, const tensor_view& w,
                                            optional_view b, const conv_params& p);

inline op_result conv1d(const tensor_view& x, const tensor_view& w, optional_view b,
                        const conv_params& p, const reference_options& opt = {}) {
  return conv(1, x, w, b, p, opt);
}
inline op_result conv2d(const tensor_view& x, const tensor_view& w, optional_view b,
                        const conv_params& p, const reference_options& opt = {}) {
  return conv(2, x, w, b, p, opt);
}
inline op_result conv3d(const tensor_view& x, const tensor_view& w, optional_view b,
                        const conv_params& p, const reference_options& opt = {}) {
  return conv(3, x, w, b, p, opt);
}

}  // namespace roundoff::ops
