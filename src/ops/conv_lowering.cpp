// im2col lowering of conv and conv_transpose onto gemm_problem tiles. See docs/ops.md.
#include "detail/conv_lowering.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

#include "roundoff/error.hpp"

namespace roundoff::ops::detail {

std::string sizes_paren(const std::vector<std::int64_t>& v) {
  std::string s = "(";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) s += " x ";
    s += std::to_string(v[i]);
  }
  return s + ")";
}

namespace {
std::vector<std::int64_t> expand_one(const std::vector<std::int64_t>& v, int nd, std::int64_t dflt,
                                     const char* name) {
  if (v.empty()) return std::vector<std::int64_t>(static_cast<std::size_t>(nd), dflt);
  if (v.size() == 1) return std::vector<std::int64_t>(static_cast<std::size_t>(nd), v[0]);
  if (static_cast<int>(v.size()) != nd) {
    throw input_error(std::string("expected ") + name +
                      " to be a single integer value or a list of " + std::to_string(nd) +
                      " values to match the convolution dimensions, but got " + name + "=" +
                      shape_str(v));
  }
  return v;
}
}  // namespace

expanded_params expand_params(int nd, const conv_params& p, const std::string& op,
                              bool transposed) {
  expanded_params e;
  try {
    e.stride = expand_one(p.stride, nd, 1, "stride");
    e.padding = expand_one(
        p.pad == conv_params::padding_kind::explicit_ ? p.padding : std::vector<std::int64_t>{}, nd,
        0, "padding");
    e.dilation = expand_one(p.dilation, nd, 1, "dilation");
    e.output_padding = expand_one(p.output_padding, nd, 0, "output_padding");
  } catch (const input_error& err) {
    throw input_error(op + ": " + err.what());
  }
  if (p.groups <= 0) {
    throw input_error(
        op + ": non-positive groups is not supported (groups=" + std::to_string(p.groups) + ")");
  }
  for (auto s : e.stride) {
    if (s <= 0)
      throw input_error(
          op + ": non-positive stride is not supported, but got stride=" + shape_str(e.stride));
  }
  for (auto s : e.padding) {
    if (s < 0)
      throw input_error(
          op + ": negative padding is not supported, but got padding=" + shape_str(e.padding));
  }
  for (auto s : e.dilation) {
    if (s <= 0)
      throw input_error(op + ": dilation should be greater than zero, but got " +
                        "dilation=" + shape_str(e.dilation));
  }
  for (auto s : e.output_padding) {
    if (s < 0)
      throw input_error(op + ": negative output_padding is not supported, but got " +
                        "output_padding=" + shape_str(e.output_padding));
  }
  if (!transposed) {
    if (!p.output_padding.empty() && std::any_of(e.output_padding.begin(), e.output_padding.end(),
                                                 [](std::int64_t v) { return v != 0; })) {
      throw input_error(op + ": output_padding applies only to transposed convolutions");
    }
    if (p.pad == conv_params::padding_kind::same) {
      for (auto s : e.stride) {
        if (s != 1) {
          throw input_error(op + ": padding='same' is not supported for strided convolutions " +
                            "(stride=" + shape_str(e.stride) + ")");
        }
      }
    }
  } else {
    if (p.pad != conv_params::padding_kind::explicit_) {
      throw input_error(op + ": padding must be an integer or a tuple of integers; '" +
                        (p.pad == conv_params::padding_kind::same ? "same" : "valid") +
                        "' is not supported for transposed convolutions");
    }
    if (p.mode != padding_mode::zeros) {
      throw input_error(op + ": only 'zeros' padding mode is supported for transposed " +
                        "convolutions");
    }
  }
  return e;
}

void run_conv_lowering(contraction_runner& run, const conv_lowering& L, const tensor_view& x,
                       const double* bias, std::int64_t tile_bytes) {
  const std::size_t nd = L.dims.size();
  std::int64_t KK = 1, P = 1;
  for (const auto& d : L.dims) {
    KK *= d.k;
    P *= d.out;
  }
  const std::int64_t K = L.cin_g * KK;
  if (L.batch == 0 || L.cout == 0 || P == 0) return;

  // Tile: gchunk groups x pt positions per call, each buffer <= tile_bytes.
  const std::int64_t rows =
      std::max<std::int64_t>(1, tile_bytes / (8 * std::max<std::int64_t>(K, 1)));
  std::int64_t gchunk = L.groups, pt = P;
  if (rows < L.groups * P) {
    if (rows >= L.groups) {
      pt = rows / L.groups;
    } else {
      gchunk = rows;
      pt = 1;
    }
  }
  std::vector<double> B(static_cast<std::size_t>(gchunk * pt * K));
  std::vector<double> Babs(run.want_magnitude() ? B.size() : 0);
  std::vector<double> a_abs, bias_abs;
  if (run.want_magnitude()) {
    a_abs = abs_copy(L.a.data(), static_cast<std::int64_t>(L.a.size()));
    if (bias) bias_abs = abs_copy(bias, L.cout);
  }
  static const double zero = 0.0;
  auto nz = [](const double* p) { return p ? p : &zero; };

  std::vector<std::int64_t> offs(static_cast<std::size_t>(pt * KK));
  // The view's strides (in elements): batch (0 when unbatched), channel, spatial dims.
  const bool batched = x.dim() == static_cast<int>(nd) + 2;
  const std::size_t c_dim = batched ? 1 : 0;
  const std::int64_t batch_stride = batched ? x.strides[0] : 0;
  const std::int64_t channel_stride = x.strides[c_dim];
  std::vector<std::int64_t> instride(nd, 1), kstride(nd, 1), ostride(nd, 1);
  for (std::size_t d = 0; d < nd; ++d) instride[d] = x.strides[c_dim + 1 + d];
  for (std::size_t d = nd; d-- > 1;) {
    kstride[d - 1] = kstride[d] * L.dims[d].k;
    ostride[d - 1] = ostride[d] * L.dims[d].out;
  }
  // B's rows for groups [g0, g0 + ng) and positions [p0, p0 + np), reading x through `load`.
  auto gather = [&](std::int64_t n, std::int64_t g0, std::int64_t ng, std::int64_t np, auto load) {
    for (std::int64_t gi = 0; gi < ng; ++gi) {
      const std::int64_t xg = n * batch_stride + (g0 + gi) * L.cin_g * channel_stride;
      for (std::int64_t p = 0; p < np; ++p) {
        double* row = B.data() + (gi * np + p) * K;
        const std::int64_t* po = offs.data() + p * KK;
        for (std::int64_t ci = 0; ci < L.cin_g; ++ci) {
          const std::int64_t xc = xg + ci * channel_stride;
          double* r = row + ci * KK;
          for (std::int64_t t = 0; t < KK; ++t) r[t] = po[t] >= 0 ? load(xc + po[t]) : 0.0;
        }
      }
    }
  };

  for (std::int64_t n = 0; n < L.batch; ++n) {
    for (std::int64_t p0 = 0; p0 < P; p0 += pt) {
      const std::int64_t np = std::min(pt, P - p0);
      // Gather offsets (within one channel plane) for every (position, tap); -1 = zero.
      for (std::int64_t p = 0; p < np; ++p) {
        for (std::int64_t t = 0; t < KK; ++t) {
          std::int64_t off = 0;
          for (std::size_t d = 0; d < nd; ++d) {
            const std::int64_t od = ((p0 + p) / ostride[d]) % L.dims[d].out;
            const std::int64_t td = (t / kstride[d]) % L.dims[d].k;
            const std::int64_t s = L.dims[d].src[static_cast<std::size_t>(od * L.dims[d].k + td)];
            if (s < 0) {
              off = -1;
              break;
            }
            off += s * instride[d];
          }
          offs[static_cast<std::size_t>(p * KK + t)] = off;
        }
      }
      for (std::int64_t g0 = 0; g0 < L.groups; g0 += gchunk) {
        const std::int64_t ng = std::min(gchunk, L.groups - g0);
        switch (x.storage) {
          case storage_type::f64: {
            const auto* xp = static_cast<const double*>(x.data);
            gather(n, g0, ng, np, [xp](std::int64_t o) { return xp[o]; });
            break;
          }
          case storage_type::f32: {
            const auto* xp = static_cast<const float*>(x.data);
            gather(n, g0, ng, np, [xp](std::int64_t o) { return static_cast<double>(xp[o]); });
            break;
          }
          default:  // f16, bf16: decoded per element
            gather(n, g0, ng, np, [&x](std::int64_t o) { return x.at_offset(o); });
            break;
        }
        if (!Babs.empty()) {
          const std::int64_t cnt = ng * np * K;
          for (std::int64_t q = 0; q < cnt; ++q) {
            Babs[static_cast<std::size_t>(q)] = std::fabs(B[static_cast<std::size_t>(q)]);
          }
        }
        exact::gemm_problem pr;
        pr.batch = ng;
        pr.m = L.cout_g;
        pr.n = np;
        pr.k = K;
        pr.a = nz(L.a.empty() ? nullptr : L.a.data() + g0 * L.cout_g * K);
        pr.lda = K;
        pr.a_batch_stride = L.cout_g * K;
        pr.b = nz(B.empty() ? nullptr : B.data());
        pr.ldb = K;
        pr.b_batch_stride = np * K;
        pr.bias = bias ? bias + g0 * L.cout_g : nullptr;
        pr.bias_batch_stride = L.cout_g;
        pr.bias_row_stride = 1;
        pr.bias_col_stride = 0;
        pr.c_offset = n * L.cout * P + g0 * L.cout_g * P + p0;
        pr.c_batch_stride = L.cout_g * P;
        pr.c_row_stride = P;
        pr.c_col_stride = 1;
        exact::gemm_problem pa = pr;
        if (run.want_magnitude()) {
          pa.a = nz(a_abs.empty() ? nullptr : a_abs.data() + g0 * L.cout_g * K);
          pa.b = nz(Babs.empty() ? nullptr : Babs.data());
          pa.bias = bias ? bias_abs.data() + g0 * L.cout_g : nullptr;
        }
        run.run(pr, pa);
      }
    }
  }
}

void conv_term_counts(const conv_lowering& L, term_counts& terms, term_counts& data_terms) {
  const std::size_t nd = L.dims.size();
  std::int64_t KK = 1, P = 1;
  for (const auto& d : L.dims) {
    KK *= d.k;
    P *= d.out;
  }
  // Valid taps per output index, per dim; the count for a position is their product.
  std::vector<std::vector<std::int64_t>> valid(nd);
  for (std::size_t d = 0; d < nd; ++d) {
    const auto& m = L.dims[d];
    valid[d].assign(static_cast<std::size_t>(m.out), 0);
    for (std::int64_t o = 0; o < m.out; ++o) {
      for (std::int64_t t = 0; t < m.k; ++t) {
        if (m.src[static_cast<std::size_t>(o * m.k + t)] >= 0)
          ++valid[d][static_cast<std::size_t>(o)];
      }
    }
  }
  std::vector<std::int64_t> per_pos(static_cast<std::size_t>(P));
  for (std::int64_t p = 0; p < P; ++p) {
    std::int64_t rem = p, c = L.cin_g;
    for (std::size_t d = nd; d-- > 0;) {
      c *= valid[d][static_cast<std::size_t>(rem % L.dims[d].out)];
      rem /= L.dims[d].out;
    }
    per_pos[static_cast<std::size_t>(p)] = c;
  }
  const std::int64_t total = L.batch * L.cout * P;
  // Output [batch, cout, positions...]: the count repeats with period P.
  terms = term_counts::uniform(total, L.cin_g * KK);
  data_terms = term_counts(total, std::move(per_pos));
}

}  // namespace roundoff::ops::detail
