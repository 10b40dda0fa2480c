// PyTorch's shape rules exist once, in the ops layer (ops::output_shape, ops::resolve_conv); the
// backends use them instead of re-deriving them. Over a generated grid of ops and arguments
// (linear, matmul with 1-D operands and broadcast batches, addmm, bmm, conv1d/2d/3d with stride,
// padding incl. 'same'/'valid', dilation, groups and every padding_mode, conv_transpose with
// output_padding; valid and invalid), this checks what the backends compute against what ops
// says:
//   - rejected by ops: the lowering and every backend reject it too, with ops' message;
//   - accepted: the GEMM lowering covers exactly the output ops names (its shape, and every
//     output element written once), the naive f64 backend returns that shape with the exact
//     values on integer data, and every LibTorch f64 formulation of the op returns that shape
//     (the adapter throws internal_error when LibTorch's own shape differs).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "lowering.hpp"
#include "property.hpp"
#include "roundoff/backends/backend.hpp"
#include "roundoff/error.hpp"
#include "roundoff/ops/conv.hpp"
#include "roundoff/ops/op.hpp"

namespace {

using namespace roundoff;
using ops::op_kind;
using shape_t = std::vector<std::int64_t>;
using pk = ops::conv_params::padding_kind;

struct case_ {
  ops::op_spec op{op_kind::linear};
  tensor x, w, b;
  bool has_b = false;
  const tensor* bias() const { return has_b ? &b : nullptr; }
};

std::string show(const shape_t& s) {
  std::ostringstream o;
  o << '[';
  for (std::size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << ']';
  return o.str();
}

std::string describe(const case_& c) {
  std::ostringstream o;
  o << ops::op_name(c.op.kind) << " x" << show(c.x.shape) << " w" << show(c.w.shape);
  if (c.has_b) o << " b" << show(c.b.shape);
  if (ops::spatial_dims(c.op.kind) > 0) {
    const auto& p = c.op.conv;
    o << " stride" << show(p.stride) << " padding"
      << (p.pad == pk::same    ? std::string("=same")
          : p.pad == pk::valid ? std::string("=valid")
                               : show(p.padding))
      << " dilation" << show(p.dilation) << " output_padding" << show(p.output_padding)
      << " groups=" << p.groups << " mode=" << static_cast<int>(p.mode);
  }
  return o.str();
}

tensor ints(shape_t s, std::mt19937_64& g) {
  tensor t;
  t.shape = std::move(s);
  t.data.resize(static_cast<std::size_t>(t.numel()));
  std::uniform_int_distribution<int> d(-3, 3);
  for (auto& v : t.data) v = d(g);
  return t;
}

case_ make(op_kind k, const shape_t& xs, const shape_t& ws, std::optional<shape_t> bs,
           std::mt19937_64& g, ops::conv_params p = {}) {
  case_ c;
  c.op = ops::op_spec(k, std::move(p));
  c.x = ints(xs, g);
  c.w = ints(ws, g);
  if (bs) {
    c.b = ints(*bs, g);
    c.has_b = true;
  }
  return c;
}

// Matrix-product ops: every rank PyTorch takes, broadcast batches, biases that broadcast or not,
// and mismatched sizes.
std::vector<case_> product_cases(std::mt19937_64& g) {
  std::vector<case_> r;
  const std::int64_t M = 3, K = 4, N = 2, B = 2;
  const std::vector<std::optional<shape_t>> biases = {std::nullopt,  shape_t{N},    shape_t{1},
                                                      shape_t{},     shape_t{M, N}, shape_t{M, 1},
                                                      shape_t{N + 1}};
  // F.linear's bias as PyTorch documents it ([N] or a scalar). ops also takes any bias that
  // broadcasts to the output, but LibTorch's linear flattens a batched input first and then
  // rejects a [M, N] bias: not compared here.
  const std::vector<std::optional<shape_t>> linear_biases = {std::nullopt, shape_t{N}, shape_t{1},
                                                             shape_t{}, shape_t{N + 1}};
  for (const shape_t& xs : {shape_t{K}, shape_t{M, K}, shape_t{B, M, K}, shape_t{B, 1, M, K},
                            shape_t{0, K}, shape_t{M, K + 1}}) {
    for (const shape_t& ws : {shape_t{N, K}, shape_t{K}, shape_t{N, K, 1}})
      for (const auto& bs : linear_biases) r.push_back(make(op_kind::linear, xs, ws, bs, g));
  }
  for (const auto& bs : biases)  // 2-D input: LibTorch's addmm broadcasts any such bias
    r.push_back(make(op_kind::linear, {M, K}, {N, K}, bs, g));
  for (const shape_t& xs : {shape_t{K}, shape_t{M, K}, shape_t{B, M, K}, shape_t{1, M, K},
                            shape_t{B, 1, M, K}, shape_t{3, M, K}}) {
    for (const shape_t& ws : {shape_t{K}, shape_t{K, N}, shape_t{B, K, N}, shape_t{1, K, N},
                              shape_t{B, B, K, N}, shape_t{K + 1, N}})
      for (const auto& bs : biases) r.push_back(make(op_kind::matmul, xs, ws, bs, g));
  }
  for (const shape_t& xs :
       {shape_t{B, M, K}, shape_t{B + 1, M, K}, shape_t{M, K}, shape_t{0, M, K}})
    for (const shape_t& ws : {shape_t{B, K, N}, shape_t{B, K + 1, N}, shape_t{0, K, N}})
      for (const auto& bs : biases) r.push_back(make(op_kind::bmm, xs, ws, bs, g));
  for (const shape_t& xs : {shape_t{M, K}, shape_t{K}, shape_t{M, 0}})
    for (const shape_t& ws : {shape_t{K, N}, shape_t{K + 1, N}, shape_t{0, N}, shape_t{B, K, N}})
      for (const auto& bs : biases) r.push_back(make(op_kind::addmm, xs, ws, bs, g));
  return r;
}

// Convolutions: stride, padding (explicit, 'same', 'valid'), dilation, groups and every padding
// mode, batched and unbatched, with and without bias; sizes where reflect padding, 'same' with
// a stride and too-large kernels are rejected.
std::vector<case_> conv_cases(int d, std::mt19937_64& g) {
  std::vector<case_> r;
  const op_kind k = d == 1 ? op_kind::conv1d : d == 2 ? op_kind::conv2d : op_kind::conv3d;
  const std::int64_t in = d == 3 ? 3 : 5, kern = d == 3 ? 2 : 3;
  for (std::int64_t stride : {1, 2})
    for (int padding = 0; padding < 4; ++padding)  // 0, 2, same, valid
      for (std::int64_t dilation : {1, 2})
        for (std::int64_t groups : {1, 2})
          for (int mode = 0; mode < 4; ++mode)
            for (int variant = 0; variant < 2; ++variant) {  // batched+bias, unbatched
              ops::conv_params p;
              p.stride = {stride};
              p.dilation = d == 2 ? shape_t{dilation, 1} : shape_t{dilation};
              if (padding == 2) p.pad = pk::same;
              if (padding == 3) p.pad = pk::valid;
              if (padding < 2) p.padding = {padding * 2};
              p.groups = groups;
              p.mode = static_cast<ops::padding_mode>(mode);
              const std::int64_t cin = 2 * groups, cout = 2 * groups;
              shape_t xs{cin}, ws{cout, 2};
              for (int i = 0; i < d; ++i) {
                xs.push_back(in + i);
                ws.push_back(kern);
              }
              if (variant == 0) xs.insert(xs.begin(), 2);
              r.push_back(make(k, xs, ws,
                               variant == 0 ? std::optional<shape_t>(shape_t{cout}) : std::nullopt,
                               g, p));
            }
  return r;
}

std::vector<case_> conv_transpose_cases(int d, std::mt19937_64& g) {
  std::vector<case_> r;
  const op_kind k = d == 1   ? op_kind::conv_transpose1d
                    : d == 2 ? op_kind::conv_transpose2d
                             : op_kind::conv_transpose3d;
  const std::int64_t in = d == 3 ? 2 : 3, kern = 2;
  for (std::int64_t stride : {1, 2, 3})
    for (std::int64_t padding : {0, 1, 2})
      for (std::int64_t output_padding : {0, 1, 2})
        for (std::int64_t dilation : {1, 2})
          for (std::int64_t groups : {1, 2})
            for (int variant = 0; variant < 2; ++variant) {
              ops::conv_params p;
              p.stride = {stride};
              p.padding = {padding};
              p.output_padding = d == 2 ? shape_t{output_padding, 0} : shape_t{output_padding};
              p.dilation = {dilation};
              p.groups = groups;
              const std::int64_t cin = 2 * groups, cout_g = 3;
              shape_t xs{cin}, ws{cin, cout_g};
              for (int i = 0; i < d; ++i) {
                xs.push_back(in + i);
                ws.push_back(kern + i % 2);
              }
              if (variant == 0) xs.insert(xs.begin(), 2);
              r.push_back(make(
                  k, xs, ws,
                  variant == 0 ? std::optional<shape_t>(shape_t{cout_g * groups}) : std::nullopt, g,
                  p));
            }
  return r;
}

// The lowering writes each output element exactly once, from operand ranges inside its buffers.
void expect_lowering_covers(const backends::detail::gemm_lowering& L, const shape_t& want,
                            const std::string& what) {
  ASSERT_EQ(L.out_shape, want) << what;
  std::int64_t numel = 1;
  for (auto s : want) numel *= s;
  ASSERT_EQ(L.count * L.m * L.n, numel) << what;
  ASSERT_EQ(static_cast<std::int64_t>(L.out_index.size()), numel) << what;
  std::vector<char> seen(static_cast<std::size_t>(numel), 0);
  for (auto i : L.out_index) {
    ASSERT_TRUE(i >= 0 && i < numel) << what;
    ASSERT_EQ(seen[static_cast<std::size_t>(i)]++, 0) << "output " << i << " twice: " << what;
  }
  ASSERT_EQ(static_cast<std::int64_t>(L.a_off.size()), L.count) << what;
  ASSERT_EQ(static_cast<std::int64_t>(L.b_off.size()), L.count) << what;
  for (std::int64_t p = 0; p < L.count; ++p) {
    const auto up = static_cast<std::size_t>(p);
    EXPECT_LE(L.a_off[up] + L.m * L.k, static_cast<std::int64_t>(L.a_data.size())) << what;
    EXPECT_LE(L.b_off[up] + L.n * L.k, static_cast<std::int64_t>(L.b_data.size())) << what;
  }
  EXPECT_TRUE(L.bias.empty() || static_cast<std::int64_t>(L.bias.size()) == numel) << what;
}

struct tally {
  int accepted = 0, rejected = 0, refused = 0, torch_runs = 0;
};

void check_case(const case_& c, tally& t) {
  const auto& reg = backends::builtin_registry();
  const backends::backend* naive = reg.find("naive.cpu.sequential.f64");
  ASSERT_NE(naive, nullptr);
  const std::string what = describe(c);
  const ops::problem pr{c.op, c.x, c.w, c.bias()};
  shape_t want;
  std::string rejection;
  try {
    want = ops::output_shape(pr);
  } catch (const input_error& e) {
    rejection = e.what();
  }
  if (!rejection.empty()) {
    ++t.rejected;
    try {
      (void)backends::detail::lower_to_gemm(c.op, c.x, c.w, c.bias());
      ADD_FAILURE() << "the lowering accepted what ops rejects (" << rejection << "): " << what;
    } catch (const input_error& e) {
      EXPECT_EQ(std::string(e.what()), rejection) << what;
    }
    EXPECT_THROW(naive->run(c.op, c.x, c.w, c.bias()), input_error) << what;
    return;
  }
  ++t.accepted;
  if (ops::spatial_dims(c.op.kind) > 0) {
    const ops::conv_geometry geo = ops::resolve_conv(pr);
    EXPECT_EQ(geo.output_shape(), want) << what;
    for (std::size_t d = 0; d < geo.source.size(); ++d)
      EXPECT_EQ(static_cast<std::int64_t>(geo.source[d].size()), geo.out[d] * geo.kernel[d])
          << what;
  }
  expect_lowering_covers(backends::detail::lower_to_gemm(c.op, c.x, c.w, c.bias()), want, what);
  if (c.op.kind == op_kind::linear && c.w.dim() == 1) {
    // F.linear's 1-D weight: ops (and the lowering) take it, the backends refuse it (the
    // LibTorch formulations do not implement it), as one line.
    ++t.refused;
    EXPECT_THROW(naive->run(c.op, c.x, c.w, c.bias()), input_error) << what;
    return;
  }
  const auto exact = ops::evaluate(pr);
  const auto r = naive->run(c.op, c.x, c.w, c.bias());
  EXPECT_EQ(r.output.shape, want) << what;
  EXPECT_EQ(r.output.data, exact.exact.rounded()) << what;
  for (const backends::backend* be : reg.select({"torch.cpu.*.f64"})) {
    if (!be->supports(c.op.kind) || !be->available().available) continue;
    ++t.torch_runs;
    try {
      const auto rt = be->run(c.op, c.x, c.w, c.bias());
      EXPECT_EQ(rt.output.shape, want) << be->full_name() << ": " << what;
    } catch (const std::exception& e) {  // internal_error: LibTorch's shape is not ops'
      ADD_FAILURE() << be->full_name() << ": " << e.what() << ": " << what;
    }
  }
}

TEST(lowering_shape, matrix_products_have_the_shape_ops_says) {
  auto g = roundoff::test::rng(0x5a9e1);
  tally t;
  for (const auto& c : product_cases(g)) check_case(c, t);
  std::cerr << "[lowering_shape] products: " << t.accepted << " accepted (" << t.refused
            << " of them refused by the backends: 1-D linear weight), " << t.rejected
            << " rejected by ops, " << t.torch_runs << " LibTorch runs\n";
  EXPECT_GT(t.accepted, 100);
  EXPECT_GT(t.rejected, 100);
}

TEST(lowering_shape, convolutions_have_the_shape_ops_says) {
  auto g = roundoff::test::rng(0x5a9e2);
  tally t;
  for (int d = 1; d <= 3; ++d) {
    for (const auto& c : conv_cases(d, g)) check_case(c, t);
  }
  std::cerr << "[lowering_shape] conv: " << t.accepted << " accepted, " << t.rejected
            << " rejected by ops, " << t.torch_runs << " LibTorch runs\n";
  EXPECT_GT(t.accepted, 300);
  EXPECT_GT(t.rejected, 50);
}

TEST(lowering_shape, transposed_convolutions_have_the_shape_ops_says) {
  auto g = roundoff::test::rng(0x5a9e3);
  tally t;
  for (int d = 1; d <= 3; ++d) {
    for (const auto& c : conv_transpose_cases(d, g)) check_case(c, t);
  }
  std::cerr << "[lowering_shape] conv_transpose: " << t.accepted << " accepted, " << t.rejected
            << " rejected by ops, " << t.torch_runs << " LibTorch runs\n";
  EXPECT_GT(t.accepted, 200);
  EXPECT_GT(t.rejected, 50);
}

// 'same' with an even dilated kernel pads one more zero after than before (PyTorch's choice):
// the geometry says so, and the lowered product reads an exact zero exactly there.
TEST(lowering_shape, same_padding_puts_the_odd_zero_after) {
  auto g = roundoff::test::rng(0x5a9e4);
  ops::conv_params p;
  p.pad = pk::same;
  const case_ c = make(op_kind::conv1d, {1, 1, 5}, {1, 1, 4}, std::nullopt, g, p);
  const ops::conv_geometry geo = ops::resolve_conv({c.op, c.x, c.w});
  EXPECT_EQ(geo.pad_left, shape_t{1});
  EXPECT_EQ(geo.pad_right, shape_t{2});
  EXPECT_EQ(geo.out, shape_t{5});
  // Output 0 reads input -1, 0, 1, 2 (tap 0 a zero); output 4 reads 3, 4 and two zeros.
  EXPECT_EQ(geo.source[0],
            (shape_t{-1, 0, 1, 2, 0, 1, 2, 3, 1, 2, 3, 4, 2, 3, 4, -1, 3, 4, -1, -1}));
  EXPECT_THROW(ops::resolve_conv({ops::op_spec(op_kind::linear), c.x, c.w}), input_error);
}

}  // namespace
