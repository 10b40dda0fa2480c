// The native kernels' chunk-sum conversions (src/exact/gemm_kernel.cpp, docs/exact-fast.md
// Lemma 4): every conversion the build and CPU offer must add each integer-valued double to its
// int64 total exactly. The oracle is the int64 each double was made from. Values: the Lemma 2
// limit +-2^53 and its neighbours, the AVX2 conversion's split points (+-2^31, +-2^32 and odd
// multiples of 2^31, where its rounding to a multiple of 2^32 ties), random values of both signs
// below 2^53, and exactly representable values up to 2^62 (beyond what a chunk sum can be).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "property.hpp"

#define ROUNDOFF_EXACT_INTERNAL 1
#include "detail/gemm_kernel.hpp"

namespace {

namespace native = roundoff::exact::detail::native;
using i64 = std::int64_t;

std::vector<i64> limit_values(std::mt19937_64& g) {
  std::vector<i64> v;
  for (const int e : {0, 1, 31, 32, 33, 51, 52, 53})
    for (const i64 d : {i64{-1}, i64{0}, i64{1}}) {
      const i64 x = (i64{1} << e) + d;
      if (x <= (i64{1} << 53)) v.push_back(x), v.push_back(-x);
    }
  for (const i64 q : {i64{1}, i64{2}, i64{3}, i64{5}, (i64{1} << 21) - 1, (i64{1} << 21) + 1})
    for (const i64 d : {i64{-1}, i64{0}, i64{1}}) {  // q * 2^31 + d: ties of the 2^32 rounding
      const i64 x = q * (i64{1} << 31) + d;
      if (x <= (i64{1} << 53)) v.push_back(x), v.push_back(-x);
    }
  for (const int e : {54, 60, 62})  // representable: the low bits below 2^(e-52) are zero
    for (const i64 m : {i64{1}, (i64{1} << 52) - 1, (i64{1} << 51) + 3}) {
      const i64 x = m << (e - 52);
      if (x < (i64{1} << 62) + 1) v.push_back(x), v.push_back(-x);
    }
  std::uniform_int_distribution<i64> below(-(i64{1} << 53), i64{1} << 53);
  for (int t = 0; t < 200; ++t) v.push_back(below(g));
  std::shuffle(v.begin(), v.end(), g);
  return v;
}

TEST(ChunkSums, EveryConversionAddsExactly) {
  auto g = roundoff::test::rng(0xc5a2);
  const std::vector<native::chunk_sum_conversion> conversions = native::chunk_sum_conversions();
  std::string names;
  for (const auto& c : conversions) names += std::string(c.name) + " ";
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx2")) {
    EXPECT_NE(names.find("avx2"), std::string::npos) << names;
  }
#endif
  const std::vector<i64> values = limit_values(g);
  std::uniform_int_distribution<i64> start(-(i64{1} << 61), i64{1} << 61);
  const i64 iters = roundoff::test::iterations(50);
  for (i64 it = 0; it < iters; ++it) {
    // rows x ld, converted over columns [j0, j1): every tail length of 4- and 8-lane loops.
    const i64 rows = 1 + static_cast<i64>(g() % 4), ld = 1 + static_cast<i64>(g() % 23);
    const i64 j0 = static_cast<i64>(g() % static_cast<std::uint64_t>(ld));
    const i64 j1 = j0 + static_cast<i64>(g() % static_cast<std::uint64_t>(ld - j0 + 1));
    std::vector<i64> x(static_cast<std::size_t>(rows * ld)), sums0(x.size());
    std::vector<double> c(x.size());
    for (std::size_t t = 0; t < x.size(); ++t) {
      x[t] = values[static_cast<std::size_t>(g() % values.size())];
      c[t] = static_cast<double>(x[t]);
      ASSERT_EQ(static_cast<i64>(c[t]), x[t]) << "test value not representable: " << x[t];
      // Totals stay inside int64: a start below 2^61 only with values below 2^61.
      const bool big = x[t] > (i64{1} << 61) || x[t] < -(i64{1} << 61);
      sums0[t] = big ? 0 : start(g);
    }
    for (const auto& conv : conversions) {
      std::vector<i64> sums = sums0;
      conv.add(c.data(), sums.data(), rows, ld, j0, j1);
      for (i64 r = 0; r < rows; ++r)
        for (i64 j = 0; j < ld; ++j) {
          const auto t = static_cast<std::size_t>(r * ld + j);
          const i64 want = j >= j0 && j < j1 ? sums0[t] + x[t] : sums0[t];
          ASSERT_EQ(sums[t], want) << conv.name << ": row " << r << " column " << j << " of "
                                   << rows << " x " << ld << ", columns [" << j0 << ", " << j1
                                   << "), value " << x[t] << "; " << roundoff::test::replay(it);
        }
    }
  }
}

// The kernel forced by ROUNDOFF_EXACT_KERNEL=avx2 converts as on an AVX2 CPU (the AVX2 code, not
// AVX-512DQ), so its ctest runs (".avx2") exercise that conversion.
TEST(ChunkSums, ForcedAvx2KernelUsesTheAvx2Conversion) {
  const char* before = std::getenv("ROUNDOFF_EXACT_KERNEL");
  const std::string saved = before != nullptr ? before : "";
  setenv("ROUNDOFF_EXACT_KERNEL", "avx2", 1);
  const native::micro_kernel* k = native::chosen();
  if (before != nullptr)
    setenv("ROUNDOFF_EXACT_KERNEL", saved.c_str(), 1);
  else
    unsetenv("ROUNDOFF_EXACT_KERNEL");
  if (k == nullptr) GTEST_SKIP() << "no AVX2 kernel on this CPU or build";
  EXPECT_STREQ(k->name, "native-avx2");
  bool found = false;
  for (const auto& c : native::chunk_sum_conversions())
    if (std::string(c.name) == "avx2") {
      found = true;
      EXPECT_EQ(k->add_chunk_sums, c.add);
    }
  EXPECT_TRUE(found);
}

}  // namespace
