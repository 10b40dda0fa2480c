// Internal to src/ops: what conv and conv_transpose share around the im2col lowering. PyTorch's
// argument checks common to both (in PyTorch's order), the plan they build, and running it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "detail/conv_lowering.hpp"
#include "roundoff/ops/conv.hpp"
#include "roundoff/ops/op.hpp"
#include "roundoff/ops/op_result.hpp"
#include "roundoff/tensor.hpp"

namespace roundoff::ops::detail {

/// Checked, normalized conv arguments.
struct conv_args {
  std::string op;  ///< "conv2d", "conv_transpose3d", ... as named in messages
  expanded_params e;
  bool batched = false;
  std::int64_t N = 1, C = 0;  ///< batch (1 if unbatched) and input channels
  std::int64_t G = 1, cout = 0;
  std::vector<std::int64_t> in, k;  ///< spatial input sizes and kernel sizes
};

/// Validates like at::_convolution / check_shape_forward, for conv (weight
/// [out_channels, in_channels/groups, kernel...]) or, with `transposed`, conv_transpose (weight
/// [in_channels, out_channels/groups, kernel...]): data, ranks, params, kernel sizes, groups,
/// channels, bias, and empty spatial sizes. Throws input_error naming the op.
conv_args check_conv_args(int nd, const tensor_view& x, const tensor_view& w, optional_view b,
                          const conv_params& p, bool transposed);

/// The geometry of checked arguments `a`, with pad_left/pad_right, out and source left to the
/// caller (they are what conv and conv_transpose compute differently).
conv_geometry geometry_of(const conv_args& a, bool transposed);

/// Fills g.source with source[d][o * kernel[d] + t] = src_of(d, o, t) for o < out[d],
/// t < kernel[d].
template <class SrcOf>
void fill_sources(conv_geometry& g, SrcOf src_of) {
  g.source.assign(g.in.size(), {});
  for (std::size_t ud = 0; ud < g.in.size(); ++ud) {
    auto& s = g.source[ud];
    const std::int64_t k = g.kernel[ud];
    s.resize(static_cast<std::size_t>(g.out[ud] * k));
    for (std::int64_t o = 0; o < g.out[ud]; ++o) {
      for (std::int64_t t = 0; t < k; ++t)
        s[static_cast<std::size_t>(o * k + t)] = src_of(ud, o, t);
    }
  }
}

/// Validates and resolves conv (conv.cpp) and conv_transpose (conv_transpose.cpp) arguments.
conv_geometry resolve_conv(int nd, const tensor_view& x, const tensor_view& w, optional_view b,
                           const conv_params& p);
conv_geometry resolve_conv_transpose(int nd, const tensor_view& x, const tensor_view& w,
                                     optional_view b, const conv_params& p);

struct conv_plan {
  conv_lowering L;
  std::vector<std::int64_t> out_shape;
};

/// Plan with L's sizes, per-dim maps (moved from g.source) and out_shape from g. L.a is left to
/// the caller.
conv_plan make_conv_plan(conv_geometry g);

/// Runs a plan on x (and bias b, may be null): exact results, magnitudes and term counts.
op_result run_conv_plan(const conv_plan& plan, const tensor_view& x, optional_view b,
                        const reference_options& opt);

}  // namespace roundoff::ops::detail
