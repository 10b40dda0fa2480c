// torch.nn.functional.linear(x, W, b), exactly. Full contract: docs/ops.md.
#pragma once

#include "roundoff/ops/op_result.hpp"

namespace roundoff::ops {

/// Exact y = x W^T + b for x [..., K], W [N, K], b [N] (or none); y has shape [..., N].
/// Throws input_error on shape mismatch with a PyTorch-like message.
/// Example: auto r = ops::linear(x, w, &b); double y0 = r.exact.rounded(0);
op_result linear(const tensor& x, const tensor& w, const tensor* b,
                 const reference_options& opt = {});

}  // namespace roundoff::ops
