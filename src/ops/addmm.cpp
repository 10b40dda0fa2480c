// torch.addmm(input, mat1, mat2) with beta = alpha = 1: one NT product with a full bias.
#include "roundoff/ops/addmm.hpp"

#include <string>

#include "detail/contraction.hpp"
#include "roundoff/error.hpp"

namespace roundoff::ops {

std::vector<std::int64_t> addmm_output_shape(const tensor_view& input, const tensor_view& mat1,
                                             const tensor_view& mat2) {
  using detail::shape_str;
  detail::check_data(input, "input");
  detail::check_data(mat1, "mat1");
  detail::check_data(mat2, "mat2");
  if (mat1.dim() != 2) {
    throw input_error("addmm: mat1 must be a matrix, got " + std::to_string(mat1.dim()) +
                      "-D tensor of size " + shape_str(mat1.shape));
  }
  if (mat2.dim() != 2) {
    throw input_error("addmm: mat2 must be a matrix, got " + std::to_string(mat2.dim()) +
                      "-D tensor of size " + shape_str(mat2.shape));
  }
  if (mat1.shape[1] != mat2.shape[0]) {
    throw input_error("addmm: mat1 and mat2 shapes cannot be multiplied (" +
                      std::to_string(mat1.shape[0]) + "x" + std::to_string(mat1.shape[1]) +
                      " and " + std::to_string(mat2.shape[0]) + "x" +
                      std::to_string(mat2.shape[1]) + ")");
  }
  std::vector<std::int64_t> out{mat1.shape[0], mat2.shape[1]};
  detail::check_expandable(input, out);
  return out;
}

op_result addmm(const tensor_view& input, const tensor_view& mat1, const tensor_view& mat2,
                const reference_options& opt) {
  const std::vector<std::int64_t> out = addmm_output_shape(input, mat1, mat2);
  const std::int64_t m = out[0], n = out[1], k = mat1.shape[1];
  const std::vector<double> wt = detail::transpose_last2(mat2, 1, k, n);
  detail::nt_operands o;
  o.m = m;
  o.n = n;
  o.k = k;
  o.a = mat1;
  o.b = tensor_view(wt.data(), {static_cast<std::int64_t>(wt.size())});
  std::vector<double> bias;  // an [n] or scalar input once, else expanded
  detail::set_nt_bias(o, input, out, bias);
  return detail::run_nt_op(out, o, true, opt);
}

}  // namespace roundoff::ops
