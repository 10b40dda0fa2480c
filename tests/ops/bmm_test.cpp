// torch.bmm (+ bias): goldens and validation.
#include "roundoff/ops/bmm.hpp"

#include <functional>

#include "ops_test_util.hpp"
#include "roundoff/error.hpp"

namespace roundoff {
namespace {

using test::expect_error;
using test::T;

TEST(bmm, golden_with_scalar_bias) {
  // x = [[1 2]], [[3 4]]; w = [[5][6]], [[7][8]]: 1*5+2*6 = 17, 3*7+4*8 = 53; + 0.5.
  const tensor b = T({}, {0.5});
  const auto r = ops::bmm(test::iota({2, 1, 2}, 1), test::iota({2, 2, 1}, 5), &b);
  test::expect_result(r, {2, 1, 1}, {17.5, 53.5});
  EXPECT_EQ(r.magnitude, (std::vector<double>{17.5, 53.5}));
  EXPECT_EQ(r.terms.to_vector(), (std::vector<std::int64_t>{2, 2}));
  // Without bias, and a batch of 0.
  test::expect_result(ops::bmm(test::iota({2, 1, 2}, 1), test::iota({2, 2, 1}, 5), nullptr),
                      {2, 1, 1}, {17, 53});
  EXPECT_EQ(ops::bmm(T({0, 2, 3}, {}), T({0, 3, 4}, {}), nullptr).exact.shape(),
            (std::vector<std::int64_t>{0, 2, 4}));
}

TEST(bmm_validation, pytorch_rules) {
  expect_error(
      [&] {
        (void)ops::bmm(test::zeros({2, 3}), test::zeros({2, 3, 5}), nullptr);
      },
      "batch1 (input) must be a 3D tensor");
  expect_error(
      [&] {
        (void)ops::bmm(test::zeros({2, 2, 3}), test::zeros({3, 5}), nullptr);
      },
      "batch2 (mat2) must be a 3D tensor");
  expect_error(
      [&] {
        (void)ops::bmm(test::zeros({2, 2, 3}), test::zeros({3, 3, 5}), nullptr);
      },
      "expected size for first two dimensions of batch2 tensor to be: [2, 3] but got: "
      "[3, 3]");
  expect_error(
      [&] {
        (void)ops::bmm(test::zeros({2, 2, 3}), test::zeros({2, 4, 5}), nullptr);
      },
      "[2, 4]");
  const tensor b = test::zeros({3});
  expect_error(
      [&] {
        (void)ops::bmm(test::zeros({2, 2, 3}), test::zeros({2, 3, 5}), &b);
      },
      "the expanded size of the tensor (5) must match the existing size (3)");
}

}  // namespace
}  // namespace roundoff
