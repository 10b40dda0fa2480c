// The op flags' syntax (src/cli/op_flags.cpp): the flags' text into ops::conv_arguments, and
// ops::make_op_spec's argument_error reworded to name the flag, as `roundoff check` prints it.
#include "op_flags.hpp"

#include <gtest/gtest.h>

#include "../ops/ops_test_util.hpp"

namespace roundoff {
namespace {

using cli::conv_flags;
using cli::op_flags;
using ops::op_kind;
using test::expect_error;

ops::conv_params params(const char* op, const conv_flags& f) {
  return cli::make_op_spec(op_flags{op, f}).conv;
}

TEST(op_flags, flag_of_spells_the_argument_as_a_flag) {
  EXPECT_EQ(cli::flag_of("output_padding"), "--output-padding");
  EXPECT_EQ(cli::flag_message(argument_error("padding_mode", "bad")), "--padding-mode: bad");
}

TEST(op_flags, conv_flag_syntax) {
  conv_flags f;
  f.stride = "2,1";
  f.padding = "1";
  f.dilation = " ( 1, 2 ) ";
  f.groups = "4";
  f.padding_mode = "reflect";
  const auto p = params("conv2d", f);
  EXPECT_EQ(p.stride, (std::vector<std::int64_t>{2, 1}));
  EXPECT_EQ(p.padding, (std::vector<std::int64_t>{1}));
  EXPECT_EQ(p.dilation, (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(p.groups, 4);
  EXPECT_EQ(p.mode, ops::padding_mode::reflect);
  EXPECT_EQ(p.pad, ops::conv_params::padding_kind::explicit_);
  f = {};
  f.padding = "same";
  EXPECT_EQ(params("conv2d", f).pad, ops::conv_params::padding_kind::same);
  f.padding = "valid";
  EXPECT_EQ(params("conv2d", f).pad, ops::conv_params::padding_kind::valid);
  f.padding = "[1,2,3]";
  EXPECT_EQ(params("conv3d", f).padding, (std::vector<std::int64_t>{1, 2, 3}));
}

TEST(op_flags, parse_errors_name_the_flag) {
  auto parse = [](conv_flags f) { return [f] { (void)params("conv2d", f); }; };
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

TEST(op_flags, make_op_spec_rejects_flags_the_op_does_not_take) {
  conv_flags f;
  expect_error([&] { (void)make_op_spec(op_flags{"conv4d", f}); }, "unknown op 'conv4d'");
  f.stride = "2";
  expect_error(
      [&] {
        (void)make_op_spec(op_flags{"linear", f});
      },
      "--stride: not an option of linear");
  f = {};
  f.output_padding = "1";
  expect_error(
      [&] {
        (void)make_op_spec(op_flags{"conv2d", f});
      },
      "--output-padding: applies only to conv_transpose ops");
  EXPECT_EQ(make_op_spec(op_flags{"conv_transpose2d", f}).conv.output_padding,
            (std::vector<std::int64_t>{1}));
  f = {};
  f.padding = "same";
  expect_error(
      [&] {
        (void)make_op_spec(op_flags{"conv_transpose1d", f});
      },
      "--padding: conv_transpose1d takes integers only");
  f = {};
  f.padding_mode = "circular";
  expect_error(
      [&] {
        (void)make_op_spec(op_flags{"conv_transpose3d", f});
      },
      "--padding-mode: only zeros is supported for conv_transpose3d");
  f = {};
  f.stride = "1,2,1";
  expect_error(
      [&] {
        (void)make_op_spec(op_flags{"conv2d", f});
      },
      "--stride: conv2d has 2 spatial dims: give 1 or 2 values, got 3");
  f.stride = "1,2";
  EXPECT_EQ(make_op_spec(op_flags{"conv2d", f}).kind, op_kind::conv2d);
}

}  // namespace
}  // namespace roundoff
