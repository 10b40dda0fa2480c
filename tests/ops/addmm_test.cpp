// torch.addmm (beta = alpha = 1): goldens and validation.
#include "roundoff/ops/addmm.hpp"

#include <functional>

#include "ops_test_util.hpp"
#include "roundoff/error.hpp"

namespace roundoff {
namespace {

using test::expect_error;
using test::T;

TEST(addmm, golden_row_bias_broadcast) {
  // input [100 200] broadcast over rows; mat1 [[1 2]], mat2 [[1 2][3 4]]:
  // [1+6, 2+8] = [7 10] + [100 200] = [107 210]; magnitude the same (all positive).
  const auto r = ops::addmm(T({2}, {100, 200}), T({1, 2}, {1, 2}), T({2, 2}, {1, 2, 3, 4}));
  test::expect_result(r, {1, 2}, {107, 210});
  EXPECT_EQ(r.magnitude, (std::vector<double>{107, 210}));
  EXPECT_TRUE(r.has_bias);
  // Full [M, N] input, with cancellation: [[-7 -10]] + product = [[0 0]].
  test::expect_result(ops::addmm(T({1, 2}, {-7, -10}), T({1, 2}, {1, 2}), T({2, 2}, {1, 2, 3, 4})),
                      {1, 2}, {0, 0});
}

TEST(addmm_validation, pytorch_rules) {
  const tensor b5 = T({5}, std::vector<double>(5)), b4 = T({4}, std::vector<double>(4));
  const tensor a = T({2, 3}, std::vector<double>(6));
  expect_error(
      [&] {
        (void)ops::addmm(b5, T({3}, {0, 0, 0}), T({3, 5}, std::vector<double>(15)));
      },
      "mat1 must be a matrix, got 1-D tensor");
  expect_error([&] { (void)ops::addmm(b5, a, T({3}, {0, 0, 0})); }, "mat2 must be a matrix");
  expect_error(
      [&] {
        (void)ops::addmm(b5, a, T({4, 5}, std::vector<double>(20)));
      },
      "mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)");
  expect_error(
      [&] {
        (void)ops::addmm(b4, a, T({3, 5}, std::vector<double>(15)));
      },
      "the expanded size of the tensor (5) must match the existing size (4) at "
      "non-singleton dimension 1.  Target sizes: [2, 5].  Tensor sizes: [4]");
}

}  // namespace
}  // namespace roundoff
