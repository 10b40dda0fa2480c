// torch.matmul(x, w) (+ b), exactly, with torch's broadcasting. Full contract: docs/ops.md.
#pragma once

#include "roundoff/ops/op_result.hpp"

namespace roundoff::ops {

/// Exact torch.matmul(x, w) + b. 1-D x gets a 1 prepended, 1-D w a 1 appended (both removed
/// from the result), 1-D x 1-D is a dot product, batch dims broadcast. b (or null) must
/// broadcast to the result's shape without enlarging it. Throws input_error like PyTorch.
/// Example: x [2, 1, 3, 4], w [5, 4, 6] -> y [2, 5, 3, 6].
op_result matmul(const tensor_view& x, const tensor_view& w, optional_view b,
                 const reference_options& opt = {});

/// Output shape of torch.matmul(x, w) (+ b); throws input_error like PyTorch.
std::vector<std::int64_t> matmul_output_shape(const tensor_view& x, const tensor_view& w,
                                              optional_view b);

}  // namespace roundoff::ops
