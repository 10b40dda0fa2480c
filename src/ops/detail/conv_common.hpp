// Internal to src/ops: what conv and conv_transpose share around the im2col lowering. PyTorch's
// argument checks common to both (in PyTorch's order), the plan they build, and running it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "detail/conv_lowering.hpp"
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

struct conv_plan {
  conv_lowering L;
  std::vector<std::int64_t> out_shape;
};

/// Plan with L's sizes and out_shape [N?, cout, out...] from `a`, and per-dim maps with
/// src[o * k + t] = src_of(d, o, t) for o < outs[d], t < k[d]. L.a is left to the caller.
template <class SrcOf>
conv_plan make_conv_plan(const conv_args& a, std::int64_t cin_g, std::int64_t cout_g,
                         const std::vector<std::int64_t>& outs, SrcOf src_of) {
  conv_plan plan;
  auto& L = plan.L;
  L.batch = a.N;
  L.cin = a.C;
  L.cout = a.cout;
  L.groups = a.G;
  L.cin_g = cin_g;
  L.cout_g = cout_g;
  if (a.batched) plan.out_shape.push_back(a.N);
  plan.out_shape.push_back(a.cout);
  for (std::size_t ud = 0; ud < a.in.size(); ++ud) {
    dim_map m;
    m.in = a.in[ud];
    m.k = a.k[ud];
    m.out = outs[ud];
    m.src.resize(static_cast<std::size_t>(m.out * m.k));
    for (std::int64_t o = 0; o < m.out; ++o) {
      for (std::int64_t t = 0; t < m.k; ++t) {
        m.src[static_cast<std::size_t>(o * m.k + t)] = src_of(ud, o, t);
      }
    }
    plan.out_shape.push_back(m.out);
    L.dims.push_back(std::move(m));
  }
  return plan;
}

/// Runs a plan on x (and bias b, may be null): exact results, magnitudes and term counts.
op_result run_conv_plan(const conv_plan& plan, const tensor_view& x, optional_view b,
                        const reference_options& opt);

}  // namespace roundoff::ops::detail
