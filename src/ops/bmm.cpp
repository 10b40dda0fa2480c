// torch.bmm (+ bias, i.e. baddbmm with beta = alpha = 1) as one batched NT product.
#include "roundoff/ops/bmm.hpp"

#include <string>

#include "detail/contraction.hpp"
#include "roundoff/error.hpp"

namespace roundoff::ops {

namespace {
void check_bmm(const tensor_view& x, const tensor_view& w, optional_view b) {
  using detail::shape_str;
  detail::check_data(x, "input");
  detail::check_data(w, "mat2");
  if (b) detail::check_data(*b, "bias");
  if (x.dim() != 3) {
    throw input_error("bmm: batch1 (input) must be a 3D tensor, but got input of size " +
                      shape_str(x.shape));
  }
  if (w.dim() != 3) {
    throw input_error("bmm: batch2 (mat2) must be a 3D tensor, but got mat2 of size " +
                      shape_str(w.shape));
  }
  if (w.shape[0] != x.shape[0] || w.shape[1] != x.shape[2]) {
    throw input_error("bmm: expected size for first two dimensions of batch2 tensor to be: [" +
                      std::to_string(x.shape[0]) + ", " + std::to_string(x.shape[2]) +
                      "] but got: [" + std::to_string(w.shape[0]) + ", " +
                      std::to_string(w.shape[1]) + "] (input " + shape_str(x.shape) + ", mat2 " +
                      shape_str(w.shape) + ")");
  }
}
}  // namespace

std::vector<std::int64_t> bmm_output_shape(const tensor_view& x, const tensor_view& w,
                                           optional_view b) {
  check_bmm(x, w, b);
  std::vector<std::int64_t> out{x.shape[0], x.shape[1], w.shape[2]};
  if (b) detail::check_expandable(*b, out);
  return out;
}

op_result bmm(const tensor_view& x, const tensor_view& w, optional_view b,
              const reference_options& opt) {
  const std::vector<std::int64_t> out = bmm_output_shape(x, w, b);
  const std::int64_t nb = out[0], m = out[1], n = out[2], k = x.shape[2];
  const std::vector<double> wt = detail::transpose_last2(w, nb, k, n);
  detail::nt_operands o;
  o.a_batch = o.b_batch = o.out_batch = {nb};
  o.m = m;
  o.n = n;
  o.k = k;
  o.a = x;
  o.b = tensor_view(wt.data(), {static_cast<std::int64_t>(wt.size())});
  std::vector<double> bias;  // a bias that varies along n only: once, else expanded
  if (b) detail::set_nt_bias(o, *b, out, bias);
  return detail::run_nt_op(out, o, b.has_value(), opt);
}

}  // namespace roundoff::ops
