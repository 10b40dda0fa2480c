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
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "roundoff/error.hpp"
#include "roundoff/exact/gemm.hpp"

#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

#define ROUNDOFF_EXACT_INTERNAL 1
#include "detail/gemm_fast_split.hpp"
#include "detail/gemm_kernel.hpp"

namespace roundoff::exact {
namespace {

using detail::row_info;
using detail::slicer;
using i64 = std::int64_t;
__extension__ typedef __int128 i128;  // GCC/Clang: exact 126-bit combinations
__extension__ typedef unsigned __int128 u128;

// Tiles bound the temporaries to O(threads * tile). Per thread: A slices for a tile's rows over
// all of K (blocks_a * tile_m * K <= a_slice_cap doubles; tile_m shrinks for long K), B slices
// for one K chunk (blocks_b * tile_n * chunk_k), and the DGEMM output (blocks * tile_m * tile_n,
// plus an int64 copy when K is chunked).
constexpr i64 tile_m = 256;
constexpr i64 tile_n = 128;  // measured: 64..512 within noise on the seed shape; 128 keeps a
                             // tile's B slices (3 x 128 x 2048 doubles, 6 MiB) in L3
constexpr i64 chunk_k = 2048;
constexpr i64 a_slice_cap = i64{1} << 22;  // 32 MiB of A slices per thread
constexpr i64 max_chunks = 512;            // chunk sums (each <= 2^53) stay <= 2^62 in int64
// Native path: up to this many doubles of packed A slices (4 MiB) are swept once per B panel;
// beyond, the tile runs K block by K block (speed only).
constexpr i64 a_panel_sweep_cap = i64{1} << 19;

// Cost model, in DGEMM multiply-adds: one sparse remainder term (an accumulator product plus
// bookkeeping) and one simple-path term. Only speed depends on them, never exactness.
constexpr double sparse_term_cost = 500.0;  // ~30 ns measured (add_product + lookup)
constexpr double simple_term_cost = 500.0;

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
  const i64 want = std::min<i64>(all_rows, std::max<i64>(4, 16384 / std::max<i64>(k, 1)));
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
      c.how = plan::kind::fast;
      c.kc = kc;
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
  }
  return best;
}

/// Exponent, simple-path flag and slicing constants of one row (lowest slice unit 2^u).
row_info row_setup(const double* x, i64 k, int bits, int slices, int w, slicer& sl) {
  row_info ri = detail::analyze_row(x, k);
  ri.u = std::max(ri.e - bits, -1074);
  if (!ri.bad) sl = slicer(ri.u, slices, w);
  return ri;
}

using detail::rem_entry;

/// Per-thread buffers, reused across tiles and chunks (no allocation per term).
struct workspace {
  std::vector<double> as, bs, c, res;
  std::vector<i64> ci;
  std::vector<row_info> ra, rb;
  std::vector<slicer> sla, slb;
  std::vector<rem_entry> rem_a, rem_b, sorted_a, sorted_b;
  std::vector<i64> off_a, off_b;
  std::vector<const double*> ap, bp;
  // Native path: packed A slices (all of K), one packed B panel, rows and slicers as packed
  // (padding and bad rows read zeros), and a zero row.
  std::vector<double> apk, bpk, zeros;
  double* apk_base = nullptr;  // apk's first 64-byte-aligned element
  std::vector<const double*> pa, pb;
  std::vector<slicer> psa, psb;
  bool a_valid = false, a_good = false;  // A slices of tile rows [a_i0, a_i1) of batch a_bt
  i64 a_bt = 0, a_i0 = 0, a_i1 = 0;
  accumulator acc;
};

/// Turns off flush-to-zero and denormals-are-zero in the current thread while alive, restoring
/// the caller's mode after: the slicing (and the accumulator's rounding) need IEEE gradual
/// underflow. New threads inherit the creating thread's mode, so each worker sets its own.
class ieee_underflow_guard {
 public:
#if defined(__SSE2__)
  ieee_underflow_guard() noexcept : saved_(_mm_getcsr()) {
    _mm_setcsr(saved_ & ~0x8040u);
  }
  ~ieee_underflow_guard() {
    _mm_setcsr(saved_);
  }

 private:
  unsigned saved_;
#endif
};

/// Workspaces outlive a call (their pages stay mapped: refaulting tens of MiB per call cost as
/// much as a DGEMM); at most one per thread that ever ran concurrently, each at most the
/// O(tile) sizes above. They are kept until the process exits.
class workspace_pool {
 public:
  std::unique_ptr<workspace> acquire() {
    std::lock_guard<std::mutex> lk(mu_);
    if (free_.empty()) return std::make_unique<workspace>();
    auto w = std::move(free_.back());
    free_.pop_back();
    return w;
  }
  void release(std::unique_ptr<workspace> w) {
    std::lock_guard<std::mutex> lk(mu_);
    free_.push_back(std::move(w));
  }

 private:
  std::mutex mu_;
  std::vector<std::unique_ptr<workspace>> free_;
};

workspace_pool& pool() {
  static workspace_pool p;
  return p;
}

/// Adds v * 2^e exactly (|v| < 2^126, e >= -2148: every value here is a multiple of 2^-2148,
/// and below 2^2000). One three-limb add.
inline void add_i128(accumulator& acc, i128 v, int e) {
  if (v == 0) return;
  const bool neg = v < 0;
  const u128 mag = neg ? static_cast<u128>(-v) : static_cast<u128>(v);
  acc.add_integer(static_cast<std::uint64_t>(mag), static_cast<std::uint64_t>(mag >> 64), neg, e);
}

/// Folds a finite bias into v (value v * 2^e0) when it is an integer multiple of 2^e0 below
/// 2^(e0 + 120); |v| < 2^125 by the plan's bounds, so the sum stays within 126 bits.
inline bool fold_bias(i128& v, double bias, int e0) {
  if (bias == 0) return true;
  const std::uint64_t bits = std::bit_cast<std::uint64_t>(bias);
  const int biased = static_cast<int>((bits >> 52) & 0x7ff);
  if (biased == 0x7ff) return false;
  std::uint64_t m = bits & 0xfffffffffffffULL;
  int e = -1074;
  if (biased != 0) m |= std::uint64_t{1} << 52, e = biased - 1075;
  const int tz = std::countr_zero(m);
  m >>= tz, e += tz;  // bias = +-m * 2^e, m odd
  if (e < e0 || e - e0 + static_cast<int>(std::bit_width(m)) > 120) return false;
  const i128 t = static_cast<i128>(m) << (e - e0);
  v += (bits >> 63) ? -t : t;
  return true;
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

/// Whether every output's slice products fit one 128-bit integer (docs/exact-fast.md, Lemma 4):
/// |v| < 2^125, so that a folded bias keeps it below 2^126. Karatsuba: |v| < 2^(2w + 66).
bool fits128(const plan& pl) {
  return pl.karatsuba || (53 + ceil_log2(pl.chunks) + (pl.sa - 1) * pl.wa + (pl.sb - 1) * pl.wb +
                              ceil_log2(pl.sa * pl.sb) <=
                          125);
}

class fast_gemm {
 public:
  /// native: the micro-kernel to run, or nullptr for the OpenBLAS path.
  fast_gemm(const gemm_problem& p, exact_tensor& dest, const plan& pl,
            const detail::native::micro_kernel* native)
      : p_(p), dest_(dest), pl_(pl), native_(native) {}

  /// Plans the native kernel serves: Karatsuba and plain plans of at most 4 x 4 slices.
  static bool native_plan(const plan& pl) { return pl.karatsuba || (pl.sa <= 4 && pl.sb <= 4); }

  void run_tile(workspace& ws, i64 bt, i64 i0, i64 i1, i64 j0, i64 j1) const {
    if (native_)
      run_tile_native(ws, bt, i0, i1, j0, j1);
    else
      run_tile_blas(ws, bt, i0, i1, j0, j1);
  }

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
      throw internal_error("gemm_exact: output index " + std::to_string(c) +
                           " outside dest of size " + std::to_string(dest_.size()));
    return c;
  }

  void run_tile_blas(workspace& ws, i64 bt, i64 i0, i64 i1, i64 j0, i64 j1) const;
  void run_tile_native(workspace& ws, i64 bt, i64 i0, i64 i1, i64 j0, i64 j1) const;
  /// Turns the slice products into each output's exact value. S(x, y, i, j) is the exact
  /// integer sum for slice pair (x, y) (Karatsuba: x = y = 0 lo*lo, 1 hi*hi, 2 sum*sum).
  template <class Products>
  void combine(workspace& ws, i64 bt, i64 i0, i64 j0, i64 mt, i64 nt, bool fits128,
               const Products& S) const;
  void analyze_rows(const double* const* rows, i64 count, int bits, int slices, int w,
                    row_info* info, slicer* sl) const;
  bool split_rows(const double* const* rows, i64 count, i64 k0, i64 kn, bool analyze, int bits,
                  int slices, int w, row_info* info, slicer* sl, int blocks, double* out,
                  std::vector<double>& res, std::vector<rem_entry>& rem) const;

  const gemm_problem& p_;
  exact_tensor& dest_;
  const plan& pl_;
  const detail::native::micro_kernel* const native_;
};

// Splits rows[r][k0 .. k0+kn) into `blocks` slice blocks of count x kn (row-major, block t at
// out + t*count*kn); bad rows get zero slices. Karatsuba's third block is lo + hi, exact: both
// are integers, |lo| <= 2^(w-1), |hi| <= 2^w. Nonzero residuals become remainder entries.
void fast_gemm::analyze_rows(const double* const* rows, i64 count, int bits, int slices, int w,
                             row_info* info, slicer* sl) const {
  for (i64 r = 0; r < count; ++r) info[r] = row_setup(rows[r], p_.k, bits, slices, w, sl[r]);
}

bool fast_gemm::split_rows(const double* const* rows, i64 count, i64 k0, i64 kn, bool analyze,
                           int bits, int slices, int w, row_info* info, slicer* sl, int blocks,
                           double* out, std::vector<double>& res,
                           std::vector<rem_entry>& rem) const {
  bool any_good = false;
  res.resize(static_cast<std::size_t>(kn));
  for (i64 r = 0; r < count; ++r) {
    double* dst[slicer::max_slices + 1];
    for (int t = 0; t < blocks; ++t) dst[t] = out + (t * count + r) * kn;
    const double* x = rows[r] + k0;
    slicer::result sr;
    if (analyze) {
      // One pass over the row: guess its exponent from a prefix (one bit of headroom), split,
      // and check the guess against the row's true maximum; redo the rare misses exactly.
      const i64 pre = std::min<i64>(kn, 64);
      row_info g = detail::analyze_row(x, pre);
      bool done = false;
      if (!g.bad && g.e + 1 < detail::row_exp_limit) {
        g.e = g.e + 1;
        g.u = std::max(g.e - bits, -1074);
        sl[r] = slicer(g.u, slices, w);
        sr = sl[r].split(x, kn, dst, res.data(), pl_.karatsuba);
        if (sr.max_abs < detail::exp_bound_bits(g.e)) info[r] = g, done = true;
      }
      if (!done) {
        info[r] = row_setup(rows[r], p_.k, bits, slices, w, sl[r]);
        if (!info[r].bad) sr = sl[r].split(x, kn, dst, res.data(), pl_.karatsuba);
      }
    } else if (!info[r].bad) {
      sr = sl[r].split(x, kn, dst, res.data(), pl_.karatsuba);
    }
    if (info[r].bad) {
      for (int t = 0; t < blocks; ++t) std::fill(dst[t], dst[t] + kn, 0.0);
      continue;
    }
    any_good = true;
    if (!sr.residual) continue;
    for (i64 k = 0; k < kn; ++k)
      if (res[static_cast<std::size_t>(k)] != 0.0)
        rem.push_back({static_cast<std::int32_t>(r), k0 + k, res[static_cast<std::size_t>(k)]});
  }
  return any_good;
}

void fast_gemm::run_tile_blas(workspace& ws, i64 bt, i64 i0, i64 i1, i64 j0, i64 j1) const {
  const i64 mt = i1 - i0, nt = j1 - j0, K = p_.k;
  const int ba = pl_.blocks_a(), bb = pl_.blocks_b();
  const int wa = pl_.wa, wb = pl_.wb;

  ws.rb.resize(static_cast<std::size_t>(nt));
  ws.slb.resize(static_cast<std::size_t>(nt));
  ws.bp.resize(static_cast<std::size_t>(nt));
  const auto& bp = ws.bp;
  for (i64 j = 0; j < nt; ++j) ws.bp[static_cast<std::size_t>(j)] = brow(bt, j0 + j);
  const bool multi = pl_.chunks > 1;

  // A's slices cover all of K and are kept while a thread's consecutive tiles share rows
  // (tile_m is sized so that blocks_a * tile_m * K stays bounded).
  if (!(ws.a_valid && ws.a_bt == bt && ws.a_i0 == i0 && ws.a_i1 == i1)) {
    ws.ra.resize(static_cast<std::size_t>(mt));
    ws.sla.resize(static_cast<std::size_t>(mt));
    ws.ap.resize(static_cast<std::size_t>(mt));
    for (i64 i = 0; i < mt; ++i) ws.ap[static_cast<std::size_t>(i)] = arow(bt, i0 + i);
    ws.as.resize(static_cast<std::size_t>(ba * mt * K));
    ws.rem_a.clear();
    if (multi)
      analyze_rows(ws.ap.data(), mt, pl_.bits_a(), pl_.sa, wa, ws.ra.data(), ws.sla.data());
    ws.a_good = false;
    for (i64 k0 = 0; k0 < K; k0 += pl_.kc) {
      const i64 kn = std::min(pl_.kc, K - k0);
      ws.a_good |=
          split_rows(ws.ap.data(), mt, k0, kn, !multi, pl_.bits_a(), pl_.sa, wa, ws.ra.data(),
                     ws.sla.data(), ba, ws.as.data() + ba * mt * k0, ws.res, ws.rem_a);
    }
    bucket(ws.rem_a, mt, ws.off_a, ws.sorted_a);
    ws.a_valid = true, ws.a_bt = bt, ws.a_i0 = i0, ws.a_i1 = i1;
  }

  const i64 cn = pl_.karatsuba ? nt : bb * nt;  // DGEMM output row length
  const i64 csize = pl_.karatsuba ? 3 * mt * nt : (ba * mt) * (bb * nt);
  ws.c.resize(static_cast<std::size_t>(csize));
  if (multi) ws.ci.assign(static_cast<std::size_t>(csize), 0);
  ws.rem_b.clear();

  // Row exponents span all of K (every chunk must share a row's slice units). With one chunk
  // each row is analyzed right before it is split, while it is still in cache.
  if (multi) analyze_rows(bp.data(), nt, pl_.bits_b(), pl_.sb, wb, ws.rb.data(), ws.slb.data());
  bool good_b = true;
  for (i64 k0 = 0; k0 < K; k0 += pl_.kc) {
    const i64 kn = std::min(pl_.kc, K - k0);
    ws.bs.resize(static_cast<std::size_t>(bb * nt * kn));
    good_b = split_rows(bp.data(), nt, k0, kn, !multi, pl_.bits_b(), pl_.sb, wb, ws.rb.data(),
                        ws.slb.data(), bb, ws.bs.data(), ws.res, ws.rem_b);
    if (!ws.a_good || !good_b) break;  // every output of the tile goes to the simple path
    const double* as = ws.as.data() + ba * mt * k0;
    const auto ik = static_cast<blasint>(kn);
    if (pl_.karatsuba) {
      for (int t = 0; t < 3; ++t)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(mt),
                    static_cast<blasint>(nt), ik, 1.0, as + t * mt * kn, ik,
                    ws.bs.data() + t * nt * kn, ik, 0.0, ws.c.data() + t * mt * nt,
                    static_cast<blasint>(nt));
    } else {
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(ba * mt),
                  static_cast<blasint>(bb * nt), ik, 1.0, as, ik, ws.bs.data(), ik, 0.0,
                  ws.c.data(), static_cast<blasint>(bb * nt));
    }
    if (multi)
      for (i64 t = 0; t < csize; ++t)
        ws.ci[static_cast<std::size_t>(t)] += static_cast<i64>(ws.c[static_cast<std::size_t>(t)]);
  }
  bucket(ws.rem_b, nt, ws.off_b, ws.sorted_b);

  // Exact integer DGEMM result for Karatsuba block t = x = y, or slice pair (x, y).
  const auto S = [&](int x, int y, i64 i, i64 j) -> i64 {
    const i64 idx = pl_.karatsuba ? x * mt * nt + i * nt + j : (x * mt + i) * cn + y * nt + j;
    return multi ? ws.ci[static_cast<std::size_t>(idx)]
                 : static_cast<i64>(ws.c[static_cast<std::size_t>(idx)]);
  };
  combine(ws, bt, i0, j0, mt, nt, fits128(pl_), S);
}

template <class Products>
void fast_gemm::combine(workspace& ws, i64 bt, i64 i0, i64 j0, i64 mt, i64 nt, bool fits,
                        const Products& S) const {
  const i64 K = p_.k;
  const int wa = pl_.wa, wb = pl_.wb;
  accumulator& acc = ws.acc;
  for (i64 i = 0; i < mt; ++i) {
    const row_info& ri = ws.ra[static_cast<std::size_t>(i)];
    const double* a = ws.ap[static_cast<std::size_t>(i)];
    for (i64 j = 0; j < nt; ++j) {
      const row_info& rj = ws.rb[static_cast<std::size_t>(j)];
      const i64 dst = dest_index(bt, i0 + i, j0 + j);
      const double* bs = bias(bt, i0 + i, j0 + j);
      const double* b = ws.bp[static_cast<std::size_t>(j)];
      if (ri.bad || rj.bad) {
        dot_exact(K, a, b, bs, acc);
        dest_.store(dst, acc);
        continue;
      }
      const int e0 = ri.u + rj.u;
      const bool no_rem =
          ws.off_a[static_cast<std::size_t>(i)] == ws.off_a[static_cast<std::size_t>(i + 1)] &&
          ws.off_b[static_cast<std::size_t>(j)] == ws.off_b[static_cast<std::size_t>(j + 1)];
      acc.clear();
      if (fits) {
        i128 v;
        if (pl_.karatsuba) {
          const i128 ll = S(0, 0, i, j), hh = S(1, 1, i, j), ss = S(2, 2, i, j);
          v = (hh << (2 * wa)) + ((ss - hh - ll) << wa) + ll;
        } else {
          v = 0;
          for (int x = 0; x < pl_.sa; ++x)
            for (int y = 0; y < pl_.sb; ++y)
              v += static_cast<i128>(S(x, y, i, j)) << (x * wa + y * wb);
        }
        if (bs && fold_bias(v, *bs, e0)) bs = nullptr;
        if (no_rem && !bs) {  // the whole exact value is v * 2^e0: no accumulator needed
          const u128 mag = v < 0 ? static_cast<u128>(-v) : static_cast<u128>(v);
          dest_.store_integer(dst, static_cast<std::uint64_t>(mag),
                              static_cast<std::uint64_t>(mag >> 64), v < 0, e0);
          continue;
        }
        add_i128(acc, v, e0);
      } else {
        for (int x = 0; x < pl_.sa; ++x)
          for (int y = 0; y < pl_.sb; ++y) add_i128(acc, S(x, y, i, j), e0 + x * wa + y * wb);
      }
      // Sparse remainder: A_rem . B + A_cov . B_rem (docs/exact-fast.md, "Remainder").
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

/// The first 64-byte-aligned element of buf after resizing it to hold n doubles from there. The
/// packed panels' rows (mr or nr doubles, multiples of 8 for the AVX-512 kernel) then start on
/// cache lines: a misaligned A panel made every step of the kernel touch two lines, and the
/// second one stalled it (measured on the 1024 x 4096 x 4096 case).
double* aligned64(std::vector<double>& buf, i64 n) {
  buf.resize(static_cast<std::size_t>(n + 8));
  const auto mis = (reinterpret_cast<std::uintptr_t>(buf.data()) / sizeof(double)) % 8;
  return buf.data() + (8 - mis) % 8;
}

/// Calls block(k0, s0, sn) for every K block of the native path, [s0, s0 + sn) with sn <= kb,
/// chunk by chunk (chunks of kc columns starting at k0; blocks never straddle a chunk boundary),
/// then chunk_done(k0) after each chunk. A and B panels are cut by this one enumeration, so
/// their K blocks line up.
template <class Block, class ChunkDone>
void for_k_blocks(i64 K, i64 kc, i64 kb, const Block& block, const ChunkDone& chunk_done) {
  for (i64 k0 = 0; k0 < K; k0 += kc) {
    const i64 kn = std::min(kc, K - k0);
    for (i64 s0 = k0; s0 < k0 + kn; s0 += kb) block(k0, s0, std::min(kb, k0 + kn - s0));
    chunk_done(k0);
  }
}

// The native path (detail/gemm_kernel.hpp): rows are analyzed first, then sliced K block by K
// block straight into packed panels; A's panels cover all of K and are kept across a thread's
// tiles, B's are made one panel of nr rows at a time and consumed at once by the kernel.
void fast_gemm::run_tile_native(workspace& ws, i64 bt, i64 i0, i64 i1, i64 j0, i64 j1) const {
  namespace nat = detail::native;
  const nat::micro_kernel& kern = *native_;
  const i64 mr = kern.mr, nr = kern.nr, kb = kern.kb;
  const i64 mt = i1 - i0, nt = j1 - j0, K = p_.k;
  const i64 mp = (mt + mr - 1) / mr * mr, np = (nt + nr - 1) / nr * nr;
  const int ba = pl_.blocks_a(), bb = pl_.blocks_b();
  const int slices_a = pl_.karatsuba ? 2 : pl_.sa, slices_b = pl_.karatsuba ? 2 : pl_.sb;
  const bool multi = pl_.chunks > 1;
  if (static_cast<i64>(ws.zeros.size()) < K) ws.zeros.assign(static_cast<std::size_t>(K), 0.0);
  const slicer zero_a(-1074, slices_a, pl_.wa), zero_b(-1074, slices_b, pl_.wb);

  if (!(ws.a_valid && ws.a_bt == bt && ws.a_i0 == i0 && ws.a_i1 == i1)) {
    ws.ra.resize(static_cast<std::size_t>(mt));
    ws.sla.resize(static_cast<std::size_t>(mt));
    ws.ap.resize(static_cast<std::size_t>(mt));
    ws.pa.assign(static_cast<std::size_t>(mp), ws.zeros.data());
    ws.psa.assign(static_cast<std::size_t>(mp), zero_a);
    ws.a_good = false;
    for (i64 i = 0; i < mt; ++i) {
      const auto ui = static_cast<std::size_t>(i);
      ws.ap[ui] = arow(bt, i0 + i);
      ws.ra[ui] = row_setup(ws.ap[ui], K, pl_.bits_a(), slices_a, pl_.wa, ws.sla[ui]);
      if (ws.ra[ui].bad) continue;
      ws.a_good = true;
      ws.pa[ui] = ws.ap[ui];
      ws.psa[ui] = ws.sla[ui];
    }
    ws.apk_base = aligned64(ws.apk, ba * mp * K);
    ws.rem_a.clear();
    for_k_blocks(
        K, pl_.kc, kb,
        [&](i64, i64 s0, i64 sn) {
          for (i64 pnl = 0; pnl < mp; pnl += mr) {
            double* out[slicer::max_slices + 1];
            for (int t = 0; t < ba; ++t) out[t] = ws.apk_base + t * mp * K + s0 * mp + pnl * sn;
            nat::split_panel(kern.mr, kern.wide_split, ws.pa.data() + pnl, ws.psa.data() + pnl,
                             slices_a, pl_.karatsuba, s0, sn, out, static_cast<std::int32_t>(pnl),
                             ws.rem_a);
          }
        },
        [](i64) {});
    bucket(ws.rem_a, mt, ws.off_a, ws.sorted_a);
    ws.a_valid = true, ws.a_bt = bt, ws.a_i0 = i0, ws.a_i1 = i1;
  }

  ws.rb.resize(static_cast<std::size_t>(nt));
  ws.slb.resize(static_cast<std::size_t>(nt));
  ws.bp.resize(static_cast<std::size_t>(np));
  ws.pb.resize(static_cast<std::size_t>(np));
  ws.psb.resize(static_cast<std::size_t>(np));
  // Rows [j0, j1) of the tile: exponent, slicer, and what the packing reads (zeros for bad
  // and padding rows).
  const auto setup_b = [&](i64 r0, i64 r1) {
    for (i64 j = r0; j < r1; ++j) {
      const auto uj = static_cast<std::size_t>(j);
      ws.pb[uj] = ws.zeros.data(), ws.psb[uj] = zero_b;
      if (j >= nt) continue;
      ws.bp[uj] = brow(bt, j0 + j);
      ws.rb[uj] = row_setup(ws.bp[uj], K, pl_.bits_b(), slices_b, pl_.wb, ws.slb[uj]);
      if (!ws.rb[uj].bad) ws.pb[uj] = ws.bp[uj], ws.psb[uj] = ws.slb[uj];
    }
  };
  // Products: Karatsuba (t, t) for t < 3; plain (x, y), index x * sb + y.
  const int nprod = pl_.karatsuba ? 3 : pl_.sa * pl_.sb;
  const i64 csize = nprod * mp * np;
  ws.c.resize(static_cast<std::size_t>(csize));
  if (multi) ws.ci.assign(static_cast<std::size_t>(csize), 0);
  ws.rem_b.clear();
  double* const bpk = aligned64(ws.bpk, bb * nr * kb);
  // Slices panel q over columns [s0, s0 + sn) of chunk k0 and adds its products into C.
  const auto panel_block = [&](i64 q, i64 k0, i64 s0, i64 sn) {
    double* out[slicer::max_slices + 1];
    for (int t = 0; t < bb; ++t) out[t] = bpk + t * nr * sn;
    nat::split_panel(kern.nr, kern.wide_split, ws.pb.data() + q, ws.psb.data() + q, slices_b,
                     pl_.karatsuba, s0, sn, out, static_cast<std::int32_t>(q), ws.rem_b);
    for (int pi = 0; pi < nprod; ++pi) {
      const int ta = pl_.karatsuba ? pi : pi / pl_.sb, tb = pl_.karatsuba ? pi : pi % pl_.sb;
      const double* as = ws.apk_base + ta * mp * K + s0 * mp;
      const double* bs = bpk + tb * nr * sn;
      double* c = ws.c.data() + pi * mp * np + q;
      for (i64 pnl = 0; pnl < mp; pnl += mr)
        kern.run(sn, as + pnl * sn, bs, c + pnl * np, np, s0 != k0);
    }
  };
  // Adds a finished chunk's sums, columns [q0, q1) of C, into the int64 totals.
  const auto add_chunk = [&](i64 q0, i64 q1) {
    for (i64 r = 0; r < nprod * mp; ++r)
      for (i64 j = q0; j < q1; ++j) {
        const auto at = static_cast<std::size_t>(r * np + j);
        ws.ci[at] += static_cast<i64>(ws.c[at]);
      }
  };
  if (!ws.a_good) {  // every output of the tile goes to the simple path
    setup_b(0, np);
  } else if (ba * mp * K <= a_panel_sweep_cap) {
    // A's packed slices fit in cache: each B panel is analyzed and then sliced while its rows
    // are still in cache, and is run against all of A, chunk by chunk.
    for (i64 q = 0; q < np; q += nr) {
      setup_b(q, q + nr);
      for_k_blocks(
          K, pl_.kc, kb, [&](i64 k0, i64 s0, i64 sn) { panel_block(q, k0, s0, sn); },
          [&](i64) {
            if (multi) add_chunk(q, q + nr);
          });
    }
  } else {
    // Large A: K block by K block, so that one K block of A (3 * mp * kb doubles) is reused by
    // every B panel instead of all of A being streamed from memory once per panel.
    setup_b(0, np);
    for_k_blocks(
        K, pl_.kc, kb,
        [&](i64 k0, i64 s0, i64 sn) {
          for (i64 q = 0; q < np; q += nr) panel_block(q, k0, s0, sn);
        },
        [&](i64) {
          if (multi) add_chunk(0, np);
        });
  }
  bucket(ws.rem_b, nt, ws.off_b, ws.sorted_b);

  const auto S = [&](int x, int y, i64 i, i64 j) -> i64 {
    const int pi = pl_.karatsuba ? x : x * pl_.sb + y;
    const i64 idx = pi * mp * np + i * np + j;
    return multi ? ws.ci[static_cast<std::size_t>(idx)]
                 : static_cast<i64>(ws.c[static_cast<std::size_t>(idx)]);
  };
  combine(ws, bt, i0, j0, mt, nt, fits128(pl_), S);
}

/// Worker threads kept between calls (starting threads cost 50-100 us a call, against calls of
/// a few ms). A call hands one job to `helpers` parked threads and runs a share itself; the job
/// pulls its items from a shared counter, so a helper that wakes late just finds none left.
/// One call at a time: a call that finds the pool busy (another user thread's gemm_exact, or a
/// nested call) starts its own threads instead. The threads live until the process exits.
class worker_pool {
 public:
  ~worker_pool() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
  }

  /// Runs job on the calling thread and on `helpers` other threads; returns when all are done.
  /// job must not throw.
  void run(int helpers, const std::function<void()>& job) {
    bool expected = false;
    if (!busy_.compare_exchange_strong(expected, true, std::memory_order_acquire)) {
      std::vector<std::thread> own;
      for (int t = 0; t < helpers; ++t) own.emplace_back(job);
      job();
      for (auto& th : own) th.join();
      return;
    }
    {
      std::lock_guard<std::mutex> lk(mu_);
      while (static_cast<int>(threads_.size()) < helpers)
        threads_.emplace_back([this] { serve(); });
      job_ = &job;
      ++generation_;
      wanted_ = helpers;
    }
    wake_.notify_all();
    job();
    {
      std::unique_lock<std::mutex> lk(mu_);
      wanted_ = 0;  // helpers not yet awake skip this job: its items are all taken
      done_.wait(lk, [this] { return running_ == 0; });
      job_ = nullptr;
    }
    busy_.store(false, std::memory_order_release);
  }

 private:
  void serve() {
    std::uint64_t seen = 0;
    std::unique_lock<std::mutex> lk(mu_);
    for (;;) {
      wake_.wait(lk, [&] { return stop_ || (generation_ != seen && wanted_ > 0); });
      if (stop_) return;
      seen = generation_;
      --wanted_;
      ++running_;
      const std::function<void()>* job = job_;
      lk.unlock();
      (*job)();
      lk.lock();
      if (--running_ == 0) done_.notify_all();
    }
  }

  std::atomic<bool> busy_{false};
  std::mutex mu_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> threads_;
  const std::function<void()>* job_ = nullptr;
  std::uint64_t generation_ = 0;
  int wanted_ = 0, running_ = 0;
  bool stop_ = false;
};

worker_pool& workers() {
  static worker_pool p;
  return p;
}

/// Runs work(next, count) on `threads` threads (the caller's among them), each under an IEEE
/// underflow guard; the workers take item numbers from the shared counter `next` until they
/// reach `count`. The first exception stops the others (the counter jumps to the end) and is
/// rethrown once all are done.
template <class Work>
void run_workers(int threads, i64 count, const Work& work) {
  std::atomic<i64> next{0};
  std::exception_ptr err;
  std::mutex err_mu;
  const std::function<void()> worker = [&] {
    const ieee_underflow_guard ieee;
    try {
      work(next, count);
    } catch (...) {
      std::lock_guard<std::mutex> lk(err_mu);
      if (!err) err = std::current_exception();
      next.store(count);
    }
  };
  if (threads <= 1)
    worker();
  else
    workers().run(threads - 1, worker);
  if (err) std::rethrow_exception(err);
}

void gemm_simple_parallel(const gemm_problem& p, exact_tensor& dest, int threads) {
  // One accumulator per output, outputs spread over threads (rows of the flattened batch*m).
  run_workers(threads, p.batch * p.m, [&](std::atomic<i64>& next, i64 rows) {
    accumulator acc;
    for (i64 r; (r = next.fetch_add(1)) < rows;) {
      const i64 bt = r / p.m, i = r % p.m;
      for (i64 j = 0; j < p.n; ++j) {
        const double* bs = p.bias ? p.bias + bt * p.bias_batch_stride + i * p.bias_row_stride +
                                        j * p.bias_col_stride
                                  : nullptr;
        dot_exact(p.k, p.a ? p.a + bt * p.a_batch_stride + i * p.lda : nullptr,
                  p.b ? p.b + bt * p.b_batch_stride + j * p.ldb : nullptr, bs, acc);
        const i64 c = p.c_offset + bt * p.c_batch_stride + i * p.c_row_stride + j * p.c_col_stride;
        if (c < 0 || c >= dest.size())
          throw internal_error("gemm_exact: output index " + std::to_string(c) +
                               " outside dest of size " + std::to_string(dest.size()));
        dest.store(c, acc);
      }
    }
  });
}

/// Sets OpenBLAS to one thread while alive (each worker's DGEMM is single-threaded: the
/// parallelism is ours, over tiles) and restores the caller's count after, exception or not.
class single_threaded_blas {
 public:
  single_threaded_blas() : saved_(openblas_get_num_threads()) { openblas_set_num_threads(1); }
  ~single_threaded_blas() { openblas_set_num_threads(saved_); }
  single_threaded_blas(const single_threaded_blas&) = delete;
  single_threaded_blas& operator=(const single_threaded_blas&) = delete;

 private:
  int saved_;
};

}  // namespace

namespace detail::split_kernels {
std::uint64_t max_abs_bits(const double* x, i64 n) noexcept {
  // Signed compare is the integer order here: the sign bit is cleared.
  std::int64_t mx = 0;
  for (i64 k = 0; k < n; ++k) {
    const auto b =
        static_cast<std::int64_t>(std::bit_cast<std::uint64_t>(x[k]) & 0x7fffffffffffffffULL);
    mx = b > mx ? b : mx;
  }
  return static_cast<std::uint64_t>(mx);
}
slicer::result split1(const slicer& sl, const double* x, i64 n, double* const* out, double* res) {
  return body<1, false>(sl, x, n, out, res);
}
slicer::result split2(const slicer& sl, const double* x, i64 n, double* const* out, double* res) {
  return body<2, false>(sl, x, n, out, res);
}
slicer::result split2k(const slicer& sl, const double* x, i64 n, double* const* out, double* res) {
  return body<2, true>(sl, x, n, out, res);
}
slicer::result split3(const slicer& sl, const double* x, i64 n, double* const* out, double* res) {
  return body<3, false>(sl, x, n, out, res);
}
slicer::result split4(const slicer& sl, const double* x, i64 n, double* const* out, double* res) {
  return body<4, false>(sl, x, n, out, res);
}
}  // namespace detail::split_kernels

int engine_threads(int requested) noexcept {
  if (requested > 0) return requested;
  if (const char* env = std::getenv("ROUNDOFF_THREADS")) {
    char* end = nullptr;
    const long v = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && v >= 1 && v <= 1024) return static_cast<int>(v);
  }
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

const char* gemm_exact_kernel() noexcept {
  const detail::native::micro_kernel* k = detail::native::chosen();
  return k != nullptr ? k->name : "openblas";
}

void gemm_exact(const gemm_problem& p, exact_tensor& dest, const engine_options& opt) {
  if (p.batch < 0 || p.m < 0 || p.n < 0 || p.k < 0)
    throw internal_error("gemm_exact: negative dimension");
  if (p.batch == 0 || p.m == 0 || p.n == 0) return;
  const int threads = engine_threads(opt.threads);
  const plan pl = choose_plan(p);
  if (pl.how == plan::kind::simple) return gemm_simple_parallel(p, dest, threads);

  // Tiles: enough of them to keep every thread busy.
  // A's slices for a tile span all of K: cap them at a_slice_cap doubles per thread.
  const i64 tm = std::clamp<i64>(a_slice_cap / (pl.blocks_a() * p.k), 8, tile_m);
  const i64 mtiles = (p.m + tm - 1) / tm;
  i64 tn = std::min(p.n, tile_n);
  const i64 want = (threads + p.batch * mtiles - 1) / (p.batch * mtiles);
  if (want > 1) tn = std::max<i64>(1, std::min(tn, (p.n + want - 1) / want));
  i64 ntiles = (p.n + tn - 1) / tn;
  const detail::native::micro_kernel* native =
      fast_gemm::native_plan(pl) ? detail::native::chosen() : nullptr;
  if (native) {  // balanced tiles of whole nr-row panels: less zero padding
    const i64 nr = native->nr;
    tn = ((p.n + ntiles - 1) / ntiles + nr - 1) / nr * nr;
    ntiles = (p.n + tn - 1) / tn;
  }
  const i64 tiles = p.batch * mtiles * ntiles;

  // Only the OpenBLAS path calls BLAS. Setting OpenBLAS's thread count wakes its idle workers,
  // which then spin for ~0.1 s: the native path leaves it alone.
  std::optional<single_threaded_blas> blas1;
  if (!native) blas1.emplace();
  const fast_gemm g(p, dest, pl, native);
  run_workers(static_cast<int>(std::min<i64>(threads, tiles)), tiles,
              [&](std::atomic<i64>& next, i64 count) {
                struct lease {
                  std::unique_ptr<workspace> w = pool().acquire();
                  ~lease() { pool().release(std::move(w)); }
                } held;
                workspace& ws = *held.w;
                ws.a_valid = false;  // slices of an earlier call's A
                for (i64 t; (t = next.fetch_add(1)) < count;) {
                  const i64 bt = t / (mtiles * ntiles), rest = t % (mtiles * ntiles);
                  const i64 i0 = (rest / ntiles) * tm, j0 = (rest % ntiles) * tn;
                  g.run_tile(ws, bt, i0, std::min(p.m, i0 + tm), j0, std::min(p.n, j0 + tn));
                }
              });
}

}  // namespace roundoff::exact
