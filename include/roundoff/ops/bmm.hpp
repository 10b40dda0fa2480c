// torch.bmm(x, w) (+ b), exactly. Full contract: docs/ops.md.
#pragma once

#include "roundoff/ops/op_result.hpp"

namespace roundoff::ops {

/// Exact torch.bmm(x[B, M, K], w[B, K, N]) + b, b (or null) broadcastable to [B, M, N]
/// (torch.baddbmm with beta = alpha = 1). Throws input_error like PyTorch.
op_result bmm(const tensor_view& x, const tensor_view& w, optional_view b,
              const reference_options& opt = {});

std::vector<std::int64_t> bmm_output_shape(const tensor_view& x, const tensor_view& w,
                                           optional_view b);

}  // namespace roundoff::ops
