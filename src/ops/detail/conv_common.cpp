#include "detail/conv_common.hpp"

#include "detail/contraction.hpp"
#include "roundoff/error.hpp"

namespace roundoff::ops::detail {

conv_args check_conv_args(int nd, const tensor_view& x, const tensor_view& w, optional_view b,
                          const conv_params& p, bool transposed) {
  const std::string family = transposed ? "conv_transpose" : "conv";
  if (nd < 1 || nd > 3) throw input_error(family + ": spatial dims must be 1, 2 or 3");
  conv_args a;
  const std::string& op = a.op = family + std::to_string(nd) + "d";
  check_data(x, "input");
  check_data(w, "weight");
  if (b) check_data(*b, "bias");
  if (x.dim() != nd + 1 && x.dim() != nd + 2) {
    throw input_error(op + ": Expected " + std::to_string(nd + 1) + "D (unbatched) or " +
                      std::to_string(nd + 2) + "D (batched) input to " + op +
                      ", but got input of size: " + shape_str(x.shape));
  }
  if (w.dim() != nd + 2) {
    throw input_error(
        op + ": expected " + std::to_string(nd + 2) + "D weight [" +
        (transposed ? "in_channels, out_channels/groups" : "out_channels, in_channels/groups") +
        ", kernel...], but got weight of size " + shape_str(w.shape));
  }
  a.e = expand_params(nd, p, op, transposed);
  a.batched = x.dim() == nd + 2;
  a.N = a.batched ? x.shape[0] : 1;
  a.C = x.shape[a.batched ? 1 : 0];
  a.in.assign(x.shape.end() - nd, x.shape.end());
  a.k.assign(w.shape.end() - nd, w.shape.end());
  for (auto kk : a.k) {
    if (kk <= 0) {
      throw input_error(op + ": kernel size should be greater than zero, but got weight of size " +
                        shape_str(w.shape));
    }
  }
  const std::int64_t G = a.G = p.groups, w0 = w.shape[0];
  if (w0 < G) {
    throw input_error(op + ": given groups=" + std::to_string(G) + ", expected weight to be at " +
                      "least " + std::to_string(G) + " at dimension 0, but got weight of size " +
                      shape_str(w.shape) + " instead");
  }
  if (w0 % G != 0) {
    throw input_error(op + ": given groups=" + std::to_string(G) + ", expected weight to be " +
                      "divisible by " + std::to_string(G) + " at dimension 0, but got weight of " +
                      "size " + shape_str(w.shape) + " instead");
  }
  // conv: weight [cout, C/G, ...]; transposed: weight [C, cout/G, ...].
  const std::int64_t want_c = transposed ? w0 : w.shape[1] * G;
  if (a.C != want_c) {
    throw input_error(op + ": given " +
                      (transposed ? std::string("transposed=1") : "groups=" + std::to_string(G)) +
                      ", weight of size " + shape_str(w.shape) + ", expected input" +
                      shape_str(x.shape) + " to have " + std::to_string(want_c) +
                      " channels, but got " + std::to_string(a.C) + " channels instead");
  }
  a.cout = transposed ? w.shape[1] * G : w0;
  if (b && (b->dim() != 1 || b->shape[0] != a.cout)) {
    throw input_error(op + ": given " + (transposed ? "transposed=1, " : "") + "weight of size " +
                      shape_str(w.shape) + ", expected bias to be 1-dimensional with " +
                      std::to_string(a.cout) + " elements, but got bias of size " +
                      shape_str(b->shape) + " instead");
  }
  if (a.N != 0 && a.C != 0) {
    for (auto s : a.in) {
      if (s == 0) {
        throw input_error(op +
                          ": only zero batch or zero channel inputs are supported, but got "
                          "input shape: " +
                          shape_str(x.shape));
      }
    }
  }
  return a;
}

conv_geometry geometry_of(const conv_args& a, bool transposed) {
  conv_geometry g;
  g.dims = static_cast<int>(a.in.size());
  g.transposed = transposed;
  g.batched = a.batched;
  g.batch = a.N;
  g.in_channels = a.C;
  g.out_channels = a.cout;
  g.groups = a.G;
  g.in = a.in;
  g.kernel = a.k;
  g.stride = a.e.stride;
  g.dilation = a.e.dilation;
  g.output_padding = a.e.output_padding;
  return g;
}

conv_plan make_conv_plan(conv_geometry g) {
  conv_plan plan;
  auto& L = plan.L;
  L.batch = g.batch;
  L.cin = g.in_channels;
  L.cout = g.out_channels;
  L.groups = g.groups;
  L.cin_g = g.in_channels / g.groups;
  L.cout_g = g.out_channels / g.groups;
  plan.out_shape = g.output_shape();
  for (std::size_t ud = 0; ud < g.in.size(); ++ud) {
    dim_map m;
    m.in = g.in[ud];
    m.k = g.kernel[ud];
    m.out = g.out[ud];
    m.src = std::move(g.source[ud]);
    L.dims.push_back(std::move(m));
  }
  return plan;
}

op_result run_conv_plan(const conv_plan& plan, const tensor_view& x, optional_view b,
                        const reference_options& opt) {
  op_result r;
  r.has_bias = b.has_value();
  contraction_runner run(r, plan.out_shape, opt);
  const std::vector<double> bias = b ? dense_values(*b) : std::vector<double>();
  run_conv_lowering(run, plan.L, x, b ? bias.data() : nullptr,
                    opt.tile_bytes > 0 ? opt.tile_bytes : im2col_tile_bytes);
  run.finish();
  conv_term_counts(plan.L, r.terms, r.data_terms);
  return r;
}

}  // namespace roundoff::ops::detail

namespace roundoff::ops {

std::vector<std::int64_t> conv_geometry::output_shape() const {
  std::vector<std::int64_t> shape;
  if (batched) shape.push_back(batch);
  shape.push_back(out_channels);
  shape.insert(shape.end(), out.begin(), out.end());
  return shape;
}

conv_geometry resolve_conv(const problem& p) {
  const int nd = spatial_dims(p.op.kind);
  if (nd == 0) {
    throw input_error(std::string(op_name(p.op.kind)) + ": not a convolution");
  }
  return is_transposed(p.op.kind) ? detail::resolve_conv_transpose(nd, p.x, p.w, p.b, p.op.conv)
                                  : detail::resolve_conv(nd, p.x, p.w, p.b, p.op.conv);
}

}  // namespace roundoff::ops
