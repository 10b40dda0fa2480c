// exact::abs_product_sum (src/exact/abs_product.cpp): floating point, not exact, so the oracle is
// its contract, evaluated independently one output at a time: t = |bias|, then for each piece of
// the kernel's depth (native-avx512: 128 products, native-avx2: 256) an FMA chain from 0 in
// increasing k (std::fma: correctly rounded, as the hardware's), added to t. Bit-equal on row and
// column tiles with remainders, K = 0, pieces with remainders, f32 and f64 operands, both stride
// layouts, negative values and bias, any thread count, the finishing pass once per output; without
// a native kernel (ROUNDOFF_EXACT_KERNEL=blas) it must decline. The tests also run with =avx2 and
// =blas.
#include "roundoff/exact/abs_product.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "roundoff/exact/gemm.hpp"

namespace {

using namespace roundoff;
using i64 = std::int64_t;

i64 kernel_depth() {
  const std::string_view name = exact::gemm_exact_kernel();
  if (name == "native-avx512") return 128;
  if (name == "native-avx2") return 256;
  return 0;
}

// Operand storage: values v (rows x k) laid out row-major or transposed, as doubles or floats.
struct operand {
  std::vector<double> d;
  std::vector<float> f;
  exact::abs_operand view;
  operand(const std::vector<float>& v, i64 rows, i64 k, bool transposed, bool as_float) {
    std::vector<float> laid(v.size());
    for (i64 r = 0; r < rows; ++r)
      for (i64 q = 0; q < k; ++q)
        laid[static_cast<std::size_t>(transposed ? q * rows + r : r * k + q)] =
            v[static_cast<std::size_t>(r * k + q)];
    if (as_float)
      f = laid;
    else
      d.assign(laid.begin(), laid.end());
    view.data = as_float ? static_cast<const void*>(f.data()) : d.data();
    view.is_float = as_float;
    view.row_stride = transposed ? 1 : k;
    view.col_stride = transposed ? rows : 1;
  }
};

TEST(AbsProductSum, EachOutputIsTheKernelsFmaChainBitForBit) {
  const i64 depth = kernel_depth();
  std::mt19937_64 g(1411);
  std::normal_distribution<float> d;
  for (const i64 m : {1, 9, 33})
    for (const i64 n : {1, 25, 50})
      for (const i64 k : {0, 1, 129, 300}) {
        std::vector<float> a(static_cast<std::size_t>(m * k)), b(static_cast<std::size_t>(n * k));
        std::vector<double> bias(static_cast<std::size_t>(n));
        for (auto& v : a) v = d(g);
        for (auto& v : b) v = d(g);
        for (auto& v : bias) v = d(g);
        // The contract's value of every output.
        std::vector<double> want(static_cast<std::size_t>(m * n));
        for (i64 i = 0; i < m; ++i)
          for (i64 j = 0; j < n; ++j) {
            double t = std::fabs(bias[static_cast<std::size_t>(j)]);
            for (i64 k0 = 0; depth > 0 && k0 < k; k0 += depth) {
              double acc = 0.0;
              for (i64 q = k0; q < std::min(k, k0 + depth); ++q)
                acc = std::fma(
                    std::fabs(static_cast<double>(a[static_cast<std::size_t>(i * k + q)])),
                    std::fabs(static_cast<double>(b[static_cast<std::size_t>(j * k + q)])), acc);
              t = acc + t;
            }
            want[static_cast<std::size_t>(i * n + j)] = t;
          }
        for (const bool as_float : {false, true})
          for (const bool transposed : {false, true}) {
            const operand oa(a, m, k, transposed, as_float), ob(b, n, k, !transposed, as_float);
            for (const int threads : {1, 3}) {
              const std::string at = "m " + std::to_string(m) + ", n " + std::to_string(n) +
                                     ", k " + std::to_string(k) + (as_float ? ", f32" : ", f64") +
                                     (transposed ? ", A transposed" : ", B transposed") +
                                     ", threads " + std::to_string(threads);
              std::vector<double> t(static_cast<std::size_t>(m * n), -1.0);
              const bool ran =
                  exact::abs_product_sum(m, n, k, oa.view, ob.view, bias.data(), t.data(), threads);
              ASSERT_EQ(ran, depth > 0) << at << ", kernel " << exact::gemm_exact_kernel();
              if (!ran) {
                for (const double v : t) ASSERT_EQ(v, -1.0) << at << ": wrote without a kernel";
                continue;
              }
              for (std::size_t e = 0; e < t.size(); ++e)
                ASSERT_EQ(t[e], want[e]) << at << ", output " << e;
              // finish visits every output exactly once (negating twice would undo it).
              ASSERT_TRUE(exact::abs_product_sum(m, n, k, oa.view, ob.view, bias.data(), t.data(),
                                                 threads, [](double* out, i64 count) {
                                                   for (i64 e = 0; e < count; ++e) out[e] = -out[e];
                                                 }));
              for (std::size_t e = 0; e < t.size(); ++e)
                ASSERT_EQ(t[e], -want[e]) << at << ", output " << e << " after finish";
            }
          }
      }
}

// Without a bias the chains start from 0; Inf and NaN propagate to their row and column only.
TEST(AbsProductSum, NoBiasAndNonFiniteValuesStayInTheirRowsAndColumns) {
  if (kernel_depth() == 0)
    GTEST_SKIP() << "no native kernel (" << exact::gemm_exact_kernel() << ")";
  const i64 m = 11, n = 30, k = 200;
  std::vector<double> a(static_cast<std::size_t>(m * k), 0.5),
      b(static_cast<std::size_t>(n * k), -2.0);
  a[2 * k + 7] = std::numeric_limits<double>::infinity();
  a[9 * k + 150] = std::numeric_limits<double>::quiet_NaN();
  b[13 * k + 190] = -std::numeric_limits<double>::infinity();
  const exact::abs_operand oa{a.data(), false, k, 1}, ob{b.data(), false, k, 1};
  std::vector<double> t(static_cast<std::size_t>(m * n));
  ASSERT_TRUE(exact::abs_product_sum(m, n, k, oa, ob, nullptr, t.data(), 2));
  for (i64 i = 0; i < m; ++i)
    for (i64 j = 0; j < n; ++j) {
      const double v = t[static_cast<std::size_t>(i * n + j)];
      const std::string at = "row " + std::to_string(i) + ", column " + std::to_string(j);
      if (i == 9)
        EXPECT_TRUE(std::isnan(v)) << at << ": " << v;
      else if (i == 2 || j == 13)
        EXPECT_EQ(v, std::numeric_limits<double>::infinity()) << at;
      else
        EXPECT_EQ(v, 200.0) << at;  // 200 products of 1, exact
    }
}

}  // namespace
