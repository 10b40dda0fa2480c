// F.conv_transpose{1,2,3}d: PyTorch's checks, then the im2col lowering with the transposed
// index map i = (o + padding - t*dilation) / stride (only where the division is exact).
#include "roundoff/ops/conv_transpose.hpp"

#include <string>

#include "detail/contraction.hpp"
#include "detail/conv_lowering.hpp"
#include "roundoff/error.hpp"

namespace roundoff::ops {

namespace {
struct conv_plan {
  detail::conv_lowering L;
  std::vector<std::int64_t> out_shape;
};

conv_plan plan_conv_transpose(int nd, const tensor& x, const tensor& w, const tensor* b,
                              const conv_params& p) {
  using detail::shape_str;
  if (nd < 1 || nd > 3) throw input_error("conv_transpose: spatial dims must be 1, 2 or 3");
  const std::string op = "conv_transpose" + std::to_string(nd) + "d";
  detail::check_data(x, "input");
  detail::check_data(w, "weight");
  if (b) detail::check_data(*b, "bias");
  if (x.dim() != nd + 1 && x.dim() != nd + 2) {
    throw input_error(op + ": Expected " + std::to_string(nd + 1) + "D (unbatched) or " +
                      std::to_string(nd + 2) + "D (batched) input to " + op +
                      ", but got input of size: " + shape_str(x.shape));
  }
  if (w.dim() != nd + 2) {
    throw input_error(op + ": expected " + std::to_string(nd + 2) +
                      "D weight [in_channels, out_channels/groups, kernel...], but got weight "
                      "of size " +
                      shape_str(w.shape));
  }
  const detail::expanded_params e = detail::expand_params(nd, p, op, true);
  const bool batched = x.dim() == nd + 2;
  const std::int64_t N = batched ? x.shape[0] : 1;
  const std::int64_t C = x.shape[batched ? 1 : 0];
  std::vector<std::int64_t> in(x.shape.end() - nd, x.shape.end());
  std::vector<std::int64_t> k(w.shape.end() - nd, w.shape.end());
  for (auto kk : k) {
    if (kk <= 0) {
      throw input_error(op + ": kernel size should be greater than zero, but got weight of size " +
                        shape_str(w.shape));
    }
  }
  const std::int64_t G = p.groups, wc = w.shape[0];
  if (wc < G) {
    throw input_error(op + ": given groups=" + std::to_string(G) + ", expected weight to be at " +
                      "least " + std::to_string(G) + " at dimension 0, but got weight of size " +
                      shape_str(w.shape) + " instead");
  }
  if (wc % G != 0) {
    throw input_error(op + ": given groups=" + std::to_string(G) + ", expected weight to be " +
                      "divisible by " + std::to_string(G) + " at dimension 0, but got weight of " +
                      "size " + shape_str(w.shape) + " instead");
  }
  if (C != wc) {
    throw input_error(op + ": given transposed=1, weight of size " + shape_str(w.shape) +
                      ", expected input" + shape_str(x.shape) + " to have " + std::to_string(wc) +
                      " channels, but got " + std::to_string(C) + " channels instead");
  }
  const std::int64_t cout = w.shape[1] * G;
  if (b && (b->dim() != 1 || b->shape[0] != cout)) {
    throw input_error(op + ": given transposed=1, weight of size " + shape_str(w.shape) +
                      ", expected bias to be 1-dimensional with " + std::to_string(cout) +
                      " elements, but got bias of size " + shape_str(b->shape) + " instead");
  }
  if (N != 0 && C != 0) {
    for (auto s : in) {
      if (s == 0) {
        throw input_error(op +
                          ": only zero batch or zero channel inputs are supported, but got "
                          "input shape: " +
                          shape_str(x.shape));
      }
    }
  }
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

  conv_plan plan;
  auto& L = plan.L;
  L.batch = N;
  L.cin = C;
  L.cout = cout;
  L.groups = G;
  L.cin_g = C / G;
  L.cout_g = w.shape[1];
  if (batched) plan.out_shape.push_back(N);
  plan.out_shape.push_back(cout);
  for (int d = 0; d < nd; ++d) {
    const auto ud = static_cast<std::size_t>(d);
    detail::dim_map m;
    m.in = in[ud];
    m.k = k[ud];
    m.out = outs[ud];
    m.src.resize(static_cast<std::size_t>(m.out * m.k));
    for (std::int64_t o = 0; o < m.out; ++o) {
      for (std::int64_t t = 0; t < m.k; ++t) {
        const std::int64_t num = o + e.padding[ud] - t * e.dilation[ud];
        std::int64_t i = -1;
        if (num >= 0 && num % e.stride[ud] == 0 && num / e.stride[ud] < m.in) {
          i = num / e.stride[ud];
        }
        m.src[static_cast<std::size_t>(o * m.k + t)] = i;
      }
    }
    plan.out_shape.push_back(m.out);
    L.dims.push_back(std::move(m));
  }
  // w [cin, cout_g, k...] -> A[g][co][ci * KK + t].
  std::int64_t KK = 1;
  for (auto kk : k) KK *= kk;
  L.a.resize(w.data.size());
  for (std::int64_t g = 0; g < G; ++g) {
    for (std::int64_t co = 0; co < L.cout_g; ++co) {
      for (std::int64_t ci = 0; ci < L.cin_g; ++ci) {
        const double* src = w.data.data() + ((g * L.cin_g + ci) * L.cout_g + co) * KK;
        double* dst = L.a.data() + ((g * L.cout_g + co) * L.cin_g + ci) * KK;
        for (std::int64_t t = 0; t < KK; ++t) dst[t] = src[t];
      }
    }
  }
  return plan;
}
}  // namespace

std::vector<std::int64_t> conv_transpose_output_shape(int dims, const tensor& x, const tensor& w,
                                                      const tensor* b, const conv_params& p) {
  return plan_conv_transpose(dims, x, w, b, p).out_shape;
}

op_result conv_transpose(int dims, const tensor& x, const tensor& w, const tensor* b,
                         const conv_params& p, const reference_options& opt) {
  const conv_plan plan = plan_conv_transpose(dims, x, w, b, p);
  op_result r;
  r.has_bias = b != nullptr;
  detail::contraction_runner run(r, plan.out_shape, opt);
  detail::run_conv_lowering(run, plan.L, x.data.data(), b ? b->data.data() : nullptr,
                            opt.tile_bytes > 0 ? opt.tile_bytes : detail::im2col_tile_bytes);
  run.finish();
  detail::conv_term_counts(plan.L, r.terms, r.data_terms);
  return r;
}

}  // namespace roundoff::ops
