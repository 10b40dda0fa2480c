// torch.nn.functional.conv1d/2d/3d, exactly (plus nn.Conv's padding modes). Full contract:
// docs/ops.md.
#pragma once

#include <cstdint>
#include <vector>

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

/// A convolution (conv or conv_transpose) as PyTorch resolves its arguments: every default and
/// single value expanded per spatial dim, 'same'/'valid' turned into padding, and per spatial dim
/// the input index that each (output position, kernel tap) reads. conv() and conv_transpose()
/// compute over exactly this; callers that lower a convolution themselves (the backends' im2col,
/// the LibTorch adapter's arguments) use it instead of re-deriving PyTorch's rules.
struct conv_geometry {
  int dims = 0;  ///< spatial dims: 1, 2 or 3
  bool transposed = false;
  bool batched = true;  ///< false for PyTorch's unbatched input [C, *spatial]
  std::int64_t batch = 1, in_channels = 0, out_channels = 0, groups = 1;  ///< batch 1 if unbatched
  std::vector<std::int64_t> in, kernel, out;                              ///< spatial sizes
  std::vector<std::int64_t> stride, dilation;
  /// conv: padding before and after each dim ('same' puts an odd unit after, as PyTorch);
  /// conv_transpose: both are `padding`.
  std::vector<std::int64_t> pad_left, pad_right;
  std::vector<std::int64_t> output_padding;  ///< all 0 for conv
  padding_mode mode = padding_mode::zeros;
  /// source[d][o * kernel[d] + t]: the input index along dim d that output position o reads with
  /// tap t, or -1 where it reads an exact zero (zero padding, a transposed conv's inserted zeros).
  std::vector<std::vector<std::int64_t>> source;

  /// [batch (if batched), out_channels, out...]: output_shape() of the problem.
  std::vector<std::int64_t> output_shape() const;
};

/// The geometry of a conv* or conv_transpose* problem, validated exactly as output_shape() and
/// evaluate() validate it (the same input_error). Throws input_error for any other op.
conv_geometry resolve_conv(const problem& p);

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
