// F.conv{1,2,3}d: PyTorch's checks, then the im2col lowering (detail/conv_lowering.hpp).
#include "roundoff/ops/conv.hpp"

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

std::string conv_name(int dims) {
  return "conv" + std::to_string(dims) + "d";
}

// Validates like at::_convolution / check_shape_forward and builds the per-dim maps.
conv_plan plan_conv(int nd, const tensor& x, const tensor& w, const tensor* b,
                    const conv_params& p) {
  using detail::shape_str;
  if (nd < 1 || nd > 3) throw input_error("conv: spatial dims must be 1, 2 or 3");
  const std::string op = conv_name(nd);
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
                      "D weight [out_channels, in_channels/groups, kernel...], but got weight "
                      "of size " +
                      shape_str(w.shape));
  }
  const detail::expanded_params e = detail::expand_params(nd, p, op, false);
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
  const std::int64_t G = p.groups, cout = w.shape[0];
  if (cout < G) {
    throw input_error(op + ": given groups=" + std::to_string(G) + ", expected weight to be at " +
                      "least " + std::to_string(G) + " at dimension 0, but got weight of size " +
                      shape_str(w.shape) + " instead");
  }
  if (cout % G != 0) {
    throw input_error(op + ": given groups=" + std::to_string(G) + ", expected weight to be " +
                      "divisible by " + std::to_string(G) + " at dimension 0, but got weight of " +
                      "size " + shape_str(w.shape) + " instead");
  }
  if (C != w.shape[1] * G) {
    throw input_error(op + ": given groups=" + std::to_string(G) + ", weight of size " +
                      shape_str(w.shape) + ", expected input" + shape_str(x.shape) + " to have " +
                      std::to_string(w.shape[1] * G) + " channels, but got " + std::to_string(C) +
                      " channels instead");
  }
  if (b && (b->dim() != 1 || b->shape[0] != cout)) {
    throw input_error(op + ": given weight of size " + shape_str(w.shape) +
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

  conv_plan plan;
  auto& L = plan.L;
  L.batch = N;
  L.cin = C;
  L.cout = cout;
  L.groups = G;
  L.cin_g = w.shape[1];
  L.cout_g = cout / G;
  if (batched) plan.out_shape.push_back(N);
  plan.out_shape.push_back(cout);
  for (int d = 0; d < nd; ++d) {
    const auto ud = static_cast<std::size_t>(d);
    detail::dim_map m;
    m.in = in[ud];
    m.k = k[ud];
    m.out = (padded[ud] - dk[ud]) / e.stride[ud] + 1;
    m.src.resize(static_cast<std::size_t>(m.out * m.k));
    for (std::int64_t o = 0; o < m.out; ++o) {
      for (std::int64_t t = 0; t < m.k; ++t) {
        std::int64_t i = o * e.stride[ud] - pl[ud] + t * e.dilation[ud];
        if (i < 0 || i >= m.in) {
          switch (p.mode) {
            case padding_mode::zeros:
              i = -1;
              break;
            case padding_mode::reflect:
              i = i < 0 ? -i : 2 * (m.in - 1) - i;
              break;
            case padding_mode::replicate:
              i = i < 0 ? 0 : m.in - 1;
              break;
            case padding_mode::circular:
              i = ((i % m.in) + m.in) % m.in;
              break;
          }
        }
        m.src[static_cast<std::size_t>(o * m.k + t)] = i;
      }
    }
    plan.out_shape.push_back(m.out);
    L.dims.push_back(std::move(m));
  }
  // w [cout, cin_g, k...] is already A[g][co][ci * KK + t].
  L.a = w.data;
  return plan;
}
}  // namespace

std::vector<std::int64_t> conv_output_shape(int dims, const tensor& x, const tensor& w,
                                            const tensor* b, const conv_params& p) {
  return plan_conv(dims, x, w, b, p).out_shape;
}

op_result conv(int dims, const tensor& x, const tensor& w, const tensor* b, const conv_params& p,
               const reference_options& opt) {
  const conv_plan plan = plan_conv(dims, x, w, b, p);
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
