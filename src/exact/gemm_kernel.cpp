// Native packed-panel kernels of the fast exact contraction (x86-64: AVX-512F, and AVX2 + FMA).
// The argument that they are exact is the DGEMM one (docs/exact-fast.md, Lemma 2): a kernel only
// multiplies and adds integer-valued doubles whose partial sums never exceed 2^53.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <vector>

#define ROUNDOFF_EXACT_INTERNAL 1
#include "detail/gemm_kernel.hpp"
#include "roundoff/error.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define ROUNDOFF_NATIVE_KERNEL 1
#include <immintrin.h>
#define ROUNDOFF_AVX2 __attribute__((target("avx2,fma")))
#define ROUNDOFF_AVX2_INLINE __attribute__((target("avx2,fma"), always_inline)) inline
#define ROUNDOFF_AVX512 __attribute__((target("avx512f")))
#define ROUNDOFF_AVX512_INLINE __attribute__((target("avx512f"), always_inline)) inline
#endif

namespace roundoff::exact::detail::native {

using i64 = std::int64_t;

// Exact for integer-valued doubles below 2^63 (the conversion truncates, which changes no
// integer).
void add_chunk_sums_scalar(const double* c, i64* sums, i64 rows, i64 ld, i64 j0, i64 j1) noexcept {
  for (i64 r = 0; r < rows; ++r)
    for (i64 j = j0; j < j1; ++j) sums[r * ld + j] += static_cast<i64>(c[r * ld + j]);
}

#if defined(ROUNDOFF_NATIVE_KERNEL)

namespace {

// One column k of one row, by the operations of slicer::split (top slice first). Used for
// the columns left over after the 4-wide loop.
void split_scalar(const slicer& sl, int slices, bool karatsuba, double x, double* const* out,
                  i64 at, double& residual) noexcept {
  double v[slicer::max_slices];
  for (int a = slices - 1; a >= 0; --a) {
    const double h = (x + sl.c[a]) - sl.c[a];
    x -= h;
    v[a] = (h * sl.f1[a]) * sl.f2[a];
  }
  for (int a = 0; a < slices; ++a) out[a][at] = v[a];
  if (karatsuba && slices == 2) out[2][at] = v[0] + v[1];
  if (karatsuba && slices == 3)
    out[3][at] = v[0] + v[1], out[4][at] = v[0] + v[2], out[5][at] = v[1] + v[2];
  residual = x;
}

// One column of 4 lanes: the slices, stored at their packed positions; `any` collects the lanes
// whose residual is nonzero (rare for format data: those rows are scanned again afterwards).
template <int S, bool Kara>
ROUNDOFF_AVX2_INLINE void split_column(__m256d r, const __m256d* c, const __m256d* f1,
                                       const __m256d* f2, double* const* o, i64 at, __m256d& any) {
  __m256d v[S];
  for (int a = S - 1; a >= 0; --a) {
    const __m256d h = _mm256_sub_pd(_mm256_add_pd(r, c[a]), c[a]);
    r = _mm256_sub_pd(r, h);
    v[a] = _mm256_mul_pd(_mm256_mul_pd(h, f1[a]), f2[a]);
  }
  for (int a = 0; a < S; ++a) _mm256_storeu_pd(o[a] + at, v[a]);
  if constexpr (Kara && S == 2) _mm256_storeu_pd(o[2] + at, _mm256_add_pd(v[0], v[1]));
  if constexpr (Kara && S == 3) {
    _mm256_storeu_pd(o[3] + at, _mm256_add_pd(v[0], v[1]));
    _mm256_storeu_pd(o[4] + at, _mm256_add_pd(v[0], v[2]));
    _mm256_storeu_pd(o[5] + at, _mm256_add_pd(v[1], v[2]));
  }
  any = _mm256_or_pd(any, _mm256_cmp_pd(r, _mm256_setzero_pd(), _CMP_NEQ_OQ));
}

// Four rows (lanes) of a panel, columns [k0, k0 + n): each step loads 4 columns of the 4
// rows, transposes them in registers, and slices one column (4 lanes) at a time with
// per-lane constants. Lane-wise IEEE operations, so each lane computes exactly what
// split_scalar computes for its row.
template <int S, bool Kara>
ROUNDOFF_AVX2 void split_group(const double* const* rows, const slicer* sl, i64 k0, i64 n,
                               double* const* out, int width, int lane0, std::int32_t row0,
                               std::vector<rem_entry>& rem) {
  constexpr int blocks = Kara ? S * (S + 1) / 2 : S;
  __m256d c[S], f1[S], f2[S];
  for (int a = 0; a < S; ++a) {
    c[a] = _mm256_setr_pd(sl[0].c[a], sl[1].c[a], sl[2].c[a], sl[3].c[a]);
    f1[a] = _mm256_setr_pd(sl[0].f1[a], sl[1].f1[a], sl[2].f1[a], sl[3].f1[a]);
    f2[a] = _mm256_setr_pd(sl[0].f2[a], sl[1].f2[a], sl[2].f2[a], sl[3].f2[a]);
  }
  const double* __restrict x0 = rows[0] + k0;
  const double* __restrict x1 = rows[1] + k0;
  const double* __restrict x2 = rows[2] + k0;
  const double* __restrict x3 = rows[3] + k0;
  double* o[blocks];
  for (int t = 0; t < blocks; ++t) o[t] = out[t] + lane0;
  __m256d any =
      _mm256_setzero_pd();  // lanes with a nonzero residual somewhere (all-ones compare masks)
  i64 k = 0;
  for (; k + 4 <= n; k += 4) {
    const __m256d r0 = _mm256_loadu_pd(x0 + k), r1 = _mm256_loadu_pd(x1 + k);
    const __m256d r2 = _mm256_loadu_pd(x2 + k), r3 = _mm256_loadu_pd(x3 + k);
    const __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1);
    const __m256d t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);
    split_column<S, Kara>(_mm256_permute2f128_pd(t0, t2, 0x20), c, f1, f2, o, (k)*width, any);
    split_column<S, Kara>(_mm256_permute2f128_pd(t1, t3, 0x20), c, f1, f2, o, (k + 1) * width, any);
    split_column<S, Kara>(_mm256_permute2f128_pd(t0, t2, 0x31), c, f1, f2, o, (k + 2) * width, any);
    split_column<S, Kara>(_mm256_permute2f128_pd(t1, t3, 0x31), c, f1, f2, o, (k + 3) * width, any);
  }
  int lanes = _mm256_movemask_pd(any);
  for (; k < n; ++k)
    for (int lane = 0; lane < 4; ++lane) {
      double residual;
      split_scalar(sl[lane], S, Kara, rows[lane][k0 + k], o, k * width + lane, residual);
      if (residual != 0.0) lanes |= 1 << lane;
    }
  // The residual x' of Lemma 1, recomputed for the flagged rows by slicer::residual (the same
  // operations as the slicing), in column order.
  for (int lane = 0; lane < 4; ++lane) {
    if (!((lanes >> lane) & 1)) continue;
    for (i64 kk = 0; kk < n; ++kk) {
      const double r = sl[lane].residual(rows[lane][k0 + kk]);
      if (r != 0.0) rem.push_back({row0 + lane, k0 + kk, r});
    }
  }
}

// The AVX-512 version of split_column: one column of 8 lanes; `any` collects, as a mask, the
// lanes whose residual is nonzero. The same IEEE operations lane by lane.
template <int S, bool Kara>
ROUNDOFF_AVX512_INLINE void split_column8(__m512d r, const __m512d* c, const __m512d* f1,
                                          const __m512d* f2, double* const* o, i64 at,
                                          __mmask8& any) {
  __m512d v[S];
  for (int a = S - 1; a >= 0; --a) {
    const __m512d h = _mm512_sub_pd(_mm512_add_pd(r, c[a]), c[a]);
    r = _mm512_sub_pd(r, h);
    v[a] = _mm512_mul_pd(_mm512_mul_pd(h, f1[a]), f2[a]);
  }
  for (int a = 0; a < S; ++a) _mm512_storeu_pd(o[a] + at, v[a]);
  if constexpr (Kara && S == 2) _mm512_storeu_pd(o[2] + at, _mm512_add_pd(v[0], v[1]));
  if constexpr (Kara && S == 3) {
    _mm512_storeu_pd(o[3] + at, _mm512_add_pd(v[0], v[1]));
    _mm512_storeu_pd(o[4] + at, _mm512_add_pd(v[0], v[2]));
    _mm512_storeu_pd(o[5] + at, _mm512_add_pd(v[1], v[2]));
  }
  any = static_cast<__mmask8>(any | _mm512_cmp_pd_mask(r, _mm512_setzero_pd(), _CMP_NEQ_OQ));
}

// GCC 12 flags the _mm512_undefined_pd() inside its own unpack and shuffle intrinsics as "maybe
// used uninitialized" (a false positive: the masks select every lane).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
// split_group on eight rows (lanes) with AVX-512: each step loads 8 columns of the 8 rows and
// transposes them in registers (unpack pairs of rows, then two rounds of 128-bit lane
// shuffles), then slices one column of 8 lanes at a time. Lane-wise IEEE operations, so each
// lane computes exactly what split_scalar computes for its row.
template <int S, bool Kara>
ROUNDOFF_AVX512 void split_group8(const double* const* rows, const slicer* sl, i64 k0, i64 n,
                                  double* const* out, int width, int lane0, std::int32_t row0,
                                  std::vector<rem_entry>& rem) {
  constexpr int blocks = Kara ? S * (S + 1) / 2 : S;
  __m512d c[S], f1[S], f2[S];
  for (int a = 0; a < S; ++a) {
    c[a] = _mm512_setr_pd(sl[0].c[a], sl[1].c[a], sl[2].c[a], sl[3].c[a], sl[4].c[a], sl[5].c[a],
                          sl[6].c[a], sl[7].c[a]);
    f1[a] = _mm512_setr_pd(sl[0].f1[a], sl[1].f1[a], sl[2].f1[a], sl[3].f1[a], sl[4].f1[a],
                           sl[5].f1[a], sl[6].f1[a], sl[7].f1[a]);
    f2[a] = _mm512_setr_pd(sl[0].f2[a], sl[1].f2[a], sl[2].f2[a], sl[3].f2[a], sl[4].f2[a],
                           sl[5].f2[a], sl[6].f2[a], sl[7].f2[a]);
  }
  const double* x[8];
  for (int lane = 0; lane < 8; ++lane) x[lane] = rows[lane] + k0;
  double* o[blocks];
  for (int t = 0; t < blocks; ++t) o[t] = out[t] + lane0;
  __mmask8 any = 0;
  i64 k = 0;
  for (; k + 8 <= n; k += 8) {
    // t0 = (r0[0] r1[0] r0[2] r1[2] ...), t1 = (r0[1] r1[1] r0[3] r1[3] ...), and so on.
    const __m512d t0 = _mm512_unpacklo_pd(_mm512_loadu_pd(x[0] + k), _mm512_loadu_pd(x[1] + k));
    const __m512d t1 = _mm512_unpackhi_pd(_mm512_loadu_pd(x[0] + k), _mm512_loadu_pd(x[1] + k));
    const __m512d t2 = _mm512_unpacklo_pd(_mm512_loadu_pd(x[2] + k), _mm512_loadu_pd(x[3] + k));
    const __m512d t3 = _mm512_unpackhi_pd(_mm512_loadu_pd(x[2] + k), _mm512_loadu_pd(x[3] + k));
    const __m512d t4 = _mm512_unpacklo_pd(_mm512_loadu_pd(x[4] + k), _mm512_loadu_pd(x[5] + k));
    const __m512d t5 = _mm512_unpackhi_pd(_mm512_loadu_pd(x[4] + k), _mm512_loadu_pd(x[5] + k));
    const __m512d t6 = _mm512_unpacklo_pd(_mm512_loadu_pd(x[6] + k), _mm512_loadu_pd(x[7] + k));
    const __m512d t7 = _mm512_unpackhi_pd(_mm512_loadu_pd(x[6] + k), _mm512_loadu_pd(x[7] + k));
    // 0x88 takes 128-bit lanes (a0, a2, b0, b2), 0xDD takes (a1, a3, b1, b3).
    const __m512d e0 = _mm512_shuffle_f64x2(t0, t2, 0x88), e1 = _mm512_shuffle_f64x2(t0, t2, 0xDD);
    const __m512d e2 = _mm512_shuffle_f64x2(t4, t6, 0x88), e3 = _mm512_shuffle_f64x2(t4, t6, 0xDD);
    const __m512d d0 = _mm512_shuffle_f64x2(t1, t3, 0x88), d1 = _mm512_shuffle_f64x2(t1, t3, 0xDD);
    const __m512d d2 = _mm512_shuffle_f64x2(t5, t7, 0x88), d3 = _mm512_shuffle_f64x2(t5, t7, 0xDD);
    const i64 at = k * width;
    split_column8<S, Kara>(_mm512_shuffle_f64x2(e0, e2, 0x88), c, f1, f2, o, at, any);
    split_column8<S, Kara>(_mm512_shuffle_f64x2(d0, d2, 0x88), c, f1, f2, o, at + width, any);
    split_column8<S, Kara>(_mm512_shuffle_f64x2(e1, e3, 0x88), c, f1, f2, o, at + 2 * width, any);
    split_column8<S, Kara>(_mm512_shuffle_f64x2(d1, d3, 0x88), c, f1, f2, o, at + 3 * width, any);
    split_column8<S, Kara>(_mm512_shuffle_f64x2(e0, e2, 0xDD), c, f1, f2, o, at + 4 * width, any);
    split_column8<S, Kara>(_mm512_shuffle_f64x2(d0, d2, 0xDD), c, f1, f2, o, at + 5 * width, any);
    split_column8<S, Kara>(_mm512_shuffle_f64x2(e1, e3, 0xDD), c, f1, f2, o, at + 6 * width, any);
    split_column8<S, Kara>(_mm512_shuffle_f64x2(d1, d3, 0xDD), c, f1, f2, o, at + 7 * width, any);
  }
  unsigned lanes = any;
  for (; k < n; ++k)
    for (int lane = 0; lane < 8; ++lane) {
      double residual;
      split_scalar(sl[lane], S, Kara, rows[lane][k0 + k], o, k * width + lane, residual);
      if (residual != 0.0) lanes |= 1u << lane;
    }
  for (int lane = 0; lane < 8; ++lane) {
    if (!((lanes >> lane) & 1u)) continue;
    for (i64 kk = 0; kk < n; ++kk) {
      const double r = sl[lane].residual(rows[lane][k0 + kk]);
      if (r != 0.0) rem.push_back({row0 + lane, k0 + kk, r});
    }
  }
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace

void split_panel(int width, bool wide, const double* const* rows, const slicer* sl, int slices,
                 bool karatsuba, i64 k0, i64 n, double* const* out, std::int32_t row0,
                 std::vector<rem_entry>& rem) {
  using group_fn = void (*)(const double* const*, const slicer*, i64, i64, double* const*, int, int,
                            std::int32_t, std::vector<rem_entry>&);
  static constexpr group_fn plain[] = {split_group<1, false>, split_group<2, false>,
                                       split_group<3, false>, split_group<4, false>};
  static constexpr group_fn plain8[] = {split_group8<1, false>, split_group8<2, false>,
                                        split_group8<3, false>, split_group8<4, false>};
  if (karatsuba ? (slices != 2 && slices != 3) : (slices < 1 || slices > 4))
    throw internal_error("native split_panel: more than 4 slices, or Karatsuba not of 2 or 3");
  const int lanes = wide && width % 8 == 0 ? 8 : 4;
  const group_fn kara8 = slices == 2 ? split_group8<2, true> : split_group8<3, true>;
  const group_fn kara4 = slices == 2 ? split_group<2, true> : split_group<3, true>;
  const group_fn split = lanes == 8 ? (karatsuba ? kara8 : plain8[slices - 1])
                                    : (karatsuba ? kara4 : plain[slices - 1]);
  for (int g = 0; g < width; g += lanes)
    split(rows + g, sl + g, k0, n, out, width, g, row0 + g, rem);
}

namespace {

ROUNDOFF_AVX2 void kernel_avx2(i64 kc, const double* a, const double* b, double* c, i64 ldc,
                               bool accumulate) noexcept {
  // mr x 3 accumulators (12 registers), plus 3 for a row of B and 1 for a broadcast of A: the
  // loops below are fully unrolled, so all of it stays in the 16 AVX registers.
  constexpr int mr = 4, nr = 12;
  __m256d acc[mr][3];
#pragma GCC unroll 4
  for (int i = 0; i < mr; ++i)
#pragma GCC unroll 3
    for (int v = 0; v < 3; ++v) acc[i][v] = _mm256_setzero_pd();
  for (i64 k = 0; k < kc; ++k) {
    // A streams from L2 (B's micro-panel stays in L1): fetched 16 steps ahead, as in the AVX-512
    // kernel (prefetches never fault, even past the panel). Two steps per iteration with one
    // prefetch per line measured slower.
    _mm_prefetch(reinterpret_cast<const char*>(a + 16 * mr), _MM_HINT_T0);
    const __m256d b0 = _mm256_loadu_pd(b), b1 = _mm256_loadu_pd(b + 4), b2 = _mm256_loadu_pd(b + 8);
#pragma GCC unroll 4
    for (int i = 0; i < mr; ++i) {
      const __m256d av = _mm256_broadcast_sd(a + i);
      acc[i][0] = _mm256_fmadd_pd(av, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_pd(av, b1, acc[i][1]);
      acc[i][2] = _mm256_fmadd_pd(av, b2, acc[i][2]);
    }
    a += mr;
    b += nr;
  }
#pragma GCC unroll 4
  for (int i = 0; i < mr; ++i) {
    double* ci = c + i * ldc;
#pragma GCC unroll 3
    for (int v = 0; v < 3; ++v) {
      __m256d x = acc[i][v];
      if (accumulate) x = _mm256_add_pd(x, _mm256_loadu_pd(ci + 4 * v));
      _mm256_storeu_pd(ci + 4 * v, x);
    }
  }
}

// The same product on AVX-512F: an 8 x 24 tile, 8 rows of 3 vectors of 8 doubles. 24
// accumulators, 3 registers for a row of B; the broadcasts of A fold into the FMAs' memory
// operands. 28 of the 32 registers.
ROUNDOFF_AVX512 void kernel_avx512(i64 kc, const double* a, const double* b, double* c, i64 ldc,
                                   bool accumulate) noexcept {
  constexpr int mr = 8, nr = 24;
  __m512d acc[mr][3];
#pragma GCC unroll 8
  for (int i = 0; i < mr; ++i)
#pragma GCC unroll 3
    for (int v = 0; v < 3; ++v) acc[i][v] = _mm512_setzero_pd();
  for (i64 k = 0; k < kc; ++k) {
    // A streams from L2 (B's micro-panel stays in L1): fetching it 16 steps ahead cut the
    // 1024 x 4096 x 4096 case's time by 10% (prefetches never fault, even past the panel).
    _mm_prefetch(reinterpret_cast<const char*>(a + 16 * mr), _MM_HINT_T0);
    const __m512d b0 = _mm512_loadu_pd(b), b1 = _mm512_loadu_pd(b + 8),
                  b2 = _mm512_loadu_pd(b + 16);
#pragma GCC unroll 8
    for (int i = 0; i < mr; ++i) {
      const __m512d av = _mm512_set1_pd(a[i]);
      acc[i][0] = _mm512_fmadd_pd(av, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_pd(av, b1, acc[i][1]);
      acc[i][2] = _mm512_fmadd_pd(av, b2, acc[i][2]);
    }
    a += mr;
    b += nr;
  }
#pragma GCC unroll 8
  for (int i = 0; i < mr; ++i) {
    double* ci = c + i * ldc;
#pragma GCC unroll 3
    for (int v = 0; v < 3; ++v) {
      __m512d x = acc[i][v];
      if (accumulate) x = _mm512_add_pd(x, _mm512_loadu_pd(ci + 8 * v));
      _mm512_storeu_pd(ci + 8 * v, x);
    }
  }
}

// Integer-valued doubles below 2^63 convert exactly (truncation changes nothing).
__attribute__((target("avx512f,avx512dq"))) void add_chunk_sums_avx512dq_impl(const double* c,
                                                                              i64* sums, i64 rows,
                                                                              i64 ld, i64 j0,
                                                                              i64 j1) noexcept {
  for (i64 r = 0; r < rows; ++r) {
    const double* cr = c + r * ld;
    i64* sr = sums + r * ld;
    i64 j = j0;
    for (; j + 8 <= j1; j += 8) {
      const __m512i v = _mm512_cvttpd_epi64(_mm512_loadu_pd(cr + j));
      _mm512_storeu_si512(sr + j, _mm512_add_epi64(_mm512_loadu_si512(sr + j), v));
    }
    if (j < j1) {
      const auto m = static_cast<__mmask8>((1u << (j1 - j)) - 1);
      const __m512i v = _mm512_cvttpd_epi64(_mm512_maskz_loadu_pd(m, cr + j));
      _mm512_mask_storeu_epi64(sr + j, m, _mm512_add_epi64(_mm512_maskz_loadu_epi64(m, sr + j), v));
    }
  }
}

// AVX2 has no double -> int64 conversion. For an integer-valued x with |x| < 2^63
// (docs/exact-fast.md, Lemma 4, conversion to int64): s = x + 1.5*2^84 lies in [2^84, 2^85), where
// the spacing is 2^32, so s rounds x to h = q*2^32 and the bit patterns give q = bits(s) -
// bits(1.5*2^84); l = x - (s - 1.5*2^84) is exact with |l| <= 2^31, and l + 1.5*2^52 is exact
// in [2^52, 2^53), spacing 1, so l = bits(l + 1.5*2^52) - bits(1.5*2^52). Then x = q*2^32 + l
// in int64.
ROUNDOFF_AVX2_INLINE __m256i to_int64_avx2(__m256d x) {
  const __m256d big = _mm256_set1_pd(0x1.8p84), small = _mm256_set1_pd(0x1.8p52);
  const __m256d s = _mm256_add_pd(x, big);
  const __m256i q = _mm256_sub_epi64(_mm256_castpd_si256(s), _mm256_castpd_si256(big));
  const __m256d l = _mm256_sub_pd(x, _mm256_sub_pd(s, big));
  const __m256i li =
      _mm256_sub_epi64(_mm256_castpd_si256(_mm256_add_pd(l, small)), _mm256_castpd_si256(small));
  return _mm256_add_epi64(_mm256_slli_epi64(q, 32), li);
}

ROUNDOFF_AVX2 void add_chunk_sums_avx2_impl(const double* c, i64* sums, i64 rows, i64 ld, i64 j0,
                                            i64 j1) noexcept {
  for (i64 r = 0; r < rows; ++r) {
    const double* cr = c + r * ld;
    i64* sr = sums + r * ld;
    i64 j = j0;
    for (; j + 4 <= j1; j += 4) {
      auto* at = reinterpret_cast<__m256i*>(sr + j);
      _mm256_storeu_si256(
          at, _mm256_add_epi64(_mm256_loadu_si256(at), to_int64_avx2(_mm256_loadu_pd(cr + j))));
    }
    for (; j < j1; ++j) sr[j] += static_cast<i64>(cr[j]);
  }
}

// kb: a B micro-panel (nr * kb doubles, 24 KiB for both) stays in L1 while the A panels pass.
// Each kernel converts its chunk sums with the widest conversion of its instruction set (an
// AVX-512F CPU without DQ uses the AVX2 one), so the forced AVX2 kernel runs as on an AVX2 CPU.
constexpr micro_kernel avx2_kernel{"native-avx2",           4, 12, 256, false, kernel_avx2,
                                   add_chunk_sums_avx2_impl};
constexpr micro_kernel avx512_kernel{
    "native-avx512", 8, 24, 128, true, kernel_avx512, add_chunk_sums_avx512dq_impl};
constexpr micro_kernel avx512_kernel_without_dq{
    "native-avx512", 8, 24, 128, true, kernel_avx512, add_chunk_sums_avx2_impl};

}  // namespace

std::vector<chunk_sum_conversion> chunk_sum_conversions() {
  std::vector<chunk_sum_conversion> out{{"scalar", add_chunk_sums_scalar}};
  if (__builtin_cpu_supports("avx2")) out.push_back({"avx2", add_chunk_sums_avx2_impl});
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq"))
    out.push_back({"avx512dq", add_chunk_sums_avx512dq_impl});
  return out;
}

const micro_kernel* chosen() noexcept {
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  static const bool avx512 = avx2 && __builtin_cpu_supports("avx512f");
  const char* forced = std::getenv("ROUNDOFF_EXACT_KERNEL");
  if (forced != nullptr && std::strcmp(forced, "blas") == 0) return nullptr;
  const bool at_most_avx2 = forced != nullptr && std::strcmp(forced, "avx2") == 0;
  static const bool dq = avx512 && __builtin_cpu_supports("avx512dq");
  if (avx512 && !at_most_avx2) return dq ? &avx512_kernel : &avx512_kernel_without_dq;
  if (avx2) return &avx2_kernel;
  return nullptr;
}

#else  // no native kernel in this build: the OpenBLAS path is always used

const micro_kernel* chosen() noexcept {
  return nullptr;
}

void split_panel(int, bool, const double* const*, const slicer*, int, bool, i64, i64,
                 double* const*, std::int32_t, std::vector<rem_entry>&) {
  throw internal_error("gemm_exact: native kernel not built for this target");
}

std::vector<chunk_sum_conversion> chunk_sum_conversions() {
  return {{"scalar", add_chunk_sums_scalar}};
}

#endif

}  // namespace roundoff::exact::detail::native
