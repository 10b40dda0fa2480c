// Kulisch-style exact accumulator. Representation, the carry-room proof and the rounding
// argument: docs/exact.md ("Representation", "Why nothing overflows", "Rounding").
#include "roundoff/exact/accumulator.hpp"
#include "roundoff/formats/rounding.hpp"

#include <bit>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>

#define ROUNDOFF_EXACT_INTERNAL 1
#include "detail/make_double.hpp"

namespace roundoff::exact {

namespace {

using detail::make_double;
using u64 = std::uint64_t;
__extension__ typedef unsigned __int128 u128;

constexpr u64 frac_mask = (u64{1} << 52) - 1;
constexpr u64 hidden_bit = u64{1} << 52;

// Bits [pos, pos + 64) of the little-endian limb array mag[0..n); bits outside are 0.
inline u64 bits64(const u64* mag, int n, int pos) noexcept {
  if (pos < 0) {
    if (pos <= -64) return 0;
    return bits64(mag, n, 0) << (-pos);
  }
  const int l = pos >> 6, s = pos & 63;
  const u64 lo = l < n ? mag[l] : 0;
  const u64 hi = l + 1 < n ? mag[l + 1] : 0;
  return (lo >> s) | ((hi << 1) << (63 - s));
}

// Bit pos of mag (0 outside).
inline bool bit_at(const u64* mag, int n, int pos) noexcept {
  if (pos < 0 || (pos >> 6) >= n) return false;
  return (mag[pos >> 6] >> (pos & 63)) & 1;
}

// L[0..3) += (neg ? -W : W) mod 2^192 for W = (w0, w1, w2) < 2^192, as L + (W xor mask) + neg.
// Returns the carry out of L[2]. The sum's true carry into L[3] is then carry - neg (in
// {-1, 0, 1}); for 0 < W < 2^192 it is 0 unless the window's three limbs wrap. Branch-free on
// the sign: random signs would otherwise mispredict half the time.
inline bool add3_signed(u64* L, u64 w0, u64 w1, u64 w2, bool neg) noexcept {
  const u64 mask = u64{0} - static_cast<u64>(neg);
  w0 ^= mask;
  w1 ^= mask;
  w2 ^= mask;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(ROUNDOFF_EXACT_PORTABLE)
  // Read-modify-write on memory, so the compiler cannot merge the limb stores into a vector
  // store (which defeats store-to-load forwarding on the next term).
  u64 n = static_cast<u64>(neg);
  unsigned char c;
  __asm__(
      "negq %[n]\n\t"  // CF = neg
      "adcq %[w0], %[l0]\n\t"
      "adcq %[w1], %[l1]\n\t"
      "adcq %[w2], %[l2]\n\t"
      "setc %[c]"
      : [l0] "+m"(L[0]), [l1] "+m"(L[1]), [l2] "+m"(L[2]), [n] "+r"(n), [c] "=r"(c)
      : [w0] "r"(w0), [w1] "r"(w1), [w2] "r"(w2)
      : "cc");
  return c != 0;
#else
  u128 t = static_cast<u128>(L[0]) + w0 + static_cast<u64>(neg);
  L[0] = static_cast<u64>(t);
  t = static_cast<u128>(L[1]) + w1 + static_cast<u64>(t >> 64);
  L[1] = static_cast<u64>(t);
  t = static_cast<u128>(L[2]) + w2 + static_cast<u64>(t >> 64);
  L[2] = static_cast<u64>(t);
  return (t >> 64) != 0;
#endif
}

// Whether any bit strictly below pos is set.
inline bool any_below(const u64* mag, int n, int pos) noexcept {
  if (pos <= 0) return false;
  const int l = pos >> 6, s = pos & 63;
  for (int t = 0; t < l && t < n; ++t)
    if (mag[t]) return true;
  if (l < n && s && (mag[l] & ((u64{1} << s) - 1))) return true;
  return false;
}

// The double of a value that is not finite: NaN, +Inf or -Inf (every rounding of it).
double special_double(value_kind k) noexcept {
  if (k == value_kind::nan) return std::numeric_limits<double>::quiet_NaN();
  return k == value_kind::pos_inf ? std::numeric_limits<double>::infinity()
                                  : -std::numeric_limits<double>::infinity();
}

}  // namespace

// Limbs outside [lo_, hi_] are never read, so they are left uninitialized: construction and
// clear() are O(1) and a copy moves only the window. extend() initializes limbs as they join.
accumulator::accumulator() noexcept {}

accumulator::accumulator(const accumulator& o) noexcept
    : lo_(o.lo_),
      hi_(o.hi_),
      neg_fill_(o.neg_fill_),
      saw_nan_(o.saw_nan_),
      saw_pos_inf_(o.saw_pos_inf_),
      saw_neg_inf_(o.saw_neg_inf_) {
  if (lo_ <= hi_)
    std::memcpy(limbs_ + lo_, o.limbs_ + lo_, sizeof(u64) * static_cast<unsigned>(hi_ - lo_ + 1));
}

accumulator& accumulator::operator=(const accumulator& o) noexcept {
  if (this == &o) return *this;
  lo_ = o.lo_;
  hi_ = o.hi_;
  neg_fill_ = o.neg_fill_;
  saw_nan_ = o.saw_nan_;
  saw_pos_inf_ = o.saw_pos_inf_;
  saw_neg_inf_ = o.saw_neg_inf_;
  if (lo_ <= hi_)
    std::memcpy(limbs_ + lo_, o.limbs_ + lo_, sizeof(u64) * static_cast<unsigned>(hi_ - lo_ + 1));
  return *this;
}

void accumulator::clear() noexcept {
  lo_ = limb_count;
  hi_ = -1;
  neg_fill_ = saw_nan_ = saw_pos_inf_ = saw_neg_inf_ = false;
}

// Grows the explicit window to cover [lo, hi]. New limbs below the old bottom are 0; new limbs
// above the old top take the sign fill (they were implicit copies of it). An empty window
// holds the value 0 with a zero fill.
void accumulator::extend(int lo, int hi) noexcept {
  if (lo_ > hi_) {
    for (int j = lo; j <= hi; ++j) limbs_[j] = 0;
    lo_ = lo;
    hi_ = hi;
    return;
  }
  if (lo < lo_) {
    for (int j = lo; j < lo_; ++j) limbs_[j] = 0;
    lo_ = lo;
  }
  if (hi > hi_) {
    const u64 fill = neg_fill_ ? ~u64{0} : 0;
    for (int j = hi_ + 1; j <= hi; ++j) limbs_[j] = fill;
    hi_ = hi;
  }
}

// Adds 1 at limb j (j <= hi_ + 1). A carry out of the window either turns an all-ones fill
// into all zeros (the value changed sign to >= 0) or needs one more explicit limb.
void accumulator::carry_from(int j) noexcept {
  for (; j <= hi_; ++j)
    if (++limbs_[j] != 0) return;
  if (neg_fill_) {
    neg_fill_ = false;
  } else if (hi_ + 1 < limb_count) {  // always true within the documented range
    limbs_[++hi_] = 1;
  }
}

// Subtracts 1 at limb j (j <= hi_ + 1); mirror image of carry_from.
void accumulator::borrow_from(int j) noexcept {
  for (; j <= hi_; ++j)
    if (limbs_[j]-- != 0) return;
  if (!neg_fill_) {
    neg_fill_ = true;
  } else if (hi_ + 1 < limb_count) {
    limbs_[++hi_] = ~u64{1};
  }
}

// Adds (neg ? -p : p) * 2^e with p = phi*2^64 + plo; any p < 2^128 (shifted by s <= 63 it
// spans at most 191 bits, three limbs), e >= -bias_bits, and p*2^e inside
// the range.
inline void accumulator::add_magnitude(u64 plo, u64 phi, int e, bool neg) noexcept {
  const int pos = e + bias_bits;
  const int i = pos >> 6, s = pos & 63;
  // The shifted product spans at most 106 + 63 = 169 bits: three limbs.
  const u64 w0 = plo << s;
  const u64 w1 = (phi << s) | ((plo >> 1) >> (63 - s));
  const u64 w2 = (phi >> 1) >> (63 - s);
  if (i < lo_ || i + 2 > hi_) extend(i, i + 2);
  const bool carry = add3_signed(limbs_ + i, w0, w1, w2, neg);
  if (carry != neg) [[unlikely]] {
    if (carry)
      carry_from(i + 3);
    else
      borrow_from(i + 3);
  }
}

void accumulator::add_special(double x) noexcept {
  if (std::isnan(x))
    saw_nan_ = true;
  else if (x > 0)
    saw_pos_inf_ = true;
  else
    saw_neg_inf_ = true;
}

void accumulator::add(double x) noexcept {
  const u64 bits = std::bit_cast<u64>(x);
  const unsigned ex = static_cast<unsigned>(bits >> 52) & 0x7ff;
  const u64 frac = bits & frac_mask;
  if (ex == 0x7ff) return add_special(x);
  if (ex == 0) {
    if (frac == 0) return;
    add_magnitude(frac, 0, -1074, bits >> 63);
  } else {
    add_magnitude(frac | hidden_bit, 0, static_cast<int>(ex) - 1075, bits >> 63);
  }
}

// +-(hi*2^64 + lo) * 2^e for add_scaled and add_integer, whose callers choose e freely. The
// trailing zero bits are dropped first (a significand's LSB may lie below 2^-2176 while its
// lowest set bit does not); then the value must fit: lowest set bit >= 2^-2176 and top bit
// below 2^2176, so its three limbs end at index <= 69 (docs/exact.md). Outside that the
// accumulator cannot hold it exactly, and the kind becomes NaN rather than silently rounding
// (or writing outside the limbs).
void accumulator::add_checked(u64 lo, u64 hi, int e, bool neg) noexcept {
  if ((lo | hi) == 0) return;
  if (lo == 0) {
    lo = hi;
    hi = 0;
    e += 64;
  }
  if (const int tz = std::countr_zero(lo); tz > 0) {
    lo = (lo >> tz) | (hi << (64 - tz));
    hi >>= tz;
    e += tz;
  }
  const int width = hi ? 128 - std::countl_zero(hi) : 64 - std::countl_zero(lo);
  if (e < -bias_bits || e + width > bias_bits) {
    saw_nan_ = true;
    return;
  }
  add_magnitude(lo, hi, e, neg);
}

void accumulator::add_scaled(double x, int e) noexcept {
  const u64 bits = std::bit_cast<u64>(x);
  const unsigned ex = static_cast<unsigned>(bits >> 52) & 0x7ff;
  const u64 frac = bits & frac_mask;
  if (ex == 0x7ff) return add_special(x);
  if (ex == 0) return add_checked(frac, 0, -1074 + e, bits >> 63);
  add_checked(frac | hidden_bit, 0, static_cast<int>(ex) - 1075 + e, bits >> 63);
}

void accumulator::add_integer(u64 lo, u64 hi, bool negative, int e) noexcept {
  add_checked(lo, hi, e, negative);
}

void accumulator::add_product_slow(double a, double b, bool neg) noexcept {
  if (std::isnan(a) || std::isnan(b)) {
    saw_nan_ = true;
    return;
  }
  if (std::isinf(a) || std::isinf(b)) {
    if (a == 0 || b == 0) {
      saw_nan_ = true;  // Inf * 0
    } else {
      const bool pos = (std::signbit(a) != std::signbit(b)) == neg;
      (pos ? saw_pos_inf_ : saw_neg_inf_) = true;
    }
    return;
  }
  if (a == 0 || b == 0) return;
  const u64 ba = std::bit_cast<u64>(a), bb = std::bit_cast<u64>(b);
  const unsigned xa = static_cast<unsigned>(ba >> 52) & 0x7ff;
  const unsigned xb = static_cast<unsigned>(bb >> 52) & 0x7ff;
  const u64 ma = (ba & frac_mask) | (xa ? hidden_bit : 0);
  const u64 mb = (bb & frac_mask) | (xb ? hidden_bit : 0);
  const int ea = xa ? static_cast<int>(xa) - 1075 : -1074;
  const int eb = xb ? static_cast<int>(xb) - 1075 : -1074;
  const u128 p = static_cast<u128>(ma) * mb;
  add_magnitude(static_cast<u64>(p), static_cast<u64>(p >> 64), ea + eb,
                ((ba ^ bb) >> 63) != static_cast<u64>(neg));
}

// Adds a*b (neg false) or -(a*b) (neg true); callers pass a constant neg, folded when inlined.
inline void accumulator::add_product_inline(double a, double b, bool neg) noexcept {
  const u64 ba = std::bit_cast<u64>(a), bb = std::bit_cast<u64>(b);
  const unsigned xa = static_cast<unsigned>(ba >> 52) & 0x7ff;
  const unsigned xb = static_cast<unsigned>(bb >> 52) & 0x7ff;
  // Zeros, subnormals, Inf and NaN leave the fast path (exponent field 0 or 0x7ff).
  if (xa - 1 >= 0x7fe || xb - 1 >= 0x7fe) [[unlikely]]
    return add_product_slow(a, b, neg);
  const u64 ma = (ba & frac_mask) | hidden_bit, mb = (bb & frac_mask) | hidden_bit;
  const u128 p = static_cast<u128>(ma) * mb;
  add_magnitude(static_cast<u64>(p), static_cast<u64>(p >> 64), static_cast<int>(xa + xb) - 2150,
                ((ba ^ bb) >> 63) != static_cast<u64>(neg));
}

void accumulator::add_product(double a, double b) noexcept {
  add_product_inline(a, b, false);
}

void accumulator::add_dot(std::int64_t n, const double* a, const double* b) noexcept {
  for (std::int64_t t = 0; t < n; ++t) add_product_inline(a[t], b[t], false);
}

void accumulator::sub_product(double a, double b) noexcept {
  add_product_inline(a, b, true);
}

void accumulator::add(const accumulator& o) noexcept {
  saw_nan_ |= o.saw_nan_;
  saw_pos_inf_ |= o.saw_pos_inf_;
  saw_neg_inf_ |= o.saw_neg_inf_;
  if (o.lo_ > o.hi_) return;
  // o = window + (o.neg_fill_ ? -2^(64*(o.hi_+1)) : 0), scaled by the common limb weights.
  extend(o.lo_, o.hi_);
  unsigned carry = 0;
  for (int j = o.lo_; j <= o.hi_; ++j) {
    const u128 t = static_cast<u128>(limbs_[j]) + o.limbs_[j] + carry;
    limbs_[j] = static_cast<u64>(t);
    carry = static_cast<unsigned>(t >> 64);
  }
  if (carry) carry_from(o.hi_ + 1);
  if (o.neg_fill_) borrow_from(o.hi_ + 1);
}

void accumulator::negate() noexcept {
  std::swap(saw_pos_inf_, saw_neg_inf_);
  if (lo_ > hi_) return;
  // -x = ~x + 1 over the infinite two's complement word that starts at limb lo_.
  for (int j = lo_; j <= hi_; ++j) limbs_[j] = ~limbs_[j];
  neg_fill_ = !neg_fill_;
  carry_from(lo_);
}

value_kind accumulator::kind() const noexcept {
  if (saw_nan_ || (saw_pos_inf_ && saw_neg_inf_)) return value_kind::nan;
  if (saw_pos_inf_) return value_kind::pos_inf;
  if (saw_neg_inf_) return value_kind::neg_inf;
  return value_kind::finite;
}

int accumulator::sign() const noexcept {
  switch (kind()) {
    case value_kind::nan:
      return 0;
    case value_kind::pos_inf:
      return 1;
    case value_kind::neg_inf:
      return -1;
    case value_kind::finite:
      break;
  }
  if (neg_fill_) return -1;
  for (int j = lo_; j <= hi_; ++j)
    if (limbs_[j]) return 1;
  return 0;
}

int accumulator::magnitude(u64* out) const noexcept {
  if (lo_ > hi_) return 0;
  const int n = hi_ - lo_ + 1;
  if (!neg_fill_) {
    std::memcpy(out, limbs_ + lo_, sizeof(u64) * static_cast<unsigned>(n));
    return n;
  }
  // |x| = ~x + 1; the complement of the all-ones fill is 0, plus a possible final carry
  // (x = -2^(64*(hi_+1)) exactly), hence n + 1 limbs.
  unsigned carry = 1;
  for (int t = 0; t < n; ++t) {
    const u64 v = ~limbs_[lo_ + t] + carry;
    carry = carry && v == 0;
    out[t] = v;
  }
  out[n] = carry;
  return n + 1;
}

void accumulator::set_magnitude(const u64* mag, int n, int lo, bool neg) noexcept {
  clear();
  if (n <= 0) return;
  std::memcpy(limbs_ + lo, mag, sizeof(u64) * static_cast<unsigned>(n));
  lo_ = lo;
  hi_ = lo + n - 1;
  if (neg) negate();
}

// |S| = mag * 2^base (n limbs, mag[top] != 0) split at the double quantum of its binade.
struct accumulator::split_view {
  u64 mag[limb_count + 1];
  int n = 0, top = -1, base = 0, rq = 0, q = 0;
  u64 sig = 0;
  bool neg = false, round_bit = false, sticky = false;
};

// Fills v for a finite value; returns false for an exact zero.
bool accumulator::split_double(split_view& v) const noexcept {
  v.n = magnitude(v.mag);
  v.top = v.n - 1;
  while (v.top >= 0 && v.mag[v.top] == 0) --v.top;
  if (v.top < 0) return false;
  v.neg = neg_fill_;
  // |S| in [2^E, 2^(E+1)); bit b of mag has weight 2^(b + base).
  v.base = 64 * lo_ - bias_bits;
  const int top_bit = 64 * v.top + 63 - std::countl_zero(v.mag[v.top]);
  const int E = top_bit + v.base;
  // Quantum: 53 bits below E, or the subnormal quantum 2^-1074 (gradual underflow).
  v.q = std::max(E - 52, -1074);
  const int count = E - v.q + 1;  // kept bits, <= 53 (<= 0 far below the subnormals)
  v.rq = v.q - v.base;
  v.sig = count > 0 ? bits64(v.mag, v.n, v.rq) & ((u64{1} << count) - 1) : 0;
  v.round_bit = bit_at(v.mag, v.n, v.rq - 1);
  v.sticky = any_below(v.mag, v.n, v.rq - 1);
  return true;
}

double accumulator::round(rounding r, bool* inexact) const noexcept {
  if (inexact) *inexact = false;
  if (kind() != value_kind::finite) return special_double(kind());
  split_view v;
  if (!split_double(v)) return 0.0;  // exact zero: +0
  bool up = false;
  switch (r) {
    case rounding::nearest_even:
      up = v.round_bit && (v.sticky || (v.sig & 1));
      break;
    case rounding::upward:
      up = (v.round_bit || v.sticky) && !v.neg;
      break;
    case rounding::downward:
      up = (v.round_bit || v.sticky) && v.neg;
      break;
    case rounding::toward_zero:
      up = false;
      break;
  }
  if (inexact) *inexact = v.round_bit || v.sticky;
  u64 sig = v.sig;
  int q = v.q;
  if (up && ++sig == (u64{1} << 53)) {
    sig >>= 1;
    ++q;
  }
  // Overflow: the rounded value (unbounded exponent) reaches 2^1024.
  if (q + 52 > 1023) {
    if (inexact) *inexact = true;
    const bool to_inf = r == rounding::nearest_even || (r == rounding::upward && !v.neg) ||
                        (r == rounding::downward && v.neg);
    const double m = to_inf ? std::numeric_limits<double>::infinity() : DBL_MAX;
    return v.neg ? -m : m;
  }
  return make_double(v.neg, sig, q);
}

double accumulator::round(rounding r) const noexcept {
  return round(r, nullptr);
}

bool accumulator::round_split(double* rn, double* tail) const noexcept {
  *tail = 0.0;
  if (kind() != value_kind::finite) {
    *rn = special_double(kind());
    return true;
  }
  split_view v;
  if (!split_double(v)) {
    *rn = 0.0;
    return true;
  }
  const bool up = v.round_bit && (v.sticky || (v.sig & 1));
  u64 sig = v.sig;
  int q = v.q;
  if (up && ++sig == (u64{1} << 53)) {
    sig >>= 1;
    ++q;
  }
  if (q + 52 > 1023) {  // beyond double: RN is +-Inf, the value needs the side store
    *rn =
        v.neg ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
    return false;
  }
  *rn = make_double(v.neg, sig, q);
  if (!v.round_bit && !v.sticky) return true;
  // Remainder from the bits of |S| below the quantum (rq >= 1 here): L = |S| mod 2^rq, and
  // |S| - |RN| is L, or L - 2^rq when RN rounded up. Computed in place on the magnitude.
  u64* m = v.mag;
  const int nl = std::min(v.n, (v.rq + 63) >> 6);
  if ((v.rq & 63) && (v.rq >> 6) < v.n) m[v.rq >> 6] &= (u64{1} << (v.rq & 63)) - 1;
  if (up) {  // 2^rq - L: the two's complement of L within rq bits
    unsigned carry = 1;
    for (int t = 0; t < nl; ++t) {
      const u64 x = ~m[t] + carry;
      carry = carry && x == 0;
      m[t] = x;
    }
    if ((v.rq & 63) && nl == ((v.rq + 63) >> 6)) m[nl - 1] &= (u64{1} << (v.rq & 63)) - 1;
  }
  int lo_limb = 0, hi_limb = nl - 1;
  while (lo_limb < nl && m[lo_limb] == 0) ++lo_limb;
  while (hi_limb >= lo_limb && m[hi_limb] == 0) --hi_limb;
  if (lo_limb > hi_limb) return false;  // unreachable (round or sticky bit is set); be safe
  const int low_bit = 64 * lo_limb + std::countr_zero(m[lo_limb]);
  const int high_bit = 64 * hi_limb + 63 - std::countl_zero(m[hi_limb]);
  if (high_bit - low_bit >= 53 || low_bit + v.base < -1074) return false;
  const u64 r = bits64(m, nl, low_bit) & ((u64{1} << (high_bit - low_bit + 1)) - 1);
  *tail = make_double(v.neg != up, r, low_bit + v.base);
  return true;
}

double accumulator::round_to(format_id f, underflow_mode u) const noexcept {
  if (kind() != value_kind::finite) return special_double(kind());
  u64 mag[limb_count + 1];
  const int n = magnitude(mag);
  int top = n - 1;
  while (top >= 0 && mag[top] == 0) --top;
  if (top < 0) return 0.0;
  // The 64 leading bits, their weight, and a sticky bit for everything below: one rounding
  // in round_significand (docs/formats.md, "Rounding an exact significand").
  const int top_bit = 64 * top + 63 - std::countl_zero(mag[top]);
  const int pos = top_bit - 63;
  return round_significand(f, neg_fill_, bits64(mag, n, pos), pos + 64 * lo_ - bias_bits,
                           any_below(mag, n, pos), u);
}

double accumulator::abs_diff(double observed, rounding r) const noexcept {
  const value_kind k = kind();
  if (k == value_kind::nan || std::isnan(observed)) return std::numeric_limits<double>::quiet_NaN();
  if (std::isinf(observed) || k != value_kind::finite) {
    const bool same = (k == value_kind::pos_inf && observed > 0 && std::isinf(observed)) ||
                      (k == value_kind::neg_inf && observed < 0 && std::isinf(observed));
    return same ? 0.0 : std::numeric_limits<double>::infinity();
  }
  accumulator d(*this);
  d.add(-observed);
  if (d.neg_fill_) d.negate();
  return d.round(r);
}

}  // namespace roundoff::exact
