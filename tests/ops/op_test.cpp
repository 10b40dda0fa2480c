// The generic op descriptor: op names, checking the arguments (make_op_spec),
// and evaluate/output_shape dispatch agreeing with the per-op functions.
#include "roundoff/ops/op.hpp"

#include <functional>

#include "ops_test_util.hpp"
#include "roundoff/error.hpp"
#include "roundoff/ops/conv.hpp"

namespace roundoff {
namespace {

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

// The typed arguments: argument_error names the argument (as torch.nn.functional does) apart from
// what is wrong with it; the CLI's and Python's wording of them: tests/cli/op_flags_test.cpp,
// tests/python/test_errors.py.
TEST(op, make_op_spec_checks_the_arguments_against_the_op) {
  auto error_of = [](op_kind k,
                     const ops::conv_arguments& a) -> std::pair<std::string, std::string> {
    try {
      (void)ops::make_op_spec(k, a);
    } catch (const argument_error& e) {
      EXPECT_EQ(std::string(e.what()), e.argument() + ": " + e.detail());
      return {e.argument(), e.detail()};
    }
    return {"(no argument_error)", ""};
  };
  ops::conv_arguments a;
  a.groups = 4;
  EXPECT_EQ(error_of(op_kind::linear, a),
            (std::pair<std::string, std::string>{"groups", "not an option of linear"}));
  a = {};
  a.output_padding = std::vector<std::int64_t>{1};
  EXPECT_EQ(error_of(op_kind::conv2d, a).first, "output_padding");
  a = {};
  a.stride = std::vector<std::int64_t>{};  // a typed caller can give an empty list
  EXPECT_EQ(error_of(op_kind::conv2d, a),
            (std::pair<std::string, std::string>{
                "stride", "conv2d has 2 spatial dims: give 1 or 2 values, got 0"}));
  a = {};
  a.padding_keyword = "half";
  EXPECT_EQ(error_of(op_kind::conv1d, a).first, "padding");
  a.padding_keyword = "same";
  EXPECT_EQ(error_of(op_kind::conv_transpose1d, a),
            (std::pair<std::string, std::string>{
                "padding", "conv_transpose1d takes integers only, not 'same'"}));
  a = {};
  a.padding_mode = "mirror";
  EXPECT_EQ(error_of(op_kind::conv2d, a).first, "padding_mode");
  a.padding_mode = "circular";
  a.stride = std::vector<std::int64_t>{2, 1};
  a.padding = std::vector<std::int64_t>{1};
  a.groups = 2;
  const auto spec = ops::make_op_spec(op_kind::conv2d, a);
  EXPECT_EQ(spec.kind, op_kind::conv2d);
  EXPECT_EQ(spec.conv.stride, (std::vector<std::int64_t>{2, 1}));
  EXPECT_EQ(spec.conv.padding, (std::vector<std::int64_t>{1}));
  EXPECT_EQ(spec.conv.groups, 2);
  EXPECT_EQ(spec.conv.mode, ops::padding_mode::circular);
}

TEST(op, evaluate_dispatches_like_the_per_op_functions) {
  // conv2d through the descriptor equals ops::conv2d (golden from conv_test: 1x1 kernel).
  ops::conv_arguments f;
  f.stride = std::vector<std::int64_t>{1};
  const auto spec = ops::make_op_spec(op_kind::conv2d, f);
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
