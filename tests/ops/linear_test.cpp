// F.linear: hand-computed goldens, validation, and randomized agreement with per-output exact
// dot products (accumulator) as an independent oracle.
#include "roundoff/ops/linear.hpp"

#include <functional>
#include <random>

#include "ops_test_util.hpp"
#include "property.hpp"
#include "roundoff/error.hpp"

namespace roundoff {
namespace {

using test::expect_error;
using test::T;

TEST(linear, golden_2d_with_bias) {
  // x = [[1 2 3][4 5 6]], W = [[1 0 -1][2 1 0]], b = [10 20]
  // y00 = 1-3+10 = 8, y01 = 2+2+20 = 24, y10 = 4-6+10 = 8, y11 = 8+5+20 = 33.
  // magnitude: 1+3+10 = 14, 2+2+20 = 24, 4+6+10 = 20, 8+5+20 = 33.
  const tensor x = test::iota({2, 3}, 1), w = T({2, 3}, {1, 0, -1, 2, 1, 0}), b = T({2}, {10, 20});
  const auto r = ops::linear(x, w, &b);
  test::expect_result(r, {2, 2}, {8, 24, 8, 33});
  EXPECT_EQ(r.magnitude, (std::vector<double>{14, 24, 20, 33}));
  EXPECT_EQ(r.terms.to_vector(), std::vector<std::int64_t>(4, 3));
}

TEST(linear, golden_leading_dims_and_vectors) {
  const tensor w = T({2, 3}, {1, 0, -1, 2, 1, 0});
  // x 1-D [1 2 3] -> y = [1-3, 2+2] = [-2 4], shape [2].
  test::expect_result(ops::linear(T({3}, {1, 2, 3}), w, nullptr), {2}, {-2, 4});
  // x [2,1,3] (rows [1 2 3], [4 5 6]) -> [2,1,2] = [[-2 4]], [[-2 13]].
  test::expect_result(ops::linear(test::iota({2, 1, 3}, 1), w, nullptr), {2, 1, 2},
                      {-2, 4, -2, 13});
  // W 1-D [1 1 1]: y = row sums, last dim dropped: [6 15], shape [2]; 0-d bias 0.5 -> [6.5 15.5].
  const tensor b0 = T({}, {0.5});
  test::expect_result(ops::linear(test::iota({2, 3}, 1), T({3}, {1, 1, 1}), &b0), {2}, {6.5, 15.5});
  // 1-D x 1-D: a dot product, 0-d result: 1+2+3 = 6.
  test::expect_result(ops::linear(T({3}, {1, 2, 3}), T({3}, {1, 1, 1}), nullptr), {}, {6});
}

TEST(linear, golden_bias_broadcast_and_empty_sum) {
  // b [2,2] (not just [N]) broadcasts like torch: y = x W^T + b.
  const tensor b = T({2, 2}, {1, 2, 3, 4});
  test::expect_result(ops::linear(test::iota({2, 3}, 1), T({2, 3}, {1, 0, -1, 2, 1, 0}), &b),
                      {2, 2}, {-1, 6, 1, 17});
  // K = 0: every output is the empty sum 0 plus the bias; n_i = 0.
  const tensor bn = T({2}, {7, -0.0});
  const auto r = ops::linear(T({3, 0}, {}), T({2, 0}, {}), &bn);
  test::expect_result(r, {3, 2}, {7, 0, 7, 0, 7, 0});
  EXPECT_EQ(r.terms.to_vector(), std::vector<std::int64_t>(6, 0));
  // batch 0
  EXPECT_EQ(ops::linear(T({0, 3}, {}), T({2, 3}, std::vector<double>(6, 1)), nullptr).exact.size(),
            0);
}

TEST(linear, golden_exact_cancellation_and_specials) {
  // [1e16, 1, -1e16] . [1 1 1] = 1 exactly.
  test::expect_result(ops::linear(T({3}, {1e16, 1, -1e16}), T({1, 3}, {1, 1, 1}), nullptr), {1},
                      {1});
  // Rows [Inf 0] and [1 Inf] against w = [0 1]: Inf*0 + 0*1 = NaN; 1*0 + Inf*1 = Inf.
  const auto r = ops::linear(T({2, 2}, {INFINITY, 0, 1, INFINITY}), T({1, 2}, {0, 1}), nullptr);
  EXPECT_TRUE(std::isnan(r.exact.rounded(0)));
  EXPECT_EQ(r.exact.rounded(1), INFINITY);
  EXPECT_EQ(r.magnitude[1], INFINITY);
}

TEST(linear_validation, pytorch_rules) {
  expect_error(
      [] {
        (void)ops::linear(T({2, 3}, std::vector<double>(6)), T({5, 4}, std::vector<double>(20)),
                          nullptr);
      },
      "input of size [2, 3] and weight of size [5, 4] cannot be multiplied");
  expect_error(
      [] {
        (void)ops::linear(T({}, {1}), T({5, 1}, std::vector<double>(5)), nullptr);
      },
      "both arguments to linear need to be at least 1D, but they are 0D and 2D");
  expect_error(
      [] {
        (void)ops::linear(T({2, 3}, std::vector<double>(6)), T({1, 5, 3}, std::vector<double>(15)),
                          nullptr);
      },
      "weight must be 1-D");
  const tensor b4 = T({4}, std::vector<double>(4));
  expect_error(
      [&] {
        (void)ops::linear(T({2, 3}, std::vector<double>(6)), T({5, 3}, std::vector<double>(15)),
                          &b4);
      },
      "the expanded size of the tensor (5) must match the existing size (4) at "
      "non-singleton dimension 1.  Target sizes: [2, 5].  Tensor sizes: [4]");
  const tensor b3 = T({3, 1, 5}, std::vector<double>(15));
  expect_error(
      [&] {
        (void)ops::linear(T({2, 3}, std::vector<double>(6)), T({5, 3}, std::vector<double>(15)),
                          &b3);
      },
      "cannot be expanded to the output size [2, 5]");
}

TEST(linear_property, matches_per_output_exact_dots) {
  auto rng = test::rng(0x11);
  const std::int64_t iters = test::iterations(300);
  std::normal_distribution<double> normal;
  for (std::int64_t it = 0; it < iters; ++it) {
    const std::int64_t M = static_cast<std::int64_t>(rng() % 5),
                       N = 1 + static_cast<std::int64_t>(rng() % 5);
    const std::int64_t K = static_cast<std::int64_t>(rng() % 40);
    tensor x = T({2, M, K}, {}), w = T({N, K}, {}), b = T({N}, {});
    test::fill_random({&x, &w, &b}, rng, normal, 30);
    const bool with_bias = rng() % 2;
    const auto r = ops::linear(x, w, with_bias ? &b : nullptr);
    ASSERT_EQ(r.exact.shape(), (std::vector<std::int64_t>{2, M, N})) << test::replay(it);
    exact::accumulator acc, mag;
    for (std::int64_t i = 0; i < 2 * M; ++i) {
      for (std::int64_t j = 0; j < N; ++j) {
        acc.clear();
        mag.clear();
        for (std::int64_t k = 0; k < K; ++k) {
          const double a = x.data[static_cast<std::size_t>(i * K + k)],
                       c = w.data[static_cast<std::size_t>(j * K + k)];
          acc.add_product(a, c);
          mag.add_product(std::fabs(a), std::fabs(c));
        }
        if (with_bias) {
          acc.add(b.data[static_cast<std::size_t>(j)]);
          mag.add(std::fabs(b.data[static_cast<std::size_t>(j)]));
        }
        const std::int64_t q = i * N + j;
        ASSERT_TRUE(test::same_bits(r.exact.rounded(q), acc.round())) << test::replay(it);
        ASSERT_TRUE(test::same_bits(r.magnitude[static_cast<std::size_t>(q)],
                                    mag.round(exact::rounding::upward)))
            << test::replay(it);
        ASSERT_EQ(r.terms[q], K);
      }
    }
  }
}

}  // namespace
}  // namespace roundoff
