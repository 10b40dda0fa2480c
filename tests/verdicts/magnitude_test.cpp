// The bounds' magnitude pass (src/verdicts/magnitude.cpp, docs/bounds.md §3.5 "The magnitude"):
// every T_i of magnitude_by_blocks is >= the exact sum of |x||w| + |b| (an MPFR oracle that
// asserts its own exactness) and within the proven enlargement of it, on shapes that cut |W| into
// several panels and the K products into several pieces with remainders (magnitude_panel), one
// row, every bias form (none, 0-d, one element, n elements), linear and 2-D-weight matmul, f32 and
// f64 storage, strided views, underflowing and huge f64 data; and T is the same doubles at every
// thread count and for any block of whole DGEMM calls of rows, which check.cpp's blocked judging
// relies on.
#include <gtest/gtest.h>
#include <mpfr.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "../../src/verdicts/magnitude.hpp"
#include "roundoff/exact/gemm.hpp"
#include "roundoff/formats/convert.hpp"

namespace {

using namespace roundoff;
using verdicts::detail::magnitude_by_blocks;
using verdicts::detail::magnitude_panel;

enum class bias_form { none, scalar, one, full };

struct shape_case {
  ops::op_kind kind;
  std::vector<std::int64_t> x_shape;  // last dim K
  std::int64_t n;
  bias_form bias;
  std::int64_t block_rows;  // rows per DGEMM call (0: the default)
  std::string label;
};

// An MPFR number that adds exactly (asserted at every step): 4400 bits hold any sum of products
// of doubles and a double (exponents 2^-2148 .. 2^2048, plus log2 of the count); 320 bits hold
// the sums of the normally distributed data below.
class exact_sum {
 public:
  explicit exact_sum(mpfr_prec_t bits) {
    mpfr_init2(s_, bits);
    mpfr_init2(p_, bits);
    mpfr_set_zero(s_, 1);
  }
  ~exact_sum() {
    mpfr_clear(s_);
    mpfr_clear(p_);
  }
  exact_sum(const exact_sum&) = delete;
  exact_sum& operator=(const exact_sum&) = delete;
  void add_product(double a, double b) {
    EXPECT_EQ(mpfr_set_d(p_, std::fabs(a), MPFR_RNDN), 0);
    EXPECT_EQ(mpfr_mul_d(p_, p_, std::fabs(b), MPFR_RNDN), 0) << "oracle rounded";
    EXPECT_EQ(mpfr_add(s_, s_, p_, MPFR_RNDN), 0) << "oracle rounded";
  }
  void add(double a) {
    EXPECT_EQ(mpfr_add_d(s_, s_, std::fabs(a), MPFR_RNDN), 0) << "oracle rounded";
  }
  // T >= the sum, and T <= sum (1 + (2L + 16)u) + 2 L 2^-1074 (docs/bounds.md §3.5: at most
  // (2L + 12)u above RU(sum), plus the underflow term).
  void expect_bounds(double t, std::int64_t leaves, const std::string& at) {
    EXPECT_LE(mpfr_cmp_d(s_, t), 0)
        << at << ": T " << t << " below the exact sum " << mpfr_get_d(s_, MPFR_RNDU);
    mpfr_mul_d(p_, s_, 1 + static_cast<double>(2 * leaves + 16) * 0x1p-53, MPFR_RNDU);
    mpfr_add_d(p_, p_, static_cast<double>(2 * leaves) * 0x1p-1074, MPFR_RNDU);
    EXPECT_GE(mpfr_cmp_d(p_, t), 0)
        << at << ": T " << t << " far above the exact sum " << mpfr_get_d(s_, MPFR_RNDU);
  }

 private:
  mpfr_t s_, p_;
};

std::vector<double> values(std::int64_t count, std::mt19937_64& g, double scale, format_id f) {
  std::normal_distribution<double> d;
  std::vector<double> v(static_cast<std::size_t>(count));
  for (auto& e : v) e = round_to(f, d(g)) * scale;
  return v;
}

// Checks T of (x, w, b) against the oracle element by element. x, w, b are any views; the oracle
// reads them through at().
void expect_above_exact(const ops::op_spec& op, const tensor_view& x, const tensor_view& w,
                        const tensor_view* b, const std::vector<double>& t,
                        const std::string& label, mpfr_prec_t bits = 320) {
  const bool lin = op.kind == ops::op_kind::linear;
  const std::int64_t k = x.shape.back(), rows = x.numel() / k;
  const std::int64_t n = lin ? w.shape[0] : w.shape[1];
  ASSERT_EQ(static_cast<std::int64_t>(t.size()), rows * n) << label;
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      exact_sum s(bits);
      for (std::int64_t q = 0; q < k; ++q)
        s.add_product(x.at(i * k + q), w.at(lin ? j * k + q : q * n + j));
      if (b) s.add(b->at(b->numel() == 1 ? 0 : j));
      s.expect_bounds(t[static_cast<std::size_t>(i * n + j)], k + (b ? 1 : 0),
                      label + ", element (" + std::to_string(i) + ", " + std::to_string(j) + ")");
    }
}

// Bit-equal vectors of doubles.
void expect_same(const std::vector<double>& a, const std::vector<double>& b, std::int64_t offset,
                 const std::string& at) {
  ASSERT_LE(static_cast<std::int64_t>(b.size()) + offset, static_cast<std::int64_t>(a.size()))
      << at;
  for (std::size_t i = 0; i < b.size(); ++i)
    ASSERT_EQ(a[i + static_cast<std::size_t>(offset)], b[i]) << at << ", element " << i;
}

TEST(MagnitudePanels, TheShapesBelowCutPanelsAndPiecesWithRemainders) {
  // The panel shape depends on (n, k, one call) alone; these are the edges the cases below rely
  // on: with one call of rows, several panels of columns with a remainder; K in pieces with a
  // remainder either way.
  const auto a = magnitude_panel(300, 600, true);
  EXPECT_LT(a.columns, 300);
  EXPECT_NE(300 % a.columns, 0);
  EXPECT_LT(a.depth, 600);
  EXPECT_NE(600 % a.depth, 0);
  const auto b = magnitude_panel(700, 300, true);
  EXPECT_GE((700 + b.columns - 1) / b.columns, 3);
  EXPECT_NE(700 % b.columns, 0);
  EXPECT_NE(300 % b.depth, 0);
  const auto c = magnitude_panel(17, 513, true);
  EXPECT_EQ(c.columns, 17);
  EXPECT_NE(513 % c.depth, 0);
  for (const std::int64_t n : {300, 700}) {
    const auto d = magnitude_panel(n, 600, false);
    EXPECT_EQ(d.columns, n);
    EXPECT_NE(600 % d.depth, 0);
  }
  for (const bool one_call : {true, false})
    for (const auto& [n, k] : {std::pair<std::int64_t, std::int64_t>{1, 1},
                               {512, 2048},
                               {384, 1536},
                               {100000, 3},
                               {3, 100000}}) {
      const auto p = magnitude_panel(n, k, one_call);
      EXPECT_GE(p.columns, 1);
      EXPECT_LE(p.columns, n);
      EXPECT_GE(p.depth, 1);
      EXPECT_LE(p.depth, k);
    }
}

TEST(MagnitudeByBlocks, AboveTheExactSumOnEveryPanelEdge) {
  // Rows per call 0 (the default, more than the rows): one call, |W| in panels of columns;
  // fewer rows per call than rows: many calls, one panel.
  const std::vector<shape_case> cases = {
      {ops::op_kind::linear, {7, 600}, 300, bias_form::full, 0, "linear 7x600 . 300, one call"},
      {ops::op_kind::linear, {7, 600}, 300, bias_form::full, 2, "linear 7x600 . 300, calls of 2"},
      {ops::op_kind::matmul,
       {2, 3, 600},
       300,
       bias_form::scalar,
       0,
       "matmul 2x3x600 . 600x300, 0-d bias, one call"},
      {ops::op_kind::matmul,
       {2, 3, 600},
       300,
       bias_form::scalar,
       4,
       "matmul 2x3x600 . 600x300, 0-d bias, calls of 4"},
      {ops::op_kind::linear, {1, 513}, 17, bias_form::one, 0, "linear one row, 1-element bias"},
      {ops::op_kind::linear, {5, 300}, 700, bias_form::none, 0, "linear 5x300 . 700, no bias"},
      {ops::op_kind::matmul, {9, 300}, 700, bias_form::full, 0, "matmul 9x300 . 300x700"},
      {ops::op_kind::matmul,
       {9, 300},
       700,
       bias_form::full,
       3,
       "matmul 9x300 . 300x700, calls of 3"},
  };
  std::mt19937_64 g(1405);
  for (const auto& c : cases)
    for (const format_id f : {format_id::f32, format_id::f64}) {
      const bool lin = c.kind == ops::op_kind::linear;
      const std::int64_t k = c.x_shape.back();
      std::int64_t rows = 1;
      for (auto d : c.x_shape) rows *= d;
      rows /= k;
      const std::vector<double> xd = values(rows * k, g, 1.0, f);
      const std::vector<double> wd = values(c.n * k, g, 0.25, f);
      const std::vector<double> bd = values(c.n, g, 0.5, f);
      std::vector<float> xf(xd.begin(), xd.end()), wf(wd.begin(), wd.end());
      const std::vector<std::int64_t> w_shape =
          lin ? std::vector<std::int64_t>{c.n, k} : std::vector<std::int64_t>{k, c.n};
      // f32 values in f32 storage (read_abs' f32 path), f64 ones in f64 storage.
      const tensor_view x = f == format_id::f32 ? tensor_view(xf.data(), c.x_shape)
                                                : tensor_view(xd.data(), c.x_shape);
      const tensor_view w =
          f == format_id::f32 ? tensor_view(wf.data(), w_shape) : tensor_view(wd.data(), w_shape);
      tensor_view b;
      if (c.bias == bias_form::scalar) b = tensor_view(bd.data(), {}, f);
      if (c.bias == bias_form::one) b = tensor_view(bd.data(), {1}, f);
      if (c.bias == bias_form::full) b = tensor_view(bd.data(), {c.n}, f);
      const tensor_view* bp = c.bias == bias_form::none ? nullptr : &b;
      const ops::op_spec op(c.kind);
      const std::string label = c.label + (f == format_id::f32 ? ", f32" : ", f64");
      const auto t = magnitude_by_blocks(op, x, w, bp, 1, c.block_rows);
      ASSERT_TRUE(t.has_value()) << label;
      expect_above_exact(op, x, w, bp, *t, label);
      // Any thread count: the same doubles.
      for (const int threads : {2, 3, 8}) {
        const auto u = magnitude_by_blocks(op, x, w, bp, threads, c.block_rows);
        ASSERT_TRUE(u.has_value());
        expect_same(*t, *u, 0, label + ", threads " + std::to_string(threads));
      }
    }
}

// Views that are not contiguous: x transposed from a K x rows buffer, and W the transpose of a
// K x n buffer (linear) or of an n x K one (matmul); f32 storage.
TEST(MagnitudeByBlocks, AboveTheExactSumOnStridedViews) {
  std::mt19937_64 g(1406);
  const std::int64_t rows = 6, k = 530, n = 290;
  const std::vector<double> xd = values(rows * k, g, 1.0, format_id::f32);
  const std::vector<double> wd = values(n * k, g, 1.0, format_id::f32);
  const std::vector<double> bd = values(n, g, 1.0, format_id::f32);
  const std::vector<float> xf(xd.begin(), xd.end()), wf(wd.begin(), wd.end());
  const tensor_view x(xf.data(), {rows, k}, {1, rows});  // buffer k x rows
  ASSERT_FALSE(x.is_contiguous());
  const tensor_view b(bd.data(), {n}, format_id::f32);
  for (const ops::op_kind kind : {ops::op_kind::linear, ops::op_kind::matmul}) {
    const bool lin = kind == ops::op_kind::linear;
    // linear: W (n x k) over a k x n buffer; matmul: W (k x n) over an n x k buffer.
    const tensor_view w =
        lin ? tensor_view(wf.data(), {n, k}, {1, n}) : tensor_view(wf.data(), {k, n}, {1, k});
    ASSERT_FALSE(w.is_contiguous());
    const ops::op_spec op(kind);
    const std::string label = lin ? "linear, strided" : "matmul, strided";
    for (const std::int64_t per_call : {0, 4})
      for (const int threads : {1, 2}) {
        const auto t = magnitude_by_blocks(op, x, w, &b, threads, per_call);
        ASSERT_TRUE(t.has_value()) << label;
        expect_above_exact(op, x, w, &b, *t,
                           label + ", threads " + std::to_string(threads) + ", rows per call " +
                               std::to_string(per_call));
      }
  }
}

// f64 data whose products underflow (|x|, |w| near 2^-540: products near 2^-1080, below the
// normal range) and data near the top of the range (products near 2^1000): T stays above the
// exact sum (the L 2^-1074 term covers the underflow).
TEST(MagnitudeByBlocks, AboveTheExactSumForUnderflowingAndHugeProducts) {
  std::mt19937_64 g(1407);
  const std::int64_t rows = 3, k = 300, n = 270;
  for (const double scale : {0x1p-540, 0x1p-530, 0x1p500}) {
    const std::vector<double> xd = values(rows * k, g, scale, format_id::f64);
    const std::vector<double> wd = values(n * k, g, scale, format_id::f64);
    const std::vector<double> bd = values(n, g, scale, format_id::f64);
    const tensor_view x(xd.data(), {rows, k}), w(wd.data(), {n, k}), b(bd.data(), {n});
    const ops::op_spec op(ops::op_kind::linear);
    for (const std::int64_t per_call : {0, 2}) {
      const auto t = magnitude_by_blocks(op, x, w, &b, 2, per_call);
      ASSERT_TRUE(t.has_value());
      expect_above_exact(op, x, w, &b, *t,
                         "scale 2^" + std::to_string(std::ilogb(scale)) + ", rows per call " +
                             std::to_string(per_call),
                         4400);
    }
  }
}

// check.cpp's blocked judging forms each block of rows (a multiple of the rows per DGEMM call)
// as its own problem with the whole problem's rows per call and rows: its T must be the whole
// pass's (a block of one call, or the short last block, would otherwise take |W| in panels).
TEST(MagnitudeByBlocks, ABlockOfWholeCallsGetsTheWholePassValues) {
  std::mt19937_64 g(1408);
  const std::int64_t rows = 11, k = 600, n = 300, per_call = 2;
  const std::vector<double> xd = values(rows * k, g, 1.0, format_id::f32);
  const std::vector<double> wd = values(n * k, g, 1.0, format_id::f32);
  const std::vector<double> bd = values(n, g, 1.0, format_id::f32);
  const tensor_view b(bd.data(), {n}, format_id::f32);
  for (const ops::op_kind kind : {ops::op_kind::linear, ops::op_kind::matmul}) {
    const ops::op_spec op(kind);
    const std::vector<std::int64_t> w_shape = kind == ops::op_kind::linear
                                                  ? std::vector<std::int64_t>{n, k}
                                                  : std::vector<std::int64_t>{k, n};
    const tensor_view w(wd.data(), w_shape, format_id::f32);
    const auto whole = magnitude_by_blocks(op, tensor_view(xd.data(), {rows, k}, format_id::f32), w,
                                           &b, 2, per_call);
    ASSERT_TRUE(whole.has_value());
    // Blocks of 2, 4 and 6 rows, the last one short (11 rows).
    for (const std::int64_t block : {2, 4, 6})
      for (std::int64_t r0 = 0; r0 < rows; r0 += block) {
        const std::int64_t m = std::min(block, rows - r0);
        const tensor_view xb(xd.data() + r0 * k, {m, k}, format_id::f32);
        for (const int threads : {1, 2}) {
          const auto part = magnitude_by_blocks(op, xb, w, &b, threads, per_call, rows);
          ASSERT_TRUE(part.has_value());
          expect_same(*whole, *part, r0 * n,
                      std::string(kind == ops::op_kind::linear ? "linear" : "matmul") + ", rows " +
                          std::to_string(r0) + ".." + std::to_string(r0 + m) + ", threads " +
                          std::to_string(threads));
        }
      }
  }
}

// The one-call case (rows within one call: the native kernels' path, exact::abs_product_sum,
// where a native kernel runs): any block of rows, passed with the whole problem's rows, gets the
// whole pass's T, whatever its size against the kernel's row tile (1, 3, 5, 8, 9 rows). With
// ROUNDOFF_EXACT_KERNEL=blas (OpenBLAS, whose kernel choice depends on the rows of a call) only
// the whole pass is checked: check.cpp cuts rows at whole calls there.
TEST(MagnitudeByBlocks, OneCallRowsGetTheWholePassValuesInAnyBlock) {
  std::mt19937_64 g(1409);
  const std::int64_t rows = 26, k = 531, n = 61;
  const std::vector<double> xd = values(rows * k, g, 1.0, format_id::f32);
  const std::vector<double> wd = values(n * k, g, 1.0, format_id::f32);
  const std::vector<double> bd = values(n, g, 1.0, format_id::f32);
  const std::vector<float> xf(xd.begin(), xd.end()), wf(wd.begin(), wd.end());
  const tensor_view b(bd.data(), {n}, format_id::f32);
  for (const ops::op_kind kind : {ops::op_kind::linear, ops::op_kind::matmul}) {
    const ops::op_spec op(kind);
    const bool lin = kind == ops::op_kind::linear;
    const std::vector<std::int64_t> w_shape =
        lin ? std::vector<std::int64_t>{n, k} : std::vector<std::int64_t>{k, n};
    const tensor_view w(wf.data(), w_shape);
    const tensor_view x(xf.data(), {rows, k});
    const auto whole = magnitude_by_blocks(op, x, w, &b, 1);
    ASSERT_TRUE(whole.has_value());
    expect_above_exact(op, x, w, &b, *whole, lin ? "linear, one call" : "matmul, one call");
    if (std::string_view(exact::gemm_exact_kernel()) == "openblas") continue;
    for (const std::int64_t block : {1, 3, 5, 8, 9})
      for (std::int64_t r0 = 0; r0 < rows; r0 += block) {
        const std::int64_t m = std::min(block, rows - r0);
        const tensor_view xb(xf.data() + r0 * k, {m, k});
        for (const int threads : {1, 2, 5}) {
          const auto part = magnitude_by_blocks(op, xb, w, &b, threads, 0, rows);
          ASSERT_TRUE(part.has_value());
          expect_same(*whole, *part, r0 * n,
                      std::string(lin ? "linear" : "matmul") + ", rows " + std::to_string(r0) +
                          ".." + std::to_string(r0 + m) + ", threads " + std::to_string(threads));
        }
      }
  }
}

// Inf and NaN in x or W (one call and many): T is +Inf or NaN exactly where the exact sum is
// undefined or infinite (a row of x, a column of W holding one), and finite elsewhere.
TEST(MagnitudeByBlocks, InfAndNanMakeTheirRowsAndColumnsNonFinite) {
  std::mt19937_64 g(1410);
  const std::int64_t rows = 10, k = 300, n = 50;
  std::vector<double> xd = values(rows * k, g, 1.0, format_id::f64);
  std::vector<double> wd = values(n * k, g, 1.0, format_id::f64);
  xd[3 * k + 17] = std::numeric_limits<double>::infinity();
  xd[7 * k + 290] = std::numeric_limits<double>::quiet_NaN();
  wd[29 * k + 5] = -std::numeric_limits<double>::infinity();
  const tensor_view x(xd.data(), {rows, k}), w(wd.data(), {n, k});
  const ops::op_spec op(ops::op_kind::linear);
  for (const std::int64_t per_call : {0, 3})
    for (const int threads : {1, 2}) {
      const auto t = magnitude_by_blocks(op, x, w, nullptr, threads, per_call);
      ASSERT_TRUE(t.has_value());
      for (std::int64_t i = 0; i < rows; ++i)
        for (std::int64_t j = 0; j < n; ++j) {
          const double v = (*t)[static_cast<std::size_t>(i * n + j)];
          const std::string at = "rows per call " + std::to_string(per_call) + ", threads " +
                                 std::to_string(threads) + ", element (" + std::to_string(i) +
                                 ", " + std::to_string(j) + ")";
          if (i == 7)
            EXPECT_TRUE(std::isnan(v)) << at << ": " << v;
          else if (i == 3 || j == 29)
            EXPECT_TRUE(v == std::numeric_limits<double>::infinity()) << at << ": " << v;
          else
            EXPECT_TRUE(std::isfinite(v)) << at << ": " << v;
        }
    }
}

}  // namespace
