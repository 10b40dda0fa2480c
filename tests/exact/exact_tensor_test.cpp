// exact_tensor: store/load keeps the whole exact value (narrow, two-double, wide, beyond the
// double range, below 2^-1074, special), concurrently for distinct elements, compared with the
// accumulator it came from and with the MPFR oracle.
#include "roundoff/exact/exact_tensor.hpp"

#include <gtest/gtest.h>

#include <cfloat>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>

#include "exact_testing.hpp"
#include "property.hpp"
#include "roundoff/exact/gemm.hpp"
#include "roundoff/exact/mpfr_oracle.hpp"

namespace roundoff::test {
namespace {

using exact::accumulator;
using exact::exact_tensor;
using exact::rounding;

// A random exponent for an integer of nb bits stored as (integer) * 2^e: at the subnormal edge,
// just below overflow, at the accumulator's lowest bits, or anywhere; kept inside the
// accumulator's range [-2176, 2175].
int random_exponent(std::mt19937_64& g, int nb) {
  int e;
  switch (g() % 5) {
    case 0:
      e = -1074 - static_cast<int>(g() % 3);
      break;
    case 1:
      e = 1023 - nb + static_cast<int>(g() % 3) - 1;
      break;
    case 2:
      e = -2176 + static_cast<int>(g() % 200);
      break;
    default:
      e = -1200 + static_cast<int>(g() % 2300) - nb;
  }
  e = std::max(e, -2176);
  if (e + nb > 2175) e = 2175 - nb;
  return e;
}

// A random dot product whose exact value has a chosen shape.
struct case_terms {
  std::vector<double> a, b;
};

case_terms random_case(std::mt19937_64& g, int shape) {
  case_terms c;
  auto push = [&](double x, double y) {
    c.a.push_back(x);
    c.b.push_back(y);
  };
  const int n = 1 + static_cast<int>(g() % 8);
  for (int t = 0; t < n; ++t) {
    switch (shape) {
      case 0:  // one double
        push(draw_format(g, format_id::f32, -20, 20), 1.0);
        break;
      case 1:  // f32 products: usually RN + one tail double
        push(draw_format(g, format_id::f32, -20, 20), draw_format(g, format_id::f32, -20, 20));
        break;
      case 2:  // f64 products, wide spans
        push(draw_format(g, format_id::f64, -300, 300), draw_format(g, format_id::f64, -300, 300));
        break;
      case 3:  // beyond the double range
        push(draw_format(g, format_id::f64, 900, 1023), draw_format(g, format_id::f64, 900, 1023));
        break;
      case 4:  // bits below 2^-1074
        push(draw_format(g, format_id::f64, -1074, -500),
             draw_format(g, format_id::f64, -700, -300));
        break;
      default: {  // anything, specials included
        const double sp[] = {std::numeric_limits<double>::infinity(),
                             -std::numeric_limits<double>::infinity(),
                             std::numeric_limits<double>::quiet_NaN(), 0.0, -0.0};
        push(g() % 4 ? draw_format(g, format_id::f64, -1074, 1023) : sp[g() % 5],
             g() % 4 ? draw_format(g, format_id::f64, -1074, 1023) : sp[g() % 5]);
      }
    }
  }
  return c;
}

// Element i of t agrees with acc and with the oracle's value ov.
::testing::AssertionResult element_matches(const exact_tensor& t, std::int64_t i,
                                           const accumulator& acc, const exact::mpfr_value& ov,
                                           std::mt19937_64& g) {
  if (!same_double(t.rounded(i), ov.round()))
    return ::testing::AssertionFailure()
           << "rounded " << hex(t.rounded(i)) << " vs oracle " << hex(ov.round());
  accumulator back;
  t.load(i, back);
  auto r = same_exact_value(back, ov, g, acc.round(rounding::toward_zero));
  if (!r) return r << " (loaded value)";
  for (auto f : all_formats)
    if (!same_double(t.round_to(i, f), ov.round_to(f)))
      return ::testing::AssertionFailure() << "tensor round_to " << traits(f).name;
  const double rn = ov.round();
  for (double obs :
       observed_values(g, rn, acc.round(rounding::upward), ov.round_to(format_id::f16)))
    for (auto rr : all_roundings)
      if (!same_double(t.abs_diff(i, obs, rr), ov.abs_diff(obs, rr)))
        return ::testing::AssertionFailure() << "tensor abs_diff(" << hex(obs) << ", dir "
                                             << int(rr) << "): " << hex(t.abs_diff(i, obs, rr))
                                             << " vs oracle " << hex(ov.abs_diff(obs, rr));
  return ::testing::AssertionSuccess();
}

// abs_diff's fast path (observed within a factor 2 of the rounded value, no accumulator) gives
// the accumulator's result bit for bit: sums of random f32-valued products (value and tail),
// observed values at the Sterbenz limits (x2, /2), one ulp around them, near the exact value
// and of the other sign, every rounding.
TEST(ExactTensor, AbsDiffFastPathMatchesTheAccumulator) {
  auto g = rng(0x1400);
  const std::int64_t iters = iterations(20000);
  std::normal_distribution<double> nd(0.0, 1.0);
  std::uniform_int_distribution<int> ex(-30, 30), len(1, 64);
  exact_tensor t({1});
  for (std::int64_t it = 0; it < iters; ++it) {
    const int n = len(g);
    std::vector<double> a(static_cast<std::size_t>(n)), b(a.size());
    for (int q = 0; q < n; ++q) {
      a[static_cast<std::size_t>(q)] = std::ldexp(static_cast<float>(nd(g)), ex(g));
      b[static_cast<std::size_t>(q)] = static_cast<float>(nd(g));
    }
    accumulator acc;
    exact::dot_exact(n, a.data(), b.data(), nullptr, acc);
    t.store(0, acc);
    const double rn = t.rounded(0);
    const double up = std::numeric_limits<double>::infinity();
    std::vector<double> obs = {rn,
                               2 * rn,
                               rn / 2,
                               -rn,
                               std::nextafter(rn, up),
                               std::nextafter(rn, -up),
                               std::nextafter(2 * rn, 0.0),
                               std::nextafter(2 * rn, up),
                               std::nextafter(rn / 2, up),
                               std::nextafter(rn / 2, 0.0),
                               rn * (1 + nd(g) * 1e-7),
                               acc.round(rounding::upward),
                               acc.round(rounding::downward)};
    for (double o : obs)
      for (auto r : all_roundings) {
        accumulator back;
        t.load(0, back);
        ASSERT_TRUE(same_double(t.abs_diff(0, o, r), back.abs_diff(o, r)))
            << replay(it) << ", rounded " << hex(rn) << ", observed " << hex(o) << ", dir "
            << int(r);
      }
  }
}

TEST(ExactTensor, StoreLoadRoundtripAllShapes) {
  auto g = rng(0x1000);
  const std::int64_t iters = iterations(6000);
  exact_tensor t({4, 16});
  int side = 0, stores = 0;
  for (std::int64_t it = 0; it < iters; ++it) {
    const int shape = static_cast<int>(g() % 6);
    const case_terms c = random_case(g, shape);
    const auto n = static_cast<std::int64_t>(c.a.size());
    accumulator acc;
    exact::dot_exact(n, c.a.data(), c.b.data(), nullptr, acc);
    const std::int64_t i = static_cast<std::int64_t>(g() % 64);
    const auto before = t.side_count();
    t.store(i, acc);
    side += static_cast<int>(t.side_count() - before);
    ++stores;
    const auto ov = exact::dot_mpfr_value(n, c.a.data(), c.b.data(), nullptr, oracle_options());
    ASSERT_TRUE(element_matches(t, i, acc, ov, g)) << "shape " << shape << ' ' << replay(it);
    accumulator back;
    t.load(i, back);
    ASSERT_TRUE(same_value_by_peeling(back, n, c.a.data(), c.b.data(), nullptr))
        << "shape " << shape << ' ' << replay(it);
  }
  std::cerr << "[roundoff] " << side << " of " << stores << " stores went to the side store\n";
}

// Values of the kinds that need the side store, by construction.
TEST(ExactTensor, WideValuesGoToSideStore) {
  exact_tensor t({6});
  accumulator acc;
  acc.add_product(DBL_MAX, 4.0);  // beyond double: rounded is +Inf, value kept
  t.store(0, acc);
  acc.clear();
  acc.add(1.0);
  acc.add_product(1e-300, 1e-300);  // 1 + 1e-600: tail below 2^-1074
  t.store(1, acc);
  acc.clear();
  acc.add(1.0);
  acc.add(std::ldexp(1.0, -60));  // 1 + 2^-60: RN + one tail double
  t.store(2, acc);
  acc.clear();
  acc.add(1.0);
  acc.add(std::ldexp(1.0, -60));
  acc.add(std::ldexp(1.0, -200));  // three doubles' worth of span
  t.store(3, acc);
  acc.clear();
  acc.add_product(std::numeric_limits<double>::infinity(), -1.0);
  t.store(4, acc);  // -Inf kind: no side entry
  EXPECT_EQ(t.side_count(), 3);
  EXPECT_EQ(t.rounded(0), std::numeric_limits<double>::infinity());
  // 4*MAX - MAX = 3*MAX: beyond double, so +Inf in RN and DBL_MAX toward zero.
  EXPECT_EQ(t.abs_diff(0, DBL_MAX), std::numeric_limits<double>::infinity());
  EXPECT_EQ(t.abs_diff(0, DBL_MAX, rounding::toward_zero), DBL_MAX);
  EXPECT_EQ(t.abs_diff(0, -DBL_MAX, rounding::downward), DBL_MAX);  // 5*MAX, rounded down
  EXPECT_EQ(t.rounded(1), 1.0);
  EXPECT_EQ(t.abs_diff(1, 1.0, rounding::upward), std::ldexp(1.0, -1074));
  EXPECT_EQ(t.abs_diff(1, 1.0), 0.0);
  EXPECT_EQ(t.abs_diff(2, 1.0), std::ldexp(1.0, -60));
  EXPECT_EQ(t.abs_diff(3, 1.0, rounding::downward), std::ldexp(1.0, -60));
  EXPECT_EQ(t.abs_diff(3, 1.0, rounding::upward), std::nextafter(std::ldexp(1.0, -60), 1.0));
  EXPECT_EQ(t.rounded(4), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(t.abs_diff(4, -std::numeric_limits<double>::infinity()), 0.0);
  EXPECT_EQ(t.rounded(5), 0.0);  // never stored: exact zero
  accumulator z;
  t.load(5, z);
  EXPECT_EQ(z.sign(), 0);
}

// The tail boundary: a remainder of exactly 53 bits is one double, 54 bits are not; both for
// a remainder added (RN rounded down) and for one subtracted (RN rounded up, tail negative).
TEST(ExactTensor, TailBoundary) {
  exact_tensor t({4});
  accumulator acc;
  const double r53 = 0x1p-58 + 0x1p-110;  // 53 bits: a double
  acc.add(1.0);
  acc.add(r53);  // RN 1, tail r53
  t.store(0, acc);
  EXPECT_EQ(t.side_count(), 0);
  acc.clear();
  acc.add(1.0);
  acc.add(0x1p-58);
  acc.add(0x1p-111);  // remainder 2^-58 + 2^-111, 54 bits: side store
  t.store(1, acc);
  EXPECT_EQ(t.side_count(), 1);
  // 1 + 2^-53 + 2^-60: RN rounds up to 1 + 2^-52; the remainder -(2^-53 - 2^-60) =
  // -2^-60 * (2^7 - 1) has 7 bits: a double.
  acc.clear();
  acc.add(1.0);
  acc.add(0x1p-53);
  acc.add(0x1p-60);
  t.store(2, acc);
  EXPECT_EQ(t.side_count(), 1);
  EXPECT_EQ(t.rounded(2), 1.0 + 0x1p-52);
  EXPECT_EQ(t.abs_diff(2, 1.0 + 0x1p-52), 0x1p-53 - 0x1p-60);
  // Rounded up with a remainder 2^-53 - 2^-140 (87 bits): side store.
  acc.clear();
  acc.add(1.0);
  acc.add(0x1p-53);
  acc.add_product(0x1p-70, 0x1p-70);
  t.store(3, acc);
  EXPECT_EQ(t.side_count(), 2);
  EXPECT_EQ(t.rounded(3), 1.0 + 0x1p-52);
  EXPECT_EQ(t.abs_diff(3, 1.0 + 0x1p-52, rounding::upward), 0x1p-53);
  EXPECT_EQ(t.abs_diff(3, 1.0 + 0x1p-52, rounding::downward), std::nextafter(0x1p-53, 0.0));
  for (std::int64_t i = 0; i < 4; ++i) {
    accumulator back;
    t.load(i, back);
    EXPECT_EQ(back.round(), t.rounded(i));
  }
  EXPECT_EQ(t.abs_diff(0, 1.0), r53);
  EXPECT_EQ(t.abs_diff(1, 1.0, rounding::toward_zero), 0x1p-58);
  EXPECT_EQ(t.abs_diff(1, 1.0, rounding::upward), 0x1p-58 + 0x1p-110);
  EXPECT_EQ(t.abs_diff(1, 1.0), 0x1p-58);  // tie between 2^-58 and 2^-58 + 2^-110: even
}

// store_integer() leaves an element exactly as store() of an accumulator holding the same
// 128-bit integer times 2^e: the same rounded double, the same value read back (rounded in
// every direction, every format, |value - observed|), and the same use of the side store. The
// magnitudes are built to hit the fast path's edges: 53 and 54 significant bits, ties to even,
// carries to 2^53, tails of exactly 53 and 54 bits, e at -1074/-1075 and |S| near 2^1023.
TEST(ExactTensor, StoreIntegerEqualsStoreOfAccumulator) {
  auto g = rng(0x1200);
  __extension__ typedef unsigned __int128 u128;
  const std::int64_t iters = iterations(40000);
  exact_tensor fast({1}), slow({1});
  std::int64_t fast_side = 0;
  for (std::int64_t it = 0; it < iters; ++it) {
    const int nb = 1 + static_cast<int>(g() % 127);
    u128 m = (static_cast<u128>(g()) << 64) | g();
    m &= (u128{1} << nb) - 1;
    m |= u128{1} << (nb - 1);
    switch (g() % 6) {
      case 0:  // exact tie below bit 53
        if (nb >= 54) m = (m >> (nb - 53) << (nb - 53)) | (u128{1} << (nb - 54));
        break;
      case 1:  // all ones: rounds up to a power of two
        m = (u128{1} << nb) - 1;
        break;
      case 2:  // a tail of 53 or 54 bits below the 53-bit head
        if (nb >= 53 + 54) {
          const int tb = 53 + static_cast<int>(g() % 2);
          m = (m >> (nb - 53) << (nb - 53)) | (u128{1} << (tb - 1)) | 1;
        }
        break;
      default:
        break;
    }
    const int e = random_exponent(g, nb);
    const bool neg = g() & 1;
    const auto lo = static_cast<std::uint64_t>(m), hi = static_cast<std::uint64_t>(m >> 64);
    accumulator acc;
    acc.add_integer(lo, hi, neg, e);
    const std::int64_t side_before = slow.side_count();
    slow.store(0, acc);
    const std::int64_t side_before_fast = fast.side_count();
    fast.store_integer(0, lo, hi, neg, e);
    ASSERT_TRUE(same_double(fast.rounded(0), slow.rounded(0)))
        << replay(it) << ": m bits " << nb << ", e " << e << ", " << hex(fast.rounded(0)) << " vs "
        << hex(slow.rounded(0));
    ASSERT_EQ(fast.side_count() - side_before_fast, slow.side_count() - side_before)
        << replay(it) << ": side store use differs (m bits " << nb << ", e " << e << ")";
    fast_side += fast.side_count() - side_before_fast;
    accumulator back;
    fast.load(0, back);
    const double rn = acc.round();
    for (auto r : all_roundings)
      ASSERT_TRUE(same_double(back.round(r), acc.round(r))) << replay(it);
    for (auto f : all_formats)
      ASSERT_TRUE(same_double(fast.round_to(0, f), slow.round_to(0, f))) << replay(it);
    for (double obs :
         observed_values(g, rn, acc.round(rounding::upward), acc.round_to(format_id::f16)))
      for (auto r : all_roundings)
        ASSERT_TRUE(same_double(fast.abs_diff(0, obs, r), slow.abs_diff(0, obs, r)))
            << replay(it) << ", observed " << hex(obs);
  }
  // Both the fast case and the fallback were exercised.
  EXPECT_GT(fast_side, 0);
  EXPECT_LT(fast_side, iters / 2);
}

// store_integer192() likewise, on magnitudes of up to 192 bits (the f64 fast path's combined
// sums): mostly 129-192 bits, some of at most 128 (delegated to store_integer), built to hit the
// same edges (ties at the rounding bit, all ones, tails of 53 and 54 bits, e at -1074/-1075 and
// |S| near 2^1023) and every shift of the limbs modulo 64; the same rounded double, the same
// value read back and the same use of the side store as store() of an accumulator.
TEST(ExactTensor, StoreInteger192EqualsStoreOfAccumulator) {
  auto g = rng(0x1201);
  const std::int64_t iters = iterations(40000);
  exact_tensor fast({1}), slow({1});
  std::int64_t fast_side = 0, narrow_wide = 0;
  for (std::int64_t it = 0; it < iters; ++it) {
    const int nb = g() % 8 ? 129 + static_cast<int>(g() % 64) : 1 + static_cast<int>(g() % 128);
    std::uint64_t m[3] = {g(), g(), g()};
    const auto set_bit = [&](int b) { m[b / 64] |= std::uint64_t{1} << (b % 64); };
    const auto keep_below = [&](int b) {  // clears bits >= b
      for (int l = 0; l < 3; ++l) {
        const int from = b - 64 * l;
        if (from <= 0)
          m[l] = 0;
        else if (from < 64)
          m[l] &= (std::uint64_t{1} << from) - 1;
      }
    };
    const auto clear_below = [&](int b) {  // clears bits < b
      for (int l = 0; l < 3; ++l) {
        const int to = b - 64 * l;
        if (to >= 64)
          m[l] = 0;
        else if (to > 0)
          m[l] &= ~((std::uint64_t{1} << to) - 1);
      }
    };
    keep_below(nb);
    set_bit(nb - 1);
    switch (g() % 6) {
      case 0:  // exact tie below the 53-bit head
        if (nb >= 54) clear_below(nb - 53), set_bit(nb - 54);
        break;
      case 1:  // all ones: rounds up to a power of two
        m[0] = m[1] = m[2] = ~std::uint64_t{0};
        keep_below(nb);
        break;
      case 2:  // a tail of 53 or 54 bits below the 53-bit head, at a random depth
        if (nb >= 53 + 54) {
          const int tb = 53 + static_cast<int>(g() % 2);
          const int low = static_cast<int>(g() % static_cast<std::uint64_t>(nb - 53 - tb + 1));
          clear_below(nb - 53);
          set_bit(low + tb - 1), set_bit(low);
        }
        break;
      case 3:  // a rounded-up tail: the head's last bit set and the bits below a long run of ones
        if (nb >= 54) {
          clear_below(nb - 53);
          for (int b = static_cast<int>(g() % static_cast<std::uint64_t>(nb - 53)); b < nb - 53;
               ++b)
            set_bit(b);
        }
        break;
      default:
        break;
    }
    const int e = random_exponent(g, nb);
    const bool neg = g() & 1;
    accumulator acc;
    acc.add_integer(m[0], m[1], neg, e);
    acc.add_integer(m[2], 0, neg, e + 128);
    const std::int64_t side_before = slow.side_count();
    slow.store(0, acc);
    const std::int64_t side_before_fast = fast.side_count();
    fast.store_integer192(0, m, neg, e);
    const auto what = [&] {
      std::ostringstream o;
      o << replay(it) << ": m bits " << nb << ", e " << e << ", limbs " << std::hex << m[2] << ' '
        << m[1] << ' ' << m[0];
      return o.str();
    };
    ASSERT_TRUE(same_double(fast.rounded(0), slow.rounded(0)))
        << what() << ", " << hex(fast.rounded(0)) << " vs " << hex(slow.rounded(0));
    ASSERT_EQ(fast.side_count() - side_before_fast, slow.side_count() - side_before)
        << what() << ": side store use differs";
    fast_side += fast.side_count() - side_before_fast;
    narrow_wide += nb > 128 && fast.side_count() == side_before_fast;
    accumulator back;
    fast.load(0, back);
    back.negate();
    back.add(acc);
    ASSERT_EQ(back.sign(), 0) << what() << ": the value read back differs";
    const double rn = acc.round();
    for (auto f : all_formats)
      ASSERT_TRUE(same_double(fast.round_to(0, f), slow.round_to(0, f))) << what();
    for (double obs :
         observed_values(g, rn, acc.round(rounding::upward), acc.round_to(format_id::f16)))
      for (auto r : all_roundings)
        ASSERT_TRUE(same_double(fast.abs_diff(0, obs, r), slow.abs_diff(0, obs, r)))
            << what() << ", observed " << hex(obs);
  }
  // Magnitudes over 128 bits reached both the integer outcomes (a double, or one with its tail)
  // and the side store.
  EXPECT_GT(fast_side, iters / 10);
  EXPECT_GT(narrow_wide, iters / 100);
}

// store() from several threads for distinct elements, with wide values that all lock the side
// store; every element reads back exactly.
TEST(ExactTensor, ConcurrentStoresToDistinctElements) {
  const int threads = 4;
  const std::int64_t per = iterations(4000);
  exact_tensor t({threads * per});
  std::vector<std::thread> pool;
  const auto seed = base_seed();
  for (int w = 0; w < threads; ++w)
    pool.emplace_back([&, w] {
      std::mt19937_64 g(seed + static_cast<std::uint64_t>(w));
      accumulator acc;
      for (std::int64_t k = 0; k < per; ++k) {
        acc.clear();
        const double x = draw_format(g, format_id::f64, -1074, 1023);
        acc.add_product(x, 1.5);
        acc.add_product(std::ldexp(1.0, -1074), std::ldexp(1.0, -static_cast<int>(k % 900)));
        t.store(w * per + k, acc);
      }
    });
  for (auto& th : pool) th.join();
  for (int w = 0; w < threads; ++w) {
    std::mt19937_64 g(seed + static_cast<std::uint64_t>(w));
    accumulator acc, back;
    for (std::int64_t k = 0; k < per; ++k) {
      acc.clear();
      const double x = draw_format(g, format_id::f64, -1074, 1023);
      acc.add_product(x, 1.5);
      acc.add_product(std::ldexp(1.0, -1074), std::ldexp(1.0, -static_cast<int>(k % 900)));
      t.load(w * per + k, back);
      // Equal exact values: their difference is an exact zero.
      back.negate();
      back.add(acc);
      ASSERT_EQ(back.sign(), 0) << "thread " << w << " element " << k << ' ' << replay(k);
    }
  }
}

// The side store under the engine's use (docs/exact.md §3, "Concurrency"): threads, more than
// the cores, store into interleaved elements (neighbours belong to other threads), three rounds
// of values of every shape, so that elements enter the side store, leave it, come back wider
// (a new entry) or narrower (the old entry reused); storing the same values once more reuses
// every entry (no growth). A copy is taken, then a fifth round of new values is stored. Every
// element reads back exactly the last value stored, in the tensor, and the copied one, in the
// copy (against its accumulator, and every 16th against MPFR).
TEST(ExactTensor, ConcurrentRestoresReadBackExactly) {
  const int threads = 6;
  const std::int64_t per = iterations(1500), n = threads * per;
  exact_tensor t({n});
  std::vector<case_terms> last(static_cast<std::size_t>(n));
  const auto seed = base_seed();
  const auto run_round = [&](int round, bool repeat) {
    std::vector<std::thread> pool;
    for (int w = 0; w < threads; ++w)
      pool.emplace_back([&, w] {
        std::mt19937_64 g(seed + static_cast<std::uint64_t>(round * threads + w));
        accumulator acc;
        for (std::int64_t k = 0; k < per; ++k) {
          const std::int64_t i = k * threads + w;
          auto& c = last[static_cast<std::size_t>(i)];
          // Mostly wide shapes (2-4), some narrow (0, 1) and special (5) ones.
          if (!repeat) c = random_case(g, static_cast<int>(g() % 10 < 7 ? 2 + g() % 3 : g() % 6));
          exact::dot_exact(static_cast<std::int64_t>(c.a.size()), c.a.data(), c.b.data(), nullptr,
                           acc);
          t.store(i, acc);
        }
      });
    for (auto& th : pool) th.join();
  };
  for (int round = 0; round < 3; ++round) run_round(round, false);
  const std::size_t bytes = t.memory_bytes();
  const std::int64_t side_before = t.side_count();
  run_round(3, true);
  EXPECT_EQ(t.memory_bytes(), bytes) << "storing the same values again grew the side store";
  const std::int64_t side_repeat = t.side_count() - side_before;
  // A copy holds its own entries: new values stored into t afterwards leave it unchanged.
  const exact_tensor copy(t);
  const std::vector<case_terms> copied = last;
  run_round(4, false);
  auto g = rng(0x1300);
  exact_tensor probe({1});
  std::int64_t side_now = 0;
  for (const bool of_copy : {false, true}) {
    const exact_tensor& x = of_copy ? copy : t;
    for (std::int64_t i = 0; i < n; ++i) {
      const auto& c = (of_copy ? copied : last)[static_cast<std::size_t>(i)];
      const auto terms = static_cast<std::int64_t>(c.a.size());
      accumulator acc;
      exact::dot_exact(terms, c.a.data(), c.b.data(), nullptr, acc);
      if (of_copy) {
        const std::int64_t probe_before = probe.side_count();
        probe.store(0, acc);  // a fresh element: whether this value needs the side store
        side_now += probe.side_count() - probe_before;
      }
      const std::string where =
          std::string(of_copy ? "copy" : "tensor") + ", element " + std::to_string(i) + ' ';
      accumulator back;
      x.load(i, back);
      ASSERT_TRUE(same_double(x.rounded(i), acc.round())) << where << replay(i);
      if (acc.kind() != exact::value_kind::finite) {
        ASSERT_EQ(back.kind(), acc.kind()) << where << replay(i);
        continue;
      }
      back.negate();
      back.add(acc);
      ASSERT_EQ(back.sign(), 0) << where << replay(i);
      if (i % 16 == 0) {
        const auto ov =
            exact::dot_mpfr_value(terms, c.a.data(), c.b.data(), nullptr, oracle_options());
        ASSERT_TRUE(element_matches(x, i, acc, ov, g)) << where << replay(i);
      }
    }
  }
  // The repeated round stored exactly the elements that need the side store.
  EXPECT_EQ(side_repeat, side_now);
  EXPECT_GT(side_now, n / 2);
}

TEST(ExactTensor, CopyAndMoveKeepValues) {
  exact_tensor t({3});
  accumulator acc;
  acc.add_product(DBL_MAX, DBL_MAX);
  acc.add(1.0);
  t.store(1, acc);
  exact_tensor c(t);
  exact_tensor m(std::move(t));
  exact_tensor a;
  a = c;
  for (const exact_tensor* x : {&c, &m, &a}) {
    accumulator back;
    x->load(1, back);
    back.negate();
    back.add(acc);
    EXPECT_EQ(back.sign(), 0);
    EXPECT_EQ(x->shape(), std::vector<std::int64_t>{3});
  }
}

// Per-element memory stays at 17 bytes for realistic data (f32 dot products of length 512),
// with few side entries. Printed; asserted loosely.
TEST(ExactTensor, CompactForF32Data) {
  auto g = rng(0x1100);
  const std::int64_t n = iterations(2000), k = 512;
  exact_tensor t({n});
  std::vector<double> a(static_cast<std::size_t>(k)), b(a.size());
  accumulator acc;
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < a.size(); ++j) {
      a[j] = draw_gaussian(g, format_id::f32);
      b[j] = draw_gaussian(g, format_id::f32);
    }
    exact::dot_exact(k, a.data(), b.data(), nullptr, acc);
    t.store(i, acc);
  }
  std::cerr << "[roundoff] f32 K=512: " << t.side_count() << " of " << n << " in the side store, "
            << static_cast<double>(t.memory_bytes()) / static_cast<double>(n) << " bytes/element\n";
  EXPECT_LT(static_cast<double>(t.memory_bytes()) / static_cast<double>(n), 40.0);
}

}  // namespace
}  // namespace roundoff::test
