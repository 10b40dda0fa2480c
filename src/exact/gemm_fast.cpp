// Fast exact contraction: Ozaki-style error-free splitting over OpenBLAS DGEMM.
//
// Each row of A and of B is cut into integer slices (a power-of-two unit per row) so narrow
// that every DGEMM over the slices is exact whatever its summation order; bits below the
// slices go to a sparse remainder handled term by term; rows holding Inf/NaN or huge values go
// to the simple path. Proofs: docs/exact-fast.md, "Fast path".
#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "roundoff/exact/gemm.hpp"

#define ROUNDOFF_EXACT_INTERNAL 1
#include "detail/gemm_fast_split.hpp"

namespace roundoff::exact {
namespace {

using detail::row_info;
using detail::slicer;
using i64 = std::int64_t;
__extension__ typedef __int128 i128;  // GCC/Clang: exact 126-bit combinations
__extension__ typedef unsigned __int128 u128;

// Tiles bound the temporaries to O(threads * tile): per thread, blocks * (tile_m + tile_n) *
// chunk_k doubles of slices plus blocks * tile_m * tile_n of DGEMM output.
constexpr i64 tile_m = 256;
constexpr i64 tile_n = 256;
constexpr i64 chunk_k = 2048;
constexpr i64 max_chunks = 1024;  // chunk sums (< 2^53 each) stay below 2^63 in int64

// Cost model, in DGEMM multiply-adds: one sparse remainder term (an accumulator product plus
// bookkeeping) and one simple-path term. Only speed depends on them, never exactness.
constexpr double sparse_term_cost = 150.0;
constexpr double simple_term_cost = 150.0;

int ceil_log2(i64 x) {
  int b = 0;
  while ((i64{1} << b) < x) ++b;
  return b;
}

/// How to slice. karatsuba: two slices of w bits per row on both sides and three products
/// lo*lo, hi*hi, (lo+hi)*(lo+hi); else sa x sb slices of wa, wb bits and all sa*sb products.
struct plan {
  enum class kind { fast, simple } how = kind::fast;
  bool karatsuba = false;
  int sa = 1, sb = 1, wa = 1, wb = 1;
  i64 kc = 1, chunks = 1;
  int blocks_a() const { return karatsuba ? 3 : sa; }
  int blocks_b() const { return karatsuba ? 3 : sb; }
  int bits_a() const { return sa * wa; }
  int bits_b() const { return sb * wb; }
};

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
  const i64 want = std::min<i64>(all_rows, 48);
  i64 sampled = 0;
  for (i64 t = 0; t < want; ++t) {
    const i64 r = (all_rows * t) / want;
    const double* x = base + (r / rows) * batch_stride + (r % rows) * ld;
    const row_info ri = detail::analyze_row(x, k);
    ++sampled;
    if (ri.bad) continue;
    for (i64 kk = 0; kk < k; ++kk) {
      if (x[kk] == 0) continue;
      const int d = ri.e - detail::lowbit_exp(x[kk]);
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

plan choose_plan(const gemm_problem& p) {
  plan best;
  best.how = plan::kind::simple;
  const double mnk = static_cast<double>(p.batch) * static_cast<double>(p.m) *
                     static_cast<double>(p.n) * static_cast<double>(p.k);
  double best_cost = mnk * simple_term_cost;
  if (p.k == 0) return best;

  i64 kc = std::min(p.k, chunk_k);
  if ((p.k + kc - 1) / kc > max_chunks) kc = (p.k + max_chunks - 1) / max_chunks;
  const i64 chunks = (p.k + kc - 1) / kc;
  const depth_stats da = sample_depths(p.a, p.batch, p.m, p.k, p.lda, p.a_batch_stride);
  const depth_stats db = sample_depths(p.b, p.batch, p.n, p.k, p.ldb, p.b_batch_stride);
  const double m = static_cast<double>(p.m), n = static_cast<double>(p.n);
  auto cost = [&](int units, int bits_a, int bits_b) {
    return mnk * units +
           sparse_term_cost * (remainders(da, bits_a) * n + remainders(db, bits_b) * m);
  };
  auto consider = [&](plan c, int units) {
    c.how = plan::kind::fast;
    c.kc = kc;
    c.chunks = chunks;
    const double v = cost(units, c.bits_a(), c.bits_b());
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
        c.sa = sa, c.sb = sb, c.wa = wa, c.wb = wb;
        consider(c, sa * sb);
      }
    }
  }
  // Karatsuba: |lo + hi| <= 2^w + 2^(w-1), so |sum over kc| <= 9 kc 2^(2w-2) <= 2^53.
  int w = 0;
  while (w + 1 <= 51 && 9.0 * static_cast<double>(kc) <= std::ldexp(1.0, 55 - 2 * (w + 1))) ++w;
  if (w >= 1) {
    plan c;
    c.karatsuba = true;
    c.sa = c.sb = 2, c.wa = c.wb = w;
    consider(c, 3);
  }
  return best;
}

struct rem_entry {
  std::int32_t row;  // row within the tile
  i64 k;
  double r;
};

/// Per-thread buffers, reused across tiles and chunks (no allocation per term).
struct workspace {
  std::vector<double> as, bs, c, res;
  std::vector<i64> ci;
  std::vector<row_info> ra, rb;
  std::vector<slicer> sla, slb;
  std::vector<rem_entry> rem_a, rem_b, sorted_a, sorted_b;
  std::vector<i64> off_a, off_b;
  accumulator acc;
};

/// Adds v * 2^e exactly (v an integer of at most 126 bits).
inline void add_i128(accumulator& acc, i128 v, int e) {
  if (v == 0) return;
  const bool neg = v < 0;
  u128 mag = neg ? static_cast<u128>(-v) : static_cast<u128>(v);
  constexpr u128 mask = (u128{1} << 52) - 1;
  for (int l = 0; mag != 0; ++l, mag >>= 52) {
    const auto piece = static_cast<std::uint64_t>(mag & mask);
    if (piece == 0) continue;
    const double d = static_cast<double>(piece);  // exact: < 2^52
    acc.add_scaled(neg ? -d : d, e + 52 * l);
  }
}

/// Buckets tile remainders by row (counting sort), so each output visits only its own.
void bucket(const std::vector<rem_entry>& in, i64 rows, std::vector<i64>& off,
            std::vector<rem_entry>& out) {
  off.assign(static_cast<std::size_t>(rows + 1), 0);
  for (const auto& e : in) ++off[static_cast<std::size_t>(e.row) + 1];
  for (i64 r = 0; r < rows; ++r)
    off[static_cast<std::size_t>(r + 1)] += off[static_cast<std::size_t>(r)];
  out.resize(in.size());
  std::vector<i64>& pos = off;  // reuse: fill then restore
  for (const auto& e : in)
    out[static_cast<std::size_t>(pos[static_cast<std::size_t>(e.row)]++)] = e;
  for (i64 r = rows; r > 0; --r)
    pos[static_cast<std::size_t>(r)] = pos[static_cast<std::size_t>(r - 1)];
  pos[0] = 0;
}

class fast_gemm {
 public:
  fast_gemm(const gemm_problem& p, exact_tensor& dest, const plan& pl)
      : p_(p), dest_(dest), pl_(pl) {}

  void run_tile(workspace& ws, i64 bt, i64 i0, i64 i1, i64 j0, i64 j1) const;

 private:
  const double* arow(i64 bt, i64 i) const { return p_.a + bt * p_.a_batch_stride + i * p_.lda; }
  const double* brow(i64 bt, i64 j) const { return p_.b + bt * p_.b_batch_stride + j * p_.ldb; }
  const double* bias(i64 bt, i64 i, i64 j) const {
    return p_.bias ? p_.bias + bt * p_.bias_batch_stride + i * p_.bias_row_stride +
                         j * p_.bias_col_stride
                   : nullptr;
  }
  i64 dest_index(i64 bt, i64 i, i64 j) const {
    const i64 c = p_.c_offset + bt * p_.c_batch_stride + i * p_.c_row_stride + j * p_.c_col_stride;
    if (c < 0 || c >= dest_.size())
      throw std::out_of_range("gemm_exact: output index " + std::to_string(c) +
                              " outside dest of size " + std::to_string(dest_.size()));
    return c;
  }

  void split_rows(const double* const* rows, i64 count, i64 k0, i64 kn, const row_info* info,
                  const slicer* sl, int blocks, double* out, std::vector<double>& res,
                  std::vector<rem_entry>& rem) const;

  const gemm_problem& p_;
  exact_tensor& dest_;
  const plan& pl_;
};

// Splits rows[r][k0 .. k0+kn) into `blocks` slice blocks of count x kn (row-major, block t at
// out + t*count*kn); bad rows get zero slices. Karatsuba's third block is lo + hi (exact: both
// are integers below 2^w in magnitude... see docs). Nonzero residuals become remainder entries.
void fast_gemm::split_rows(const double* const* rows, i64 count, i64 k0, i64 kn,
                           const row_info* info, const slicer* sl, int blocks, double* out,
                           std::vector<double>& res, std::vector<rem_entry>& rem) const {
  res.resize(static_cast<std::size_t>(kn));
  for (i64 r = 0; r < count; ++r) {
    double* dst[slicer::max_slices + 1];
    for (int t = 0; t < blocks; ++t) dst[t] = out + (t * count + r) * kn;
    if (info[r].bad) {
      for (int t = 0; t < blocks; ++t) std::fill(dst[t], dst[t] + kn, 0.0);
      continue;
    }
    const double* x = rows[r] + k0;
    sl[r].split(x, kn, dst, res.data());
    if (pl_.karatsuba) {
      double* s = dst[2];
      const double* lo = dst[0];
      const double* hi = dst[1];
      for (i64 k = 0; k < kn; ++k) s[k] = lo[k] + hi[k];
    }
    // Remainders are rare: test in blocks before scanning element by element.
    for (i64 k = 0; k < kn; k += 64) {
      const i64 e = std::min(kn, k + 64);
      bool any = false;
      for (i64 t = k; t < e; ++t) any |= res[static_cast<std::size_t>(t)] != 0.0;
      if (!any) continue;
      for (i64 t = k; t < e; ++t)
        if (res[static_cast<std::size_t>(t)] != 0.0)
          rem.push_back({static_cast<std::int32_t>(r), k0 + t, res[static_cast<std::size_t>(t)]});
    }
  }
}

void fast_gemm::run_tile(workspace& ws, i64 bt, i64 i0, i64 i1, i64 j0, i64 j1) const {
  const i64 mt = i1 - i0, nt = j1 - j0, K = p_.k;
  const int ba = pl_.blocks_a(), bb = pl_.blocks_b();
  const int wa = pl_.wa, wb = pl_.wb;

  ws.ra.resize(static_cast<std::size_t>(mt));
  ws.rb.resize(static_cast<std::size_t>(nt));
  ws.sla.resize(static_cast<std::size_t>(mt));
  ws.slb.resize(static_cast<std::size_t>(nt));
  std::vector<const double*> ap(static_cast<std::size_t>(mt)), bp(static_cast<std::size_t>(nt));
  bool any_good_a = false, any_good_b = false;
  for (i64 i = 0; i < mt; ++i) {
    ap[static_cast<std::size_t>(i)] = arow(bt, i0 + i);
    row_info ri = detail::analyze_row(ap[static_cast<std::size_t>(i)], K);
    ri.u = std::max(ri.e - pl_.bits_a(), -1074);
    ws.ra[static_cast<std::size_t>(i)] = ri;
    if (!ri.bad) ws.sla[static_cast<std::size_t>(i)] = slicer(ri.u, pl_.sa, wa);
    any_good_a |= !ri.bad;
  }
  for (i64 j = 0; j < nt; ++j) {
    bp[static_cast<std::size_t>(j)] = brow(bt, j0 + j);
    row_info ri = detail::analyze_row(bp[static_cast<std::size_t>(j)], K);
    ri.u = std::max(ri.e - pl_.bits_b(), -1074);
    ws.rb[static_cast<std::size_t>(j)] = ri;
    if (!ri.bad) ws.slb[static_cast<std::size_t>(j)] = slicer(ri.u, pl_.sb, wb);
    any_good_b |= !ri.bad;
  }

  const i64 cn = pl_.karatsuba ? nt : bb * nt;  // DGEMM output row length
  const i64 csize = pl_.karatsuba ? 3 * mt * nt : (ba * mt) * (bb * nt);
  ws.c.resize(static_cast<std::size_t>(csize));
  const bool multi = pl_.chunks > 1;
  if (multi) ws.ci.assign(static_cast<std::size_t>(csize), 0);
  ws.rem_a.clear();
  ws.rem_b.clear();

  if (any_good_a && any_good_b) {
    for (i64 k0 = 0; k0 < K; k0 += pl_.kc) {
      const i64 kn = std::min(pl_.kc, K - k0);
      ws.as.resize(static_cast<std::size_t>(ba * mt * kn));
      ws.bs.resize(static_cast<std::size_t>(bb * nt * kn));
      split_rows(ap.data(), mt, k0, kn, ws.ra.data(), ws.sla.data(), ba, ws.as.data(), ws.res,
                 ws.rem_a);
      split_rows(bp.data(), nt, k0, kn, ws.rb.data(), ws.slb.data(), bb, ws.bs.data(), ws.res,
                 ws.rem_b);
      const auto ik = static_cast<blasint>(kn);
      if (pl_.karatsuba) {
        for (int t = 0; t < 3; ++t)
          cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(mt),
                      static_cast<blasint>(nt), ik, 1.0, ws.as.data() + t * mt * kn, ik,
                      ws.bs.data() + t * nt * kn, ik, 0.0, ws.c.data() + t * mt * nt,
                      static_cast<blasint>(nt));
      } else {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(ba * mt),
                    static_cast<blasint>(bb * nt), ik, 1.0, ws.as.data(), ik, ws.bs.data(), ik, 0.0,
                    ws.c.data(), static_cast<blasint>(bb * nt));
      }
      if (multi)
        for (i64 t = 0; t < csize; ++t)
          ws.ci[static_cast<std::size_t>(t)] += static_cast<i64>(ws.c[static_cast<std::size_t>(t)]);
    }
  } else {
    std::fill(ws.c.begin(), ws.c.end(), 0.0);
  }
  bucket(ws.rem_a, mt, ws.off_a, ws.sorted_a);
  bucket(ws.rem_b, nt, ws.off_b, ws.sorted_b);

  // S(t, i, j): exact integer DGEMM result for block t (karatsuba) or slice pair (a, b).
  auto S = [&](i64 idx) -> i64 {
    return multi ? ws.ci[static_cast<std::size_t>(idx)]
                 : static_cast<i64>(ws.c[static_cast<std::size_t>(idx)]);
  };
  const bool fits128 = pl_.karatsuba || (53 + ceil_log2(pl_.chunks) + (pl_.sa - 1) * wa +
                                             (pl_.sb - 1) * wb + ceil_log2(pl_.sa * pl_.sb) + 1 <=
                                         126);

  accumulator& acc = ws.acc;
  for (i64 i = 0; i < mt; ++i) {
    const row_info& ri = ws.ra[static_cast<std::size_t>(i)];
    const double* a = ap[static_cast<std::size_t>(i)];
    for (i64 j = 0; j < nt; ++j) {
      const row_info& rj = ws.rb[static_cast<std::size_t>(j)];
      const i64 dst = dest_index(bt, i0 + i, j0 + j);
      const double* bs = bias(bt, i0 + i, j0 + j);
      if (ri.bad || rj.bad) {
        dot_exact(K, a, bp[static_cast<std::size_t>(j)], bs, acc);
        dest_.store(dst, acc);
        continue;
      }
      acc.clear();
      const int e0 = ri.u + rj.u;
      if (pl_.karatsuba) {
        const i128 ll = S(i * nt + j), hh = S(mt * nt + i * nt + j),
                   ss = S(2 * mt * nt + i * nt + j);
        const i128 v = (hh << (2 * wa)) + ((ss - hh - ll) << wa) + ll;
        add_i128(acc, v, e0);
      } else if (fits128) {
        i128 v = 0;
        for (int x = 0; x < pl_.sa; ++x)
          for (int y = 0; y < pl_.sb; ++y)
            v += static_cast<i128>(S((x * mt + i) * cn + y * nt + j)) << (x * wa + y * wb);
        add_i128(acc, v, e0);
      } else {
        for (int x = 0; x < pl_.sa; ++x)
          for (int y = 0; y < pl_.sb; ++y)
            add_i128(acc, S((x * mt + i) * cn + y * nt + j), e0 + x * wa + y * wb);
      }
      // Sparse remainder: A_rem . B + A_cov . B_rem (docs/exact-fast.md, "Remainder").
      const double* b = bp[static_cast<std::size_t>(j)];
      for (i64 t = ws.off_a[static_cast<std::size_t>(i)];
           t < ws.off_a[static_cast<std::size_t>(i + 1)]; ++t) {
        const rem_entry& e = ws.sorted_a[static_cast<std::size_t>(t)];
        acc.add_product(e.r, b[e.k]);
      }
      const slicer& sa = ws.sla[static_cast<std::size_t>(i)];
      for (i64 t = ws.off_b[static_cast<std::size_t>(j)];
           t < ws.off_b[static_cast<std::size_t>(j + 1)]; ++t) {
        const rem_entry& e = ws.sorted_b[static_cast<std::size_t>(t)];
        const double x = a[e.k];
        acc.add_product(x - sa.residual(x), e.r);
      }
      if (bs) acc.add(*bs);
      dest_.store(dst, acc);
    }
  }
}

void gemm_simple_parallel(const gemm_problem& p, exact_tensor& dest, int threads) {
  // One accumulator per output, outputs spread over threads (rows of the flattened batch*m).
  const i64 rows = p.batch * p.m;
  std::atomic<i64> next{0};
  std::exception_ptr err;
  std::mutex err_mu;
  auto worker = [&] {
    try {
      accumulator acc;
      for (i64 r; (r = next.fetch_add(1)) < rows;) {
        const i64 bt = r / p.m, i = r % p.m;
        for (i64 j = 0; j < p.n; ++j) {
          const double* bs = p.bias ? p.bias + bt * p.bias_batch_stride + i * p.bias_row_stride +
                                          j * p.bias_col_stride
                                    : nullptr;
          dot_exact(p.k, p.a ? p.a + bt * p.a_batch_stride + i * p.lda : nullptr,
                    p.b ? p.b + bt * p.b_batch_stride + j * p.ldb : nullptr, bs, acc);
          const i64 c =
              p.c_offset + bt * p.c_batch_stride + i * p.c_row_stride + j * p.c_col_stride;
          if (c < 0 || c >= dest.size())
            throw std::out_of_range("gemm_exact: output index " + std::to_string(c) +
                                    " outside dest of size " + std::to_string(dest.size()));
          dest.store(c, acc);
        }
      }
    } catch (...) {
      std::lock_guard<std::mutex> g(err_mu);
      if (!err) err = std::current_exception();
      next.store(rows);
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& th : pool) th.join();
  if (err) std::rethrow_exception(err);
}

}  // namespace

void gemm_exact(const gemm_problem& p, exact_tensor& dest, const engine_options& opt) {
  if (p.batch < 0 || p.m < 0 || p.n < 0 || p.k < 0)
    throw std::invalid_argument("gemm_exact: negative dimension");
  if (p.batch == 0 || p.m == 0 || p.n == 0) return;
  const int threads = std::max(1, opt.threads);
  const plan pl = choose_plan(p);
  if (pl.how == plan::kind::simple) return gemm_simple_parallel(p, dest, threads);

  // Tiles: enough of them to keep every thread busy.
  const i64 mtiles = (p.m + tile_m - 1) / tile_m;
  i64 tn = std::min(p.n, tile_n);
  const i64 want = (threads + p.batch * mtiles - 1) / (p.batch * mtiles);
  if (want > 1) tn = std::max<i64>(1, std::min(tn, (p.n + want - 1) / want));
  const i64 ntiles = (p.n + tn - 1) / tn;
  const i64 tiles = p.batch * mtiles * ntiles;

  // Each worker thread calls a single-threaded DGEMM: the parallelism is ours, over tiles.
  const int blas_threads = openblas_get_num_threads();
  openblas_set_num_threads(1);
  const fast_gemm g(p, dest, pl);
  std::atomic<i64> next{0};
  std::exception_ptr err;
  std::mutex err_mu;
  auto worker = [&] {
    try {
      workspace ws;
      for (i64 t; (t = next.fetch_add(1)) < tiles;) {
        const i64 bt = t / (mtiles * ntiles), rest = t % (mtiles * ntiles);
        const i64 i0 = (rest / ntiles) * tile_m, j0 = (rest % ntiles) * tn;
        g.run_tile(ws, bt, i0, std::min(p.m, i0 + tile_m), j0, std::min(p.n, j0 + tn));
      }
    } catch (...) {
      std::lock_guard<std::mutex> lk(err_mu);
      if (!err) err = std::current_exception();
      next.store(tiles);
    }
  };
  std::vector<std::thread> pool;
  const int nthreads = static_cast<int>(std::min<i64>(threads, tiles));
  for (int t = 1; t < nthreads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& th : pool) th.join();
  openblas_set_num_threads(blas_threads);
  if (err) std::rethrow_exception(err);
}

}  // namespace roundoff::exact
