// exact_tensor: the RN double, a one-double tail, and a side store for the rare wide values.
// Layout and the exactness argument: docs/exact.md ("exact_tensor").
#include <bit>
#include <cmath>
#include <limits>
#include <mutex>

#include "roundoff/exact/exact_tensor.hpp"

#define ROUNDOFF_EXACT_INTERNAL 1
#include "detail/make_double.hpp"

namespace roundoff::exact {

struct exact_tensor::side_store {
  std::mutex mutex;
  // Entries: header word (bit 63: negative; bits 32..62: lowest limb index; bits 0..31: limb
  // count n), then n magnitude limbs, least significant first.
  std::vector<std::uint64_t> words;
  std::int64_t count = 0;
};

namespace {
constexpr std::uint8_t state_rounded = 0, state_tail = 1, state_side = 2;
}

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
  side_->words = o.side_->words;
  side_->count = o.side_->count;
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
  const int lo = acc.lo_ + first;
  const std::uint64_t header = (static_cast<std::uint64_t>(acc.neg_fill_) << 63) |
                               (static_cast<std::uint64_t>(lo) << 32) |
                               static_cast<std::uint64_t>(n - first);
  std::size_t offset;
  {
    std::lock_guard<std::mutex> lock(side_->mutex);
    offset = side_->words.size();
    side_->words.push_back(header);
    side_->words.insert(side_->words.end(), mag + first, mag + n);
    ++side_->count;
  }
  tail_[ui] = offset;
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
      const std::uint64_t* w = side_->words.data() + tail_[ui];
      const bool neg = w[0] >> 63;
      const int lo = static_cast<int>((w[0] >> 32) & 0x7fffffff);
      const int n = static_cast<int>(w[0] & 0xffffffff);
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
  return side_->count;
}

std::size_t exact_tensor::memory_bytes() const noexcept {
  return rounded_.size() * sizeof(double) + tail_.size() * sizeof(std::uint64_t) + state_.size() +
         side_->words.size() * sizeof(std::uint64_t);
}

}  // namespace roundoff::exact
