// The lowering of every op to NT matrix products. PyTorch's shape rules are the ops layer's:
// ops::output_shape validates a matrix-product op and gives its output shape, ops::resolve_conv a
// convolution's geometry (padding, output sizes, and the input index of each output and tap).
// The lowering only ever inserts exact zeros (padding, zero insertion for transposed convs):
// a product with a zero is exactly zero and adding it is exact, so a backend that runs the
// lowered GEMM has the rounding errors of a GEMM over the op's own terms. See docs/backends.md.
#include "lowering.hpp"

#include <cstddef>
#include <functional>
#include <numeric>

#include "roundoff/error.hpp"
#include "roundoff/ops/conv.hpp"

namespace roundoff::backends::detail {
namespace {

using i64 = std::int64_t;
using shape_t = std::vector<i64>;

i64 prod(const shape_t& s) {
  return std::accumulate(s.begin(), s.end(), i64{1}, std::multiplies<>());
}

// A matrix-product op (validated by ops::output_shape, whose shape is `out`) as a batch of
// products: x is [x_batch..., M, K], w is [w_batch..., K, N] (linear: w is [N, K] or [K]), and
// the batches broadcast to `batch`. For matmul, a 1-D x or w is promoted as PyTorch does (a 1
// prepended / appended, absent from `out`).
struct product_layout {
  shape_t batch, x_batch, w_batch;
  i64 m = 1, n = 1, k = 0;
  bool w_is_nk = false;  // linear: w is [N, K] already
};

product_layout layout_product(ops::op_kind kind, const tensor& x, const tensor& w,
                              const shape_t& out) {
  product_layout s;
  if (kind == ops::op_kind::linear) {
    s.k = x.shape.back();
    s.n = w.dim() == 2 ? w.shape[0] : 1;
    s.m = std::accumulate(x.shape.begin(), x.shape.end() - 1, i64{1}, std::multiplies<>());
    s.w_is_nk = true;
    return s;
  }
  shape_t xs = x.shape, ws = w.shape;
  if (xs.size() == 1) xs.insert(xs.begin(), 1);
  if (ws.size() == 1) ws.push_back(1);
  s.m = xs[xs.size() - 2];
  s.k = xs.back();
  s.n = ws.back();
  s.x_batch.assign(xs.begin(), xs.end() - 2);
  s.w_batch.assign(ws.begin(), ws.end() - 2);
  const std::size_t kept = (x.dim() > 1 ? 1 : 0) + (w.dim() > 1 ? 1 : 0);  // M and N in out
  if (out.size() < kept) throw internal_error("lowering: output shape without its M, N dims");
  s.batch.assign(out.begin(), out.end() - static_cast<std::ptrdiff_t>(kept));
  return s;
}

// Index into a (right-aligned, broadcast) batch of shape `from` for a flat index into `to`.
i64 broadcast_index(i64 flat, const shape_t& to, const shape_t& from) {
  i64 idx = 0, stride = 1;
  for (std::size_t r = 0; r < to.size(); ++r) {
    std::size_t i = to.size() - 1 - r;
    i64 coord = flat % to[i];
    flat /= to[i];
    if (r < from.size()) {
      std::size_t j = from.size() - 1 - r;
      if (from[j] != 1) idx += coord * stride;
      stride *= from[j];
    }
  }
  return idx;
}

// b's values broadcast (NumPy rules) to shape `to`; ops::output_shape has checked that b
// broadcasts to it.
std::vector<double> broadcast_values(const tensor& b, const shape_t& to) {
  if (b.shape.size() > to.size())
    throw internal_error("lowering: a bias of higher rank than the output passed validation");
  const i64 n = prod(to);
  std::vector<double> r(static_cast<std::size_t>(n));
  for (i64 i = 0; i < n; ++i)
    r[static_cast<std::size_t>(i)] =
        b.data[static_cast<std::size_t>(broadcast_index(i, to, b.shape))];
  return r;
}

}  // namespace

gemm_lowering lower_to_gemm(const ops::op_spec& op, const tensor& x, const tensor& w,
                            const tensor* b) {
  gemm_lowering L;
  if (ops::spatial_dims(op.kind) == 0) {
    L.out_shape = ops::output_shape({op, x, w, b});
    const auto s = layout_product(op.kind, x, w, L.out_shape);
    L.m = s.m;
    L.n = s.n;
    L.k = s.k;
    if (s.w_is_nk) {  // linear: one product, A = x as [M, K], B = W
      L.count = 1;
      L.a_data = x.data;
      L.b_data = w.data;
      L.a_off = {0};
      L.b_off = {0};
    } else {
      L.count = prod(s.batch);
      const i64 wb_count = prod(s.w_batch);
      // B_p = (w batch)^T: [N, K] row-major.
      L.b_data.resize(static_cast<std::size_t>(wb_count * s.n * s.k));
      for (i64 q = 0; q < wb_count; ++q)
        for (i64 kk = 0; kk < s.k; ++kk)
          for (i64 j = 0; j < s.n; ++j)
            L.b_data[static_cast<std::size_t>((q * s.n + j) * s.k + kk)] =
                w.data[static_cast<std::size_t>((q * s.k + kk) * s.n + j)];
      L.a_data = x.data;
      for (i64 p = 0; p < L.count; ++p) {
        L.a_off.push_back(broadcast_index(p, s.batch, s.x_batch) * s.m * s.k);
        L.b_off.push_back(broadcast_index(p, s.batch, s.w_batch) * s.n * s.k);
      }
    }
    L.out_index.resize(static_cast<std::size_t>(L.count * L.m * L.n));
    std::iota(L.out_index.begin(), L.out_index.end(), i64{0});
    if (b) L.bias = broadcast_values(*b, L.out_shape);
    return L;
  }

  const ops::conv_geometry g = ops::resolve_conv({op, x, w, b});
  L.out_shape = g.output_shape();
  const i64 out_n = prod(L.out_shape);
  const int d = g.dims;
  const i64 cin_g = g.in_channels / g.groups, cout_g = g.out_channels / g.groups;
  const i64 P = prod(g.out), KS = prod(g.kernel), IN = prod(g.in);
  L.count = g.batch * g.groups;
  L.m = P;
  L.n = cout_g;
  L.k = cin_g * KS;
  // Per dim: the input coordinate feeding (output o, kernel tap t), or -1 for an exact zero.
  const std::vector<std::vector<i64>>& src = g.source;
  auto unflat = [](i64 f, const shape_t& dims, i64* out) {
    for (std::size_t i = dims.size(); i-- > 0;) {
      out[i] = f % dims[i];
      f /= dims[i];
    }
  };
  L.a_data.assign(static_cast<std::size_t>(L.count * P * L.k), 0.0);
  i64 oc[3] = {0, 0, 0}, tc[3] = {0, 0, 0};
  for (i64 nb = 0; nb < g.batch; ++nb)
    for (i64 gr = 0; gr < g.groups; ++gr) {
      const i64 p = nb * g.groups + gr;
      L.a_off.push_back(p * P * L.k);
      double* A = L.a_data.data() + p * P * L.k;
      for (i64 o = 0; o < P; ++o) {
        unflat(o, g.out, oc);
        for (i64 t = 0; t < KS; ++t) {
          unflat(t, g.kernel, tc);
          i64 sflat = 0;
          bool zero = false;
          for (int i = 0; i < d; ++i) {
            i64 v = src[static_cast<std::size_t>(i)]
                       [static_cast<std::size_t>(oc[i] * g.kernel[i] + tc[i])];
            if (v < 0) {
              zero = true;
              break;
            }
            sflat = sflat * g.in[i] + v;
          }
          if (zero) continue;
          for (i64 ci = 0; ci < cin_g; ++ci)
            A[o * L.k + ci * KS + t] = x.data[static_cast<std::size_t>(
                (nb * g.in_channels + gr * cin_g + ci) * IN + sflat)];
        }
      }
    }
  if (!g.transposed) {  // w [Cout, Cin_g, *k]: group gr's rows are contiguous [Cout_g, K]
    L.b_data = w.data;
    for (i64 nb = 0; nb < g.batch; ++nb)
      for (i64 gr = 0; gr < g.groups; ++gr) L.b_off.push_back(gr * cout_g * L.k);
  } else {  // w [Cin, Cout_g, *k]: B_gr[co][(ci, t)] = w[gr*Cin_g + ci][co][t]
    L.b_data.resize(static_cast<std::size_t>(g.groups * cout_g * L.k));
    for (i64 gr = 0; gr < g.groups; ++gr)
      for (i64 co = 0; co < cout_g; ++co)
        for (i64 ci = 0; ci < cin_g; ++ci)
          for (i64 t = 0; t < KS; ++t)
            L.b_data[static_cast<std::size_t>((gr * cout_g + co) * L.k + ci * KS + t)] =
                w.data[static_cast<std::size_t>(((gr * cin_g + ci) * cout_g + co) * KS + t)];
    for (i64 nb = 0; nb < g.batch; ++nb)
      for (i64 gr = 0; gr < g.groups; ++gr) L.b_off.push_back(gr * cout_g * L.k);
  }
  L.out_index.resize(static_cast<std::size_t>(L.count * P * cout_g));
  for (i64 nb = 0; nb < g.batch; ++nb)
    for (i64 gr = 0; gr < g.groups; ++gr) {
      const i64 p = nb * g.groups + gr;
      for (i64 o = 0; o < P; ++o)
        for (i64 j = 0; j < cout_g; ++j)
          L.out_index[static_cast<std::size_t>((p * P + o) * cout_g + j)] =
              (nb * g.out_channels + gr * cout_g + j) * P + o;
    }
  if (b) {
    L.bias.resize(static_cast<std::size_t>(out_n));
    for (i64 nb = 0; nb < g.batch; ++nb)
      for (i64 c = 0; c < g.out_channels; ++c)
        for (i64 o = 0; o < P; ++o)
          L.bias[static_cast<std::size_t>((nb * g.out_channels + c) * P + o)] =
              b->data[static_cast<std::size_t>(c)];
  }
  return L;
}

}  // namespace roundoff::backends::detail
