// Internal to src/exact: the planner of the fast exact contraction. It decides how the rows of A
// and B are cut into exact slices (docs/exact-fast.md §2 step 1, §3 Lemmas 2-4) and how the
// output is cut into tiles. Only speed depends on the choices, never exactness: every plan it
// returns satisfies the bounds of Lemma 2 by construction.
#pragma once

#ifndef ROUNDOFF_EXACT_INTERNAL
#error "roundoff/src/exact/detail headers are internal to the exact layer"
#endif

#include <cstdint>

#include "roundoff/exact/gemm.hpp"

namespace roundoff::exact::detail {

/// Chunk sums (each <= 2^53) stay <= 2^62 in int64 with at most this many chunks (Lemma 4).
inline constexpr std::int64_t max_chunks = 512;

/// Least b with 2^b >= x (x >= 1).
inline int ceil_log2(std::int64_t x) noexcept {
  int b = 0;
  while ((std::int64_t{1} << b) < x) ++b;
  return b;
}

/// How to slice. Karatsuba: s = slices_a = slices_b (2 or 3) slices per row on both sides,
/// units width_a (= width_b) bits apart, the top slice top_width <= width_a bits wide; the
/// products are those of each slice with itself and of each pairwise sum with itself: s = 2,
/// lo*lo, hi*hi, (lo+hi)*(lo+hi); s = 3, six. Else slices_a x slices_b slices of width_a,
/// width_b bits and all slices_a * slices_b products. K is cut into `chunks` chunks of
/// `chunk_length` columns; every product over one chunk is exact (Lemma 2).
struct plan {
  enum class path_kind { fast, simple } path = path_kind::fast;
  bool karatsuba = false;
  int slices_a = 1, slices_b = 1, width_a = 1, width_b = 1;
  int top_width = 0;  ///< Karatsuba only: the top slice's width (0: width_a)
  std::int64_t chunk_length = 1, chunks = 1;
  /// Slice blocks stored per row: the slices, then (Karatsuba) the pairwise sums: s = 2,
  /// lo + hi; s = 3, blocks 3, 4, 5 = x0 + x1, x0 + x2, x1 + x2.
  int blocks_a() const noexcept { return karatsuba ? slices_a * (slices_a + 1) / 2 : slices_a; }
  int blocks_b() const noexcept { return karatsuba ? slices_b * (slices_b + 1) / 2 : slices_b; }
  /// Bits covered below a row's top exponent.
  int bits_a() const noexcept {
    return karatsuba && top_width ? (slices_a - 1) * width_a + top_width : slices_a * width_a;
  }
  int bits_b() const noexcept {
    return karatsuba && top_width ? (slices_b - 1) * width_b + top_width : slices_b * width_b;
  }
  /// Slice products per output: Karatsuba one per block (block t times block t), else
  /// slices_a * slices_b.
  int products() const noexcept { return karatsuba ? blocks_a() : slices_a * slices_b; }
  /// Karatsuba with 3 slices: the pairwise sums are formed after slicing, and the combination
  /// needs 192 bits.
  bool karatsuba3() const noexcept { return karatsuba && slices_a == 3; }
};

/// The plan for p: the cheapest by the cost model of docs/exact-fast.md §2 step 1 among the
/// plain and Karatsuba slicings for chunk lengths min(K, 2048) and 512, or the simple path.
plan choose_plan(const gemm_problem& p);

/// A plain plan's bound on every output's combined integer (docs/exact-fast.md, Lemma 4):
/// |v| <= 2^plain_value_bits(pl), v = sum S_ab 2^(a wa + b wb), |S_ab| <= chunks 2^53.
inline int plain_value_bits(const plan& pl) noexcept {
  return 53 + ceil_log2(pl.chunks) + (pl.slices_a - 1) * pl.width_a +
         (pl.slices_b - 1) * pl.width_b + ceil_log2(pl.slices_a * pl.slices_b);
}

/// Whether every output's slice products fit one 128-bit integer (docs/exact-fast.md, Lemma 4):
/// |v| < 2^125, so that a folded bias keeps it below 2^126. Karatsuba: |v| < 2^(2w + 66).
inline bool fits_128_bits(const plan& pl) noexcept {
  return pl.karatsuba ? !pl.karatsuba3() : plain_value_bits(pl) <= 125;
}

/// Whether a plan's combined integer fits a signed 192-bit integer, |v| <= 2^190 < 2^191
/// (Lemma 4; f64 plans of 3 x 3 slices need up to 147 bits). Karatsuba: v = sum_k X_k Y_k
/// with |X_k| <= 2^bits_a, |Y_k| <= 2^bits_b, so |v| <= K 2^(bits_a + bits_b).
inline bool fits_192_bits(const plan& pl) noexcept {
  return pl.karatsuba ? ceil_log2(pl.chunks * pl.chunk_length) + pl.bits_a() + pl.bits_b() <= 190
                      : plain_value_bits(pl) <= 190;
}

/// Plans the native kernels serve: Karatsuba and plain plans of at most 4 x 4 slices.
inline bool native_serves(const plan& pl) noexcept {
  return pl.karatsuba || (pl.slices_a <= 4 && pl.slices_b <= 4);
}

/// How the output is cut into tiles: rows [i0, i0 + rows) of A by rows [j0, j0 + columns) of B
/// of one batch; tiles are numbered batch-major, then row tile, then column tile.
struct tile_shape {
  std::int64_t rows = 1, columns = 1;
  std::int64_t row_tiles = 1, column_tiles = 1, count = 0;
};

/// Tiles for the CPU tile executors (docs/exact-fast.md §2 step 7): at most 256 rows of A (fewer
/// when A's slices over all of K would pass 2^22 doubles) by 128 rows of B, narrower when that is
/// needed to give each of `threads` threads a tile; native_rows > 0 (the kernel's nr) rounds the
/// column tiles to whole panels.
tile_shape choose_cpu_tiles(const gemm_problem& p, const plan& pl, int threads,
                            std::int64_t native_rows);

/// Native path: up to this many doubles of packed A slices (4 MiB) are swept once per B panel;
/// beyond, the tile runs K block by K block (speed only).
inline constexpr std::int64_t a_panel_sweep_cap = std::int64_t{1} << 19;

}  // namespace roundoff::exact::detail
