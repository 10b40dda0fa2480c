// The generic op descriptor: op names, flag parsing (parse_conv_params / parse_op_spec),
// and evaluate/output_shape dispatch agreeing with the per-op functions.
#include "roundoff/ops/op.hpp"

#include <functional>

#include "ops_test_util.hpp"
#include "roundoff/error.hpp"
#include "roundoff/ops/conv.hpp"

namespace roundoff {
namespace {

using ops::conv_flags;
using ops::op_kind;
using test::expect_error;
using test::T;

TEST(op, names_round_trip) {
  for (const char* n : {"linear", "matmul", "bmm", "addmm", "conv1d", "conv2d", "conv3d",
                        "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"}) {
    const auto k = ops::parse_op(n);
    ASSERT_TRUE(k.has_value()) << n;
    EXPECT_EQ(ops::op_name(*k), n);
  }
  EXPECT_FALSE(ops::parse_op("conv4d").has_value());
  EXPECT_FALSE(ops::parse_op("").has_value());
  EXPECT_EQ(ops::spatial_dims(op_kind::conv_transpose3d), 3);
  EXPECT_EQ(ops::spatial_dims(op_kind::linear), 0);
  EXPECT_TRUE(ops::is_transposed(op_kind::conv_transpose1d));
  EXPECT_FALSE(ops::is_transposed(op_kind::conv1d));
}

TEST(op, parse_conv_params_syntax) {
  conv_flags f;
  f.stride = "2,1";
  f.padding = "1";
  f.dilation = " ( 1, 2 ) ";
  f.groups = "4";
  f.padding_mode = "reflect";
  const auto p = ops::parse_conv_params(f);
  EXPECT_EQ(p.stride, (std::vector<std::int64_t>{2, 1}));
  EXPECT_EQ(p.padding, (std::vector<std::int64_t>{1}));
  EXPECT_EQ(p.dilation, (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(p.groups, 4);
  EXPECT_EQ(p.mode, ops::padding_mode::reflect);
  EXPECT_EQ(p.pad, ops::conv_params::padding_kind::explicit_);
  f = {};
  f.padding = "same";
  EXPECT_EQ(ops::parse_conv_params(f).pad, ops::conv_params::padding_kind::same);
  f.padding = "valid";
  EXPECT_EQ(ops::parse_conv_params(f).pad, ops::conv_params::padding_kind::valid);
  f.padding = "[1,2,3]";
  EXPECT_EQ(ops::parse_conv_params(f).padding, (std::vector<std::int64_t>{1, 2, 3}));
}

TEST(op, parse_errors_name_the_flag) {
  auto parse = [](conv_flags f) { return [f] { (void)ops::parse_conv_params(f); }; };
  conv_flags f;
  f.stride = "2,x";
  expect_error(parse(f), "--stride: expected an integer or a comma-separated list");
  f = {};
  f.stride = "1,,2";
  expect_error(parse(f), "--stride");
  f = {};
  f.padding = "half";
  expect_error(parse(f), "--padding: expected same, valid, an integer");
  f = {};
  f.dilation = "1,1,1,1";
  expect_error(parse(f), "--dilation");
  f = {};
  f.groups = "2.5";
  expect_error(parse(f), "--groups: expected an integer, got '2.5'");
  f = {};
  f.padding_mode = "mirror";
  expect_error(parse(f), "--padding-mode: expected zeros, reflect, replicate or circular");
  f = {};
  f.output_padding = "";
  EXPECT_NO_THROW(parse(f)());
}

TEST(op, parse_op_spec_rejects_flags_the_op_does_not_take) {
  conv_flags f;
  expect_error([&] { (void)ops::parse_op_spec("conv4d", f); }, "unknown op 'conv4d'");
  f.stride = "2";
  expect_error([&] { (void)ops::parse_op_spec("linear", f); }, "--stride: not an option of linear");
  f = {};
  f.output_padding = "1";
  expect_error([&] { (void)ops::parse_op_spec("conv2d", f); },
               "--output-padding: applies only to conv_transpose ops");
  EXPECT_EQ(ops::parse_op_spec("conv_transpose2d", f).conv.output_padding,
            (std::vector<std::int64_t>{1}));
  f = {};
  f.padding = "same";
  expect_error([&] { (void)ops::parse_op_spec("conv_transpose1d", f); },
               "--padding: conv_transpose1d takes integers only");
  f = {};
  f.padding_mode = "circular";
  expect_error([&] { (void)ops::parse_op_spec("conv_transpose3d", f); },
               "--padding-mode: only zeros is supported for conv_transpose3d");
  f = {};
  f.stride = "1,2,1";
  expect_error([&] { (void)ops::parse_op_spec("conv2d", f); },
               "--stride: conv2d has 2 spatial dims: give 1 or 2 values, got 3");
  f.stride = "1,2";
  EXPECT_EQ(ops::parse_op_spec("conv2d", f).kind, op_kind::conv2d);
}

TEST(op, evaluate_dispatches_like_the_per_op_functions) {
  // conv2d through the descriptor equals ops::conv2d (golden from conv_test: 1x1 kernel).
  ops::conv_flags f;
  f.stride = "1";
  const auto spec = ops::parse_op_spec("conv2d", f);
  const tensor x = test::iota({1, 2, 2, 2}, 1), w = T({3, 2, 1, 1}, {1, 1, 1, -1, 2, 0});
  test::expect_result(ops::evaluate({spec, x, w, nullptr}), {1, 3, 2, 2},
                      {6, 8, 10, 12, -4, -4, -4, -4, 2, 4, 6, 8});
  EXPECT_EQ(ops::output_shape({spec, x, w, nullptr}), (std::vector<std::int64_t>{1, 3, 2, 2}));
  // addmm takes the bias as its `input`, and requires it.
  ops::op_spec am(op_kind::addmm);
  const tensor b = T({2}, {100, 200});
  test::expect_result(ops::evaluate({am, T({1, 2}, {1, 2}), T({2, 2}, {1, 2, 3, 4}), &b}), {1, 2},
                      {107, 210});
  expect_error(
      [&] {
        (void)ops::evaluate({am, T({1, 2}, {1, 2}), T({2, 2}, {1, 2, 3, 4}), nullptr});
      },
      "addmm: the bias (input) tensor is required");
  const ops::op_spec lin(op_kind::linear);
  EXPECT_EQ(
      ops::output_shape({lin, test::iota({4, 2, 3}), T({5, 3}, std::vector<double>(15)), nullptr}),
      (std::vector<std::int64_t>{4, 2, 5}));
}

TEST(op, magnitude_can_be_skipped) {
  ops::reference_options o;
  o.want_magnitude = false;
  const ops::op_spec lin(op_kind::linear);
  const auto r = ops::evaluate({lin, test::iota({2, 3}), T({1, 3}, {1, 1, 1}), nullptr}, o);
  EXPECT_TRUE(r.magnitude.empty());
  test::expect_result(r, {2, 1}, {3, 12});
}

}  // namespace
}  // namespace roundoff
