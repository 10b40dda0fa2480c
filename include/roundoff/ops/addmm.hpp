// torch.addmm(b, x, w) = b + x @ w (beta = alpha = 1), exactly. Full contract: docs/ops.md.
#pragma once

#include "roundoff/ops/op_result.hpp"

namespace roundoff::ops {

/// Exact torch.addmm(input, mat1[M, K], mat2[K, N]): input broadcast to [M, N] plus the
/// product. Throws input_error like PyTorch.
op_result addmm(const tensor_view& input, const tensor_view& mat1, const tensor_view& mat2,
                const reference_options& opt = {});

std::vector<std::int64_t> addmm_output_shape(const tensor_view& input, const tensor_view& mat1,
                                             const tensor_view& mat2);

}  // namespace roundoff::ops
