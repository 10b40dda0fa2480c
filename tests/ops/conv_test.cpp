// conv1d/2d/3d: hand-computed golden cases (the arithmetic is in the comments), PyTorch's
// validation rules, and randomized agreement with the direct-definition oracle.
#include "roundoff/ops/conv.hpp"

#include <functional>
#include <random>

#include "ops_test_util.hpp"
#include "property.hpp"
#include "roundoff/error.hpp"

namespace roundoff {
namespace {

using ops::conv_params;
using test::P;
using test::T;
using pk = conv_params::padding_kind;

TEST(conv1d, golden_basic_with_bias) {
  // x = [1 2 3 4 5], w = [1 0 -1]: y[o] = x[o] - x[o+2] = [-2 -2 -2]; + bias 10 -> [8 8 8].
  const tensor x = T({1, 1, 5}, {1, 2, 3, 4, 5}), w = T({1, 1, 3}, {1, 0, -1});
  const tensor b = T({1}, {10});
  const auto r = ops::conv1d(x, w, &b, {});
  test::expect_result(r, {1, 1, 3}, {8, 8, 8});
  // magnitude = |x[o]| + |x[o+2]| + 10 = [14 16 18]; n_i = 3 (one channel, 3 taps).
  EXPECT_EQ(r.magnitude, (std::vector<double>{14, 16, 18}));
  EXPECT_EQ(r.terms.to_vector(), (std::vector<std::int64_t>{3, 3, 3}));
  EXPECT_TRUE(r.has_bias);
}

TEST(conv1d, golden_stride_larger_than_kernel) {
  // x = [1..7], w = [2 1], stride 3: out = floor((7-2)/3)+1 = 2;
  // y0 = 2*x0 + x1 = 2+2 = 4, y1 = 2*x3 + x4 = 8+5 = 13. x2, x5, x6 are never read.
  const auto r =
      ops::conv1d(T({1, 1, 7}, {1, 2, 3, 4, 5, 6, 7}), T({1, 1, 2}, {2, 1}), nullptr, P({3}, {0}));
  test::expect_result(r, {1, 1, 2}, {4, 13});
  EXPECT_EQ(r.terms.to_vector(), (std::vector<std::int64_t>{2, 2}));
}

TEST(conv1d, golden_dilation_with_same_padding) {
  // x = [1 2 3 4 5], w = [1 1 1], dilation 2, 'same': total pad 2*(3-1) = 4, 2 each side;
  // y[o] = x[o-2] + x[o] + x[o+2] (0 outside) = [0+1+3, 0+2+4, 1+3+5, 2+4+0, 3+5+0]
  //      = [4 6 9 6 8]; real products per output: [2 2 3 2 2], window always 3.
  conv_params p;
  p.pad = pk::same;
  p.dilation = {2};
  const auto r = ops::conv1d(T({1, 1, 5}, {1, 2, 3, 4, 5}), T({1, 1, 3}, {1, 1, 1}), nullptr, p);
  test::expect_result(r, {1, 1, 5}, {4, 6, 9, 6, 8});
  EXPECT_EQ(r.terms.to_vector(), (std::vector<std::int64_t>{3, 3, 3, 3, 3}));
  EXPECT_EQ(r.data_terms.to_vector(), (std::vector<std::int64_t>{2, 2, 3, 2, 2}));
}

TEST(conv1d, golden_same_padding_even_kernel_pads_right) {
  // k = 2, 'same': total pad 1, PyTorch puts it on the right. w = [1 10]:
  // y[o] = x[o] + 10*x[o+1] = [1+20, 2+30, 3+40, 4+0] = [21 32 43 4].
  conv_params p;
  p.pad = pk::same;
  const auto r = ops::conv1d(T({1, 1, 4}, {1, 2, 3, 4}), T({1, 1, 2}, {1, 10}), nullptr, p);
  test::expect_result(r, {1, 1, 4}, {21, 32, 43, 4});
  EXPECT_EQ(r.data_terms.to_vector(), (std::vector<std::int64_t>{2, 2, 2, 1}));
}

TEST(conv1d, golden_valid_padding_and_unbatched) {
  // 'valid' = no padding. Unbatched x [C=1, 4], w = [1 1]: y = [3 5 7], shape [1, 3].
  conv_params p;
  p.pad = pk::valid;
  const auto r = ops::conv1d(T({1, 4}, {1, 2, 3, 4}), T({1, 1, 2}, {1, 1}), nullptr, p);
  test::expect_result(r, {1, 3}, {3, 5, 7});
}

TEST(conv1d, golden_padding_modes) {
  // x = [1 2 3], w = [1 1 1], padding 1; the padded rows are
  //   zeros     [0 1 2 3 0] -> [3 6 5]
  //   reflect   [2 1 2 3 2] -> [5 6 7]
  //   replicate [1 1 2 3 3] -> [4 6 8]
  //   circular  [3 1 2 3 1] -> [6 6 6]
  const tensor x = T({1, 1, 3}, {1, 2, 3}), w = T({1, 1, 3}, {1, 1, 1});
  const std::pair<ops::padding_mode, std::vector<double>> cases[] = {
      {ops::padding_mode::zeros, {3, 6, 5}},
      {ops::padding_mode::reflect, {5, 6, 7}},
      {ops::padding_mode::replicate, {4, 6, 8}},
      {ops::padding_mode::circular, {6, 6, 6}}};
  for (const auto& [mode, want] : cases) {
    conv_params p = P({1}, {1});
    p.mode = mode;
    const auto r = ops::conv1d(x, w, nullptr, p);
    test::expect_result(r, {1, 1, 3}, want);
    // Padded values are real data except for zeros.
    EXPECT_EQ(r.data_terms[0], mode == ops::padding_mode::zeros ? 2 : 3);
  }
}

TEST(conv1d, golden_exact_under_cancellation) {
  // x = [1e16 1 -1e16], w = [1 1 1]: exact 1 (naive left-to-right double sum gives 0).
  const auto r = ops::conv1d(T({1, 1, 3}, {1e16, 1, -1e16}), T({1, 1, 3}, {1, 1, 1}), nullptr, {});
  test::expect_result(r, {1, 1, 1}, {1});
  // Magnitude 2e16 + 1 is not a double (ulp 4 there): rounded up to 2e16 + 4, never down.
  EXPECT_EQ(r.magnitude[0], std::nextafter(2e16, INFINITY));
  EXPECT_EQ(std::nextafter(2e16, INFINITY), 2e16 + 4);
}

TEST(conv2d, golden_1x1_kernel_with_bias) {
  // x: ch0 = [[1 2][3 4]], ch1 = [[5 6][7 8]]; w rows (per output channel) [1 1], [1 -1], [2 0]
  //   out0 = ch0 + ch1 = [6 8 10 12]; out1 = ch0 - ch1 = [-4 -4 -4 -4]; out2 = 2 ch0 = [2 4 6 8]
  // bias [0 100 -1] -> out1 = [96 96 96 96], out2 = [1 3 5 7].
  const tensor x = test::iota({1, 2, 2, 2}, 1);
  const tensor w = T({3, 2, 1, 1}, {1, 1, 1, -1, 2, 0}), b = T({3}, {0, 100, -1});
  const auto r = ops::conv2d(x, w, &b, {});
  test::expect_result(r, {1, 3, 2, 2}, {6, 8, 10, 12, 96, 96, 96, 96, 1, 3, 5, 7});
  EXPECT_EQ(r.terms[0], 2);
  // out1 magnitude at (0,0): |1*1| + |5*-1| + 100 = 106.
  EXPECT_EQ(r.magnitude[4], 106);
}

TEST(conv2d, golden_depthwise) {
  // groups = 2, x ch0 = [[1 2 3][4 5 6][7 8 9]], ch1 = all ones;
  // w0 = [[1 0][0 1]] (main diagonal), w1 = [[1 2][3 4]].
  // out0 = [1+5, 2+6, 4+8, 5+9] = [6 8 12 14]; out1 = 1+2+3+4 = 10 everywhere. n_i = 1*4.
  tensor x = test::iota({1, 2, 3, 3}, 1);
  for (int i = 9; i < 18; ++i) x.data[static_cast<std::size_t>(i)] = 1;
  const tensor w = T({2, 1, 2, 2}, {1, 0, 0, 1, 1, 2, 3, 4});
  const auto r = ops::conv2d(x, w, nullptr, P({1}, {0}, {1}, 2));
  test::expect_result(r, {1, 2, 2, 2}, {6, 8, 12, 14, 10, 10, 10, 10});
  EXPECT_EQ(r.terms.to_vector(), std::vector<std::int64_t>(8, 4));
}

TEST(conv2d, golden_stride_and_padding_per_dim) {
  // x [1,1,3,3] = [[1 2 3][4 5 6][7 8 9]], w = ones(1x2), stride (2,1), padding (0,1):
  // rows 0 and 2; width padded to [0 a b c 0], windows of 2 -> out 2x4:
  //   row0: [0+1, 1+2, 2+3, 3+0] = [1 3 5 3];  row2: [7 15 17 9].
  const auto r =
      ops::conv2d(test::iota({1, 1, 3, 3}, 1), T({1, 1, 1, 2}, {1, 1}), nullptr, P({2, 1}, {0, 1}));
  test::expect_result(r, {1, 1, 2, 4}, {1, 3, 5, 3, 7, 15, 17, 9});
}

TEST(conv3d, golden_padding_one_stride_two_reads_one_voxel_each) {
  // x = 1..8 in [1,1,2,2,2], w = ones(2x2x2), padding 1, stride 2: out 2x2x2 and each window
  // (padded indices {2o-1, 2o} per dim) meets exactly one real voxel, x[o]: y = x.
  const auto r = ops::conv3d(test::iota({1, 1, 2, 2, 2}, 1),
                             T({1, 1, 2, 2, 2}, std::vector<double>(8, 1)), nullptr, P({2}, {1}));
  test::expect_result(r, {1, 1, 2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  EXPECT_EQ(r.terms.to_vector(), std::vector<std::int64_t>(8, 8));
  EXPECT_EQ(r.data_terms.to_vector(), std::vector<std::int64_t>(8, 1));
}

TEST(conv2d, batch_zero_gives_empty_output) {
  const auto r =
      ops::conv2d(T({0, 2, 5, 5}, {}), T({3, 2, 3, 3}, std::vector<double>(54, 1)), nullptr, {});
  EXPECT_EQ(r.exact.shape(), (std::vector<std::int64_t>{0, 3, 3, 3}));
  EXPECT_EQ(r.exact.size(), 0);
  EXPECT_TRUE(r.terms.empty());
}

TEST(conv2d, zero_input_channels_give_the_bias) {
  // PyTorch allows C_in = 0: every output is the empty sum plus bias; n_i = 0.
  const tensor b = T({2}, {1.5, -2});
  const auto r = ops::conv2d(T({1, 0, 2, 2}, {}), T({2, 0, 1, 1}, {}), &b, {});
  test::expect_result(r, {1, 2, 2, 2}, {1.5, 1.5, 1.5, 1.5, -2, -2, -2, -2});
  EXPECT_EQ(r.terms[0], 0);
  EXPECT_EQ(r.magnitude[4], 2);
}

TEST(conv2d, infinite_weight_meeting_zero_padding_is_nan) {
  // Padding zeros are multiplied like real zeros (docs/ops.md): 0 * Inf = NaN.
  const auto r =
      ops::conv1d(T({1, 1, 1}, {1}), T({1, 1, 3}, {INFINITY, 1, 1}), nullptr, P({1}, {1}));
  EXPECT_TRUE(std::isnan(r.exact.rounded(0)));
}

// ---- validation: every invalid combination throws input_error with PyTorch's wording ----

void expect_error(const std::function<void()>& f, const std::string& needle) {
  test::expect_error(f, needle, /*one_line=*/true);
}

TEST(conv_validation, pytorch_rules) {
  const tensor x = T({1, 4, 5, 5}, std::vector<double>(100, 1));
  const tensor w = T({6, 2, 3, 3}, std::vector<double>(108, 1));
  auto conv2 = [&](const tensor& xx, const tensor& ww, const tensor* bb, conv_params p) {
    return [=] { (void)ops::conv2d(xx, ww, bb, p); };
  };
  expect_error(conv2(x, w, nullptr, P({}, {}, {}, 4)),
               "expected weight to be divisible by 4 at dimension 0");
  expect_error(conv2(x, w, nullptr, P({}, {}, {}, 3)),
               "given groups=3, weight of size [6, 2, 3, 3], expected input[1, 4, 5, 5] to have 6 "
               "channels, but got 4 channels instead");
  expect_error(conv2(x, w, nullptr, P({}, {}, {}, 0)), "non-positive groups is not supported");
  expect_error(conv2(x, w, nullptr, P({}, {}, {}, 1)),
               "expected input[1, 4, 5, 5] to have 2 channels, but got 4 channels instead");
  expect_error(conv2(x, w, nullptr, P({0}, {}, {}, 2)), "non-positive stride is not supported");
  expect_error(conv2(x, w, nullptr, P({1, -1}, {}, {}, 2)), "non-positive stride");
  expect_error(conv2(x, w, nullptr, P({}, {-1}, {}, 2)), "negative padding is not supported");
  expect_error(conv2(x, w, nullptr, P({}, {}, {0}, 2)), "dilation should be greater than zero");
  conv_params same = P({2}, {}, {}, 2);
  same.pad = pk::same;
  expect_error(conv2(x, w, nullptr, same),
               "padding='same' is not supported for strided convolutions");
  expect_error(conv2(T({1, 4, 2, 2}, std::vector<double>(16, 1)), w, nullptr, P({}, {}, {}, 2)),
               "Calculated padded input size per channel: (2 x 2). Kernel size: (3 x 3). Kernel "
               "size can't be greater than actual input size");
  expect_error(conv2(x, w, nullptr, P({}, {}, {3}, 2)), "Kernel size: (7 x 7)");
  const tensor b5 = T({5}, std::vector<double>(5, 0));
  expect_error(conv2(x, w, &b5, P({}, {}, {}, 2)),
               "expected bias to be 1-dimensional with 6 elements, but got bias of size [5]");
  const tensor b61 = T({6, 1}, std::vector<double>(6, 0));
  expect_error(conv2(x, w, &b61, P({}, {}, {}, 2)), "but got bias of size [6, 1]");
  expect_error(conv2(T({5, 5}, std::vector<double>(25, 1)), w, nullptr, P({}, {}, {}, 2)),
               "Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: "
               "[5, 5]");
  expect_error(conv2(x, T({6, 2, 3}, std::vector<double>(36, 1)), nullptr, P({}, {}, {}, 2)),
               "expected 4D weight");
  expect_error(conv2(x, T({0, 2, 3, 3}, {}), nullptr, P({}, {}, {}, 2)),
               "expected weight to be at least 2 at dimension 0");
  expect_error(conv2(T({1, 4, 0, 5}, {}), w, nullptr, P({}, {2}, {}, 2)),
               "only zero batch or zero channel inputs are supported");
  expect_error(conv2(x, w, nullptr, P({1, 1, 1}, {}, {}, 2)),
               "expected stride to be a single integer value or a list of 2 values");
  expect_error(conv2(x, w, nullptr, P({}, {1, 1, 1}, {}, 2)),
               "expected padding to be a single integer value or a list of 2 values");
  expect_error(conv2(x, T({6, 2, 0, 3}, {}), nullptr, P({}, {}, {}, 2)),
               "kernel size should be greater than zero");
  conv_params op = P({2}, {}, {}, 2);
  op.output_padding = {1};
  expect_error(conv2(x, w, nullptr, op), "output_padding applies only to transposed");
  conv_params refl = P({}, {3}, {}, 1);
  refl.mode = ops::padding_mode::reflect;
  expect_error(
      [&] {
        (void)ops::conv1d(T({1, 1, 3}, {1, 2, 3}), T({1, 1, 3}, {1, 1, 1}), nullptr, refl);
      },
      "padding size should be less than the corresponding input dimension");
  conv_params circ = P({}, {4}, {}, 1);
  circ.mode = ops::padding_mode::circular;
  expect_error(
      [&] {
        (void)ops::conv1d(T({1, 1, 3}, {1, 2, 3}), T({1, 1, 3}, {1, 1, 1}), nullptr, circ);
      },
      "wrapping around more than once");
  expect_error(
      [&] {
        (void)ops::conv2d(T({1, 4, 5, 5}, {1}), w, nullptr, P({}, {}, {}, 2));
      },
      "input: shape [1, 4, 5, 5] needs 100 values, but the tensor holds 1");
}

TEST(conv_validation, valid_edge_cases_pytorch_accepts) {
  const tensor w = T({6, 2, 3, 3}, std::vector<double>(108, 1));
  // 'same' with dilation, kernel larger than the input once dilated: fine (padding covers it).
  conv_params same;
  same.pad = pk::same;
  same.dilation = {2};
  same.groups = 2;
  EXPECT_EQ(
      ops::conv_output_shape(2, T({1, 4, 2, 2}, std::vector<double>(16, 1)), w, nullptr, same),
      (std::vector<std::int64_t>{1, 6, 2, 2}));
  // circular padding equal to the input size wraps exactly once: allowed.
  conv_params circ = P({}, {3});
  circ.mode = ops::padding_mode::circular;
  EXPECT_EQ(
      ops::conv_output_shape(1, T({1, 1, 3}, {1, 2, 3}), T({1, 1, 3}, {1, 1, 1}), nullptr, circ),
      (std::vector<std::int64_t>{1, 1, 7}));
}

// ---- random configurations against the direct definition (core: no torch) ----

TEST(conv_property, lowering_matches_direct_definition) {
  auto rng = test::rng(0xC0);
  const std::int64_t iters = test::iterations(300);
  std::uniform_int_distribution<int> small(0, 3);
  std::normal_distribution<double> normal;
  for (std::int64_t it = 0; it < iters; ++it) {
    const int nd = 1 + static_cast<int>(rng() % 3);
    conv_params p;
    const std::int64_t G = 1 + static_cast<std::int64_t>(rng() % 3);
    const std::int64_t cin_g = static_cast<std::int64_t>(rng() % 3) + (rng() % 8 == 0 ? 0 : 1);
    const std::int64_t cout_g = 1 + static_cast<std::int64_t>(rng() % 2);
    const std::int64_t N = static_cast<std::int64_t>(rng() % 3);
    std::vector<std::int64_t> xs{N, G * cin_g}, ws{G * cout_g, cin_g};
    const int mode = static_cast<int>(rng() % 6);  // 0-2 zeros, 3 reflect, 4 replicate, 5 circ
    const int padk = static_cast<int>(rng() % 4);  // 0,1 explicit, 2 same, 3 valid
    for (int d = 0; d < nd; ++d) {
      const std::int64_t k = 1 + small(rng) % 3, dil = 1 + static_cast<std::int64_t>(rng() % 2);
      const std::int64_t s = padk == 2 ? 1 : 1 + small(rng) % 3;
      std::int64_t pad = small(rng) % 3;
      std::int64_t in = dil * (k - 1) + 1 + small(rng) + (mode >= 3 ? 2 : 0);
      if (mode == 3) pad = std::min(pad, in - 1);
      if (padk == 2 && mode == 3) in = std::max(in, dil * (k - 1) + 1);
      xs.push_back(in);
      ws.push_back(k);
      p.stride.push_back(s);
      p.padding.push_back(pad);
      p.dilation.push_back(dil);
    }
    p.groups = G;
    if (padk == 2) p.pad = pk::same;
    if (padk == 3) p.pad = pk::valid;
    if (mode >= 3) p.mode = static_cast<ops::padding_mode>(mode - 2);
    tensor x, w, b;
    x.shape = xs;
    w.shape = ws;
    b.shape = {G * cout_g};
    test::fill_random({&x, &w, &b}, rng, normal, 10);
    const bool with_bias = rng() % 2;
    const bool unbatched = N == 1 && rng() % 2;
    if (unbatched) x.shape.erase(x.shape.begin());
    const std::string ctx = "nd=" + std::to_string(nd) + " " + test::replay(it);
    ops::op_result r;
    try {
      r = ops::conv(nd, x, w, with_bias ? &b : nullptr, p);
    } catch (const input_error& e) {
      // Only reflect/same combinations may legitimately be refused here.
      ASSERT_TRUE(mode == 3) << e.what() << "; " << ctx;
      continue;
    }
    test::expect_matches_direct(r, test::direct_conv(nd, false, x, w, with_bias ? &b : nullptr, p),
                                ctx);
  }
}

}  // namespace
}  // namespace roundoff
