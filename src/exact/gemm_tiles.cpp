// The tile executors of the fast exact contraction: slicing a tile's rows, the slice products
// (native packed-panel kernels, or OpenBLAS DGEMM on slice blocks), the sparse remainder and the
// exact combination of each output. Proofs: docs/exact-fast.md, "Fast path" §2 steps 3-6, §3.
#include <cblas.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#define ROUNDOFF_EXACT_INTERNAL 1
#include "detail/gemm_tiles.hpp"
#include "roundoff/error.hpp"

namespace roundoff::exact::detail {
namespace {

using i64 = std::int64_t;
__extension__ typedef __int128 i128;  // GCC/Clang: exact 126-bit combinations
__extension__ typedef unsigned __int128 u128;

/// The free workspaces (see workspace_lease).
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

/// Exponent, simple-path flag and slicing constants of one row (lowest slice unit 2^u).
row_info row_setup(const double* x, i64 k, int bits, int slices, int w, slicer& sl) {
  row_info ri = analyze_row(x, k);
  ri.u = std::max(ri.e - bits, -1074);
  if (!ri.bad) sl = slicer(ri.u, slices, w);
  return ri;
}

/// Adds v * 2^e exactly (|v| < 2^126, e >= -2148: every value here is a multiple of 2^-2148,
/// and below 2^2000). One three-limb add.
inline void add_i128(accumulator& acc, i128 v, int e) {
  if (v == 0) return;
  const bool neg = v < 0;
  const u128 mag = neg ? static_cast<u128>(-v) : static_cast<u128>(v);
  acc.add_integer(static_cast<std::uint64_t>(mag), static_cast<std::uint64_t>(mag >> 64), neg, e);
}

/// A signed integer modulo 2^192, two's complement in three limbs (lowest first). Sums of terms
/// are exact whenever the true sum lies in [-2^191, 2^191).
struct int192 {
  std::uint64_t w[3] = {0, 0, 0};
  /// Adds p * 2^shift modulo 2^192, for any 128-bit p and 0 <= shift < 192: p sign-extended to
  /// three limbs, shifted left across limbs, added with carries.
  void add(i128 p, int shift) noexcept {
    const std::uint64_t t[3] = {static_cast<std::uint64_t>(p),
                                static_cast<std::uint64_t>(static_cast<u128>(p) >> 64),
                                p < 0 ? ~std::uint64_t{0} : 0};
    const int q = shift / 64, r = shift % 64;
    unsigned carry = 0;
    for (int l = q; l < 3; ++l) {
      const std::uint64_t below = l - q >= 1 && r ? t[l - q - 1] >> (64 - r) : 0;
      const std::uint64_t limb = (t[l - q] << r) | below;
      const u128 sum = u128{w[l]} + limb + carry;
      w[l] = static_cast<std::uint64_t>(sum);
      carry = static_cast<unsigned>(sum >> 64);
    }
  }
  bool negative() const noexcept { return (w[2] >> 63) != 0; }
  void negate() noexcept {
    unsigned carry = 1;
    for (auto& l : w) {
      const u128 sum = u128{~l} + carry;
      l = static_cast<std::uint64_t>(sum);
      carry = static_cast<unsigned>(sum >> 64);
    }
  }
};

/// A finite nonzero bias as +-m * 2^e with m odd, when it is an integer multiple of 2^e0 below
/// 2^(e0 + bits): then *shift = e - e0 and the result is true.
inline bool bias_in_units(double bias, int e0, int bits, std::uint64_t* m_out, int* shift,
                          bool* negative) {
  const std::uint64_t pattern = std::bit_cast<std::uint64_t>(bias);
  const int biased = static_cast<int>((pattern >> 52) & 0x7ff);
  if (biased == 0x7ff) return false;
  std::uint64_t m = pattern & 0xfffffffffffffULL;
  int e = -1074;
  if (biased != 0) m |= std::uint64_t{1} << 52, e = biased - 1075;
  const int tz = std::countr_zero(m);
  m >>= tz, e += tz;  // bias = +-m * 2^e, m odd
  if (e < e0 || e - e0 + static_cast<int>(std::bit_width(m)) > bits) return false;
  *m_out = m, *shift = e - e0, *negative = (pattern >> 63) != 0;
  return true;
}

/// Folds a finite bias into v (value v * 2^e0) when it is an integer multiple of 2^e0 below
/// 2^(e0 + 120); |v| < 2^125 by the plan's bounds, so the sum stays within 126 bits.
inline bool fold_bias(i128& v, double bias, int e0) {
  if (bias == 0) return true;
  std::uint64_t m;
  int shift;
  bool negative;
  if (!bias_in_units(bias, e0, 120, &m, &shift, &negative)) return false;
  const i128 t = static_cast<i128>(m) << shift;
  v += negative ? -t : t;
  return true;
}

/// Folds a finite bias into a 192-bit v (value v * 2^e0) when it is an integer multiple of 2^e0
/// below 2^(e0 + 189); |v| <= 2^190 by the plan's bound (Lemma 4), so the sum stays below
/// 2^190 + 2^189 < 2^191, exact modulo 2^192.
inline bool fold_bias192(int192& v, double bias, int e0) {
  if (bias == 0) return true;
  std::uint64_t m;
  int shift;
  bool negative;
  if (!bias_in_units(bias, e0, 189, &m, &shift, &negative)) return false;
  const i128 t = static_cast<i128>(m);
  v.add(negative ? -t : t, shift);
  return true;
}

/// Karatsuba with 3 slices on the OpenBLAS path: blocks 3, 4, 5 = x0 + x1, x0 + x2, x1 + x2,
/// element by element over out[t][0 .. n) (the native slicing forms them in registers). Exact:
/// each slice is an integer of magnitude at most 2^51.
void pair_sums(double* const* out, i64 n) {
  const double* __restrict x0 = out[0], * __restrict x1 = out[1], * __restrict x2 = out[2];
  double* __restrict s01 = out[3], * __restrict s02 = out[4], * __restrict s12 = out[5];
  for (i64 k = 0; k < n; ++k) {
    s01[k] = x0[k] + x1[k];
    s02[k] = x0[k] + x2[k];
    s12[k] = x1[k] + x2[k];
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

}  // namespace

void tile_executor::init_b_row_cache() {
  const i64 batches = problem_.b_batch_stride == 0 ? 1 : problem_.batch;
  const i64 rows = batches * problem_.n;
  if (rows <= 0 || rows > (i64{1} << 22)) return;  // 4M rows: 52 MB; beyond, no cache
  b_row_cache_.resize(static_cast<std::size_t>(rows));
  b_row_state_ = std::make_unique<std::atomic<unsigned char>[]>(static_cast<std::size_t>(rows));
}

row_info tile_executor::b_row_info(i64 bt, i64 j, const double* row) const {
  const auto fresh = [&] {
    row_info ri = analyze_row(row, problem_.k);
    ri.u = std::max(ri.e - plan_.bits_b(), -1074);
    return ri;
  };
  if (!b_row_state_) return fresh();
  const auto at =
      static_cast<std::size_t>((problem_.b_batch_stride == 0 ? 0 : bt) * problem_.n + j);
  std::atomic<unsigned char>& state = b_row_state_[at];
  if (state.load(std::memory_order_acquire) == 2) return b_row_cache_[at];
  const row_info ri = fresh();
  unsigned char expected = 0;
  if (state.compare_exchange_strong(expected, 1, std::memory_order_relaxed)) {
    b_row_cache_[at] = ri;
    state.store(2, std::memory_order_release);
  }
  return ri;
}

workspace_lease::workspace_lease() : held_(pool().acquire()) {
  held_->a_cached = false;  // slices of an earlier call's A
}
workspace_lease::~workspace_lease() {
  pool().release(std::move(held_));
}

namespace {

/// Freivalds' check of one product C = A B^T (rows_a x rows_b, integer-valued doubles, Lemma 2):
/// with r in {-1, +1}^rows_b drawn from `seed`, C r must equal A (B^T r), both formed exactly in
/// integers. A single wrong sum always breaks the equality (its r_s is nonzero); any set of wrong
/// sums that does not depend on r breaks it with probability at least 1/2.
bool product_agrees(i64 rows_a, i64 rows_b, i64 kn, const double* a, const double* b,
                    const double* c, std::uint64_t seed, std::vector<i64>& signs,
                    std::vector<i128>& bt_r) {
  signs.resize(static_cast<std::size_t>(rows_b));
  std::uint64_t x = seed;
  for (i64 s = 0; s < rows_b; ++s) {  // splitmix64
    std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    signs[static_cast<std::size_t>(s)] = ((z ^ (z >> 31)) & 1) ? 1 : -1;
  }
  // Each |a b| <= 2^53 and each sum over k of them too (Lemma 2), so |a (B^T r)_k| and both
  // sides stay below rows_b * 2^54 < 2^100: exact in 128 bits.
  bt_r.assign(static_cast<std::size_t>(kn), 0);
  for (i64 s = 0; s < rows_b; ++s) {
    const i64 sign = signs[static_cast<std::size_t>(s)];
    const double* row = b + s * kn;
    for (i64 k = 0; k < kn; ++k)
      bt_r[static_cast<std::size_t>(k)] += static_cast<i128>(static_cast<i64>(row[k]) * sign);
  }
  for (i64 r = 0; r < rows_a; ++r) {
    i128 left = 0, right = 0;
    const double* row = a + r * kn;
    for (i64 k = 0; k < kn; ++k)
      right += static_cast<i128>(static_cast<i64>(row[k])) * bt_r[static_cast<std::size_t>(k)];
    const double* out = c + r * rows_b;
    for (i64 s = 0; s < rows_b; ++s)
      left += static_cast<i128>(static_cast<i64>(out[s]) * signs[static_cast<std::size_t>(s)]);
    if (left != right) return false;
  }
  return true;
}

}  // namespace

void tile_executor::form_products(const double* a_slices, const double* b_slices, double* products,
                                  i64 mt, i64 nt, i64 kn, i64 count) const {
  // The calls: Karatsuba one of mt x nt per block, plain one of the stacked blocks.
  struct call {
    i64 rows_a, rows_b;
    const double *a, *b;
    double* c;
  };
  call calls[6];
  int n_calls = 0;
  if (plan_.karatsuba) {
    for (int t = 0; t < plan_.products(); ++t)
      calls[n_calls++] = {mt, nt, a_slices + t * mt * kn, b_slices + t * nt * kn,
                          products + t * mt * nt};
  } else {
    calls[n_calls++] = {plan_.blocks_a() * mt, plan_.blocks_b() * nt, a_slices, b_slices, products};
  }
  std::uint64_t seed = 0;
  {
    // One tile's product at a time: the implementation need not be thread-safe, and a device
    // runs one product at a time anyway.
    const std::lock_guard<std::mutex> lk(products_lock_);
    for (int t = 0; t < n_calls; ++t)
      products_->multiply(calls[t].rows_a, calls[t].rows_b, kn, calls[t].a, calls[t].b, calls[t].c);
    seed = ++products_calls_;
  }
  const auto inexact = [&](const char* what) {
    // Not the input's fault and not roundoff's: the device cannot serve an exact product.
    throw unsupported_error(std::string("gemm_exact: the slice products from ") +
                            products_->name() + " are not exact (" + what +
                            "); the device does not compute IEEE binary64 products and sums");
  };
  // Lemma 2: every sum is an integer of magnitude at most 2^53. A result outside that set was
  // not computed in exact binary64 arithmetic (a faulty device, or a reduced-precision mode).
  for (i64 t = 0; t < count; ++t) {
    const double v = products[t];
    if (!(std::fabs(v) <= 0x1p53) || v != std::trunc(v))
      inexact("a sum is not an integer of magnitude <= 2^53");
  }
  // And the integers must be the right ones (docs/exact-gpu.md §3, "Detection").
  thread_local std::vector<i64> signs;
  thread_local std::vector<i128> bt_r;
  for (int t = 0; t < n_calls; ++t)
    if (!product_agrees(calls[t].rows_a, calls[t].rows_b, kn, calls[t].a, calls[t].b, calls[t].c,
                        seed * 6 + static_cast<std::uint64_t>(t), signs, bt_r))
      inexact("the sums fail Freivalds' check C r = A (B^T r)");
}

i64 tile_executor::dest_index(i64 batch, i64 i, i64 j) const {
  const i64 c = problem_.c_offset + batch * problem_.c_batch_stride + i * problem_.c_row_stride +
                j * problem_.c_col_stride;
  if (c < 0 || c >= dest_.size())
    throw internal_error("gemm_exact: output index " + std::to_string(c) +
                         " outside dest of size " + std::to_string(dest_.size()));
  return c;
}

// Splits rows[r][k0 .. k0+kn) into `blocks` slice blocks of count x kn (row-major, block t at
// out + t*count*kn); bad rows get zero slices. Karatsuba's third block is lo + hi, exact: both
// are integers, |lo| <= 2^(w-1), |hi| <= 2^w. Nonzero residuals become remainder entries.
void tile_executor::analyze_rows(const double* const* rows, i64 count, int bits, int slices, int w,
                                 row_info* info, slicer* sl) const {
  for (i64 r = 0; r < count; ++r) info[r] = row_setup(rows[r], problem_.k, bits, slices, w, sl[r]);
}

bool tile_executor::split_rows(const double* const* rows, i64 count, i64 k0, i64 kn, bool analyze,
                               int bits, int slices, int w, row_info* info, slicer* sl, int blocks,
                               double* out, std::vector<double>& res,
                               std::vector<rem_entry>& rem) const {
  bool any_good = false;
  const bool kara2 = plan_.karatsuba && !plan_.karatsuba3();  // lo + hi formed while slicing
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
      row_info g = analyze_row(x, pre);
      bool done = false;
      if (!g.bad && g.e + 1 < row_exp_limit) {
        g.e = g.e + 1;
        g.u = std::max(g.e - bits, -1074);
        sl[r] = slicer(g.u, slices, w);
        sr = sl[r].split(x, kn, dst, res.data(), kara2);
        if (sr.max_abs < exp_bound_bits(g.e)) info[r] = g, done = true;
      }
      if (!done) {
        info[r] = row_setup(rows[r], problem_.k, bits, slices, w, sl[r]);
        if (!info[r].bad) sr = sl[r].split(x, kn, dst, res.data(), kara2);
      }
    } else if (!info[r].bad) {
      sr = sl[r].split(x, kn, dst, res.data(), kara2);
    }
    if (info[r].bad) {
      for (int t = 0; t < blocks; ++t) std::fill(dst[t], dst[t] + kn, 0.0);
      continue;
    }
    if (plan_.karatsuba3()) pair_sums(dst, kn);
    any_good = true;
    if (!sr.residual) continue;
    for (i64 k = 0; k < kn; ++k)
      if (res[static_cast<std::size_t>(k)] != 0.0)
        rem.push_back({static_cast<std::int32_t>(r), k0 + k, res[static_cast<std::size_t>(k)]});
  }
  return any_good;
}

void tile_executor::run_tile_blas(workspace& ws, i64 bt, i64 i0, i64 i1, i64 j0, i64 j1) const {
  const i64 mt = i1 - i0, nt = j1 - j0, K = problem_.k;
  const int ba = plan_.blocks_a(), bb = plan_.blocks_b();
  const int wa = plan_.width_a, wb = plan_.width_b;

  ws.b_rows.resize(static_cast<std::size_t>(nt));
  ws.b_slicers.resize(static_cast<std::size_t>(nt));
  ws.b_row_pointers.resize(static_cast<std::size_t>(nt));
  const auto& bp = ws.b_row_pointers;
  for (i64 j = 0; j < nt; ++j) ws.b_row_pointers[static_cast<std::size_t>(j)] = b_row(bt, j0 + j);
  const bool multi = plan_.chunks > 1;

  // A's slices cover all of K and are kept while a thread's consecutive tiles share rows
  // (tile_m is sized so that blocks_a * tile_m * K stays bounded).
  if (!(ws.a_cached && ws.a_batch == bt && ws.a_row_begin == i0 && ws.a_row_end == i1)) {
    ws.a_rows.resize(static_cast<std::size_t>(mt));
    ws.a_slicers.resize(static_cast<std::size_t>(mt));
    ws.a_row_pointers.resize(static_cast<std::size_t>(mt));
    for (i64 i = 0; i < mt; ++i) ws.a_row_pointers[static_cast<std::size_t>(i)] = a_row(bt, i0 + i);
    ws.a_slices.resize(static_cast<std::size_t>(ba * mt * K));
    ws.a_remainders.clear();
    if (multi)
      analyze_rows(ws.a_row_pointers.data(), mt, plan_.bits_a(), plan_.slices_a, wa,
                   ws.a_rows.data(), ws.a_slicers.data());
    ws.a_any_fast = false;
    for (i64 k0 = 0; k0 < K; k0 += plan_.chunk_length) {
      const i64 kn = std::min(plan_.chunk_length, K - k0);
      ws.a_any_fast |= split_rows(ws.a_row_pointers.data(), mt, k0, kn, !multi, plan_.bits_a(),
                                  plan_.slices_a, wa, ws.a_rows.data(), ws.a_slicers.data(), ba,
                                  ws.a_slices.data() + ba * mt * k0, ws.residuals, ws.a_remainders);
    }
    bucket(ws.a_remainders, mt, ws.a_remainder_offsets, ws.a_remainders_by_row);
    ws.a_cached = true, ws.a_batch = bt, ws.a_row_begin = i0, ws.a_row_end = i1;
  }

  const i64 cn = plan_.karatsuba ? nt : bb * nt;  // DGEMM output row length
  const i64 csize = plan_.karatsuba ? plan_.products() * mt * nt : (ba * mt) * (bb * nt);
  ws.products.resize(static_cast<std::size_t>(csize));
  if (multi) ws.chunk_sums.assign(static_cast<std::size_t>(csize), 0);
  ws.b_remainders.clear();

  // Row exponents span all of K (every chunk must share a row's slice units). With one chunk
  // each row is analyzed right before it is split, while it is still in cache.
  if (multi)
    analyze_rows(bp.data(), nt, plan_.bits_b(), plan_.slices_b, wb, ws.b_rows.data(),
                 ws.b_slicers.data());
  bool good_b = true;
  for (i64 k0 = 0; k0 < K; k0 += plan_.chunk_length) {
    const i64 kn = std::min(plan_.chunk_length, K - k0);
    ws.b_slices.resize(static_cast<std::size_t>(bb * nt * kn));
    good_b = split_rows(bp.data(), nt, k0, kn, !multi, plan_.bits_b(), plan_.slices_b, wb,
                        ws.b_rows.data(), ws.b_slicers.data(), bb, ws.b_slices.data(), ws.residuals,
                        ws.b_remainders);
    if (!ws.a_any_fast || !good_b) break;  // every output of the tile goes to the simple path
    const double* as = ws.a_slices.data() + ba * mt * k0;
    if (products_) {
      form_products(as, ws.b_slices.data(), ws.products.data(), mt, nt, kn, csize);
    } else {
      const auto ik = static_cast<blasint>(kn);
      if (plan_.karatsuba) {
        for (int t = 0; t < plan_.products(); ++t)
          cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(mt),
                      static_cast<blasint>(nt), ik, 1.0, as + t * mt * kn, ik,
                      ws.b_slices.data() + t * nt * kn, ik, 0.0, ws.products.data() + t * mt * nt,
                      static_cast<blasint>(nt));
      } else {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(ba * mt),
                    static_cast<blasint>(bb * nt), ik, 1.0, as, ik, ws.b_slices.data(), ik, 0.0,
                    ws.products.data(), static_cast<blasint>(bb * nt));
      }
    }
    if (multi)
      for (i64 t = 0; t < csize; ++t)
        ws.chunk_sums[static_cast<std::size_t>(t)] +=
            static_cast<i64>(ws.products[static_cast<std::size_t>(t)]);
  }
  bucket(ws.b_remainders, nt, ws.b_remainder_offsets, ws.b_remainders_by_row);

  // Exact integer DGEMM result for Karatsuba block t = x = y, or slice pair (x, y).
  const auto S = [&](int x, int y, i64 i, i64 j) -> i64 {
    const i64 idx = plan_.karatsuba ? x * mt * nt + i * nt + j : (x * mt + i) * cn + y * nt + j;
    return multi ? ws.chunk_sums[static_cast<std::size_t>(idx)]
                 : static_cast<i64>(ws.products[static_cast<std::size_t>(idx)]);
  };
  combine(ws, bt, i0, j0, mt, nt, S);
}

template <class Products>
void tile_executor::combine(workspace& ws, i64 bt, i64 i0, i64 j0, i64 mt, i64 nt,
                            const Products& S) const {
  const i64 K = problem_.k;
  const bool fits = fits_128_bits(plan_), fits192 = !fits && fits_192_bits(plan_);
  const int wa = plan_.width_a, wb = plan_.width_b;
  accumulator& acc = ws.sum;
  // The output index is affine in (i, j), so the tile's extremes are at its corners: checking
  // those checks every output of the tile (dest_index throws for one outside dest).
  if (mt <= 0 || nt <= 0) return;
  const i64 c_first = dest_index(bt, i0, j0);
  (void)dest_index(bt, i0 + mt - 1, j0), (void)dest_index(bt, i0, j0 + nt - 1);
  (void)dest_index(bt, i0 + mt - 1, j0 + nt - 1);
  const i64 c_row = problem_.c_row_stride, c_col = problem_.c_col_stride;
  for (i64 i = 0; i < mt; ++i) {
    const row_info& ri = ws.a_rows[static_cast<std::size_t>(i)];
    const double* a = ws.a_row_pointers[static_cast<std::size_t>(i)];
    for (i64 j = 0; j < nt; ++j) {
      const row_info& rj = ws.b_rows[static_cast<std::size_t>(j)];
      const i64 dst = c_first + i * c_row + j * c_col;
      const double* bs = bias(bt, i0 + i, j0 + j);
      const double* b = ws.b_row_pointers[static_cast<std::size_t>(j)];
      if (ri.bad || rj.bad) {
        dot_exact(K, a, b, bs, acc);
        dest_.store(dst, acc);
        continue;
      }
      const int e0 = ri.u + rj.u;
      const bool no_rem = ws.a_remainder_offsets[static_cast<std::size_t>(i)] ==
                              ws.a_remainder_offsets[static_cast<std::size_t>(i + 1)] &&
                          ws.b_remainder_offsets[static_cast<std::size_t>(j)] ==
                              ws.b_remainder_offsets[static_cast<std::size_t>(j + 1)];
      acc.clear();
      if (fits) {
        i128 v;
        if (plan_.karatsuba) {
          const i128 ll = S(0, 0, i, j), hh = S(1, 1, i, j), ss = S(2, 2, i, j);
          v = (hh << (2 * wa)) + ((ss - hh - ll) << wa) + ll;
        } else {
          v = 0;
          for (int x = 0; x < plan_.slices_a; ++x)
            for (int y = 0; y < plan_.slices_b; ++y)
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
      } else if (fits192) {
        // Lemma 4: |v| <= 2^190, so v is exact modulo 2^192 in two's complement; then two
        // 128-bit adds (v's low 128 bits at 2^e0, the rest at 2^(e0 + 128)) instead of one per
        // slice pair.
        int192 v;
        if (plan_.karatsuba) {
          // 3 slices (Lemma 3): x_a y_b + x_b y_a = P_ab - P_aa - P_bb. The coefficients of
          // 2^(d w), d = 0 .. 4, are at most 2^64 (four terms of at most 2^62); those of
          // d = 0 .. 2 sum below 2^(65 + 2w) <= 2^117 and those of d = 3, 4 below 2^(65 + w)
          // (w <= 26), both exact in 128 bits.
          const i128 p00 = S(0, 0, i, j), p11 = S(1, 1, i, j), p22 = S(2, 2, i, j);
          const i128 d1 = S(3, 3, i, j) - p00 - p11, d3 = S(5, 5, i, j) - p11 - p22;
          const i128 d2 = S(4, 4, i, j) - p00 - p22 + p11;
          v.add(p00 + (d1 << wa) + (d2 << (2 * wa)), 0);
          v.add(d3 + (p22 << wa), 3 * wa);
        } else {
          for (int x = 0; x < plan_.slices_a; ++x)
            for (int y = 0; y < plan_.slices_b; ++y) v.add(S(x, y, i, j), x * wa + y * wb);
        }
        if (bs && fold_bias192(v, *bs, e0)) bs = nullptr;
        const bool neg = v.negative();
        if (neg) v.negate();
        if (no_rem && !bs) {  // the whole exact value is v * 2^e0: no accumulator needed
          dest_.store_integer192(dst, v.w, neg, e0);
          continue;
        }
        acc.add_integer(v.w[0], v.w[1], neg, e0);
        acc.add_integer(v.w[2], 0, neg, e0 + 128);
      } else {
        for (int x = 0; x < plan_.slices_a; ++x)
          for (int y = 0; y < plan_.slices_b; ++y)
            add_i128(acc, S(x, y, i, j), e0 + x * wa + y * wb);
      }
      // Sparse remainder: A_rem . B + A_cov . B_rem (docs/exact-fast.md, "Remainder").
      for (i64 t = ws.a_remainder_offsets[static_cast<std::size_t>(i)];
           t < ws.a_remainder_offsets[static_cast<std::size_t>(i + 1)]; ++t) {
        const rem_entry& e = ws.a_remainders_by_row[static_cast<std::size_t>(t)];
        acc.add_product(e.r, b[e.k]);
      }
      const slicer& sa = ws.a_slicers[static_cast<std::size_t>(i)];
      for (i64 t = ws.b_remainder_offsets[static_cast<std::size_t>(j)];
           t < ws.b_remainder_offsets[static_cast<std::size_t>(j + 1)]; ++t) {
        const rem_entry& e = ws.b_remainders_by_row[static_cast<std::size_t>(t)];
        const double x = a[e.k];
        acc.add_product(x - sa.residual(x), e.r);
      }
      if (bs) acc.add(*bs);
      dest_.store(dst, acc);
    }
  }
}

// The native path (detail/gemm_kernel.hpp): rows are analyzed first, then sliced K block by K
// block straight into packed panels; A's panels cover all of K and are kept across a thread's
// tiles, B's are made one panel of nr rows at a time and consumed at once by the kernel.
void tile_executor::run_tile_native(workspace& ws, i64 bt, i64 i0, i64 i1, i64 j0, i64 j1) const {
  namespace nat = native;
  const nat::micro_kernel& kern = *native_;
  const i64 mr = kern.mr, nr = kern.nr, kb = kern.kb;
  const i64 mt = i1 - i0, nt = j1 - j0, K = problem_.k;
  const i64 mp = (mt + mr - 1) / mr * mr, np = (nt + nr - 1) / nr * nr;
  const int ba = plan_.blocks_a(), bb = plan_.blocks_b();
  const int slices_a = plan_.slices_a, slices_b = plan_.slices_b;
  const bool multi = plan_.chunks > 1;
  if (static_cast<i64>(ws.zeros.size()) < K) ws.zeros.assign(static_cast<std::size_t>(K), 0.0);
  const slicer zero_a(-1074, slices_a, plan_.width_a), zero_b(-1074, slices_b, plan_.width_b);

  if (!(ws.a_cached && ws.a_batch == bt && ws.a_row_begin == i0 && ws.a_row_end == i1)) {
    ws.a_rows.resize(static_cast<std::size_t>(mt));
    ws.a_slicers.resize(static_cast<std::size_t>(mt));
    ws.a_row_pointers.resize(static_cast<std::size_t>(mt));
    ws.a_packed_rows.assign(static_cast<std::size_t>(mp), ws.zeros.data());
    ws.a_packed_slicers.assign(static_cast<std::size_t>(mp), zero_a);
    ws.a_any_fast = false;
    for (i64 i = 0; i < mt; ++i) {
      const auto ui = static_cast<std::size_t>(i);
      ws.a_row_pointers[ui] = a_row(bt, i0 + i);
      ws.a_rows[ui] = row_setup(ws.a_row_pointers[ui], K, plan_.bits_a(), slices_a, plan_.width_a,
                                ws.a_slicers[ui]);
      if (ws.a_rows[ui].bad) continue;
      ws.a_any_fast = true;
      ws.a_packed_rows[ui] = ws.a_row_pointers[ui];
      ws.a_packed_slicers[ui] = ws.a_slicers[ui];
    }
    ws.a_packed_base = aligned64(ws.a_packed, ba * mp * K);
    ws.a_remainders.clear();
    for_k_blocks(
        K, plan_.chunk_length, kb,
        [&](i64, i64 s0, i64 sn) {
          for (i64 pnl = 0; pnl < mp; pnl += mr) {
            double* out[slicer::max_slices + 1];
            for (int t = 0; t < ba; ++t)
              out[t] = ws.a_packed_base + t * mp * K + s0 * mp + pnl * sn;
            nat::split_panel(kern.mr, kern.wide_split, ws.a_packed_rows.data() + pnl,
                             ws.a_packed_slicers.data() + pnl, slices_a, plan_.karatsuba, s0, sn,
                             out, static_cast<std::int32_t>(pnl), ws.a_remainders);
          }
        },
        [](i64) {});
    bucket(ws.a_remainders, mt, ws.a_remainder_offsets, ws.a_remainders_by_row);
    ws.a_cached = true, ws.a_batch = bt, ws.a_row_begin = i0, ws.a_row_end = i1;
  }

  ws.b_rows.resize(static_cast<std::size_t>(nt));
  ws.b_slicers.resize(static_cast<std::size_t>(nt));
  ws.b_row_pointers.resize(static_cast<std::size_t>(np));
  ws.b_packed_rows.resize(static_cast<std::size_t>(np));
  ws.b_packed_slicers.resize(static_cast<std::size_t>(np));
  // Rows [j0, j1) of the tile: exponent, slicer, and what the packing reads (zeros for bad
  // and padding rows).
  const auto setup_b = [&](i64 r0, i64 r1) {
    for (i64 j = r0; j < r1; ++j) {
      const auto uj = static_cast<std::size_t>(j);
      ws.b_packed_rows[uj] = ws.zeros.data(), ws.b_packed_slicers[uj] = zero_b;
      if (j >= nt) continue;
      ws.b_row_pointers[uj] = b_row(bt, j0 + j);
      ws.b_rows[uj] = b_row_info(bt, j0 + j, ws.b_row_pointers[uj]);
      if (!ws.b_rows[uj].bad) ws.b_slicers[uj] = slicer(ws.b_rows[uj].u, slices_b, plan_.width_b);
      if (!ws.b_rows[uj].bad)
        ws.b_packed_rows[uj] = ws.b_row_pointers[uj], ws.b_packed_slicers[uj] = ws.b_slicers[uj];
    }
  };
  // Products: Karatsuba (t, t) for every block t; plain (x, y), index x * sb + y.
  const int nprod = plan_.products();
  const i64 csize = nprod * mp * np;
  ws.products.resize(static_cast<std::size_t>(csize));
  if (multi) ws.chunk_sums.assign(static_cast<std::size_t>(csize), 0);
  ws.b_remainders.clear();
  double* const bpk = aligned64(ws.b_packed, bb * nr * kb);
  // Slices panel q over columns [s0, s0 + sn) of chunk k0 and adds its products into C.
  const auto panel_block = [&](i64 q, i64 k0, i64 s0, i64 sn) {
    double* out[slicer::max_slices + 1];
    for (int t = 0; t < bb; ++t) out[t] = bpk + t * nr * sn;
    nat::split_panel(kern.nr, kern.wide_split, ws.b_packed_rows.data() + q,
                     ws.b_packed_slicers.data() + q, slices_b, plan_.karatsuba, s0, sn, out,
                     static_cast<std::int32_t>(q), ws.b_remainders);
    for (int pi = 0; pi < nprod; ++pi) {
      const int ta = plan_.karatsuba ? pi : pi / plan_.slices_b,
                tb = plan_.karatsuba ? pi : pi % plan_.slices_b;
      const double* as = ws.a_packed_base + ta * mp * K + s0 * mp;
      const double* bs = bpk + tb * nr * sn;
      double* c = ws.products.data() + pi * mp * np + q;
      for (i64 pnl = 0; pnl < mp; pnl += mr)
        kern.run(sn, as + pnl * sn, bs, c + pnl * np, np, s0 != k0);
    }
  };
  // Adds a finished chunk's sums, columns [q0, q1) of C, into the int64 totals.
  const auto add_chunk = [&](i64 q0, i64 q1) {
    kern.add_chunk_sums(ws.products.data(), ws.chunk_sums.data(), nprod * mp, np, q0, q1);
  };
  if (!ws.a_any_fast) {  // every output of the tile goes to the simple path
    setup_b(0, np);
  } else if (ba * mp * K <= a_panel_sweep_cap) {
    // A's packed slices fit in cache: each B panel is analyzed and then sliced while its rows
    // are still in cache, and is run against all of A, chunk by chunk.
    for (i64 q = 0; q < np; q += nr) {
      setup_b(q, q + nr);
      for_k_blocks(
          K, plan_.chunk_length, kb, [&](i64 k0, i64 s0, i64 sn) { panel_block(q, k0, s0, sn); },
          [&](i64) {
            if (multi) add_chunk(q, q + nr);
          });
    }
  } else {
    // Large A: K block by K block, so that one K block of A (3 * mp * kb doubles) is reused by
    // every B panel instead of all of A being streamed from memory once per panel.
    setup_b(0, np);
    for_k_blocks(
        K, plan_.chunk_length, kb,
        [&](i64 k0, i64 s0, i64 sn) {
          for (i64 q = 0; q < np; q += nr) panel_block(q, k0, s0, sn);
        },
        [&](i64) {
          if (multi) add_chunk(0, np);
        });
  }
  bucket(ws.b_remainders, nt, ws.b_remainder_offsets, ws.b_remainders_by_row);

  const auto S = [&](int x, int y, i64 i, i64 j) -> i64 {
    const int pi = plan_.karatsuba ? x : x * plan_.slices_b + y;
    const i64 idx = pi * mp * np + i * np + j;
    return multi ? ws.chunk_sums[static_cast<std::size_t>(idx)]
                 : static_cast<i64>(ws.products[static_cast<std::size_t>(idx)]);
  };
  combine(ws, bt, i0, j0, mt, nt, S);
}

}  // namespace roundoff::exact::detail
