// The device orchestration of gemm_exact (docs/exact-gpu.md) on the CPU: the slice products
// through the slice_products interface with the OpenBLAS implementation, in tiles cut to a stated
// memory budget. Results must equal gemm_exact_simple and the MPFR oracle bit for bit; every
// product call must fit the budget; a device that returns a non-integer or out-of-range sum must
// be caught (unsupported_error), and a budget below one tile refused (resource_error). Also:
// without a CUDA device, device_kind::cuda says so in one line (unsupported_error).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gemm_problems.hpp"
#include "property.hpp"
#include "roundoff/error.hpp"
#include "roundoff/exact/gemm.hpp"
#include "roundoff/exact/mpfr_oracle.hpp"

#define ROUNDOFF_EXACT_INTERNAL 1
#include "detail/gemm_plan.hpp"
#include "detail/slice_products.hpp"

namespace {

using namespace roundoff::test::gemm_problems;  // NOLINT(google-build-using-namespace)
namespace detail = roundoff::exact::detail;

/// Forwards to an implementation, checking each call against the budget and counting calls;
/// `fault` (when set) corrupts one value of the n-th call.
class recording_products final : public detail::slice_products {
 public:
  explicit recording_products(std::size_t memory)
      : inner_(detail::make_blas_slice_products(memory)) {}
  const char* name() const noexcept override { return "recording"; }
  std::size_t memory_bytes() const noexcept override { return inner_->memory_bytes(); }
  void multiply(i64 rows_a, i64 rows_b, i64 kn, const double* a, const double* b,
                double* c) override {
    const auto bytes = 8 * static_cast<std::size_t>(rows_a * kn + rows_b * kn + rows_a * rows_b);
    EXPECT_LE(bytes, memory_bytes()) << rows_a << " x " << rows_b << " x " << kn;
    inner_->multiply(rows_a, rows_b, kn, a, b, c);
    if (calls == fault_call && rows_a * rows_b > 0) {
      double& v = c[rows_a * rows_b / 2];
      v = std::trunc(fault_value) == fault_value && std::fabs(fault_value) < 8 ? v + fault_value
                                                                               : fault_value;
    }
    ++calls;
  }
  i64 calls = 0;
  i64 fault_call = -1;
  double fault_value = 0;

 private:
  std::unique_ptr<detail::slice_products> inner_;
};

void run_device_property(std::uint64_t salt, i64 base_iters, bool with_mpfr) {
  auto g = roundoff::test::rng(salt);
  const i64 iters = roundoff::test::iterations(base_iters);
  int failures = 0;
  for (i64 it = 0; it < iters && failures == 0; ++it) {
    layout L = make_problem(g, true);
    // From a budget that forces 1 x 1 tiles on long K up to one that holds whole problems.
    const std::size_t memory =
        static_cast<std::size_t>(pick(g, {1 << 16, 1 << 18, 1 << 20, 1 << 26}));
    recording_products products(memory);
    const int threads = static_cast<int>(pick(g, {1, 2, 3}));
    exact_tensor device({L.dest_size}), simple({L.dest_size});
    try {
      detail::gemm_exact_with(L.p, device, threads, products);
    } catch (const roundoff::resource_error& e) {
      // Only a budget below one 1 x 1 tile may refuse, and it must say so.
      const detail::plan pl = detail::choose_plan(L.p);
      EXPECT_GT(detail::tile_product_bytes(pl, 1, 1), memory) << e.what();
      EXPECT_NE(std::string(e.what()).find("1 x 1 tile"), std::string::npos) << e.what();
      continue;
    }
    gemm_exact_simple(L.p, simple);
    expect_equal(L, device, simple, it, &failures);
    if (!with_mpfr || L.p.batch * L.p.m * L.p.n * L.p.k > 40000 || failures) continue;
    expect_equal_mpfr(L, device, "device memory=" + std::to_string(memory), it, &failures);
  }
}

TEST(DeviceEngine, EqualsSimpleRandomShapes) {
  run_device_property(0xde71ce01, 120, false);
}

TEST(DeviceEngine, EqualsMpfrOnSmallProblems) {
  run_device_property(0xde71ce02, 100, true);
}

// A budget of a few tiles' worth: many product calls, each within the budget, same result as
// the CPU engine (native or OpenBLAS) on the seed shape (fp32, 32 x 2048 by 96 x 2048, bias).
TEST(DeviceEngine, SmallMemoryManyTilesSeedShape) {
  auto g = roundoff::test::rng(0xde71ce03);
  const i64 m = 32, n = 96, k = 2048;
  std::vector<double> a(m * k), b(n * k), bias(n);
  std::normal_distribution<double> nd;
  for (auto& x : a) x = static_cast<float>(nd(g));
  for (auto& x : b) x = static_cast<float>(nd(g) * 0.02);
  for (auto& x : bias) x = static_cast<float>(nd(g));
  gemm_problem p;
  p.m = m, p.n = n, p.k = k, p.a = a.data(), p.lda = k, p.b = b.data(), p.ldb = k;
  p.bias = bias.data(), p.bias_col_stride = 1, p.c_row_stride = n, p.c_col_stride = 1;
  const detail::plan pl = detail::choose_plan(p);
  ASSERT_TRUE(pl.karatsuba) << "the seed shape's fp32 plan is Karatsuba (docs/exact-fast.md)";
  const std::size_t memory = detail::tile_product_bytes(pl, 8, 16);
  const detail::tile_shape t = detail::choose_device_tiles(p, pl, 2, memory);
  EXPECT_LE(detail::tile_product_bytes(pl, t.rows, t.columns), memory);
  EXPECT_GE(t.count, 12);
  recording_products products(memory);
  exact_tensor device({m * n}), cpu({m * n});
  detail::gemm_exact_with(p, device, 2, products);
  gemm_exact(p, cpu, engine_options{2});
  EXPECT_EQ(products.calls, 3 * t.count);  // Karatsuba: three products per tile and chunk
  for (i64 c = 0; c < m * n; ++c) {
    ASSERT_TRUE(same_double(device.rounded(c), cpu.rounded(c))) << c;
    ASSERT_TRUE(same_double(device.abs_diff(c, 0.0), cpu.abs_diff(c, 0.0))) << c;
  }
}

// Tiles cover the output, and one tile's product fits the budget, for budgets from one 1 x 1
// tile's worth upwards; below that, a clear refusal.
TEST(DeviceEngine, TilesFitTheBudget) {
  auto g = roundoff::test::rng(0xde71ce04);
  for (i64 it = 0; it < roundoff::test::iterations(100); ++it) {
    layout L = make_problem(g, true);
    if (L.p.m == 0 || L.p.n == 0 || L.p.k == 0) continue;
    const detail::plan pl = detail::choose_plan(L.p);
    if (pl.path == detail::plan::path_kind::simple) continue;
    const std::size_t least = detail::tile_product_bytes(pl, 1, 1);
    std::uniform_int_distribution<int> shift(0, 24);
    const std::size_t memory = least << shift(g);
    const int threads = static_cast<int>(pick(g, {1, 2, 16}));
    const detail::tile_shape t = detail::choose_device_tiles(L.p, pl, threads, memory);
    EXPECT_LE(detail::tile_product_bytes(pl, t.rows, t.columns), memory) << L.describe;
    EXPECT_GE(t.rows * t.row_tiles, L.p.m) << L.describe;
    EXPECT_LT((t.row_tiles - 1) * t.rows, L.p.m) << L.describe;
    EXPECT_GE(t.columns * t.column_tiles, L.p.n) << L.describe;
    EXPECT_LT((t.column_tiles - 1) * t.columns, L.p.n) << L.describe;
    EXPECT_EQ(t.count, L.p.batch * t.row_tiles * t.column_tiles);
    EXPECT_THROW(detail::choose_device_tiles(L.p, pl, threads, least - 1),
                 roundoff::resource_error);
  }
}

// The exactness conditions every device relies on (docs/exact-fast.md, Lemmas 2 and 4), for the
// plans the planner picks on random problems: the sum of |products| over a chunk is at most
// 2^53 (plain: kc * 2^(wa + wb); Karatsuba: kc * beta^2, Lemma 2's block bound), chunks cover K, at
// most 512 chunks, and the slices fit the slicer.
TEST(DeviceEngine, PlansSatisfyTheExactnessConditions) {
  auto g = roundoff::test::rng(0xde71ce06);
  int fast = 0;
  for (i64 it = 0; it < roundoff::test::iterations(150); ++it) {
    const layout L = make_problem(g, true);
    if (L.p.m == 0 || L.p.n == 0 || L.p.k == 0) continue;
    const detail::plan pl = detail::choose_plan(L.p);
    if (pl.path == detail::plan::path_kind::simple) continue;
    ++fast;
    const double kc = static_cast<double>(pl.chunk_length);
    if (pl.karatsuba) {
      EXPECT_EQ(pl.width_a, pl.width_b) << L.describe;
      // Lemma 2: a block (a slice or the sum of two) is at most beta = max(2^t + 2^(w-1), 2^w),
      // t the top slice's width (width_a when top_width is 0).
      const int t = pl.top_width != 0 ? pl.top_width : pl.width_a;
      EXPECT_LE(t, pl.width_a) << L.describe;
      const double beta = std::max(std::ldexp(1.0, t) + std::ldexp(1.0, pl.width_a - 1),
                                   std::ldexp(1.0, pl.width_a));
      EXPECT_LE(kc * beta * beta, 0x1p53) << L.describe;
    } else {
      EXPECT_LE(kc * std::ldexp(1.0, pl.width_a + pl.width_b), 0x1p53) << L.describe;
    }
    EXPECT_GE(pl.width_a, 1);
    EXPECT_LE(pl.width_a, 51);
    EXPECT_GE(pl.width_b, 1);
    EXPECT_LE(pl.width_b, 51);
    EXPECT_LE(pl.slices_a, 8);
    EXPECT_LE(pl.slices_b, 8);
    EXPECT_GE(pl.chunk_length * pl.chunks, L.p.k) << L.describe;
    EXPECT_LT(pl.chunk_length * (pl.chunks - 1), L.p.k) << L.describe;
    EXPECT_LE(pl.chunks, 512) << L.describe;
  }
  EXPECT_GT(fast, 0);
}

// A device whose sums are not the exact integers of Lemma 2 is caught, not trusted: a
// fraction, a sum past 2^53, a NaN, and a wrong integer (Freivalds' check) each make
// gemm_exact_with throw, naming the device.
TEST(DeviceEngine, InexactProductsAreDetected) {
  const i64 m = 5, n = 7, k = 300;
  std::vector<double> a(m * k), b(n * k);
  auto g = roundoff::test::rng(0xde71ce05);
  std::normal_distribution<double> nd;
  for (auto& x : a) x = static_cast<float>(nd(g));
  for (auto& x : b) x = static_cast<float>(nd(g));
  gemm_problem p;
  p.m = m, p.n = n, p.k = k, p.a = a.data(), p.lda = k, p.b = b.data(), p.ldb = k;
  p.c_row_stride = n, p.c_col_stride = 1;
  // 1.0 and -3.0 added to a correct integer: an integer of the right size, but the wrong one.
  for (const double bad : {0.5, 0x1p54, std::nan(""), 1.0, -3.0}) {
    recording_products products(1 << 20);
    products.fault_call = 0, products.fault_value = bad;
    exact_tensor dest({m * n});
    try {
      detail::gemm_exact_with(p, dest, 1, products);
      ADD_FAILURE() << "a corrupted product " << bad << " was accepted";
    } catch (const roundoff::unsupported_error& e) {
      EXPECT_NE(std::string(e.what()).find("recording"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("not exact"), std::string::npos) << e.what();
    }
  }
}

// A call over the budget the implementation was made with breaks the caller's contract: a bug in
// roundoff (internal_error), not a device or input condition.
TEST(DeviceEngine, BlasProductsOverBudgetIsAnInternalError) {
  auto products = detail::make_blas_slice_products(64);
  std::vector<double> a(4, 1.0), b(4, 1.0), c(4, 0.0);
  // 8 * (2*2 + 2*2 + 2*2) = 96 bytes > 64.
  EXPECT_THROW(products->multiply(2, 2, 2, a.data(), b.data(), c.data()), roundoff::internal_error);
}

// Without a CUDA device (or without CUDA in the build) the cuda device says so in one line,
// and gemm_exact refuses rather than falling back silently. Skipped where a device exists.
TEST(DeviceEngine, CudaUnavailableSaysSo) {
  std::string reason;
  if (device_available(device_kind::cuda, &reason)) GTEST_SKIP() << "a CUDA device is present";
  EXPECT_EQ(reason.rfind("no CUDA device available (", 0), 0u) << reason;
  EXPECT_EQ(reason.find('\n'), std::string::npos) << reason;
  EXPECT_TRUE(device_available(device_kind::cpu));
  std::vector<double> a{1, 2}, b{3, 4};
  gemm_problem p;
  p.m = 1, p.n = 1, p.k = 2, p.a = a.data(), p.lda = 2, p.b = b.data(), p.ldb = 2;
  exact_tensor dest({1});
  engine_options opt;
  opt.device = device_kind::cuda;
  try {
    gemm_exact(p, dest, opt);
    ADD_FAILURE() << "gemm_exact ran on a missing CUDA device";
  } catch (const roundoff::unsupported_error& e) {  // a valid request this machine cannot serve
    EXPECT_EQ(std::string(e.what()), reason);
  }
}

}  // namespace
