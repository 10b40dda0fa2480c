// exact::abs_product_sum: T = |bias| + |A| |B|^T in floating point on the native micro-kernels
// (not exact; docs/bounds.md §3.5). |.| is taken while A and B are packed into the kernel's
// panels, so B (the weights) is read once, with no copy before the packing.
#include "roundoff/exact/abs_product.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <thread>
#include <vector>

#include "roundoff/exact/gemm.hpp"

#define ROUNDOFF_EXACT_INTERNAL 1
#include "detail/gemm_kernel.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define ROUNDOFF_ABS_AVX2 1
#endif

namespace roundoff::exact {

namespace {

using i64 = std::int64_t;

template <class T>
double abs_at(const T* base, i64 at) noexcept {
  return std::fabs(static_cast<double>(base[at]));
}

// out[kk * width + r] = |op(r0 + r, k0 + kk)| for r < rows, 0 for rows <= r < width, kk < kc:
// one panel of the kernel's packed layout ([k][width]).
template <class T>
void pack_generic(const T* base, i64 rs, i64 cs, i64 r0, i64 rows, int width, i64 k0, i64 kc,
                  double* out) noexcept {
  for (i64 kk = 0; kk < kc; ++kk) {
    double* o = out + kk * width;
    const T* col = base + (k0 + kk) * cs + r0 * rs;
    if (rs == 1)
      for (i64 r = 0; r < rows; ++r) o[r] = std::fabs(static_cast<double>(col[r]));
    else
      for (i64 r = 0; r < rows; ++r) o[r] = abs_at(col, r * rs);
    for (i64 r = rows; r < width; ++r) o[r] = 0.0;
  }
}

#if defined(ROUNDOFF_ABS_AVX2)
__attribute__((target("avx2"), always_inline)) inline __m256d load4(const double* p) {
  return _mm256_loadu_pd(p);
}
__attribute__((target("avx2"), always_inline)) inline __m256d load4(const float* p) {
  return _mm256_cvtps_pd(_mm_loadu_ps(p));
}

// pack_generic for a full panel (rows == width) of rows with unit column stride: 4 rows by 4
// columns at a time, transposed in registers (the same values, only moved).
template <class T>
__attribute__((target("avx2"))) void pack_rows_avx2(const T* base, i64 rs, i64 r0, int width,
                                                    i64 k0, i64 kc, double* out) noexcept {
  const __m256d sign = _mm256_set1_pd(-0.0);
  for (int g = 0; g < width; g += 4) {
    const T* x0 = base + (r0 + g) * rs + k0;
    const T* x1 = x0 + rs;
    const T* x2 = x1 + rs;
    const T* x3 = x2 + rs;
    i64 kk = 0;
    for (; kk + 4 <= kc; kk += 4) {
      const __m256d a0 = _mm256_andnot_pd(sign, load4(x0 + kk));
      const __m256d a1 = _mm256_andnot_pd(sign, load4(x1 + kk));
      const __m256d a2 = _mm256_andnot_pd(sign, load4(x2 + kk));
      const __m256d a3 = _mm256_andnot_pd(sign, load4(x3 + kk));
      const __m256d t0 = _mm256_unpacklo_pd(a0, a1), t1 = _mm256_unpackhi_pd(a0, a1);
      const __m256d t2 = _mm256_unpacklo_pd(a2, a3), t3 = _mm256_unpackhi_pd(a2, a3);
      double* o = out + kk * width + g;
      _mm256_storeu_pd(o, _mm256_permute2f128_pd(t0, t2, 0x20));
      _mm256_storeu_pd(o + width, _mm256_permute2f128_pd(t1, t3, 0x20));
      _mm256_storeu_pd(o + 2 * width, _mm256_permute2f128_pd(t0, t2, 0x31));
      _mm256_storeu_pd(o + 3 * width, _mm256_permute2f128_pd(t1, t3, 0x31));
    }
    for (; kk < kc; ++kk) {
      double* o = out + kk * width + g;
      o[0] = std::fabs(static_cast<double>(x0[kk]));
      o[1] = std::fabs(static_cast<double>(x1[kk]));
      o[2] = std::fabs(static_cast<double>(x2[kk]));
      o[3] = std::fabs(static_cast<double>(x3[kk]));
    }
  }
}

// The same for rows with unit row stride (matmul's W): each column's `width` values are
// consecutive, 4 at a time.
template <class T>
__attribute__((target("avx2"))) void pack_columns_avx2(const T* base, i64 cs, i64 r0, int width,
                                                       i64 k0, i64 kc, double* out) noexcept {
  const __m256d sign = _mm256_set1_pd(-0.0);
  for (i64 kk = 0; kk < kc; ++kk) {
    const T* col = base + (k0 + kk) * cs + r0;
    double* o = out + kk * width;
    for (int r = 0; r < width; r += 4)
      _mm256_storeu_pd(o + r, _mm256_andnot_pd(sign, load4(col + r)));
  }
}
#endif

template <class T>
void pack_typed(const T* base, i64 rs, i64 cs, i64 r0, i64 rows, int width, i64 k0, i64 kc,
                double* out) noexcept {
#if defined(ROUNDOFF_ABS_AVX2)
  // A native kernel runs only on CPUs with AVX2 (detail::native::chosen).
  if (cs == 1 && rows == width && width % 4 == 0) {
    pack_rows_avx2(base, rs, r0, width, k0, kc, out);
    return;
  }
  if (rs == 1 && rows == width && width % 4 == 0) {
    pack_columns_avx2(base, cs, r0, width, k0, kc, out);
    return;
  }
#endif
  pack_generic(base, rs, cs, r0, rows, width, k0, kc, out);
}

void pack(const abs_operand& op, i64 r0, i64 rows, int width, i64 k0, i64 kc, double* out) {
  if (op.is_float)
    pack_typed(static_cast<const float*>(op.data), op.row_stride, op.col_stride, r0, rows, width,
               k0, kc, out);
  else
    pack_typed(static_cast<const double*>(op.data), op.row_stride, op.col_stride, r0, rows, width,
               k0, kc, out);
}

}  // namespace

bool abs_product_sum(std::int64_t m, std::int64_t n, std::int64_t k, const abs_operand& a,
                     const abs_operand& b, const double* bias, double* t, int threads,
                     const std::function<void(double*, std::int64_t)>& finish) {
  const detail::native::micro_kernel* kernel = detail::native::chosen();
  if (kernel == nullptr) return false;
  if (m <= 0 || n <= 0) return true;
  const int mr = kernel->mr, nr = kernel->nr;
  // The depth of the pieces is the kernel's alone (never m's or the threads'), so each output's
  // chain of operations is fixed by (kernel, k).
  const i64 depth = kernel->kb;
  const i64 row_tiles = (m + mr - 1) / mr, col_tiles = (n + nr - 1) / nr;
  const i64 padded = row_tiles * mr;
  const int nthreads = engine_threads(threads);

  // |A| packed whole: the piece [k0, k0 + kc) of row tile it at k0 * padded + it * mr * kc.
  // One pass of the workers (a second would wait for them to wake again): items [0, row_tiles)
  // pack |A|'s row tiles; the later ones, (group of up to 256 rows, one column tile of nr
  // outputs), each pack their B micro-panel piece by piece and run the kernel on every row tile
  // of the group, adding into T (which starts as |bias|) piece after piece. A thread that takes
  // a later item waits until |A| is packed: every packing item is then already taken by a
  // running thread, which waits for nothing.
  std::vector<double> apack(static_cast<std::size_t>(padded * std::max<i64>(k, 1)));
  std::atomic<i64> packed{0};
  const i64 group_tiles = std::max<i64>(1, 256 / mr);
  const i64 groups = (row_tiles + group_tiles - 1) / group_tiles;
  const i64 items = row_tiles + groups * col_tiles;
  run_on_engine_workers(
      static_cast<int>(std::min<i64>(nthreads, groups * col_tiles)), items,
      [&](std::atomic<i64>& next, i64 count) {
        std::vector<double> bpanel, tile;
        for (i64 q; (q = next.fetch_add(1)) < count;) {
          if (q < row_tiles) {
            for (i64 k0 = 0; k0 < k; k0 += depth) {
              const i64 kc = std::min(depth, k - k0);
              pack(a, q * mr, std::min<i64>(mr, m - q * mr), mr, k0, kc,
                   apack.data() + k0 * padded + q * mr * kc);
            }
            packed.fetch_add(1, std::memory_order_release);
            continue;
          }
          while (packed.load(std::memory_order_acquire) < row_tiles) std::this_thread::yield();
          if (bpanel.empty()) {
            bpanel.resize(static_cast<std::size_t>(nr * depth));
            tile.resize(static_cast<std::size_t>(mr) * static_cast<std::size_t>(nr));
          }
          const i64 jt = (q - row_tiles) % col_tiles, g = (q - row_tiles) / col_tiles;
          const i64 j0 = jt * nr, nb = std::min<i64>(nr, n - j0);
          const i64 it0 = g * group_tiles, it1 = std::min(row_tiles, it0 + group_tiles);
          for (i64 i = it0 * mr; i < std::min(m, it1 * mr); ++i)
            for (i64 j = 0; j < nb; ++j) t[i * n + j0 + j] = bias ? std::fabs(bias[j0 + j]) : 0.0;
          for (i64 k0 = 0; k0 < k; k0 += depth) {
            const i64 kc = std::min(depth, k - k0);
            pack(b, j0, nb, nr, k0, kc, bpanel.data());
            for (i64 it = it0; it < it1; ++it) {
              const i64 i0 = it * mr, mb = std::min<i64>(mr, m - i0);
              const double* ap = apack.data() + k0 * padded + it * mr * kc;
              double* c = t + i0 * n + j0;
              if (mb == mr && nb == nr) {
                kernel->run(kc, ap, bpanel.data(), c, n, true);
                continue;
              }
              // An edge tile: through a full mr x nr tile (the padding lanes compute zeros
              // that are dropped; each kept lane computes what it would in place).
              for (i64 i = 0; i < mb; ++i)
                for (i64 j = 0; j < nb; ++j) tile[i * nr + j] = c[i * n + j];
              kernel->run(kc, ap, bpanel.data(), tile.data(), nr, true);
              for (i64 i = 0; i < mb; ++i)
                for (i64 j = 0; j < nb; ++j) c[i * n + j] = tile[i * nr + j];
            }
          }
          if (finish)
            for (i64 i = it0 * mr; i < std::min(m, it1 * mr); ++i) finish(t + i * n + j0, nb);
        }
      });
  return true;
}

}  // namespace roundoff::exact
