// torch.matmul lowered to broadcast batched NT products (w transposed to [..., N, K] once).
#include "roundoff/ops/matmul.hpp"

#include <algorithm>
#include <string>

#include "detail/contraction.hpp"
#include "roundoff/error.hpp"

namespace roundoff::ops {

namespace {
struct mm_shape {
  std::vector<std::int64_t> xb, wb, ob, out;
  std::int64_t m = 1, n = 1, k = 0;
};

mm_shape check_matmul(const tensor_view& x, const tensor_view& w, optional_view b) {
  using detail::shape_str;
  detail::check_data(x, "input");
  detail::check_data(w, "other");
  if (b) detail::check_data(*b, "bias");
  if (x.dim() == 0 || w.dim() == 0) {
    throw input_error("matmul: both arguments to matmul need to be at least 1D, but they are " +
                      std::to_string(x.dim()) + "D and " + std::to_string(w.dim()) + "D");
  }
  mm_shape s;
  std::vector<std::int64_t> xs = x.shape, ws = w.shape;
  const bool xv = x.dim() == 1, wv = w.dim() == 1;
  if (xv) xs.insert(xs.begin(), 1);
  if (wv) ws.push_back(1);
  s.m = xs[xs.size() - 2];
  s.k = xs.back();
  s.n = ws.back();
  if (ws[ws.size() - 2] != s.k) {
    throw input_error("matmul: shapes " + shape_str(x.shape) + " and " + shape_str(w.shape) +
                      " cannot be multiplied: the first's last dim (" + std::to_string(s.k) +
                      ") must equal the second's " + (wv ? "only" : "second-to-last") + " dim (" +
                      std::to_string(ws[ws.size() - 2]) + ")");
  }
  s.xb.assign(xs.begin(), xs.end() - 2);
  s.wb.assign(ws.begin(), ws.end() - 2);
  const std::size_t nd = std::max(s.xb.size(), s.wb.size());
  s.ob.assign(nd, 1);
  for (std::size_t i = 0; i < nd; ++i) {
    const std::int64_t a = i < s.xb.size() ? s.xb[s.xb.size() - 1 - i] : 1;
    const std::int64_t c = i < s.wb.size() ? s.wb[s.wb.size() - 1 - i] : 1;
    if (a != c && a != 1 && c != 1) {
      throw input_error("matmul: the size of tensor a (" + std::to_string(a) +
                        ") must match the size of tensor b (" + std::to_string(c) +
                        ") at non-singleton dimension " + std::to_string(nd - 1 - i) +
                        " (batch dims of " + shape_str(x.shape) + " and " + shape_str(w.shape) +
                        " do not broadcast)");
    }
    s.ob[nd - 1 - i] = a == 1 ? c : a;
  }
  s.out = s.ob;
  if (!xv) s.out.push_back(s.m);
  if (!wv) s.out.push_back(s.n);
  return s;
}
}  // namespace

std::vector<std::int64_t> matmul_output_shape(const tensor_view& x, const tensor_view& w,
                                              optional_view b) {
  mm_shape s = check_matmul(x, w, b);
  if (b) detail::check_expandable(*b, s.out);
  return s.out;
}

op_result matmul(const tensor_view& x, const tensor_view& w, optional_view b,
                 const reference_options& opt) {
  const mm_shape s = check_matmul(x, w, b);
  std::int64_t wbatch = 1;
  for (auto d : s.wb) wbatch *= d;
  const std::vector<double> wt = detail::transpose_last2(w, wbatch, s.k, s.n);
  detail::nt_operands o;
  o.a_batch = s.xb;
  o.b_batch = s.wb;
  o.out_batch = s.ob;
  o.m = s.m;
  o.n = s.n;
  o.k = s.k;
  o.a = x;
  o.b = tensor_view(wt.data(), {static_cast<std::int64_t>(wt.size())});
  std::vector<double> bias;  // a bias that varies along n only: once, else expanded
  if (b) detail::set_nt_bias(o, *b, s.out, bias);
  return detail::run_nt_op(s.out, o, b.has_value(), opt);
}

}  // namespace roundoff::ops
