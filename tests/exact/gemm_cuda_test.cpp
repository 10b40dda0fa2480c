// gemm_exact on CUDA (docs/exact-gpu.md) against the CPU engine, bit for bit: random shapes,
// every input format and distribution (special values and subnormals among them), every bias
// and output layout, K up to 10^5, a device memory budget small enough to force many tiles, and
// the seed case. Label gpu: skips, saying why, where no CUDA device is available.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "gemm_problems.hpp"
#include "property.hpp"
#include "roundoff/exact/gemm.hpp"

namespace {

using namespace roundoff::test::gemm_problems;  // NOLINT(google-build-using-namespace)

#define ROUNDOFF_REQUIRE_CUDA()                                          \
  do {                                                                   \
    std::string why;                                                     \
    if (!device_available(device_kind::cuda, &why)) GTEST_SKIP() << why; \
  } while (0)

void expect_cuda_equals_cpu(const layout& L, std::size_t device_memory, i64 iter, int* failures) {
  engine_options gpu;
  gpu.device = device_kind::cuda;
  gpu.device_memory = device_memory;
  exact_tensor on_gpu({L.dest_size}), on_cpu({L.dest_size});
  gemm_exact(L.p, on_gpu, gpu);
  gemm_exact(L.p, on_cpu);
  expect_equal(L, on_gpu, on_cpu, iter, failures);
}

TEST(CudaEngine, EqualsCpuRandomShapes) {
  ROUNDOFF_REQUIRE_CUDA();
  auto g = roundoff::test::rng(0xc0da01);
  int failures = 0;
  for (i64 it = 0; it < roundoff::test::iterations(150) && failures == 0; ++it)
    expect_cuda_equals_cpu(make_problem(g, true), 0, it, &failures);
}

TEST(CudaEngine, EqualsCpuWithSmallDeviceMemory) {
  ROUNDOFF_REQUIRE_CUDA();
  auto g = roundoff::test::rng(0xc0da02);
  int failures = 0;
  for (i64 it = 0; it < roundoff::test::iterations(60) && failures == 0; ++it) {
    const layout L = make_problem(g, true);
    try {
      expect_cuda_equals_cpu(L, std::size_t{1} << 20, it, &failures);
    } catch (const std::runtime_error& e) {
      // Only a budget below one 1 x 1 tile (K chunks of 2048, 3 blocks) may refuse.
      EXPECT_NE(std::string(e.what()).find("1 x 1 tile"), std::string::npos) << e.what();
    }
  }
}

// K up to 10^5 in every format, with a per-column bias.
TEST(CudaEngine, LongKEveryFormat) {
  ROUNDOFF_REQUIRE_CUDA();
  auto g = roundoff::test::rng(0xc0da03);
  int failures = 0;
  for (const auto f :
       {roundoff::format_id::f32, roundoff::format_id::tf32, roundoff::format_id::bf16,
        roundoff::format_id::f16, roundoff::format_id::f64}) {
    for (const i64 k : {i64{65536}, i64{100003}}) {
      layout L;
      L.p.m = 7, L.p.n = 130, L.p.k = k, L.p.lda = k, L.p.ldb = k;
      L.a.resize(static_cast<std::size_t>(L.p.m * k));
      L.b.resize(static_cast<std::size_t>(L.p.n * k));
      L.bias.resize(static_cast<std::size_t>(L.p.n));
      generator gen{g, f, dist::normal};
      for (auto& x : L.a) x = gen();
      for (auto& x : L.b) x = gen();
      for (auto& x : L.bias) x = gen();
      L.p.a = L.a.data(), L.p.b = L.b.data(), L.p.bias = L.bias.data();
      L.p.bias_col_stride = 1, L.p.c_row_stride = L.p.n, L.p.c_col_stride = 1;
      L.dest_size = L.p.m * L.p.n;
      L.describe = std::string(roundoff::traits(f).name) + " k=" + std::to_string(k);
      expect_cuda_equals_cpu(L, 0, 0, &failures);
    }
  }
}

// The seed case: fp32 x [32, 2048], W [512, 2048], bias [512] (README), on the GPU.
TEST(CudaEngine, SeedCase) {
  ROUNDOFF_REQUIRE_CUDA();
  auto g = roundoff::test::rng(0xc0da04);
  layout L;
  L.p.m = 32, L.p.n = 512, L.p.k = 2048, L.p.lda = 2048, L.p.ldb = 2048;
  L.a.resize(32 * 2048), L.b.resize(512 * 2048), L.bias.resize(512);
  generator gen{g, roundoff::format_id::f32, dist::normal};
  for (auto& x : L.a) x = gen();
  for (auto& x : L.b) x = std::ldexp(gen(), -6);
  for (auto& x : L.bias) x = gen();
  L.p.a = L.a.data(), L.p.b = L.b.data(), L.p.bias = L.bias.data();
  L.p.bias_col_stride = 1, L.p.c_row_stride = 512, L.p.c_col_stride = 1;
  L.dest_size = 32 * 512;
  L.describe = "seed case";
  int failures = 0;
  expect_cuda_equals_cpu(L, 0, 0, &failures);
  std::printf("[seed] gemm_exact on CUDA equals the CPU engine on 32 x 2048 . 512 x 2048 + bias\n");
}

}  // namespace
