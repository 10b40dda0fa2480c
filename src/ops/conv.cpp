// F.conv{1,2,3}d: PyTorch's checks, then the im2col lowering (detail/conv_lowering.hpp).
#include "roundoff/ops/conv.hpp"

#include <string>

#include "detail/contraction.hpp"
#include "detail/conv_common.hpp"
#include "roundoff/error.hpp"

namespace roundoff::ops {

namespace detail {

// Validates like at::_convolution / check_shape_forward and resolves padding and the per-dim maps.
conv_geometry resolve_conv(int nd, const tensor_view& x, const tensor_view& w, optional_view b,
                           const conv_params& p) {
  using detail::shape_str;
  const detail::conv_args a = detail::check_conv_args(nd, x, w, b, p, false);
  const std::string& op = a.op;
  const detail::expanded_params& e = a.e;
  const bool batched = a.batched;
  const std::vector<std::int64_t>&in = a.in, &k = a.k;
  // Per-dim padding (left, right), PyTorch's 'same' puts the odd unit on the right.
  std::vector<std::int64_t> pl(static_cast<std::size_t>(nd)), pr(static_cast<std::size_t>(nd));
  for (int d = 0; d < nd; ++d) {
    const auto ud = static_cast<std::size_t>(d);
    if (p.pad == conv_params::padding_kind::same) {
      const std::int64_t total = e.dilation[ud] * (k[ud] - 1);
      pl[ud] = total / 2;
      pr[ud] = total - pl[ud];
    } else if (p.pad == conv_params::padding_kind::valid) {
      pl[ud] = pr[ud] = 0;
    } else {
      pl[ud] = pr[ud] = e.padding[ud];
    }
  }
  std::vector<std::int64_t> padded(in.size()), dk(in.size());
  bool too_small = false;
  for (int d = 0; d < nd; ++d) {
    const auto ud = static_cast<std::size_t>(d);
    padded[ud] = in[ud] + pl[ud] + pr[ud];
    dk[ud] = e.dilation[ud] * (k[ud] - 1) + 1;
    if (padded[ud] < dk[ud]) too_small = true;
  }
  if (too_small) {
    throw input_error(op + ": Calculated padded input size per channel: " +
                      detail::sizes_paren(padded) + ". Kernel size: " + detail::sizes_paren(dk) +
                      ". Kernel size can't be greater than actual input size");
  }
  if (p.mode != padding_mode::zeros) {
    for (int d = 0; d < nd; ++d) {
      const auto ud = static_cast<std::size_t>(d);
      if (p.mode == padding_mode::reflect && (pl[ud] >= in[ud] || pr[ud] >= in[ud])) {
        throw input_error(op +
                          ": padding_mode='reflect': padding size should be less than the "
                          "corresponding input dimension, but got: padding (" +
                          std::to_string(pl[ud]) + ", " + std::to_string(pr[ud]) +
                          ") at dimension " + std::to_string(d + (batched ? 2 : 1)) + " of input " +
                          shape_str(x.shape));
      }
      if (p.mode == padding_mode::circular && (pl[ud] > in[ud] || pr[ud] > in[ud])) {
        throw input_error(op +
                          ": padding_mode='circular': padding value causes wrapping around "
                          "more than once (padding (" +
                          std::to_string(pl[ud]) + ", " + std::to_string(pr[ud]) +
                          ") at dimension " + std::to_string(d + (batched ? 2 : 1)) + " of input " +
                          shape_str(x.shape) + ")");
      }
    }
  }

  std::vector<std::int64_t> outs(in.size());
  for (std::size_t ud = 0; ud < in.size(); ++ud) {
    outs[ud] = (padded[ud] - dk[ud]) / e.stride[ud] + 1;
  }
  conv_geometry g = detail::geometry_of(a, false);
  g.pad_left = pl;
  g.pad_right = pr;
  g.out = outs;
  g.mode = p.mode;
  detail::fill_sources(g, [&](std::size_t ud, std::int64_t o, std::int64_t t) {
    const std::int64_t n = in[ud];
    std::int64_t i = o * e.stride[ud] - pl[ud] + t * e.dilation[ud];
    if (i < 0 || i >= n) {
      switch (p.mode) {
        case padding_mode::zeros:
          i = -1;
          break;
        case padding_mode::reflect:
          i = i < 0 ? -i : 2 * (n - 1) - i;
          break;
        case padding_mode::replicate:
          i = i < 0 ? 0 : n - 1;
          break;
        case padding_mode::circular:
          i = ((i % n) + n) % n;
          break;
      }
    }
    return i;
  });
  return g;
}

}  // namespace detail

namespace {
using detail::conv_plan;

conv_plan plan_conv(int nd, const tensor_view& x, const tensor_view& w, optional_view b,
                    const conv_params& p) {
  conv_plan plan = detail::make_conv_plan(detail::resolve_conv(nd, x, w, b, p));
  // w [cout, cin_g, k...] is already A[g][co][ci * KK + t].
  plan.L.a = detail::dense_values(w);
  return plan;
}
}  // namespace

std::vector<std::int64_t> conv_output_shape(int dims, const tensor_view& x, const tensor_view& w,
                                            optional_view b, const conv_params& p) {
  return detail::resolve_conv(dims, x, w, b, p).output_shape();
}

op_result conv(int dims, const tensor_view& x, const tensor_view& w, optional_view b,
               const conv_params& p, const reference_options& opt) {
  return detail::run_conv_plan(plan_conv(dims, x, w, b, p), x, b, opt);
}

}  // namespace roundoff::ops
