// F.linear(x, W, b) lowered to one NT product: x [M, K] (leading dims folded) times W [N, K].
#include "roundoff/ops/linear.hpp"

#include <string>

#include "detail/contraction.hpp"
#include "roundoff/error.hpp"

namespace roundoff::ops {

namespace {
struct linear_shape {
  std::vector<std::int64_t> out;
  std::int64_t m = 1, n = 1, k = 0;
};

linear_shape check_linear(const tensor_view& x, const tensor_view& w, optional_view b) {
  using detail::shape_str;
  detail::check_data(x, "input");
  detail::check_data(w, "weight");
  if (b) detail::check_data(*b, "bias");
  if (x.dim() == 0 || w.dim() == 0) {
    throw input_error("linear: both arguments to linear need to be at least 1D, but they are " +
                      std::to_string(x.dim()) + "D and " + std::to_string(w.dim()) + "D");
  }
  if (w.dim() > 2) {
    throw input_error(
        "linear: weight must be 1-D [in_features] or 2-D [out_features, "
        "in_features], but got weight of size " +
        shape_str(w.shape));
  }
  linear_shape s;
  s.k = x.shape.back();
  const std::int64_t wk = w.shape.back();
  if (wk != s.k) {
    throw input_error("linear: input of size " + shape_str(x.shape) + " and weight of size " +
                      shape_str(w.shape) + " cannot be multiplied: input's last dim (" +
                      std::to_string(s.k) + ") must equal weight's last dim (" +
                      std::to_string(wk) + ")");
  }
  s.out.assign(x.shape.begin(), x.shape.end() - 1);
  for (auto d : s.out) s.m *= d;
  if (w.dim() == 2) {
    s.n = w.shape[0];
    s.out.push_back(s.n);
  }
  return s;
}
}  // namespace

std::vector<std::int64_t> linear_output_shape(const tensor_view& x, const tensor_view& w,
                                              optional_view b) {
  linear_shape s = check_linear(x, w, b);
  if (b) detail::check_expandable(*b, s.out);
  return s.out;
}

op_result linear(const tensor_view& x, const tensor_view& w, optional_view b,
                 const reference_options& opt) {
  const linear_shape s = check_linear(x, w, b);
  detail::nt_operands o;
  o.m = s.m;
  o.n = s.n;
  o.k = s.k;
  o.a = x;
  o.b = w;
  std::vector<double> bias;  // an [n] bias once, not expanded to the output
  if (b) detail::set_nt_bias(o, *b, s.out, bias);
  return detail::run_nt_op(s.out, o, b.has_value(), opt);
}

}  // namespace roundoff::ops
