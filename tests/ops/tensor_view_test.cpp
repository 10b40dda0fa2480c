// tensor_view: every storage (f64, f32, f16, bf16) and layout (row-major, transposed, sliced,
// broadcast) gives bit-for-bit the exact results, magnitudes and term counts of the same values in
// a dense f64 roundoff::tensor (whose results the other ops tests check against MPFR and the
// direct definition), including the tile-by-tile conversion of large operands; and reading in
// place copies nothing (input_bytes_copied).
#include <bit>
#include <cstdint>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "ops_test_util.hpp"
#include "property.hpp"
#include "roundoff/error.hpp"
#include "roundoff/ops/op.hpp"
#include "roundoff/tensor_view.hpp"

namespace roundoff {
namespace {

using ops::op_kind;

// Values exact in bf16 (8 significant bits), so in every storage.
std::vector<double> draw(std::mt19937_64& g, std::int64_t n) {
  std::uniform_int_distribution<int> sig(-255, 255), ex(-6, 3);
  std::vector<double> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = std::ldexp(static_cast<double>(sig(g)), ex(g));
  return v;
}

std::uint16_t bf16_bits(double v) {
  return static_cast<std::uint16_t>(std::bit_cast<std::uint32_t>(static_cast<float>(v)) >> 16);
}
std::uint16_t f16_bits(double v) {  // normal or zero values with <= 11 significant bits only
  if (v == 0) return std::signbit(v) ? 0x8000 : 0;
  int e = 0;
  const double m = std::frexp(std::fabs(v), &e);  // v = m 2^e, m in [0.5, 1)
  const auto mant = static_cast<std::uint16_t>(std::ldexp(m, 11)) & 0x3FF;
  const auto exp = static_cast<std::uint16_t>(e - 1 + 15);
  return static_cast<std::uint16_t>((v < 0 ? 0x8000 : 0) | (exp << 10) | mant);
}

// Buffers of one tensor's values in each storage, and views of them with the given strides
// (the buffer laid out so that the strided view reads t's values in row-major order).
struct stored {
  std::vector<double> f64;
  std::vector<float> f32;
  std::vector<std::uint16_t> f16, bf16;
};

// A view of t's values in `s`, laid out column-major in the last two dims when `transposed`.
tensor_view view_of(const tensor& t, storage_type s, bool transposed, stored& keep) {
  const auto n = static_cast<std::size_t>(t.numel());
  std::vector<std::int64_t> strides = tensor_view::row_major_strides(t.shape);
  std::vector<std::size_t> where(n);
  for (std::size_t i = 0; i < n; ++i) where[i] = i;
  if (transposed && t.dim() >= 2) {
    const std::int64_t r = t.shape[t.shape.size() - 2], c = t.shape.back();
    strides[strides.size() - 2] = 1;
    strides.back() = r;
    for (std::size_t i = 0; i < n; ++i) {
      const auto q = static_cast<std::int64_t>(i);
      const std::int64_t base = q / (r * c) * (r * c), ri = q / c % r, ci = q % c;
      where[i] = static_cast<std::size_t>(base + ci * r + ri);
    }
  }
  auto fill = [&](auto& buf, auto conv) {
    buf.resize(n);
    for (std::size_t i = 0; i < n; ++i) buf[where[i]] = conv(t.data[i]);
  };
  switch (s) {
    case storage_type::f64:
      fill(keep.f64, [](double v) { return v; });
      return tensor_view(keep.f64.data(), t.shape, strides, t.type);
    case storage_type::f32:
      fill(keep.f32, [](double v) { return static_cast<float>(v); });
      return tensor_view(keep.f32.data(), t.shape, strides, t.type);
    case storage_type::f16:
      fill(keep.f16, f16_bits);
      return tensor_view(keep.f16.data(), s, t.shape, strides, t.type);
    case storage_type::bf16:
      fill(keep.bf16, bf16_bits);
      return tensor_view(keep.bf16.data(), s, t.shape, strides, t.type);
  }
  return {};
}

void expect_same(const ops::op_result& a, const ops::op_result& b, const std::string& what) {
  ASSERT_EQ(a.exact.shape(), b.exact.shape()) << what;
  for (std::int64_t i = 0; i < a.exact.size(); ++i) {
    ASSERT_EQ(a.exact.rounded(i), b.exact.rounded(i)) << what << " element " << i;
    ASSERT_EQ(a.exact.abs_diff(i, b.exact.rounded(i)), 0.0) << what << " element " << i;
  }
  EXPECT_EQ(a.magnitude, b.magnitude) << what;
  EXPECT_EQ(a.terms.to_vector(), b.terms.to_vector()) << what;
  EXPECT_EQ(a.data_terms.to_vector(), b.data_terms.to_vector()) << what;
}

struct case_t {
  ops::op_spec op;
  tensor x, w, b;
};

std::vector<case_t> cases(std::mt19937_64& g) {
  auto T = [&](std::vector<std::int64_t> s) {
    tensor t;
    t.shape = std::move(s);
    t.data = draw(g, t.numel());
    return t;
  };
  std::vector<case_t> c;
  c.push_back({ops::op_spec(op_kind::linear), T({3, 5, 17}), T({6, 17}), T({6})});
  c.push_back({ops::op_spec(op_kind::matmul), T({2, 1, 4, 9}), T({3, 9, 5}), T({5})});
  c.push_back({ops::op_spec(op_kind::bmm), T({3, 4, 7}), T({3, 7, 2}), T({3, 1, 2})});
  c.push_back({ops::op_spec(op_kind::addmm), T({5, 8}), T({8, 3}), T({5, 3})});
  ops::conv_params cp;
  cp.stride = {2};
  cp.padding = {1};
  cp.groups = 2;
  c.push_back({ops::op_spec(op_kind::conv2d, cp), T({2, 4, 7, 6}), T({6, 2, 3, 3}), T({6})});
  ops::conv_params tp;
  tp.stride = {2};
  tp.output_padding = {1};
  c.push_back({ops::op_spec(op_kind::conv_transpose1d, tp), T({2, 3, 5}), T({3, 4, 3}), T({4})});
  return c;
}

TEST(tensor_view, every_storage_and_layout_gives_the_dense_f64_results) {
  auto g = test::rng(0x71E5);
  for (const auto& c : cases(g)) {
    const std::string op(ops::op_name(c.op.kind));
    const ops::op_result ref = ops::evaluate({c.op, c.x, c.w, &c.b});
    for (storage_type s :
         {storage_type::f64, storage_type::f32, storage_type::f16, storage_type::bf16}) {
      for (bool transposed : {false, true}) {
        stored kx, kw, kb;
        const tensor_view x = view_of(c.x, s, transposed, kx);
        const tensor_view w = view_of(c.w, s, transposed, kw);
        const tensor_view b = view_of(c.b, s, false, kb);
        expect_same(ops::evaluate({c.op, x, w, &b}), ref,
                    op + " storage " + std::to_string(static_cast<int>(s)) +
                        (transposed ? " transposed" : ""));
      }
    }
  }
}

TEST(tensor_view, large_f32_and_strided_operands_are_converted_tile_by_tile) {
  // x has more than nt_tile_doubles (2^21) values, so the product is cut into row blocks.
  auto g = test::rng(0xB16);
  tensor x, w;
  x.shape = {2200, 1000};
  x.data = draw(g, x.numel());
  w.shape = {3, 1000};
  w.data = draw(g, w.numel());
  const ops::problem dense{op_kind::linear, x, w};
  const ops::op_result ref = ops::evaluate(dense);
  stored kx, kw;
  const tensor_view xf = view_of(x, storage_type::f32, false, kx);
  reset_input_bytes_copied();
  expect_same(ops::evaluate({op_kind::linear, xf, w}), ref, "f32 x");
  EXPECT_EQ(input_bytes_copied(), 0);
  // A broadcast view (stride 0) of one row of w against the first row block of x.
  std::vector<double> row(w.data.begin(), w.data.begin() + 1000);
  const tensor_view wb(row.data(), {3, 1000}, {0, 1});
  tensor w3 = w;
  for (std::int64_t j = 0; j < 3; ++j)
    for (std::int64_t k = 0; k < 1000; ++k)
      w3.data[static_cast<std::size_t>(j * 1000 + k)] = row[static_cast<std::size_t>(k)];
  expect_same(ops::evaluate({op_kind::linear, xf, wb}), ops::evaluate({op_kind::linear, x, w3}),
              "broadcast w");
  EXPECT_EQ(input_bytes_copied(), 0);
}

TEST(tensor_view, to_tensor_copies_and_counts) {
  const std::vector<float> v{1, 2, 3, 4, 5, 6};
  const tensor_view t(v.data(), {3, 2}, {1, 3});  // the transpose of a [2, 3] buffer
  reset_input_bytes_copied();
  const tensor c = t.to_tensor();
  EXPECT_EQ(c.data, (std::vector<double>{1, 4, 2, 5, 3, 6}));
  EXPECT_EQ(c.type, format_id::f32);
  EXPECT_EQ(input_bytes_copied(), 24);
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_EQ(t.at(3), 5.0);
}

TEST(tensor_view, malformed_views_are_input_errors) {
  const std::vector<double> v(6, 1.0);
  tensor_view x(v.data(), {2, 3});
  x.strides = {3};  // one stride for two dims
  EXPECT_THROW((void)ops::output_shape({op_kind::linear, x, tensor_view(v.data(), {1, 3})}),
               input_error);
  tensor_view none(static_cast<const double*>(nullptr), {2, 3});
  EXPECT_THROW((void)ops::output_shape({op_kind::linear, none, tensor_view(v.data(), {1, 3})}),
               input_error);
  tensor_view outside(v.data(), {2, 3}, {4, 1});
  outside.held = 6;  // the second row would end at element 7
  EXPECT_THROW((void)ops::output_shape({op_kind::linear, outside, tensor_view(v.data(), {1, 3})}),
               input_error);
}

}  // namespace
}  // namespace roundoff
