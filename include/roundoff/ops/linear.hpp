// torch.nn.functional.linear(x, W, b), exactly. Full contract: docs/ops.md.
#pragma once

#include "roundoff/ops/op_result.hpp"

namespace roundoff::ops {

/// Exact y = x W^T + b for x [..., K], W [N, K], b [N] (or none); y has shape [..., N].
/// Throws input_error on shape mismatch with a PyTorch-like message.
/// Example: auto r = ops::linear(x, w, &b); double y0 = r.exact.rounded(0);
op_result linear(const tensor_view& x, const tensor_view& w, optional_view b,
                 const reference_options& opt = {});

/// Output shape of F.linear(x, w, b); throws input_error like PyTorch. w may also be 1-D [K]
/// (then the last dim is dropped), b anything that broadcasts to the output.
std::vector<std::int64_t> linear_output_shape(const tensor_view& x, const tensor_view& w,
                                              optional_view b);

}  // namespace roundoff::ops
