// torch.addmm(input, mat1, mat2) with beta = alpha = 1: one NT product with a full bias.
#include "roundoff/ops/addmm.hpp"

#include <string>

#include "detail/contraction.hpp"
#include "roundoff/error.hpp"

namespace roundoff::ops {

std::vector<std::int64_t> addmm_output_shape(const tensor& input, const tensor& mat1,
                                             const tensor& mat2) {
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
  (void)detail::expand_to(input, out);
  return out;
}

op_result addmm(const tensor& input, const tensor& mat1, const tensor& mat2,
                const reference_options& opt) {
  const std::vector<std::int64_t> out = addmm_output_shape(input, mat1, mat2);
  const std::int64_t m = out[0], n = out[1], k = mat1.shape[1];
  const std::vector<double> bias = detail::expand_to(input, out);
  std::vector<double> wt(mat2.data.size());
  for (std::int64_t kk = 0; kk < k; ++kk) {
    for (std::int64_t j = 0; j < n; ++j) {
      wt[static_cast<std::size_t>(j * k + kk)] = mat2.data[static_cast<std::size_t>(kk * n + j)];
    }
  }
  op_result r;
  r.has_bias = true;
  detail::contraction_runner run(r, out, opt);
  detail::nt_operands o;
  o.m = m;
  o.n = n;
  o.k = k;
  o.a = mat1.data.data();
  o.b = wt.data();
  o.bias = bias.data();
  detail::run_batched_nt(run, o);
  run.finish();
  r.terms.assign(static_cast<std::size_t>(r.exact.size()), k);
  r.data_terms = r.terms;
  return r;
}

}  // namespace roundoff::ops
