// exact_tensor: the RN double, a one-double tail, and a side store for the rare wide values.
// Layout and the exactness argument: docs/exact.md ("exact_tensor").
#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <mutex>

#include "roundoff/exact/exact_tensor.hpp"

#define ROUNDOFF_EXACT_INTERNAL 1
#include "detail/make_double.hpp"

namespace roundoff::exact {

namespace {

constexpr std::uint8_t state_rounded = 0, state_tail = 1, state_side = 2;

// The side store is cut into shards, one per storing thread (its index modulo shard_count), so
// that threads appending wide values at the same time neither wait for one lock nor bounce one
// cache line; each shard keeps its own mutex, so two threads that share a shard stay correct.
// A shard's words live in blocks that never move once allocated (no copy when the store grows):
// 2 KiB doubling to 64 KiB, below malloc's mmap threshold, so a new tensor reuses freed heap
// instead of faulting in fresh pages.
constexpr unsigned shard_count = 64;
constexpr std::size_t first_block_words = 256, max_block_words = 8192;

std::size_t block_words(std::size_t block) noexcept {
  return block >= 5 ? max_block_words : first_block_words << block;
}

// An entry: header word (bit 63: negative; bits 32..62: lowest limb index; bits 16..31: limbs
// reserved; bits 0..15: limb count n), then the n magnitude limbs, least significant first.
std::uint64_t side_header(bool negative, int lo, int reserved, int n) noexcept {
  return (static_cast<std::uint64_t>(negative) << 63) | (static_cast<std::uint64_t>(lo) << 32) |
         (static_cast<std::uint64_t>(reserved) << 16) | static_cast<std::uint64_t>(n);
}
int header_reserved(std::uint64_t h) noexcept {
  return static_cast<int>((h >> 16) & 0xffff);
}

std::atomic<unsigned> threads_seen{0};

unsigned this_thread_shard() noexcept {
  thread_local const unsigned shard =
      threads_seen.fetch_add(1, std::memory_order_relaxed) % shard_count;
  return shard;
}

}  // namespace

struct exact_tensor::side_store {
  struct shard {
    std::mutex mutex;                                      // guards blocks and used (appends)
    std::vector<std::unique_ptr<std::uint64_t[]>> blocks;  // block b holds block_words(b)
    std::size_t used = 0;                                  // words used in the last block
    std::atomic<std::int64_t> count{0};  // entries written by this shard's threads (side_count)

    /// Room for `words` consecutive words (at most first_block_words); the caller holds mutex.
    std::uint64_t* reserve(std::size_t words) {
      if (blocks.empty() || used + words > block_words(blocks.size() - 1)) {
        blocks.push_back(std::make_unique<std::uint64_t[]>(block_words(blocks.size())));
        used = 0;
      }
      std::uint64_t* at = blocks.back().get() + used;
      used += words;
      return at;
    }
  };

  std::array<std::atomic<shard*>, shard_count> shards{};

  side_store() = default;
  side_store(const side_store&) = delete;
  side_store& operator=(const side_store&) = delete;
  ~side_store() {
    for (auto& s : shards) delete s.load(std::memory_order_relaxed);
  }

  /// Shard s, created on first use (by whichever thread gets there first).
  shard& get(unsigned s) {
    shard* have = shards[s].load(std::memory_order_acquire);
    if (have) return *have;
    auto fresh = std::make_unique<shard>();
    if (shards[s].compare_exchange_strong(have, fresh.get(), std::memory_order_acq_rel))
      return *fresh.release();
    return *have;
  }
};

namespace {
// tail_ of a state-2 element holds its entry's address (blocks never move, so it stays valid
// until the tensor is destroyed; a copy translates it to its own blocks).
std::uint64_t* entry_at(std::uint64_t tail) noexcept {
  return reinterpret_cast<std::uint64_t*>(static_cast<std::uintptr_t>(tail));
}
}  // namespace

exact_tensor::exact_tensor() : side_(std::make_unique<side_store>()) {}

exact_tensor::exact_tensor(std::vector<std::int64_t> shape)
    : shape_(std::move(shape)), side_(std::make_unique<side_store>()) {
  std::int64_t n = 1;
  for (auto d : shape_) n *= d;
  const auto un = static_cast<std::size_t>(n < 0 ? 0 : n);
  rounded_.assign(un, 0.0);
  tail_.assign(un, 0);
  state_.assign(un, state_rounded);
}

exact_tensor::exact_tensor(const exact_tensor& o)
    : shape_(o.shape_),
      rounded_(o.rounded_),
      tail_(o.tail_),
      state_(o.state_),
      side_(std::make_unique<side_store>()) {
  // Copy every block, then point each state-2 element at the same word of the copied block.
  struct moved {
    std::uintptr_t from;
    std::size_t words;
    std::uint64_t* to;
  };
  std::vector<moved> blocks;
  for (unsigned s = 0; s < shard_count; ++s) {
    const side_store::shard* from = o.side_->shards[s].load(std::memory_order_relaxed);
    if (!from) continue;
    auto to = std::make_unique<side_store::shard>();
    for (std::size_t b = 0; b < from->blocks.size(); ++b) {
      const std::size_t words = block_words(b);
      to->blocks.push_back(std::make_unique<std::uint64_t[]>(words));
      std::memcpy(to->blocks[b].get(), from->blocks[b].get(), words * sizeof(std::uint64_t));
      blocks.push_back(
          {reinterpret_cast<std::uintptr_t>(from->blocks[b].get()), words, to->blocks[b].get()});
    }
    to->used = from->used;
    to->count.store(from->count.load(std::memory_order_relaxed), std::memory_order_relaxed);
    side_->shards[s].store(to.release(), std::memory_order_relaxed);
  }
  std::sort(blocks.begin(), blocks.end(),
            [](const moved& x, const moved& y) { return x.from < y.from; });
  for (std::size_t i = 0; i < state_.size(); ++i) {
    if (state_[i] != state_side) continue;
    const auto at = static_cast<std::uintptr_t>(tail_[i]);
    const auto next = std::upper_bound(blocks.begin(), blocks.end(), at,
                                       [](std::uintptr_t a, const moved& x) { return a < x.from; });
    const moved& in = *(next - 1);  // the block holding the entry: from <= at < from + words
    tail_[i] = reinterpret_cast<std::uintptr_t>(in.to + (at - in.from) / sizeof(std::uint64_t));
  }
}

exact_tensor::exact_tensor(exact_tensor&& o) noexcept = default;
exact_tensor& exact_tensor::operator=(exact_tensor&& o) noexcept = default;
exact_tensor::~exact_tensor() = default;

exact_tensor& exact_tensor::operator=(const exact_tensor& o) {
  if (this != &o) {
    exact_tensor copy(o);
    *this = std::move(copy);
  }
  return *this;
}

void exact_tensor::store(std::int64_t i, const accumulator& acc) {
  const auto ui = static_cast<std::size_t>(i);
  double rn, tail;
  const bool fits = acc.round_split(&rn, &tail);
  rounded_[ui] = rn;
  if (fits) {
    tail_[ui] = std::bit_cast<std::uint64_t>(tail);
    state_[ui] = tail == 0 ? state_rounded : state_tail;
    return;
  }
  // Wide value: keep all its limbs.
  std::uint64_t mag[accumulator::limb_count + 1];
  int n = acc.magnitude(mag);
  int first = 0;
  while (first < n && mag[first] == 0) ++first;
  while (n > first && mag[n - 1] == 0) --n;
  store_side(ui, acc.neg_fill_, acc.lo_ + first, mag + first, n - first);
}

void exact_tensor::store_side(std::size_t ui, bool negative, int lo, const std::uint64_t* limbs,
                              int count) {
  side_store::shard& sh = side_->get(this_thread_shard());
  if (state_[ui] == state_side) {
    // Element i already owns an entry: reuse it when the new limbs fit, so that storing into
    // the same tensor again (a caller's repeated gemm_exact) does not grow the side store. The
    // entry belongs to element i alone and its block never moves: no lock.
    std::uint64_t* w = entry_at(tail_[ui]);
    const int reserved = header_reserved(w[0]);
    if (count <= reserved) {
      w[0] = side_header(negative, lo, reserved, count);
      std::copy(limbs, limbs + count, w + 1);
      sh.count.fetch_add(1, std::memory_order_relaxed);
      return;  // tail_ and state_ stay
    }
  }
  std::uint64_t* w;
  {
    const std::lock_guard<std::mutex> lock(sh.mutex);
    w = sh.reserve(1 + static_cast<std::size_t>(count));
  }
  w[0] = side_header(negative, lo, count, count);
  std::copy(limbs, limbs + count, w + 1);
  sh.count.fetch_add(1, std::memory_order_relaxed);
  tail_[ui] = reinterpret_cast<std::uintptr_t>(w);
  state_[ui] = state_side;
}

void exact_tensor::store_integer(std::int64_t i, std::uint64_t lo, std::uint64_t hi, bool negative,
                                 int e) {
  // Fast case, S = +-m * 2^e with e >= -1074 and |S| < 2^1023: every bit of S, RN(S) and
  // S - RN(S) lies at or above 2^-1074 and below 2^1024, so RN(S) is the top 53 bits of m
  // rounded to nearest-even, and the tail is the (signed) rest, a double iff it spans at most 53
  // bits. This is round_split() specialised to a 128-bit magnitude (docs/exact.md).
  __extension__ typedef unsigned __int128 u128;
  const u128 m = (static_cast<u128>(hi) << 64) | lo;
  const int nb = hi ? 128 - std::countl_zero(hi) : 64 - std::countl_zero(lo);
  const auto ui = static_cast<std::size_t>(i);
  if (m == 0) {
    rounded_[ui] = 0.0;
    tail_[ui] = 0;
    state_[ui] = state_rounded;
    return;
  }
  if (e >= -1074 && e + nb <= 1023) {
    if (nb <= 53) {
      rounded_[ui] = detail::make_double(negative, static_cast<std::uint64_t>(m), e);
      tail_[ui] = 0;
      state_[ui] = state_rounded;
      return;
    }
    const int shift = nb - 53;  // 1 .. 75
    std::uint64_t top = static_cast<std::uint64_t>(m >> shift);
    u128 low = m & ((u128{1} << shift) - 1);
    const u128 half = u128{1} << (shift - 1);
    const bool up = low > half || (low == half && (top & 1));
    int q = e + shift;
    if (up) {
      low = (u128{1} << shift) - low;  // |S| - RN(|S|) = -(2^shift - low), and low > 0
      if (++top == (std::uint64_t{1} << 53)) top >>= 1, ++q;
    }
    if (low == 0) {
      rounded_[ui] = detail::make_double(negative, top, q);
      tail_[ui] = 0;
      state_[ui] = state_rounded;
      return;
    }
    const auto low0 = static_cast<std::uint64_t>(low);
    const int tz = low0 ? std::countr_zero(low0)
                        : 64 + std::countr_zero(static_cast<std::uint64_t>(low >> 64));
    const u128 t = low >> tz;
    if ((t >> 53) == 0) {  // the tail is a double
      rounded_[ui] = detail::make_double(negative, top, q);
      const double tail =
          detail::make_double(negative != up, static_cast<std::uint64_t>(t), e + tz);
      tail_[ui] = std::bit_cast<std::uint64_t>(tail);
      state_[ui] = state_tail;
      return;
    }
  }
  accumulator acc;
  acc.add_integer(lo, hi, negative, e);
  store(i, acc);
}

namespace {
using u64 = std::uint64_t;

int bit_length3(const u64* m) noexcept {
  for (int l = 2; l >= 0; --l)
    if (m[l]) return 64 * l + 64 - std::countl_zero(m[l]);
  return 0;
}
// Bits [s, s + 64) of m (zeros above bit 191), 0 <= s < 192.
u64 window3(const u64* m, int s) noexcept {
  const int l = s / 64, r = s % 64;
  u64 v = m[l] >> r;
  if (r && l < 2) v |= m[l + 1] << (64 - r);
  return v;
}
bool is_zero3(const u64* m) noexcept {
  return (m[0] | m[1] | m[2]) == 0;
}
}  // namespace

void exact_tensor::store_integer192(std::int64_t i, const std::uint64_t* m, bool negative, int e) {
  if (m[2] == 0) return store_integer(i, m[0], m[1], negative, e);
  // As store_integer (docs/exact.md §3, store_integer192), on a 192-bit magnitude: when every bit
  // of S, RN(S) and S - RN(S) lies in [2^-1074, 2^1023), RN(S) is the top 53 bits of m rounded to
  // nearest-even, the remainder is L = m mod 2^shift or -(2^shift - L), and S takes state 1 iff
  // that remainder spans at most 53 bits. Otherwise its trimmed limbs on the accumulator's grid
  // are exactly what store() of an accumulator holding S writes to the side store.
  const auto ui = static_cast<std::size_t>(i);
  const int nb = bit_length3(m);  // > 128
  if (e >= -1074 && e + nb <= 1023) {
    const int shift = nb - 53;  // 76 .. 139
    u64 top = window3(m, shift);
    u64 low[3] = {m[0], m[1], m[2]};  // m mod 2^shift
    for (int l = 0; l < 3; ++l) {
      const int from = shift - 64 * l;  // bits of limb l at or above `from` are cleared
      if (from <= 0)
        low[l] = 0;
      else if (from < 64)
        low[l] &= (u64{1} << from) - 1;
    }
    // L against half = 2^(shift - 1): its top bit, then whether any bit below it is set.
    const int hb = shift - 1;
    const bool half_bit = (low[hb / 64] >> (hb % 64)) & 1;
    u64 below[3] = {low[0], low[1], low[2]};
    below[hb / 64] &= ~(u64{1} << (hb % 64));
    const bool more = !is_zero3(below);
    const bool up = half_bit && (more || (top & 1));
    int q = e + shift;
    if (up) {
      // 2^shift - L, L > 0: the two's complement of L within shift bits.
      unsigned carry = 1;
      for (int l = 0; l < 3; ++l) {
        const u64 v = ~low[l] + carry;
        carry = carry && v == 0;
        low[l] = v;
      }
      for (int l = 0; l < 3; ++l) {
        const int from = shift - 64 * l;
        if (from <= 0)
          low[l] = 0;
        else if (from < 64)
          low[l] &= (u64{1} << from) - 1;
      }
      if (++top == (u64{1} << 53)) top >>= 1, ++q;
    }
    rounded_[ui] = detail::make_double(negative, top, q);
    if (is_zero3(low)) {
      tail_[ui] = 0;
      state_[ui] = state_rounded;
      return;
    }
    int tz = 0;
    while (low[tz / 64] == 0) tz += 64;
    tz += std::countr_zero(low[tz / 64]);
    if (bit_length3(low) - tz <= 53) {  // the tail is a double
      const double tail = detail::make_double(negative != up, window3(low, tz), e + tz);
      tail_[ui] = std::bit_cast<std::uint64_t>(tail);
      state_[ui] = state_tail;
      return;
    }
    // Side store: |S| = m 2^e on the grid of limbs of weight 2^(64 j - bias_bits).
    const int p = e + accumulator::bias_bits;  // >= 1102
    const int r = p % 64;
    u64 limbs[4] = {m[0] << r, (m[1] << r) | (r ? m[0] >> (64 - r) : 0),
                    (m[2] << r) | (r ? m[1] >> (64 - r) : 0), r ? m[2] >> (64 - r) : 0};
    int first = 0, n = 4;
    while (limbs[first] == 0) ++first;
    while (limbs[n - 1] == 0) --n;
    return store_side(ui, negative, p / 64 + first, limbs + first, n - first);
  }
  accumulator acc;
  acc.add_integer(m[0], m[1], negative, e);
  acc.add_integer(m[2], 0, negative, e + 128);
  store(i, acc);
}

void exact_tensor::load(std::int64_t i, accumulator& out) const {
  const auto ui = static_cast<std::size_t>(i);
  out.clear();
  switch (state_[ui]) {
    case state_rounded:
      out.add(rounded_[ui]);
      return;
    case state_tail:
      out.add(rounded_[ui]);
      out.add(std::bit_cast<double>(tail_[ui]));
      return;
    default: {
      const std::uint64_t* w = entry_at(tail_[ui]);
      const bool neg = w[0] >> 63;
      const int lo = static_cast<int>((w[0] >> 32) & 0x7fffffff);
      const int n = static_cast<int>(w[0] & 0xffff);
      out.set_magnitude(w + 1, n, lo, neg);
      return;
    }
  }
}

namespace {
// The double next to positive finite or zero x in direction `up`.
double step(double x, bool up) noexcept {
  return std::nextafter(x, up ? std::numeric_limits<double>::infinity() : 0.0);
}
}  // namespace

double exact_tensor::abs_diff(std::int64_t i, double observed, rounding r) const {
  const auto ui = static_cast<std::size_t>(i);
  const double rn = rounded_[ui];
  // Fast path, same result: exact = rn (+ tail), observed within a factor 2 of rn with rn's
  // sign, so observed - rn is exact (Sterbenz) and observed - exact = s - tail is one sum of two
  // doubles, whose rounding TwoSum's exact residual decides.
  if (state_[ui] != state_side && r != rounding::toward_zero && std::isfinite(rn) &&
      std::isfinite(observed) && (observed >= 0) == (rn >= 0) &&
      std::fabs(rn) <= 2 * std::fabs(observed) && std::fabs(observed) <= 2 * std::fabs(rn)) {
    const double s = observed - rn;
    const double t = state_[ui] == state_tail ? -std::bit_cast<double>(tail_[ui]) : 0.0;
    const double d = s + t;  // RN(s + t)
    const double bb = d - s;
    const double e = (s - (d - bb)) + (t - bb);  // s + t = d + e exactly
    if (r == rounding::nearest_even || e == 0) return std::fabs(d);
    // |s + t| = |d| + sign(d) e: above |d| iff e has d's sign.
    const bool above = (d > 0) == (e > 0);
    if (d == 0) return r == rounding::upward ? std::fabs(e) : 0.0;  // not reached: e == 0
    if (above) return r == rounding::upward ? step(std::fabs(d), true) : std::fabs(d);
    return r == rounding::upward ? std::fabs(d) : step(std::fabs(d), false);
  }
  accumulator acc;
  load(i, acc);
  return acc.abs_diff(observed, r);
}

double exact_tensor::round_to(std::int64_t i, format_id f, underflow_mode u) const {
  accumulator acc;
  load(i, acc);
  return acc.round_to(f, u);
}

std::int64_t exact_tensor::side_count() const noexcept {
  std::int64_t n = 0;
  for (const auto& s : side_->shards)
    if (const auto* sh = s.load(std::memory_order_relaxed))
      n += sh->count.load(std::memory_order_relaxed);
  return n;
}

std::size_t exact_tensor::memory_bytes() const noexcept {
  std::size_t side_words = 0;
  for (const auto& s : side_->shards)
    if (const auto* sh = s.load(std::memory_order_relaxed))
      for (std::size_t b = 0; b < sh->blocks.size(); ++b) side_words += block_words(b);
  return rounded_.size() * sizeof(double) + tail_.size() * sizeof(std::uint64_t) + state_.size() +
         side_words * sizeof(std::uint64_t);
}

}  // namespace roundoff::exact
