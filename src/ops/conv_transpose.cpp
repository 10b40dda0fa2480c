// F.conv_transpose{1,2,3}d: PyTorch's checks, then the im2col lowering with the transposed
// index map i = (o + padding - t*dilation) / stride (only where the division is exact).
#include "roundoff/ops/conv_transpose.hpp"

#include <string>

#include "detail/contraction.hpp"
#include "detail/conv_common.hpp"
#include "roundoff/error.hpp"

namespace roundoff::ops {

namespace detail {

conv_geometry resolve_conv_transpose(int nd, const tensor_view& x, const tensor_view& w,
                                     optional_view b, const conv_params& p) {
  using detail::shape_str;
  const detail::conv_args a = detail::check_conv_args(nd, x, w, b, p, true);
  const std::string& op = a.op;
  const detail::expanded_params& e = a.e;
  const std::int64_t N = a.N;
  const std::vector<std::int64_t>&in = a.in, &k = a.k;
  for (int d = 0; d < nd; ++d) {
    const auto ud = static_cast<std::size_t>(d);
    if (e.output_padding[ud] >= e.stride[ud] && e.output_padding[ud] >= e.dilation[ud]) {
      throw input_error(op +
                        ": output padding must be smaller than either stride or dilation, "
                        "but got output_padding=" +
                        shape_str(e.output_padding) + ", stride=" + shape_str(e.stride) +
                        ", dilation=" + shape_str(e.dilation));
    }
  }
  std::vector<std::int64_t> outs(in.size());
  bool too_small = false;
  for (int d = 0; d < nd; ++d) {
    const auto ud = static_cast<std::size_t>(d);
    outs[ud] = (in[ud] - 1) * e.stride[ud] - 2 * e.padding[ud] + e.dilation[ud] * (k[ud] - 1) +
               e.output_padding[ud] + 1;
    // PyTorch never reaches its output-size check for an empty batch and returns an empty
    // tensor with a 0-size dim; a negative size is an error either way.
    if (outs[ud] < 0 || (outs[ud] == 0 && N != 0)) too_small = true;
  }
  if (too_small) {
    throw input_error(op + ": Given input size per channel: " + detail::sizes_paren(in) +
                      ". Calculated output size per channel: " + detail::sizes_paren(outs) +
                      ". Output size is too small");
  }

  conv_geometry g = detail::geometry_of(a, true);
  g.pad_left = g.pad_right = e.padding;
  g.out = outs;
  detail::fill_sources(g, [&](std::size_t ud, std::int64_t o, std::int64_t t) {
    const std::int64_t num = o + e.padding[ud] - t * e.dilation[ud];
    std::int64_t i = -1;
    if (num >= 0 && num % e.stride[ud] == 0 && num / e.stride[ud] < in[ud]) {
      i = num / e.stride[ud];
    }
    return i;
  });
  return g;
}

}  // namespace detail

namespace {
using detail::conv_plan;

conv_plan plan_conv_transpose(int nd, const tensor_view& x, const tensor_view& w, optional_view b,
                              const conv_params& p) {
  conv_plan plan = detail::make_conv_plan(detail::resolve_conv_transpose(nd, x, w, b, p));
  auto& L = plan.L;
  const std::int64_t G = L.groups;
  // w [cin, cout_g, k...] -> A[g][co][ci * KK + t].
  std::int64_t KK = 1;
  for (const auto& m : L.dims) KK *= m.k;
  const std::vector<double> wv = detail::dense_values(w);
  L.a.resize(wv.size());
  for (std::int64_t g = 0; g < G; ++g) {
    for (std::int64_t co = 0; co < L.cout_g; ++co) {
      for (std::int64_t ci = 0; ci < L.cin_g; ++ci) {
        const double* src = wv.data() + ((g * L.cin_g + ci) * L.cout_g + co) * KK;
        double* dst = L.a.data() + ((g * L.cout_g + co) * L.cin_g + ci) * KK;
        for (std::int64_t t = 0; t < KK; ++t) dst[t] = src[t];
      }
    }
  }
  return plan;
}
}  // namespace

std::vector<std::int64_t> conv_transpose_output_shape(int dims, const tensor_view& x,
                                                      const tensor_view& w, optional_view b,
                                                      const conv_params& p) {
  return detail::resolve_conv_transpose(dims, x, w, b, p).output_shape();
}

op_result conv_transpose(int dims, const tensor_view& x, const tensor_view& w, optional_view b,
                         const conv_params& p, const reference_options& opt) {
  return detail::run_conv_plan(plan_conv_transpose(dims, x, w, b, p), x, b, opt);
}

}  // namespace roundoff::ops
