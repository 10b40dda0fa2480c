// LibTorch f64 cross-check (label `torch`). For random configurations of every op family:
//  - roundoff accepts exactly the configurations PyTorch accepts (input_error <=> c10::Error),
//  - shapes agree, and
//  - every torch f64 output lies within the deterministic bound gamma_n * magnitude of the exact
//    result, n = n_i (+1 with bias), gamma_n = n*u/(1 - n*u), u = 2^-53, all rounded upward.
// A lowering error (wrong index, tap, group, padding) shows up as an O(1) violation.
#include <ATen/ATen.h>

#include <cmath>
#include <random>
#include <string>

#include "ops_test_util.hpp"
#include "property.hpp"
#include "roundoff/error.hpp"
#include "roundoff/ops/op.hpp"

namespace roundoff {
namespace {

using ops::conv_params;
using ops::op_kind;

constexpr std::int64_t per_family = 300;

at::Tensor to_torch(const tensor& t) {
  return at::from_blob(const_cast<double*>(t.data.data()), t.shape, at::kDouble).clone();
}

double up(double v) {
  return std::nextafter(v, INFINITY);
}

// gamma_n * mag, rounded upward (each RN step followed by one step up).
double bound(std::int64_t n, double mag) {
  if (n == 0 || mag == 0) return 0;
  const double nu = std::ldexp(static_cast<double>(n), -53);  // exact for n < 2^53
  const double den = std::nextafter(1.0 - nu, 0.0);           // <= 1 - nu
  return up(up(nu / den) * mag);
}

struct config {
  op_kind kind = op_kind::linear;
  tensor x, w, b;
  bool with_bias = false;
  conv_params p;
  std::string text;
};

// torch's result, or nullopt when torch rejects the arguments.
std::optional<at::Tensor> run_torch(const config& c) {
  try {
    const at::Tensor x = to_torch(c.x), w = to_torch(c.w);
    std::optional<at::Tensor> b;
    if (c.with_bias) b = to_torch(c.b);
    switch (c.kind) {
      case op_kind::linear:
        return at::linear(x, w, b);
      case op_kind::matmul:
        return b ? at::matmul(x, w) + *b : at::matmul(x, w);
      case op_kind::bmm:
        return b ? at::bmm(x, w) + *b : at::bmm(x, w);
      case op_kind::addmm:
        return at::addmm(*b, x, w);
      default:
        break;
    }
    const int nd = ops::spatial_dims(c.kind);
    auto vec = [nd](const std::vector<std::int64_t>& v, std::int64_t dflt) {
      if (v.size() <= 1) {
        return std::vector<std::int64_t>(static_cast<std::size_t>(nd), v.empty() ? dflt : v[0]);
      }
      return v;
    };
    const auto s = vec(c.p.stride, 1), d = vec(c.p.dilation, 1), pad = vec(c.p.padding, 0);
    if (ops::is_transposed(c.kind)) {
      const auto op = vec(c.p.output_padding, 0);
      if (nd == 1) return at::conv_transpose1d(x, w, b, s, pad, op, c.p.groups, d);
      if (nd == 2) return at::conv_transpose2d(x, w, b, s, pad, op, c.p.groups, d);
      return at::conv_transpose3d(x, w, b, s, pad, op, c.p.groups, d);
    }
    if (c.p.mode != ops::padding_mode::zeros) {
      // nn.Conv: F.pad(x, reversed (left, right) pairs, mode) then a conv with no padding.
      std::vector<std::int64_t> pads;
      const std::vector<std::int64_t> k(c.w.shape.end() - nd, c.w.shape.end());
      const auto dd = d;
      for (int i = nd - 1; i >= 0; --i) {
        const auto u = static_cast<std::size_t>(i);
        std::int64_t l = pad[u], r = pad[u];
        if (c.p.pad == conv_params::padding_kind::same) {
          l = dd[u] * (k[u] - 1) / 2;
          r = dd[u] * (k[u] - 1) - l;
        } else if (c.p.pad == conv_params::padding_kind::valid) {
          l = r = 0;
        }
        pads.push_back(l);
        pads.push_back(r);
      }
      const char* mode = c.p.mode == ops::padding_mode::reflect     ? "reflect"
                         : c.p.mode == ops::padding_mode::replicate ? "replicate"
                                                                    : "circular";
      const at::Tensor xp = at::pad(x, pads, mode);
      const std::vector<std::int64_t> zero(static_cast<std::size_t>(nd), 0);
      if (c.p.pad == conv_params::padding_kind::same) {
        for (auto st : s) {
          if (st != 1) return std::nullopt;  // nn.Conv refuses 'same' with stride > 1
        }
      }
      if (nd == 1) return at::conv1d(xp, w, b, s, zero, d, c.p.groups);
      if (nd == 2) return at::conv2d(xp, w, b, s, zero, d, c.p.groups);
      return at::conv3d(xp, w, b, s, zero, d, c.p.groups);
    }
    if (c.p.pad != conv_params::padding_kind::explicit_) {
      const char* ps = c.p.pad == conv_params::padding_kind::same ? "same" : "valid";
      if (nd == 1) return at::conv1d(x, w, b, s, ps, d, c.p.groups);
      if (nd == 2) return at::conv2d(x, w, b, s, ps, d, c.p.groups);
      return at::conv3d(x, w, b, s, ps, d, c.p.groups);
    }
    if (nd == 1) return at::conv1d(x, w, b, s, pad, d, c.p.groups);
    if (nd == 2) return at::conv2d(x, w, b, s, pad, d, c.p.groups);
    return at::conv3d(x, w, b, s, pad, d, c.p.groups);
  } catch (const c10::Error&) {
    return std::nullopt;
  }
}

void fill(tensor& t, std::mt19937_64& rng) {
  std::normal_distribution<double> normal;
  const int kind = static_cast<int>(rng() % 3);
  t.data.resize(static_cast<std::size_t>(t.numel()));
  for (auto& v : t.data) {
    v = normal(rng);
    if (kind == 1) v = static_cast<double>(static_cast<float>(v));
    if (kind == 2) v = std::ldexp(v, static_cast<int>(rng() % 40) - 20);
  }
}

std::int64_t pick(std::mt19937_64& rng, std::int64_t lo, std::int64_t hi) {
  return lo + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(hi - lo + 1));
}

std::string shape_text(const std::vector<std::int64_t>& s) {
  std::string t = "[";
  for (std::size_t i = 0; i < s.size(); ++i) t += (i ? "," : "") + std::to_string(s[i]);
  return t + "]";
}

config draw(op_kind kind, std::mt19937_64& rng) {
  config c;
  c.kind = kind;
  c.with_bias = rng() % 2 == 0;
  const std::int64_t batch = pick(rng, 0, 2);  // includes batch 0 and 1
  switch (kind) {
    case op_kind::linear: {
      const std::int64_t K = pick(rng, 0, 9), N = pick(rng, 1, 5);
      c.x.shape = rng() % 4 == 0 ? std::vector<std::int64_t>{K}
                                 : std::vector<std::int64_t>{batch, pick(rng, 1, 3), K};
      c.w.shape = {N, rng() % 16 == 0 ? K + 1 : K};  // occasionally invalid
      c.b.shape = {N};
      break;
    }
    case op_kind::matmul: {
      const std::int64_t M = pick(rng, 1, 4), K = pick(rng, 0, 9), N = pick(rng, 1, 4);
      const std::int64_t B1 = pick(rng, 1, 3), B2 = pick(rng, 1, 3);
      const int form = static_cast<int>(rng() % 6);
      if (form == 0) {
        c.x.shape = {K};
        c.w.shape = {K};
      } else if (form == 1) {
        c.x.shape = {K};
        c.w.shape = {B1, K, N};
      } else if (form == 2) {
        c.x.shape = {B1, M, K};
        c.w.shape = {K};
      } else if (form == 3) {
        c.x.shape = {B2, 1, M, K};
        c.w.shape = {B1, K, N};
      } else if (form == 4) {
        c.x.shape = {batch, M, K};
        c.w.shape = {K, N};
      } else {
        c.x.shape = {B1, M, K};
        c.w.shape = {rng() % 8 == 0 ? B1 + 1 : B1, K, N};  // occasionally invalid
      }
      // The bias may not enlarge the result (docs/ops.md): 0-d for a dot product.
      c.b.shape =
          form == 0 ? std::vector<std::int64_t>{} : std::vector<std::int64_t>{form == 2 ? 1 : N};
      break;
    }
    case op_kind::bmm: {
      const std::int64_t M = pick(rng, 1, 4), K = pick(rng, 0, 9), N = pick(rng, 1, 4);
      c.x.shape = {batch, M, K};
      c.w.shape = {batch, rng() % 16 == 0 ? K + 1 : K, N};
      c.b.shape = {N};
      break;
    }
    case op_kind::addmm: {
      const std::int64_t M = pick(rng, 0, 4), K = pick(rng, 0, 9), N = pick(rng, 1, 4);
      c.x.shape = {M, K};
      c.w.shape = {rng() % 16 == 0 ? K + 1 : K, N};
      c.b.shape = rng() % 2 ? std::vector<std::int64_t>{N} : std::vector<std::int64_t>{M, N};
      c.with_bias = true;
      break;
    }
    default: {
      const int nd = ops::spatial_dims(kind);
      const bool tr = ops::is_transposed(kind);
      const int gk = static_cast<int>(rng() % 4);  // 0,1: 1 group; 2: 2-3 groups; 3: depthwise
      const std::int64_t G = gk < 2 ? 1 : gk == 2 ? pick(rng, 2, 3) : pick(rng, 2, 4);
      const std::int64_t cin_g = gk == 3 ? 1 : pick(rng, 1, 3);
      const std::int64_t cout_g = gk == 3 ? pick(rng, 1, 2) : pick(rng, 1, 3);
      c.p.groups = rng() % 32 == 0 ? G + 1 : G;  // occasionally invalid
      c.x.shape = {batch, G * cin_g};
      c.w.shape = tr ? std::vector<std::int64_t>{G * cin_g, cout_g}
                     : std::vector<std::int64_t>{G * cout_g, cin_g};
      c.b.shape = {G * cout_g};
      const int padk = tr ? 0 : static_cast<int>(rng() % 4);  // 0,1 explicit; 2 same; 3 valid
      if (padk == 2) c.p.pad = conv_params::padding_kind::same;
      if (padk == 3) c.p.pad = conv_params::padding_kind::valid;
      if (!tr && rng() % 4 == 0) c.p.mode = static_cast<ops::padding_mode>(pick(rng, 1, 3));
      const std::int64_t max_in = nd == 3 ? 5 : 8;
      for (int d = 0; d < nd; ++d) {
        const std::int64_t k = pick(rng, 1, 4), s = padk == 2 ? 1 : pick(rng, 1, 3);
        const std::int64_t dil = pick(rng, 1, 2);
        c.x.shape.push_back(pick(rng, 1, max_in));
        c.w.shape.push_back(k);
        c.p.stride.push_back(rng() % 64 == 0 ? 2 : s);  // 'same' with stride 2 now and then
        c.p.dilation.push_back(dil);
        c.p.padding.push_back(pick(rng, 0, 2));
        if (tr) c.p.output_padding.push_back(pick(rng, 0, std::max(s, dil) - (rng() % 16 ? 1 : 0)));
      }
      if (rng() % 2) {  // a single value applies to every spatial dim
        c.p.stride.resize(1);
        c.p.padding.resize(1);
      }
      if (batch == 1 && rng() % 3 == 0) c.x.shape.erase(c.x.shape.begin());  // unbatched
      break;
    }
  }
  fill(c.x, rng);
  fill(c.w, rng);
  fill(c.b, rng);
  c.text = std::string(ops::op_name(kind)) + " x" + shape_text(c.x.shape) + " w" +
           shape_text(c.w.shape) + (c.with_bias ? " b" + shape_text(c.b.shape) : "") + " stride" +
           shape_text(c.p.stride) + " padding" +
           (c.p.pad == conv_params::padding_kind::same    ? std::string("same")
            : c.p.pad == conv_params::padding_kind::valid ? std::string("valid")
                                                          : shape_text(c.p.padding)) +
           " dilation" + shape_text(c.p.dilation) + " output_padding" +
           shape_text(c.p.output_padding) + " groups=" + std::to_string(c.p.groups) +
           " mode=" + std::to_string(static_cast<int>(c.p.mode));
  return c;
}

void cross_check(const std::vector<op_kind>& kinds, std::uint64_t salt) {
  auto rng = test::rng(salt);
  // Draw until `target` configurations were accepted by both (invalid ones, rejected by both,
  // come on top), with a cap on the draws.
  const std::int64_t target = test::iterations(per_family);
  std::int64_t accepted = 0, rejected = 0, elements = 0, nonzero_err = 0;
  for (std::int64_t it = 0; accepted < target && it < 4 * target; ++it) {
    const config c = draw(kinds[static_cast<std::size_t>(it) % kinds.size()], rng);
    const std::string ctx = c.text + "; " + test::replay(it);
    ops::op_spec spec(c.kind);
    spec.conv = c.p;
    std::optional<ops::op_result> r;
    std::string why;
    try {
      r = ops::evaluate({spec, c.x, c.w, c.with_bias ? &c.b : nullptr});
    } catch (const input_error& e) {
      why = e.what();
    }
    const auto t = run_torch(c);
    // Documented difference (docs/ops.md): with an empty batch PyTorch skips its output_padding
    // check; roundoff keeps it.
    if (!r && t && why.find("output padding must be smaller") != std::string::npos &&
        t->numel() == 0) {
      ++rejected;
      continue;
    }
    ASSERT_EQ(r.has_value(), t.has_value())
        << (r ? "roundoff accepted what torch rejects" : "roundoff rejected (" + why + ")") +
               std::string(" what torch accepts: ") + ctx;
    if (!r) {
      ++rejected;
      continue;
    }
    ++accepted;
    const at::Tensor tc = t->contiguous();
    ASSERT_EQ(r->exact.shape(), tc.sizes().vec()) << ctx;
    const double* tv = tc.data_ptr<double>();
    for (std::int64_t i = 0; i < r->exact.size(); ++i) {
      const auto u = static_cast<std::size_t>(i);
      const std::int64_t n = r->terms[i] + (r->has_bias ? 1 : 0);
      const double err = r->exact.abs_diff(i, tv[i], exact::rounding::downward);
      const double bnd = bound(n, r->magnitude[u]);
      ASSERT_LE(err, bnd) << "element " << i << ": torch " << tv[i] << ", exact "
                          << r->exact.rounded(i) << ", n=" << n << ", magnitude " << r->magnitude[u]
                          << "; " << ctx;
      ASSERT_LE(r->data_terms[i], r->terms[i]) << ctx;
      ++elements;
      if (err > 0) ++nonzero_err;
    }
  }
  std::cerr << "[ops_torch] " << accepted << " accepted, " << rejected << " rejected by both, "
            << elements << " elements checked, " << nonzero_err << " with torch != exact\n";
  EXPECT_EQ(accepted, target) << "too many invalid draws";
}

TEST(ops_torch, linear_within_f64_bound) {
  cross_check({op_kind::linear}, 0x701);
}
TEST(ops_torch, matmul_within_f64_bound) {
  cross_check({op_kind::matmul}, 0x702);
}
TEST(ops_torch, bmm_within_f64_bound) {
  cross_check({op_kind::bmm}, 0x703);
}
TEST(ops_torch, addmm_within_f64_bound) {
  cross_check({op_kind::addmm}, 0x704);
}
TEST(ops_torch, conv_within_f64_bound) {
  cross_check({op_kind::conv1d, op_kind::conv2d, op_kind::conv3d}, 0x705);
}
TEST(ops_torch, conv_transpose_within_f64_bound) {
  cross_check({op_kind::conv_transpose1d, op_kind::conv_transpose2d, op_kind::conv_transpose3d},
              0x706);
}

}  // namespace
}  // namespace roundoff
