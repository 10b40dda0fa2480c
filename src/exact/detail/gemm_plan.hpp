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

/// How to slice. Karatsuba: two slices of width_a (= width_b) bits per row on both sides and
/// three products lo*lo, hi*hi, (lo+hi)*(lo+hi); else slices_a x slices_b slices of width_a,
/// width_b bits and all slices_a * slices_b products. K is cut into `chunks` chunks of
/// `chunk_length` columns; every product over one chunk is exact (Lemma 2).
struct plan {
  enum class path_kind { fast, simple } path = path_kind::fast;
  bool karatsuba = false;
  int slices_a = 1, slices_b = 1, width_a = 1, width_b = 1;
  std::int64_t chunk_length = 1, chunks = 1;
  /// Slice blocks stored per row: Karatsuba stores lo, hi and lo + hi.
  int blocks_a() const noexcept { return karatsuba ? 3 : slices_a; }
  int blocks_b() const noexcept { return karatsuba ? 3 : slices_b; }
  /// Bits covered below a row's top exponent.
  int bits_a() const noexcept { return slices_a * width_a; }
  int bits_b() const noexcept { return slices_b * width_b; }
  /// Slice products per output: 3 (Karatsuba) or slices_a * slices_b.
  int products() const noexcept { return karatsuba ? 3 : slices_a * slices_b; }
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
  return pl.karatsuba || plain_value_bits(pl) <= 125;
}

/// Whether a plain plan's combined integer fits a signed 192-bit integer, |v| <= 2^190 < 2^191
/// (Lemma 4; f64 plans of 3 x 3 slices need up to 147 bits).
inline bool fits_192_bits(const plan& pl) noexcept {
  return pl.karatsuba || plain_value_bits(pl) <= 190;
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
