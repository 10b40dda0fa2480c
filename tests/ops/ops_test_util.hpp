// Shared helpers for the ops tests: building tensors, reading results, and an independent
// direct-definition oracle (one exact accumulator per output, indices from PyTorch's formulas,
// no im2col) used to check the lowering.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "roundoff/error.hpp"
#include "roundoff/exact/accumulator.hpp"
#include "roundoff/ops/op.hpp"
#include "roundoff/ops/op_result.hpp"
#include "roundoff/tensor.hpp"

namespace roundoff::test {

inline tensor T(std::vector<std::int64_t> shape, std::vector<double> data) {
  tensor t;
  t.shape = std::move(shape);
  t.data = std::move(data);
  return t;
}

/// Convolution parameters in PyTorch's argument order (an empty list is the default).
inline ops::conv_params P(std::vector<std::int64_t> stride, std::vector<std::int64_t> padding,
                          std::vector<std::int64_t> dilation = {}, std::int64_t groups = 1) {
  ops::conv_params p;
  p.stride = std::move(stride);
  p.padding = std::move(padding);
  p.dilation = std::move(dilation);
  p.groups = groups;
  return p;
}

/// Tensor of the given shape filled with zeros.
inline tensor zeros(std::vector<std::int64_t> shape) {
  tensor t;
  t.shape = std::move(shape);
  t.data.assign(static_cast<std::size_t>(t.numel()), 0.0);
  return t;
}

/// Tensor of the given shape filled with 0, 1, 2, ... (+ start).
inline tensor iota(std::vector<std::int64_t> shape, double start = 0) {
  tensor t;
  t.shape = std::move(shape);
  t.data.resize(static_cast<std::size_t>(t.numel()));
  for (std::size_t i = 0; i < t.data.size(); ++i) t.data[i] = start + static_cast<double>(i);
  return t;
}

/// Expects f() to throw input_error whose message contains `needle`; with one_line, also that
/// the message has no newline.
inline void expect_error(const std::function<void()>& f, const std::string& needle,
                         bool one_line = false) {
  try {
    f();
    ADD_FAILURE() << "no input_error; expected one containing '" << needle << "'";
  } catch (const input_error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(needle), std::string::npos) << "message: " << msg;
    if (one_line) {
      EXPECT_EQ(msg.find('\n'), std::string::npos) << "message must be one line: " << msg;
    }
  }
}

/// Resizes each tensor to its shape's numel and fills it with normal(rng) * 2^e, e uniform in
/// [-max_exp, max_exp).
template <class Rng>
void fill_random(std::initializer_list<tensor*> ts, Rng& rng,
                 std::normal_distribution<double>& normal, int max_exp) {
  for (auto* t : ts) {
    t->data.resize(static_cast<std::size_t>(t->numel()));
    for (auto& v : t->data)
      v = std::ldexp(normal(rng),
                     static_cast<int>(rng() % static_cast<std::uint64_t>(2 * max_exp)) - max_exp);
  }
}

inline bool same_bits(double a, double b) {
  if (std::isnan(a) && std::isnan(b)) return true;
  std::uint64_t x, y;
  std::memcpy(&x, &a, 8);
  std::memcpy(&y, &b, 8);
  return x == y;
}

/// Expects r's shape and its rounded values to be exactly `want`.
inline void expect_result(const ops::op_result& r, const std::vector<std::int64_t>& shape,
                          const std::vector<double>& want) {
  ASSERT_EQ(r.exact.shape(), shape);
  ASSERT_EQ(r.exact.size(), static_cast<std::int64_t>(want.size()));
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_TRUE(same_bits(r.exact.rounded(static_cast<std::int64_t>(i)), want[i]))
        << "element " << i << ": got " << r.exact.rounded(static_cast<std::int64_t>(i)) << ", want "
        << want[i];
  }
}

/// The three methods agree bit for bit on every rounded result and on the magnitudes.
inline void expect_methods_agree(const ops::op_spec& op, const tensor& x, const tensor& w,
                                 const tensor* b, const std::string& ctx) {
  ops::reference_options f, s, m;
  f.how = ops::method::fast;
  s.how = ops::method::simple;
  m.how = ops::method::mpfr;
  m.mpfr_auto_raise = true;  // wide exponent ranges need more than 256 bits
  const auto rf = ops::evaluate({op, x, w, b}, f);
  const auto rs = ops::evaluate({op, x, w, b}, s);
  const auto rm = ops::evaluate({op, x, w, b}, m);
  ASSERT_EQ(rf.exact.shape(), rs.exact.shape()) << ctx;
  ASSERT_EQ(rf.exact.shape(), rm.exact.shape()) << ctx;
  for (std::int64_t i = 0; i < rf.exact.size(); ++i) {
    ASSERT_TRUE(same_bits(rf.exact.rounded(i), rs.exact.rounded(i)))
        << "fast vs simple at " << i << ": " << rf.exact.rounded(i) << " vs " << rs.exact.rounded(i)
        << "; " << ctx;
    ASSERT_TRUE(same_bits(rf.exact.rounded(i), rm.exact.rounded(i)))
        << "fast vs mpfr at " << i << ": " << rf.exact.rounded(i) << " vs " << rm.exact.rounded(i)
        << "; " << ctx;
    ASSERT_EQ(rm.oracle_exact[static_cast<std::size_t>(i)], 1)
        << "oracle inexact at " << i << "; " << ctx;
    ASSERT_TRUE(same_bits(rf.magnitude[static_cast<std::size_t>(i)],
                          rs.magnitude[static_cast<std::size_t>(i)]))
        << "magnitude fast vs simple at " << i << "; " << ctx;
  }
}

/// Direct definition of conv / conv_transpose for any spatial rank, one accumulator per output:
/// returns the RN results, magnitudes (RU), terms and data_terms. Index formulas:
///   conv:       i = o*s - pl + t*d                  (then padding-mode mapping)
///   transposed: o = i*s - p + t*d  <=>  i = (o + p - t*d)/s when divisible.
struct direct_result {
  std::vector<std::int64_t> shape;
  std::vector<double> value, magnitude;
  std::vector<std::int64_t> terms, data_terms;
};

inline direct_result direct_conv(int nd, bool transposed, const tensor& x, const tensor& w,
                                 const tensor* b, const ops::conv_params& p) {
  const bool batched = x.dim() == nd + 2;
  const std::int64_t N = batched ? x.shape[0] : 1, C = x.shape[batched ? 1 : 0];
  const std::int64_t G = p.groups;
  const std::int64_t cin_g = C / G;
  const std::int64_t cout = transposed ? w.shape[1] * G : w.shape[0];
  const std::int64_t cout_g = cout / G;
  auto get = [nd](const std::vector<std::int64_t>& v, std::int64_t dflt) {
    std::vector<std::int64_t> r(static_cast<std::size_t>(nd), dflt);
    for (int d = 0; d < nd; ++d) {
      if (!v.empty())
        r[static_cast<std::size_t>(d)] = v.size() == 1 ? v[0] : v[static_cast<std::size_t>(d)];
    }
    return r;
  };
  const auto s = get(p.stride, 1), dil = get(p.dilation, 1), op = get(p.output_padding, 0);
  auto pad = get(p.padding, 0);
  std::vector<std::int64_t> in(x.shape.end() - nd, x.shape.end()),
      k(w.shape.end() - nd, w.shape.end());
  std::vector<std::int64_t> pl(static_cast<std::size_t>(nd)), out(static_cast<std::size_t>(nd));
  for (int d = 0; d < nd; ++d) {
    const auto u = static_cast<std::size_t>(d);
    if (p.pad == ops::conv_params::padding_kind::valid) pad[u] = 0;
    std::int64_t left = pad[u], right = pad[u];
    if (p.pad == ops::conv_params::padding_kind::same) {
      left = dil[u] * (k[u] - 1) / 2;
      right = dil[u] * (k[u] - 1) - left;
    }
    pl[u] = left;
    out[u] = transposed ? (in[u] - 1) * s[u] - 2 * pad[u] + dil[u] * (k[u] - 1) + op[u] + 1
                        : (in[u] + left + right - dil[u] * (k[u] - 1) - 1) / s[u] + 1;
  }
  direct_result r;
  if (batched) r.shape.push_back(N);
  r.shape.push_back(cout);
  for (auto o : out) r.shape.push_back(o);
  std::int64_t P = 1, KK = 1, inP = 1;
  for (int d = 0; d < nd; ++d) {
    P *= out[static_cast<std::size_t>(d)];
    KK *= k[static_cast<std::size_t>(d)];
    inP *= in[static_cast<std::size_t>(d)];
  }
  exact::accumulator acc, mag;
  std::vector<std::int64_t> oi(static_cast<std::size_t>(nd)), ti(static_cast<std::size_t>(nd));
  for (std::int64_t n = 0; n < N; ++n) {
    for (std::int64_t co = 0; co < cout; ++co) {
      const std::int64_t g = co / cout_g;
      for (std::int64_t q = 0; q < P; ++q) {
        std::int64_t rem = q;
        for (int d = nd - 1; d >= 0; --d) {
          oi[static_cast<std::size_t>(d)] = rem % out[static_cast<std::size_t>(d)];
          rem /= out[static_cast<std::size_t>(d)];
        }
        acc.clear();
        mag.clear();
        std::int64_t data = 0;
        for (std::int64_t ci = 0; ci < cin_g; ++ci) {
          for (std::int64_t t = 0; t < KK; ++t) {
            std::int64_t trem = t, off = 0;
            bool valid = true;
            for (int d = nd - 1; d >= 0; --d) {
              ti[static_cast<std::size_t>(d)] = trem % k[static_cast<std::size_t>(d)];
              trem /= k[static_cast<std::size_t>(d)];
            }
            std::int64_t st = 1;
            for (int d = nd - 1; d >= 0; --d) {
              const auto u = static_cast<std::size_t>(d);
              std::int64_t i;
              if (!transposed) {
                i = oi[u] * s[u] - pl[u] + ti[u] * dil[u];
                if (i < 0 || i >= in[u]) {
                  if (p.mode == ops::padding_mode::zeros) valid = false;
                  if (p.mode == ops::padding_mode::reflect) i = i < 0 ? -i : 2 * (in[u] - 1) - i;
                  if (p.mode == ops::padding_mode::replicate) i = i < 0 ? 0 : in[u] - 1;
                  if (p.mode == ops::padding_mode::circular) i = ((i % in[u]) + in[u]) % in[u];
                }
              } else {
                const std::int64_t num = oi[u] + pad[u] - ti[u] * dil[u];
                i = num / s[u];
                if (num < 0 || num % s[u] != 0 || i >= in[u]) valid = false;
              }
              off += i * st;
              st *= in[u];
            }
            const std::int64_t cin_idx = g * cin_g + ci;
            const double wv = transposed
                                  ? w.data[static_cast<std::size_t>(
                                        (cin_idx * cout_g + (co - g * cout_g)) * KK + t)]
                                  : w.data[static_cast<std::size_t>((co * cin_g + ci) * KK + t)];
            const double xv =
                valid ? x.data[static_cast<std::size_t>((n * C + cin_idx) * inP + off)] : 0.0;
            if (valid) ++data;
            acc.add_product(xv, wv);
            mag.add_product(std::fabs(xv), std::fabs(wv));
          }
        }
        if (b) {
          acc.add(b->data[static_cast<std::size_t>(co)]);
          mag.add(std::fabs(b->data[static_cast<std::size_t>(co)]));
        }
        r.value.push_back(acc.round());
        r.magnitude.push_back(mag.round(exact::rounding::upward));
        r.terms.push_back(cin_g * KK);
        r.data_terms.push_back(data);
      }
    }
  }
  return r;
}

/// Expects an op_result to equal a direct_result in everything.
inline void expect_matches_direct(const ops::op_result& r, const direct_result& d,
                                  const std::string& ctx) {
  ASSERT_EQ(r.exact.shape(), d.shape) << ctx;
  ASSERT_EQ(static_cast<std::size_t>(r.exact.size()), d.value.size()) << ctx;
  for (std::size_t i = 0; i < d.value.size(); ++i) {
    const auto ii = static_cast<std::int64_t>(i);
    ASSERT_TRUE(same_bits(r.exact.rounded(ii), d.value[i]))
        << "value at " << i << ": " << r.exact.rounded(ii) << " vs direct " << d.value[i] << "; "
        << ctx;
    ASSERT_TRUE(same_bits(r.magnitude[i], d.magnitude[i]))
        << "magnitude at " << i << ": " << r.magnitude[i] << " vs direct " << d.magnitude[i] << "; "
        << ctx;
    ASSERT_EQ(r.terms[ii], d.terms[i]) << "terms at " << i << "; " << ctx;
    ASSERT_EQ(r.data_terms[ii], d.data_terms[i]) << "data_terms at " << i << "; " << ctx;
  }
}

}  // namespace roundoff::test
