// Shape checking with PyTorch's rules and the lowering of every op to NT matrix products.
// The lowering only ever inserts exact zeros (padding, zero insertion for transposed convs):
// a product with a zero is exactly zero and adding it is exact, so a backend that runs the
// lowered GEMM has the rounding errors of a GEMM over the op's own terms. See docs/backends.md.
#include "lowering.hpp"

#include <algorithm>
#include <functional>
#include <numeric>
#include <sstream>
#include <string>

#include "roundoff/error.hpp"

namespace roundoff::backends::detail {
namespace {

using i64 = std::int64_t;
using shape_t = std::vector<i64>;

std::string show(const shape_t& s) {
  std::ostringstream o;
  o << '[';
  for (std::size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << ']';
  return o.str();
}

i64 prod(const shape_t& s) {
  return std::accumulate(s.begin(), s.end(), i64{1}, std::multiplies<>());
}

[[noreturn]] void fail(std::string_view op, const std::string& msg) {
  throw input_error(std::string(op) + ": " + msg);
}

void check_data(const tensor& t, const char* what, std::string_view op) {
  for (auto d : t.shape)
    if (d < 0) fail(op, std::string(what) + " has a negative dimension " + show(t.shape));
  if (static_cast<i64>(t.data.size()) != t.numel())
    fail(op, std::string(what) + " of shape " + show(t.shape) + " holds " +
                 std::to_string(t.data.size()) + " values, expected " + std::to_string(t.numel()));
}

shape_t expand(const std::vector<i64>& v, int d, i64 dflt, const char* name, std::string_view op) {
  if (v.empty()) return shape_t(static_cast<std::size_t>(d), dflt);
  if (v.size() == 1) return shape_t(static_cast<std::size_t>(d), v[0]);
  if (static_cast<int>(v.size()) == d) return v;
  fail(op, std::string(name) + " must have 1 or " + std::to_string(d) + " entries, got " +
               std::to_string(v.size()));
}

int conv_dims(ops::op_kind k) {
  switch (k) {
    case ops::op_kind::conv1d:
    case ops::op_kind::conv_transpose1d:
      return 1;
    case ops::op_kind::conv2d:
    case ops::op_kind::conv_transpose2d:
      return 2;
    case ops::op_kind::conv3d:
    case ops::op_kind::conv_transpose3d:
      return 3;
    default:
      return 0;
  }
}

bool is_transposed_kind(ops::op_kind k) {
  return k == ops::op_kind::conv_transpose1d || k == ops::op_kind::conv_transpose2d ||
         k == ops::op_kind::conv_transpose3d;
}

// Shapes of the matrix-product ops. For matmul, x or w of one dim is promoted as PyTorch does
// (prepend / append a 1 that is removed from the result).
struct mm_shape {
  shape_t batch, x_batch, w_batch;
  i64 m = 0, n = 0, k = 0;
  bool drop_m = false, drop_n = false;
  bool w_is_nk = false;  // linear: w is [N, K] already
  shape_t out;
};

shape_t broadcast_shapes(const shape_t& a, const shape_t& b, std::string_view op) {
  std::size_t n = std::max(a.size(), b.size());
  shape_t r(n);
  for (std::size_t i = 0; i < n; ++i) {
    i64 da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    i64 db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1)
      fail(op, "batch dimensions " + show(a) + " and " + show(b) + " are not broadcastable");
    r[i] = da == 1 ? db : da;
  }
  return r;
}

mm_shape resolve_mm(const ops::op_spec& op, const tensor& x, const tensor& w) {
  auto name = kind_name(op.kind);
  mm_shape s;
  switch (op.kind) {
    case ops::op_kind::linear: {
      if (x.dim() < 1) fail(name, "input must have at least 1 dimension, got a 0-d tensor");
      if (w.dim() != 2)
        fail(name, "weight must be 2-D [out_features, in_features], got " + show(w.shape));
      s.k = x.shape.back();
      if (w.shape[1] != s.k)
        fail(name, "mat1 and mat2 shapes cannot be multiplied: input " + show(x.shape) + " has " +
                       std::to_string(s.k) + " features, weight " + show(w.shape) + " expects " +
                       std::to_string(w.shape[1]));
      s.n = w.shape[0];
      s.m = std::accumulate(x.shape.begin(), x.shape.end() - 1, i64{1}, std::multiplies<>());
      s.w_is_nk = true;
      s.out.assign(x.shape.begin(), x.shape.end() - 1);
      s.out.push_back(s.n);
      return s;
    }
    case ops::op_kind::addmm:
      if (x.dim() != 2 || w.dim() != 2)
        fail(name, "mat1 and mat2 must be 2-D, got " + show(x.shape) + " and " + show(w.shape));
      break;
    case ops::op_kind::bmm:
      if (x.dim() != 3 || w.dim() != 3)
        fail(name, "batch1 and batch2 must be 3-D, got " + show(x.shape) + " and " + show(w.shape));
      if (x.shape[0] != w.shape[0])
        fail(name, "batch1 and batch2 must have the same batch size, got " + show(x.shape) +
                       " and " + show(w.shape));
      break;
    case ops::op_kind::matmul:
      if (x.dim() < 1 || w.dim() < 1)
        fail(name, "both arguments to matmul need to be at least 1D, got " +
                       std::to_string(x.dim()) + "D and " + std::to_string(w.dim()) + "D");
      break;
    default:
      fail(name, "not a matrix-product op");
  }
  shape_t xs = x.shape, ws = w.shape;
  if (xs.size() == 1) {
    xs.insert(xs.begin(), 1);
    s.drop_m = true;
  }
  if (ws.size() == 1) {
    ws.push_back(1);
    s.drop_n = true;
  }
  s.m = xs[xs.size() - 2];
  s.k = xs.back();
  s.n = ws.back();
  if (ws[ws.size() - 2] != s.k)
    fail(name, "shapes cannot be multiplied: " + show(x.shape) + " and " + show(w.shape) +
                   " (inner sizes " + std::to_string(s.k) + " and " +
                   std::to_string(ws[ws.size() - 2]) + ")");
  s.x_batch.assign(xs.begin(), xs.end() - 2);
  s.w_batch.assign(ws.begin(), ws.end() - 2);
  s.batch = broadcast_shapes(s.x_batch, s.w_batch, name);
  s.out = s.batch;
  if (!s.drop_m) s.out.push_back(s.m);
  if (!s.drop_n) s.out.push_back(s.n);
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

void check_bias_for(const ops::op_spec& op, const tensor* b, const shape_t& out) {
  if (!b) return;
  (void)broadcast_to(*b, out, "bias");
  (void)op;
}

}  // namespace

std::string_view kind_name(ops::op_kind k) noexcept {
  switch (k) {
    case ops::op_kind::linear:
      return "linear";
    case ops::op_kind::matmul:
      return "matmul";
    case ops::op_kind::bmm:
      return "bmm";
    case ops::op_kind::addmm:
      return "addmm";
    case ops::op_kind::conv1d:
      return "conv1d";
    case ops::op_kind::conv2d:
      return "conv2d";
    case ops::op_kind::conv3d:
      return "conv3d";
    case ops::op_kind::conv_transpose1d:
      return "conv_transpose1d";
    case ops::op_kind::conv_transpose2d:
      return "conv_transpose2d";
    case ops::op_kind::conv_transpose3d:
      return "conv_transpose3d";
  }
  return "?";
}

std::vector<double> broadcast_to(const tensor& b, const std::vector<std::int64_t>& to,
                                 const char* what) {
  if (b.shape.size() > to.size())
    throw input_error(std::string(what) + " of shape " + show(b.shape) +
                      " does not broadcast to the output shape " + show(to));
  for (std::size_t r = 0; r < b.shape.size(); ++r) {
    i64 bd = b.shape[b.shape.size() - 1 - r], od = to[to.size() - 1 - r];
    if (bd != od && bd != 1)
      throw input_error(std::string(what) + " of shape " + show(b.shape) +
                        " does not broadcast to the output shape " + show(to));
  }
  i64 n = prod(to);
  std::vector<double> r(static_cast<std::size_t>(n));
  for (i64 i = 0; i < n; ++i)
    r[static_cast<std::size_t>(i)] =
        b.data[static_cast<std::size_t>(broadcast_index(i, to, b.shape))];
  return r;
}

conv_geometry resolve_conv(const ops::op_spec& op, const tensor& x, const tensor& w,
                           const tensor* b) {
  auto name = kind_name(op.kind);
  conv_geometry g;
  g.dims = conv_dims(op.kind);
  if (g.dims == 0) fail(name, "not a convolution");
  g.transposed = is_transposed_kind(op.kind);
  const int d = g.dims;
  const auto& p = op.conv;
  if (x.dim() != d + 1 && x.dim() != d + 2)
    fail(name, "expected " + std::to_string(d + 1) + "-D (unbatched) or " + std::to_string(d + 2) +
                   "-D (batched) input, got input of shape " + show(x.shape));
  if (w.dim() != d + 2)
    fail(name,
         "expected " + std::to_string(d + 2) + "-D weight, got weight of shape " + show(w.shape));
  g.batched = x.dim() == d + 2;
  std::size_t c0 = g.batched ? 1 : 0;
  g.batch = g.batched ? x.shape[0] : 1;
  g.in_channels = x.shape[c0];
  g.in.assign(x.shape.begin() + static_cast<long>(c0) + 1, x.shape.end());
  g.kernel.assign(w.shape.begin() + 2, w.shape.end());
  g.groups = p.groups;
  if (g.groups <= 0) fail(name, "non-positive groups is not supported");
  g.stride = expand(p.stride, d, 1, "stride", name);
  g.dilation = expand(p.dilation, d, 1, "dilation", name);
  for (int i = 0; i < d; ++i) {
    if (g.stride[i] <= 0) fail(name, "non-positive stride is not supported");
    if (g.dilation[i] <= 0) fail(name, "dilation should be greater than zero");
  }
  g.mode = p.mode;
  if (!g.transposed) {
    if (w.shape[1] * g.groups != g.in_channels)
      fail(name, "expected input of shape " + show(x.shape) + " to have " +
                     std::to_string(w.shape[1] * g.groups) + " channels (weight " + show(w.shape) +
                     ", groups=" + std::to_string(g.groups) + "), but got " +
                     std::to_string(g.in_channels) + " channels instead");
    g.out_channels = w.shape[0];
    if (g.out_channels % g.groups != 0)
      fail(name, "expected weight " + show(w.shape) +
                     " to have out_channels divisible by groups=" + std::to_string(g.groups));
    if (!p.output_padding.empty())
      for (auto v : p.output_padding)
        if (v != 0) fail(name, "output_padding applies to transposed convolutions only");
    g.pad_left.assign(static_cast<std::size_t>(d), 0);
    g.pad_right.assign(static_cast<std::size_t>(d), 0);
    using pk = ops::conv_params::padding_kind;
    if (p.pad == pk::same) {
      for (int i = 0; i < d; ++i)
        if (g.stride[i] != 1)
          fail(name, "padding='same' is not supported for strided convolutions");
      for (int i = 0; i < d; ++i) {  // PyTorch puts the odd extra zero on the right
        i64 total = g.dilation[i] * (g.kernel[i] - 1);
        g.pad_left[i] = total / 2;
        g.pad_right[i] = total - total / 2;
      }
    } else if (p.pad == pk::explicit_) {
      auto pad = expand(p.padding, d, 0, "padding", name);
      for (int i = 0; i < d; ++i) {
        if (pad[i] < 0) fail(name, "negative padding is not supported");
        g.pad_left[i] = g.pad_right[i] = pad[i];
      }
    }
    for (int i = 0; i < d; ++i) {
      i64 padded = g.in[i] + g.pad_left[i] + g.pad_right[i];
      i64 span = g.dilation[i] * (g.kernel[i] - 1) + 1;
      if (padded < span)
        fail(name, "calculated padded input size per channel " + show(g.in) +
                       " is smaller than the (dilated) kernel size " + show(g.kernel));
      g.out.push_back((padded - span) / g.stride[i] + 1);
      bool pads = g.pad_left[i] > 0 || g.pad_right[i] > 0;
      if (pads && g.mode == ops::padding_mode::reflect &&
          (g.pad_left[i] >= g.in[i] || g.pad_right[i] >= g.in[i]))
        fail(name, "reflect padding must be less than the input size in every dim");
      if (pads && g.mode == ops::padding_mode::circular &&
          (g.pad_left[i] > g.in[i] || g.pad_right[i] > g.in[i]))
        fail(name, "circular padding must be at most the input size in every dim");
      if (pads && g.mode == ops::padding_mode::replicate && g.in[i] == 0)
        fail(name, "replicate padding of an empty dim");
    }
  } else {
    if (p.pad != ops::conv_params::padding_kind::explicit_)
      fail(name, "padding='same'/'valid' is not supported for transposed convolutions");
    if (g.mode != ops::padding_mode::zeros)
      fail(name, "only padding_mode zeros is supported for transposed convolutions");
    if (w.shape[0] != g.in_channels)
      fail(name, "weight of shape " + show(w.shape) + " expects " + std::to_string(w.shape[0]) +
                     " input channels, but input " + show(x.shape) + " has " +
                     std::to_string(g.in_channels));
    if (g.in_channels % g.groups != 0)
      fail(name, "input channels " + std::to_string(g.in_channels) +
                     " are not divisible by groups=" + std::to_string(g.groups));
    g.out_channels = w.shape[1] * g.groups;
    auto pad = expand(p.padding, d, 0, "padding", name);
    g.output_padding = expand(p.output_padding, d, 0, "output_padding", name);
    g.pad_left = g.pad_right = pad;
    for (int i = 0; i < d; ++i) {
      if (pad[i] < 0) fail(name, "negative padding is not supported");
      if (g.output_padding[i] < 0) fail(name, "negative output_padding is not supported");
      if (g.output_padding[i] >= g.stride[i] && g.output_padding[i] >= g.dilation[i])
        fail(name,
             "output padding must be smaller than either stride or dilation, got "
             "output_padding=" +
                 std::to_string(g.output_padding[i]));
      i64 o = (g.in[i] - 1) * g.stride[i] - 2 * pad[i] + g.dilation[i] * (g.kernel[i] - 1) +
              g.output_padding[i] + 1;
      if (o < 0 || (o == 0 && g.batch != 0))
        fail(name, "the computed output size " + std::to_string(o) + " in dim " +
                       std::to_string(i) + " is not positive");
      g.out.push_back(o);
    }
  }
  if (b) {
    if (b->dim() != 1 || b->shape[0] != g.out_channels)
      fail(name, "bias must be 1-D of size out_channels=" + std::to_string(g.out_channels) +
                     ", got " + show(b->shape));
  }
  return g;
}

std::vector<std::int64_t> output_shape(const ops::op_spec& op, const tensor& x, const tensor& w,
                                       const tensor* b) {
  auto name = kind_name(op.kind);
  check_data(x, "input", name);
  check_data(w, "weight", name);
  if (b) check_data(*b, "bias", name);
  if (conv_dims(op.kind) != 0) {
    auto g = resolve_conv(op, x, w, b);
    shape_t out;
    if (g.batched) out.push_back(g.batch);
    out.push_back(g.out_channels);
    out.insert(out.end(), g.out.begin(), g.out.end());
    return out;
  }
  auto s = resolve_mm(op, x, w);
  if (op.kind == ops::op_kind::addmm && !b) fail(name, "the bias (input) tensor is required");
  check_bias_for(op, b, s.out);
  return s.out;
}

gemm_lowering lower_to_gemm(const ops::op_spec& op, const tensor& x, const tensor& w,
                            const tensor* b) {
  gemm_lowering L;
  L.out_shape = detail::output_shape(op, x, w, b);
  const i64 out_n = prod(L.out_shape);
  if (conv_dims(op.kind) == 0) {
    auto s = resolve_mm(op, x, w);
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
    if (b) L.bias = broadcast_to(*b, L.out_shape, "bias");
    (void)out_n;
    return L;
  }

  const auto g = resolve_conv(op, x, w, b);
  const int d = g.dims;
  const i64 cin_g = g.in_channels / g.groups, cout_g = g.out_channels / g.groups;
  const i64 P = prod(g.out), KS = prod(g.kernel), IN = prod(g.in);
  L.count = g.batch * g.groups;
  L.m = P;
  L.n = cout_g;
  L.k = cin_g * KS;
  // Per dim: the input coordinate feeding (output o, kernel tap t), or -1 for an exact zero.
  std::vector<std::vector<i64>> src(static_cast<std::size_t>(d));
  for (int i = 0; i < d; ++i) {
    auto& s = src[static_cast<std::size_t>(i)];
    s.assign(static_cast<std::size_t>(g.out[i] * g.kernel[i]), -1);
    for (i64 o = 0; o < g.out[i]; ++o)
      for (i64 t = 0; t < g.kernel[i]; ++t) {
        i64 v = -1;
        if (!g.transposed) {
          i64 q = o * g.stride[i] - g.pad_left[i] + t * g.dilation[i];
          const i64 n = g.in[i];
          if (q >= 0 && q < n) {
            v = q;
          } else {
            switch (g.mode) {
              case ops::padding_mode::zeros:
                v = -1;
                break;
              case ops::padding_mode::reflect:
                v = q < 0 ? -q : 2 * (n - 1) - q;
                break;
              case ops::padding_mode::replicate:
                v = q < 0 ? 0 : n - 1;
                break;
              case ops::padding_mode::circular:
                v = ((q % n) + n) % n;
                break;
            }
          }
        } else {  // y[o] += x[i] w[t] where o = i*stride - pad + t*dilation
          i64 num = o + g.pad_left[i] - t * g.dilation[i];
          if (num >= 0 && num % g.stride[i] == 0 && num / g.stride[i] < g.in[i])
            v = num / g.stride[i];
        }
        s[static_cast<std::size_t>(o * g.kernel[i] + t)] = v;
      }
  }
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
