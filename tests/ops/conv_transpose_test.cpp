// conv_transpose1d/2d/3d: hand-computed golden cases, PyTorch's validation rules, and randomized
// agreement with the direct (scatter) definition.
#include "roundoff/ops/conv_transpose.hpp"

#include <functional>
#include <random>

#include "ops_test_util.hpp"
#include "property.hpp"
#include "roundoff/error.hpp"

namespace roundoff {
namespace {

using ops::conv_params;
using test::expect_error;
using test::T;

// test::P with output_padding, in conv_transpose's argument order.
conv_params P(std::vector<std::int64_t> stride, std::vector<std::int64_t> padding,
              std::vector<std::int64_t> output_padding = {},
              std::vector<std::int64_t> dilation = {}, std::int64_t groups = 1) {
  conv_params p = test::P(std::move(stride), std::move(padding), std::move(dilation), groups);
  p.output_padding = std::move(output_padding);
  return p;
}

TEST(conv_transpose1d, golden_stride_two) {
  // y[2i + t] += x[i] * w[t], x = [1 2 3], w = [1 10], stride 2: size (3-1)*2 + 1 + 1 = 6;
  // y = [1*1, 1*10, 2*1, 2*10, 3*1, 3*10] = [1 10 2 20 3 30]. Window 2, one real product each.
  const auto r =
      ops::conv_transpose1d(T({1, 1, 3}, {1, 2, 3}), T({1, 1, 2}, {1, 10}), nullptr, P({2}, {0}));
  test::expect_result(r, {1, 1, 6}, {1, 10, 2, 20, 3, 30});
  EXPECT_EQ(r.terms.to_vector(), std::vector<std::int64_t>(6, 2));
  EXPECT_EQ(r.data_terms.to_vector(), std::vector<std::int64_t>(6, 1));
}

TEST(conv_transpose1d, golden_output_padding_and_padding) {
  // Same as above with output_padding 1: one more output, y[6] = 0 (nothing lands there).
  const tensor x = T({1, 1, 3}, {1, 2, 3}), w = T({1, 1, 2}, {1, 10});
  const auto r = ops::conv_transpose1d(x, w, nullptr, P({2}, {0}, {1}));
  test::expect_result(r, {1, 1, 7}, {1, 10, 2, 20, 3, 30, 0});
  EXPECT_EQ(r.data_terms[r.data_terms.size() - 1], 0);
  EXPECT_EQ(r.terms[r.terms.size() - 1], 2);
  // padding 1 crops one on each side: size 6 - 2 = 4, y = [10 2 20 3].
  const auto c = ops::conv_transpose1d(x, w, nullptr, P({2}, {1}));
  test::expect_result(c, {1, 1, 4}, {10, 2, 20, 3});
}

TEST(conv_transpose1d, golden_overlapping_and_dilated) {
  // stride 1, x = [1 2], w = [1 2 3]: y[j] = sum_i x[i] w[j-i] = [1, 2+2, 3+4, 6] = [1 4 7 6].
  test::expect_result(
      ops::conv_transpose1d(T({1, 1, 2}, {1, 2}), T({1, 1, 3}, {1, 2, 3}), nullptr, {}), {1, 1, 4},
      {1, 4, 7, 6});
  // dilation 2, x = [1 2], w = [1 1]: y[i + 2t] += x[i]; size 1 + 2 + 1 = 4; y = [1 2 1 2].
  // output_padding 1 < dilation 2 is allowed even with stride 1: y = [1 2 1 2 0].
  test::expect_result(ops::conv_transpose1d(T({1, 1, 2}, {1, 2}), T({1, 1, 2}, {1, 1}), nullptr,
                                            P({1}, {0}, {1}, {2})),
                      {1, 1, 5}, {1, 2, 1, 2, 0});
}

TEST(conv_transpose2d, golden_groups_with_bias) {
  // groups 2: ch0 = [[3]] spreads w0 = [[1 2][3 4]], ch1 = [[5]] spreads w1 = ones;
  // y0 = [3 6 9 12] + 1 = [4 7 10 13]; y1 = [5 5 5 5] - 1 = [4 4 4 4].
  const tensor b = T({2}, {1, -1});
  const auto r =
      ops::conv_transpose2d(T({1, 2, 1, 1}, {3, 5}), T({2, 1, 2, 2}, {1, 2, 3, 4, 1, 1, 1, 1}), &b,
                            P({1}, {0}, {}, {}, 2));
  test::expect_result(r, {1, 2, 2, 2}, {4, 7, 10, 13, 4, 4, 4, 4});
  EXPECT_EQ(r.magnitude[3], 13);  // |3*4| + |1|
}

TEST(conv_transpose2d, golden_1x1_mixes_channels) {
  // 1x1, 2 in -> 1 out: y = 1*3 + 2*4 = 11 (unbatched input [2, 1, 1]).
  test::expect_result(
      ops::conv_transpose2d(T({2, 1, 1}, {1, 2}), T({2, 1, 1, 1}, {3, 4}), nullptr, {}), {1, 1, 1},
      {11});
}

TEST(conv_transpose3d, golden_stride_two_spreads_each_voxel) {
  // 1x1x1 input 2, kernel 2x2x2 = 1..8, stride 2: y = 2*w = [2 4 ... 16], shape 2x2x2.
  const auto r = ops::conv_transpose3d(T({1, 1, 1, 1, 1}, {2}), test::iota({1, 1, 2, 2, 2}, 1),
                                       nullptr, P({2}, {0}));
  test::expect_result(r, {1, 1, 2, 2, 2}, {2, 4, 6, 8, 10, 12, 14, 16});
}

TEST(conv_transpose2d, batch_zero_gives_empty_output) {
  const auto r =
      ops::conv_transpose2d(T({0, 4, 5, 5}, {}), T({4, 3, 3, 3}, std::vector<double>(108, 1)),
                            nullptr, P({}, {}, {}, {}, 2));
  EXPECT_EQ(r.exact.shape(), (std::vector<std::int64_t>{0, 6, 7, 7}));
  EXPECT_EQ(r.exact.size(), 0);
}

TEST(conv_transpose2d, empty_batch_rules) {
  // As PyTorch: with an empty batch a 0-size output is accepted (x [0,2,2], k 3, padding 2:
  // (2-1) - 4 + 2 + 1 = 0) and a negative one is not. Unlike PyTorch (docs/ops.md), an
  // output_padding >= stride and >= dilation is rejected whatever the batch.
  const tensor w = T({2, 1, 3}, std::vector<double>(6, 1));
  conv_params p = P({1}, {2}, {}, {}, 2);
  EXPECT_EQ(ops::conv_transpose1d(T({0, 2, 2}, {}), w, nullptr, p).exact.shape(),
            (std::vector<std::int64_t>{0, 2, 0}));
  EXPECT_THROW((void)ops::conv_transpose1d(T({1, 2, 2}, {1, 2, 3, 4}), w, nullptr, p), input_error);
  p.padding = {3};
  EXPECT_THROW((void)ops::conv_transpose1d(T({0, 2, 2}, {}), w, nullptr, p), input_error);
  p.padding = {0};
  p.output_padding = {1};
  EXPECT_THROW((void)ops::conv_transpose1d(T({0, 2, 2}, {}), w, nullptr, p), input_error);
}

TEST(conv_transpose_validation, pytorch_rules) {
  const tensor x = T({1, 4, 5, 5}, std::vector<double>(100, 1));
  const tensor w = T({4, 3, 3, 3}, std::vector<double>(108, 1));
  auto ct = [&](const tensor& xx, const tensor& ww, const tensor* bb, conv_params p) {
    return [=] { (void)ops::conv_transpose2d(xx, ww, bb, p); };
  };
  expect_error(ct(x, w, nullptr, P({2}, {}, {2}, {}, 2)),
               "output padding must be smaller than either stride or dilation");
  expect_error(ct(x, w, nullptr, P({1}, {}, {1}, {1}, 2)),
               "output padding must be smaller than either stride or dilation");
  expect_error(ct(x, T({3, 3, 3, 3}, std::vector<double>(81, 1)), nullptr, P({}, {}, {}, {}, 2)),
               "expected weight to be divisible by 2 at dimension 0");
  expect_error(ct(x, w, nullptr, P({}, {}, {}, {}, 3)),
               "expected weight to be divisible by 3 at dimension 0");
  expect_error(ct(x, T({6, 3, 3, 3}, std::vector<double>(162, 1)), nullptr, P({}, {}, {}, {}, 2)),
               "given transposed=1, weight of size [6, 3, 3, 3], expected input[1, 4, 5, 5] to "
               "have 6 channels, but got 4 channels instead");
  const tensor b3 = T({3}, {0, 0, 0});
  expect_error(ct(x, w, &b3, P({}, {}, {}, {}, 2)),
               "expected bias to be 1-dimensional with 6 elements, but got bias of size [3]");
  expect_error(ct(T({1, 4, 1, 1}, std::vector<double>(4, 1)), w, nullptr, P({}, {3}, {}, {}, 2)),
               "Given input size per channel: (1 x 1). Calculated output size per channel: (-3 x "
               "-3). Output size is too small");
  expect_error(ct(T({1, 4, 1, 1}, std::vector<double>(4, 1)),
                  T({4, 3, 2, 2}, std::vector<double>(48, 1)), nullptr, P({}, {1}, {}, {}, 2)),
               "Calculated output size per channel: (0 x 0)");
  conv_params same = P({}, {}, {}, {}, 2);
  same.pad = conv_params::padding_kind::same;
  expect_error(ct(x, w, nullptr, same), "'same' is not supported for transposed convolutions");
  conv_params refl = P({}, {}, {}, {}, 2);
  refl.mode = ops::padding_mode::reflect;
  expect_error(ct(x, w, nullptr, refl), "only 'zeros' padding mode is supported");
  expect_error(ct(x, w, nullptr, P({}, {}, {-1}, {}, 2)), "negative output_padding");
  expect_error(ct(x, w, nullptr, P({}, {-1}, {}, {}, 2)), "negative padding");
  expect_error(ct(T({5, 5}, std::vector<double>(25, 1)), w, nullptr, P({}, {}, {}, {}, 2)),
               "Expected 3D (unbatched) or 4D (batched) input to conv_transpose2d");
  expect_error(ct(T({1, 4, 0, 5}, {}), w, nullptr, P({}, {}, {}, {}, 2)),
               "only zero batch or zero channel inputs are supported");
  expect_error(ct(x, w, nullptr, P({}, {}, {1, 1, 1}, {}, 2)),
               "expected output_padding to be a single integer value or a list of 2 values");
}

TEST(conv_transpose_property, lowering_matches_direct_definition) {
  auto rng = test::rng(0xC7);
  const std::int64_t iters = test::iterations(300);
  std::normal_distribution<double> normal;
  for (std::int64_t it = 0; it < iters; ++it) {
    const int nd = 1 + static_cast<int>(rng() % 3);
    conv_params p;
    const std::int64_t G = 1 + static_cast<std::int64_t>(rng() % 3);
    const std::int64_t cin_g = 1 + static_cast<std::int64_t>(rng() % 2);
    const std::int64_t cout_g = static_cast<std::int64_t>(rng() % 3) + (rng() % 8 == 0 ? 0 : 1);
    const std::int64_t N = static_cast<std::int64_t>(rng() % 3);
    std::vector<std::int64_t> xs{N, G * cin_g}, ws{G * cin_g, cout_g};
    for (int d = 0; d < nd; ++d) {
      const std::int64_t k = 1 + static_cast<std::int64_t>(rng() % 3);
      const std::int64_t s = 1 + static_cast<std::int64_t>(rng() % 3);
      const std::int64_t dil = 1 + static_cast<std::int64_t>(rng() % 2);
      const std::int64_t in = 1 + static_cast<std::int64_t>(rng() % 3);
      const std::int64_t op =
          static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(std::max(s, dil)));
      const std::int64_t full = (in - 1) * s + dil * (k - 1) + op + 1;
      const std::int64_t pad =
          static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>((full - 1) / 2 + 1));
      xs.push_back(in);
      ws.push_back(k);
      p.stride.push_back(s);
      p.padding.push_back(pad);
      p.dilation.push_back(dil);
      p.output_padding.push_back(op);
    }
    p.groups = G;
    tensor x, w, b;
    x.shape = xs;
    w.shape = ws;
    b.shape = {G * cout_g};
    test::fill_random({&x, &w, &b}, rng, normal, 10);
    const bool with_bias = rng() % 2;
    if (N == 1 && rng() % 2) x.shape.erase(x.shape.begin());
    const std::string ctx = "nd=" + std::to_string(nd) + " " + test::replay(it);
    const auto r = ops::conv_transpose(nd, x, w, with_bias ? &b : nullptr, p);
    test::expect_matches_direct(r, test::direct_conv(nd, true, x, w, with_bias ? &b : nullptr, p),
                                ctx);
  }
}

}  // namespace
}  // namespace roundoff
