// The planner of the fast exact contraction: which slicing (plain or Karatsuba, slice counts
// and widths, K chunks) and which tiles. Proofs: docs/exact-fast.md, "Fast path" §2 step 1 and
// §3 (Lemmas 2-4); the cost model only affects speed.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#define ROUNDOFF_EXACT_INTERNAL 1
#include "detail/gemm_fast_split.hpp"
#include "detail/gemm_plan.hpp"

namespace roundoff::exact::detail {
namespace {

using i64 = std::int64_t;

constexpr i64 chunk_k = 2048;

// Cost model, in DGEMM multiply-adds: one sparse remainder term (an accumulator product plus
// bookkeeping) and one simple-path term. Only speed depends on them, never exactness.
constexpr double sparse_term_cost = 500.0;  // ~30 ns measured (add_product + lookup)
constexpr double simple_term_cost = 500.0;

// Tiles bound the temporaries to O(threads * tile). Per thread: A slices for a tile's rows over
// all of K (blocks_a * tile_m * K <= a_slice_cap doubles; tile_m shrinks for long K), B slices
// for one K chunk (blocks_b * tile_n * chunk_length), and the DGEMM output (blocks * tile_m *
// tile_n, plus an int64 copy when K is chunked).
constexpr i64 tile_m = 256;
constexpr i64 tile_n = 128;  // measured: 64..512 within noise on the seed shape; 128 keeps a
                             // tile's B slices (3 x 128 x 2048 doubles, 6 MiB) in L3
constexpr i64 a_slice_cap = i64{1} << 22;  // 32 MiB of A slices per thread

/// Depth histogram of sampled rows: hist[d] counts nonzero elements needing d bits below their
/// row's top exponent to be covered exactly (remainder iff d > slice bits).
struct depth_stats {
  static constexpr int size = 2200;
  std::vector<double> tail;  // tail[c] = estimated number of elements with depth > c
  double total = 0;
};

depth_stats sample_depths(const double* base, i64 batch, i64 rows, i64 k, i64 ld,
                          i64 batch_stride) {
  depth_stats st;
  std::vector<double> hist(depth_stats::size + 1, 0.0);
  const i64 all_rows = batch * rows;
  const i64 want = std::min<i64>(all_rows, std::max<i64>(4, 16384 / std::max<i64>(k, 1)));
  i64 sampled = 0;
  for (i64 t = 0; t < want; ++t) {
    const i64 r = (all_rows * t) / want;
    const double* x = base + (r / rows) * batch_stride + (r % rows) * ld;
    const row_info ri = analyze_row(x, k);
    ++sampled;
    if (ri.bad) continue;
    for (i64 kk = 0; kk < k; ++kk) {
      if (x[kk] == 0) continue;
      const int d = ri.e - lowbit_exp(x[kk]);
      hist[static_cast<std::size_t>(std::clamp(d, 0, depth_stats::size))] += 1;
    }
  }
  const double scale = sampled ? static_cast<double>(all_rows) / static_cast<double>(sampled) : 0;
  st.tail.assign(depth_stats::size + 1, 0.0);
  double acc = 0;
  for (int d = depth_stats::size; d >= 0; --d) {
    st.tail[static_cast<std::size_t>(d)] = acc * scale;  // depth > d
    acc += hist[static_cast<std::size_t>(d)];
  }
  st.total = acc * scale;
  return st;
}

double remainders(const depth_stats& st, int bits) {
  return st.tail[static_cast<std::size_t>(std::clamp(bits, 0, depth_stats::size))];
}

}  // namespace

plan choose_plan(const gemm_problem& p) {
  plan best;
  best.path = plan::path_kind::simple;
  const double mnk = static_cast<double>(p.batch) * static_cast<double>(p.m) *
                     static_cast<double>(p.n) * static_cast<double>(p.k);
  double best_cost = mnk * simple_term_cost;
  if (p.k == 0) return best;

  const depth_stats da = sample_depths(p.a, p.batch, p.m, p.k, p.lda, p.a_batch_stride);
  const depth_stats db = sample_depths(p.b, p.batch, p.n, p.k, p.ldb, p.b_batch_stride);
  const double m = static_cast<double>(p.m), n = static_cast<double>(p.n);
  const double bt = static_cast<double>(p.batch), kk = static_cast<double>(p.k);

  // Shorter K chunks allow wider slices (fewer remainders) at the price of a separate pass
  // over the rows for their exponents and an int64 sum of the chunk results.
  i64 first_kc = 0;
  for (const i64 kc_try : {chunk_k, i64{512}}) {
    i64 kc = std::min(p.k, kc_try);
    if ((p.k + kc - 1) / kc > max_chunks) kc = (p.k + max_chunks - 1) / max_chunks;
    if (kc == first_kc) continue;  // the second candidate is the first one again (K <= 512)
    first_kc = kc;
    const i64 chunks = (p.k + kc - 1) / kc;
    auto consider = [&](plan c, int units) {
      c.path = plan::path_kind::fast;
      c.chunk_length = kc;
      c.chunks = chunks;
      double v = mnk * units + sparse_term_cost * (remainders(da, c.bits_a()) * n +
                                                   remainders(db, c.bits_b()) * m);
      if (chunks > 1)
        v += 2 * bt * (m + n) * kk + 2 * static_cast<double>(chunks) * units * bt * m * n;
      if (v < best_cost) best_cost = v, best = c;
    };

    // Plain: |slice| <= 2^w (top slice, rounded to nearest) so |sum over kc| <= kc 2^(wa+wb).
    const int budget = 53 - ceil_log2(kc);
    for (int sa = 1; sa <= 6; ++sa) {
      for (int sb = 1; sb <= 6; ++sb) {
        for (int wa = std::max(1, budget - 51); wa <= std::min(51, budget - 1); ++wa) {
          const int wb = budget - wa;
          if (sa * wa > 120 || sb * wb > 120) continue;
          plan c;
          c.slices_a = sa, c.slices_b = sb, c.width_a = wa, c.width_b = wb;
          consider(c, sa * sb);
        }
      }
    }
    // Karatsuba, s slices of units w apart, top slice t <= w bits: |top| <= 2^t, every lower
    // slice <= 2^(w-1), so every block (a slice or a sum of two) is at most
    // 2^t + 2^(w-1) (or 2^w, two lower slices when s = 3), and each block's product with itself
    // sums over kc to at most kc * block^2 <= 2^53 (Lemma 2). Widest cover (s-1) w + t first.
    for (const int s : {2, 3}) {
      plan bestk;
      for (int w = 1; w <= 51; ++w)
        for (int t = 1; t <= w; ++t) {
          const double block =
              std::max(std::ldexp(1.0, t) + std::ldexp(1.0, w - 1), std::ldexp(1.0, w));
          if (static_cast<double>(kc) * block * block > 0x1p53) continue;
          plan c;
          c.karatsuba = true;
          c.slices_a = c.slices_b = s, c.width_a = c.width_b = w, c.top_width = t;
          c.chunk_length = kc, c.chunks = chunks;
          if (c.bits_a() > 120 || !fits_192_bits(c)) continue;
          if (!bestk.karatsuba || c.bits_a() > bestk.bits_a()) bestk = c;
        }
      if (bestk.karatsuba) consider(bestk, bestk.products());
    }
  }
  return best;
}

tile_shape choose_cpu_tiles(const gemm_problem& p, const plan& pl, int threads, i64 native_rows) {
  tile_shape t;
  // Enough tiles to keep every thread busy. A's slices for a tile span all of K: cap them at
  // a_slice_cap doubles per thread.
  t.rows = std::clamp<i64>(a_slice_cap / (pl.blocks_a() * p.k), 8, tile_m);
  t.row_tiles = (p.m + t.rows - 1) / t.rows;
  t.columns = std::min(p.n, tile_n);
  const i64 want = (threads + p.batch * t.row_tiles - 1) / (p.batch * t.row_tiles);
  if (want > 1) t.columns = std::max<i64>(1, std::min(t.columns, (p.n + want - 1) / want));
  t.column_tiles = (p.n + t.columns - 1) / t.columns;
  if (native_rows > 0) {  // balanced tiles of whole panels: less zero padding
    const i64 panels = (p.n + native_rows - 1) / native_rows;
    i64 per_tile = (panels + t.column_tiles - 1) / t.column_tiles;
    // When A's slices are swept once per B panel (small A), a tile is a loop over its panels,
    // so its width only sets how evenly the threads finish: with one row tile (M <= 256) the
    // 128-column tiles left one thread 12 panels and the other 9 at the seed shape. Cut such
    // tiles to about 16 per thread (one panel each there); one thread keeps the wide tiles
    // (measured: no faster narrow).
    const i64 a_doubles = static_cast<i64>(pl.blocks_a()) * std::min(t.rows, p.m) * p.k;
    if (threads > 1 && a_doubles <= a_panel_sweep_cap)
      per_tile = std::clamp<i64>(p.batch * t.row_tiles * panels / (16 * threads), 1, per_tile);
    t.columns = per_tile * native_rows;
    t.column_tiles = (p.n + t.columns - 1) / t.columns;
  }
  t.count = p.batch * t.row_tiles * t.column_tiles;
  return t;
}

}  // namespace roundoff::exact::detail
