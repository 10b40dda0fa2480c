// torch.matmul: hand-computed goldens for every broadcasting case, validation, and randomized
// agreement with per-output exact dot products.
#include "roundoff/ops/matmul.hpp"

#include <functional>
#include <random>

#include "ops_test_util.hpp"
#include "property.hpp"
#include "roundoff/error.hpp"

namespace roundoff {
namespace {

using test::expect_error;
using test::T;

TEST(matmul, golden_dot_mv_vm_mm) {
  // dot: [1 2 3].[4 5 6] = 4+10+18 = 32, 0-d.
  test::expect_result(ops::matmul(T({3}, {1, 2, 3}), T({3}, {4, 5, 6}), nullptr), {}, {32});
  // mv: [[1 2 3][4 5 6]] [1 0 -1] = [-2 -2], shape [2].
  test::expect_result(ops::matmul(test::iota({2, 3}, 1), T({3}, {1, 0, -1}), nullptr), {2},
                      {-2, -2});
  // vm: [1 -1] [[1 2 3][4 5 6]] = [-3 -3 -3], shape [3].
  test::expect_result(ops::matmul(T({2}, {1, -1}), test::iota({2, 3}, 1), nullptr), {3},
                      {-3, -3, -3});
  // mm: [[1 2][3 4]] [[1 1][0 1]] = [[1 3][3 7]].
  test::expect_result(ops::matmul(test::iota({2, 2}, 1), T({2, 2}, {1, 1, 0, 1}), nullptr), {2, 2},
                      {1, 3, 3, 7});
}

TEST(matmul, golden_broadcasting) {
  // x [2,1,2] = [[1 2]], [[3 4]]; w [2,2] = [[1 1][0 1]] shared: [[1 3]], [[3 7]].
  test::expect_result(ops::matmul(test::iota({2, 1, 2}, 1), T({2, 2}, {1, 1, 0, 1}), nullptr),
                      {2, 1, 2}, {1, 3, 3, 7});
  // 1-D x [1 2] times w [2,2,2] = [[1 0][0 1]], [[2 3][4 5]]: [1 2], [2+8, 3+10] -> [2,2].
  test::expect_result(ops::matmul(T({2}, {1, 2}), T({2, 2, 2}, {1, 0, 0, 1, 2, 3, 4, 5}), nullptr),
                      {2, 2}, {1, 2, 10, 13});
  // x [2,1,1,2] (rows [1 2], [3 4]) times w [3,2,1] with w_j = [[j+1][1]]:
  //   x0 w_j = (j+1) + 2 = [3 4 5]; x1 w_j = 3(j+1) + 4 = [7 10 13]; out [2,3,1,1].
  test::expect_result(
      ops::matmul(test::iota({2, 1, 1, 2}, 1), T({3, 2, 1}, {1, 1, 2, 1, 3, 1}), nullptr),
      {2, 3, 1, 1}, {3, 4, 5, 7, 10, 13});
  // x [2,2,3] times 1-D w [1 0 -1]: row sums of first minus third entries -> [2,2] all -2.
  test::expect_result(ops::matmul(test::iota({2, 2, 3}, 1), T({3}, {1, 0, -1}), nullptr), {2, 2},
                      {-2, -2, -2, -2});
  // Bias broadcast over the last dim: mm above + [10 20] = [[11 23][13 27]].
  const tensor b = T({2}, {10, 20});
  test::expect_result(ops::matmul(test::iota({2, 2}, 1), T({2, 2}, {1, 1, 0, 1}), &b), {2, 2},
                      {11, 23, 13, 27});
}

TEST(matmul_validation, pytorch_rules) {
  expect_error(
      [] {
        (void)ops::matmul(test::zeros({}), test::zeros({2, 3}), nullptr);
      },
      "both arguments to matmul need to be at least 1D, but they are 0D and 2D");
  expect_error([] { (void)ops::matmul(test::zeros({3}), test::zeros({4}), nullptr); },
               "shapes [3] and [4] cannot be multiplied");
  expect_error(
      [] {
        (void)ops::matmul(test::zeros({2, 3}), test::zeros({4, 5}), nullptr);
      },
      "the first's last dim (3) must equal the second's second-to-last dim (4)");
  expect_error(
      [] {
        (void)ops::matmul(test::zeros({3, 2, 3}), test::zeros({4, 3, 5}), nullptr);
      },
      "the size of tensor a (3) must match the size of tensor b (4) at non-singleton "
      "dimension 0");
  const tensor b = test::zeros({3});
  expect_error(
      [&] {
        (void)ops::matmul(test::zeros({2, 3}), test::zeros({3, 5}), &b);
      },
      "the expanded size of the tensor (5) must match the existing size (3)");
  const tensor b2 = test::zeros({4, 2, 5});
  expect_error(
      [&] {
        (void)ops::matmul(test::zeros({2, 3}), test::zeros({3, 5}), &b2);
      },
      "cannot be expanded");
}

TEST(matmul_property, broadcast_matches_per_output_exact_dots) {
  auto rng = test::rng(0x3A);
  const std::int64_t iters = test::iterations(300);
  std::normal_distribution<double> normal;
  for (std::int64_t it = 0; it < iters; ++it) {
    // Batch shapes of rank 0..2 with sizes 1..3, made broadcast-compatible.
    const int rx = static_cast<int>(rng() % 3), rw = static_cast<int>(rng() % 3);
    std::vector<std::int64_t> full(2);
    for (auto& v : full) v = 1 + static_cast<std::int64_t>(rng() % 3);
    auto pick = [&](int r) {
      std::vector<std::int64_t> s;
      for (int i = 2 - r; i < 2; ++i)
        s.push_back(rng() % 3 == 0 ? 1 : full[static_cast<std::size_t>(i)]);
      return s;
    };
    const std::int64_t M = static_cast<std::int64_t>(rng() % 4),
                       N = 1 + static_cast<std::int64_t>(rng() % 4);
    const std::int64_t K = static_cast<std::int64_t>(rng() % 20);
    const bool xv = rng() % 5 == 0, wv = rng() % 5 == 0;
    tensor x, w;
    x.shape = pick(rx);
    w.shape = pick(rw);
    if (!xv) x.shape.push_back(M);
    x.shape.push_back(K);
    w.shape.push_back(K);
    if (!wv) w.shape.push_back(N);
    if (xv) x.shape = {K};
    if (wv) w.shape = {K};
    test::fill_random({&x, &w}, rng, normal, 20);
    const auto r = ops::matmul(x, w, nullptr);
    // Oracle: broadcast by hand over the output's batch index.
    const auto& os = r.exact.shape();
    const std::int64_t Mo = xv ? 1 : M, No = wv ? 1 : N;
    const std::int64_t nb = r.exact.size() / std::max<std::int64_t>(1, Mo * No);
    const std::size_t bd = os.size() - (xv ? 0 : 1) - (wv ? 0 : 1);
    std::vector<std::int64_t> ob(os.begin(), os.begin() + static_cast<std::ptrdiff_t>(bd));
    auto bidx = [&](std::int64_t q, const std::vector<std::int64_t>& src) {
      // src batch shape = src's shape minus its matrix dims
      std::int64_t off = 0, stride = 1;
      for (std::size_t i = 0; i < ob.size(); ++i) {
        const std::size_t d = ob.size() - 1 - i;
        const std::int64_t idx = q % ob[d];
        q /= ob[d];
        if (i < src.size()) {
          const std::int64_t s = src[src.size() - 1 - i];
          if (s != 1) off += idx * stride;
          stride *= s;
        }
      }
      return off;
    };
    std::vector<std::int64_t> xb(x.shape.begin(), x.shape.end() - (xv ? 1 : 2));
    std::vector<std::int64_t> wb(w.shape.begin(), w.shape.end() - (wv ? 1 : 2));
    exact::accumulator acc;
    for (std::int64_t q = 0; q < (Mo * No != 0 ? nb : 0); ++q) {
      const std::int64_t xo = bidx(q, xb) * Mo * K, wo = bidx(q, wb) * K * No;
      for (std::int64_t i = 0; i < Mo; ++i) {
        for (std::int64_t j = 0; j < No; ++j) {
          acc.clear();
          for (std::int64_t k = 0; k < K; ++k) {
            acc.add_product(x.data[static_cast<std::size_t>(xo + i * K + k)],
                            w.data[static_cast<std::size_t>(wo + k * No + j)]);
          }
          ASSERT_TRUE(test::same_bits(r.exact.rounded(q * Mo * No + i * No + j), acc.round()))
              << test::replay(it);
        }
      }
    }
  }
}

}  // namespace
}  // namespace roundoff
