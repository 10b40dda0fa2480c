// gemm_exact_simple against the MPFR oracle element by element (exact values, not only RN),
// over random shapes, every stride of gemm_problem, batches, broadcast and strided bias, and
// output layouts (row-major, column-major, offset, padded); plus gemm_mpfr's own bookkeeping.
#include <gtest/gtest.h>

#include <stdexcept>

#include "exact_testing.hpp"
#include "property.hpp"
#include "roundoff/error.hpp"
#include "roundoff/exact/exact_tensor.hpp"
#include "roundoff/exact/gemm.hpp"
#include "roundoff/exact/mpfr_oracle.hpp"

namespace roundoff::test {
namespace {

using exact::accumulator;
using exact::exact_tensor;
using exact::gemm_problem;

struct random_problem {
  gemm_problem p;
  std::vector<double> a, b, bias;
  std::int64_t dest_size = 0;
};

random_problem make_problem(std::mt19937_64& g, format_id f) {
  random_problem r;
  gemm_problem& p = r.p;
  p.batch = 1 + static_cast<std::int64_t>(g() % 3);
  p.m = static_cast<std::int64_t>(g() % 6);
  p.n = static_cast<std::int64_t>(g() % 6);
  p.k = skewed_length(g, 300);
  // Operand layouts: padded rows, batch strides (0 = shared across the batch).
  p.lda = p.k + static_cast<std::int64_t>(g() % 3);
  p.ldb = p.k + static_cast<std::int64_t>(g() % 3);
  p.a_batch_stride = g() % 3 == 0 ? 0 : p.m * p.lda + static_cast<std::int64_t>(g() % 4);
  p.b_batch_stride = g() % 3 == 0 ? 0 : p.n * p.ldb + static_cast<std::int64_t>(g() % 4);
  const int mode = static_cast<int>(g() % 3);
  auto draw = [&] {
    return mode == 0   ? draw_gaussian(g, f)
           : mode == 1 ? draw_format(g, f, -40, 40)
                       : draw_format(g, f, -1074, 1023);
  };
  r.a.resize(static_cast<std::size_t>(p.batch * p.a_batch_stride + p.m * p.lda + 1));
  r.b.resize(static_cast<std::size_t>(p.batch * p.b_batch_stride + p.n * p.ldb + 1));
  for (auto& x : r.a) x = draw();
  for (auto& x : r.b) x = draw();
  p.a = r.a.data();
  p.b = r.b.data();
  // Bias: none, per column (linear), per row, full, per batch.
  switch (g() % 5) {
    case 0:
      break;
    case 1:
      p.bias_col_stride = 1;
      break;
    case 2:
      p.bias_row_stride = 1;
      break;
    case 3:
      p.bias_row_stride = p.n;
      p.bias_col_stride = 1;
      p.bias_batch_stride = p.m * p.n;
      break;
    default:
      p.bias_batch_stride = 1;
      p.bias_col_stride = p.batch;
      break;
  }
  if (p.bias_row_stride || p.bias_col_stride || p.bias_batch_stride) {
    r.bias.resize(static_cast<std::size_t>(p.batch * p.bias_batch_stride + p.m * p.bias_row_stride +
                                           p.n * p.bias_col_stride + 1));
    for (auto& x : r.bias) x = draw();
    p.bias = r.bias.data();
  } else if (g() % 2) {  // a scalar bias broadcast everywhere (all strides 0)
    r.bias = {draw()};
    p.bias = r.bias.data();
  }
  // Output layout: row-major, column-major, or batch-innermost, with an offset.
  p.c_offset = static_cast<std::int64_t>(g() % 3);
  switch (g() % 3) {
    case 0:
      p.c_col_stride = 1;
      p.c_row_stride = p.n;
      p.c_batch_stride = p.m * p.n;
      break;
    case 1:
      p.c_row_stride = 1;
      p.c_col_stride = p.m;
      p.c_batch_stride = p.m * p.n + 1;
      break;
    default:
      p.c_batch_stride = 1;
      p.c_col_stride = p.batch;
      p.c_row_stride = p.batch * p.n;
      break;
  }
  r.dest_size = p.c_offset + p.batch * (p.m * p.n + 1) + 1;
  return r;
}

TEST(GemmExactSimple, MatchesOracleElementwise) {
  auto g = rng(0x2000);
  const std::int64_t iters = iterations(1500);
  for (std::int64_t it = 0; it < iters; ++it) {
    const format_id f = input_formats[g() % 5];
    random_problem rp = make_problem(g, f);
    const gemm_problem& p = rp.p;
    exact_tensor dest({rp.dest_size});
    exact::gemm_exact_simple(p, dest);
    std::vector<char> written(static_cast<std::size_t>(rp.dest_size), 0);
    const auto oracle = exact::gemm_mpfr(p, oracle_options());
    ASSERT_TRUE(oracle.all_exact()) << replay(it);
    std::size_t dense = 0;
    for (std::int64_t bb = 0; bb < p.batch; ++bb)
      for (std::int64_t i = 0; i < p.m; ++i)
        for (std::int64_t j = 0; j < p.n; ++j, ++dense) {
          const std::int64_t c =
              p.c_offset + bb * p.c_batch_stride + i * p.c_row_stride + j * p.c_col_stride;
          written[static_cast<std::size_t>(c)] = 1;
          const double* arow = p.a + bb * p.a_batch_stride + i * p.lda;
          const double* brow = p.b + bb * p.b_batch_stride + j * p.ldb;
          const double* bias = p.bias ? p.bias + bb * p.bias_batch_stride + i * p.bias_row_stride +
                                            j * p.bias_col_stride
                                      : nullptr;
          const auto ov = exact::dot_mpfr_value(p.k, arow, brow, bias, oracle_options());
          accumulator back;
          dest.load(c, back);
          ASSERT_TRUE(same_double(dest.rounded(c), oracle.rounded[dense])) << replay(it);
          ASSERT_TRUE(same_exact_value(back, ov, g, naive_dot(p.k, arow, brow, bias), dense == 0))
              << traits(f).name << " element (" << bb << ',' << i << ',' << j << ") k=" << p.k
              << ' ' << replay(it);
          ASSERT_TRUE(same_value_by_peeling(back, p.k, arow, brow, bias))
              << traits(f).name << " element (" << bb << ',' << i << ',' << j << ") k=" << p.k
              << ' ' << replay(it);
        }
    // Elements outside the output pattern are untouched (exact zero).
    for (std::int64_t c = 0; c < rp.dest_size; ++c)
      if (!written[static_cast<std::size_t>(c)]) {
        ASSERT_TRUE(same_double(dest.rounded(c), 0.0)) << replay(it);
      }
  }
}

TEST(GemmExactSimple, RejectsBadShapes) {
  gemm_problem p;
  p.m = -1;
  exact_tensor dest({4});
  EXPECT_THROW(exact::gemm_exact_simple(p, dest), internal_error);
  p.m = 2;
  p.n = 3;  // 6 outputs into 4 slots
  p.c_row_stride = 3;
  EXPECT_THROW(exact::gemm_exact_simple(p, dest), internal_error);
}

TEST(GemmExactSimple, ZeroDepthIsBias) {
  gemm_problem p;
  p.m = 2;
  p.n = 2;
  p.k = 0;
  p.c_row_stride = 2;
  const double bias[] = {1.5, -0.0};
  p.bias = bias;
  p.bias_col_stride = 1;
  exact_tensor dest({4});
  exact::gemm_exact_simple(p, dest);
  EXPECT_EQ(dest.rounded(0), 1.5);
  EXPECT_TRUE(same_double(dest.rounded(1), 0.0));  // -0 bias: exact zero, +0
  EXPECT_EQ(dest.rounded(2), 1.5);
  const auto o = exact::gemm_mpfr(p);
  EXPECT_TRUE(o.all_exact());
  EXPECT_TRUE(same_double(o.rounded[1], 0.0));
}

}  // namespace
}  // namespace roundoff::test
