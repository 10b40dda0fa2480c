// The slicing kernels of the fast exact contraction (docs/exact-fast.md §2 step 3; its proof is
// §3, Lemma 1), compiled once per target clone (AVX2 and baseline x86-64).
#include <bit>
#include <cstdint>

#define ROUNDOFF_EXACT_INTERNAL 1
#include "detail/gemm_fast_split.hpp"

namespace roundoff::exact {

using i64 = std::int64_t;

namespace detail::split_kernels {
namespace {

// Compiled twice (AVX2 and baseline x86-64), picked at load time: the pass is bandwidth- and
// latency-bound, and 4-wide vectors halve its instruction count. Same IEEE operations either way.
// The clones stay in this file (GCC gives them internal linkage); the entry points below call
// them.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ROUNDOFF_SPLIT_CLONES [[gnu::target_clones("avx2", "default")]]
#else
#define ROUNDOFF_SPLIT_CLONES
#endif

ROUNDOFF_SPLIT_CLONES std::uint64_t max_abs_bits_cloned(const double* x, i64 n) noexcept {
  // Signed compare is the integer order here: the sign bit is cleared.
  std::int64_t mx = 0;
  for (i64 k = 0; k < n; ++k) {
    const auto b =
        static_cast<std::int64_t>(std::bit_cast<std::uint64_t>(x[k]) & 0x7fffffffffffffffULL);
    mx = b > mx ? b : mx;
  }
  return static_cast<std::uint64_t>(mx);
}
template <int S, bool Kara>
ROUNDOFF_SPLIT_CLONES slicer::result split_cloned(const slicer& sl, const double* x, i64 n,
                                                  double* const* out, double* res) {
  return body<S, Kara>(sl, x, n, out, res);
}

}  // namespace

std::uint64_t max_abs_bits(const double* x, i64 n) noexcept {
  return max_abs_bits_cloned(x, n);
}
slicer::result split1(const slicer& sl, const double* x, i64 n, double* const* out, double* res) {
  return split_cloned<1, false>(sl, x, n, out, res);
}
slicer::result split2(const slicer& sl, const double* x, i64 n, double* const* out, double* res) {
  return split_cloned<2, false>(sl, x, n, out, res);
}
slicer::result split2k(const slicer& sl, const double* x, i64 n, double* const* out, double* res) {
  return split_cloned<2, true>(sl, x, n, out, res);
}
slicer::result split3(const slicer& sl, const double* x, i64 n, double* const* out, double* res) {
  return split_cloned<3, false>(sl, x, n, out, res);
}
slicer::result split4(const slicer& sl, const double* x, i64 n, double* const* out, double* res) {
  return split_cloned<4, false>(sl, x, n, out, res);
}
}  // namespace detail::split_kernels

}  // namespace roundoff::exact
