// The sm_90 tensor-core emulation (docs/tensor-cores.md) against three independent oracles:
// hand-computed goldens, one per parameter, that a model with the parameter changed would fail;
// a second implementation of the block FMA in MPFR (randomized, replayable seed); and the real
// H200 outputs of tests/fixtures/h200 (bit for bit, fractions asserted exactly as measured, so a
// regression fails). Also: the model.sm90.tc.* implementations are listed and run, their outputs
// are consistent with their declared presets (verdicts::check, exact references), and the search
// that `check` uses finds the fixture orders and rejects a one-ulp change.
#include <gtest/gtest.h>
#include <mpfr.h>

#include <cmath>
#include <cstdint>
#include <iostream>
#include <random>
#include <string>

#include "property.hpp"
#include "roundoff/backends/backend.hpp"
#include "roundoff/backends/tc_emulation.hpp"
#include "roundoff/io/read_tensor.hpp"
#include "roundoff/verdicts/check.hpp"

#ifndef ROUNDOFF_FIXTURES_DIR
#error "ROUNDOFF_FIXTURES_DIR must name tests/fixtures/h200"
#endif

namespace {

using namespace roundoff;
namespace tc = backends::tc;

tensor load(const std::string& file, const std::string& member) {
  return io::read_tensor(std::string(ROUNDOFF_FIXTURES_DIR) + "/" + file + ":" + member);
}

double fma8(const tc::unit& u, std::vector<double> a, std::vector<double> b, double c = 0) {
  return tc::block_fma(u, a.data(), b.data(), static_cast<int>(a.size()), c);
}

const tc::unit tf32 = tc::sm90_unit(tc::tc_format::tf32);
const tc::unit f16 = tc::sm90_unit(tc::tc_format::f16);

TEST(tc_block, sm90_units_have_the_measured_parameters) {
  EXPECT_EQ(tf32.block, 8);
  EXPECT_EQ(tf32.extra_bits, 2);
  EXPECT_EQ(f16.block, 16);
  EXPECT_EQ(tc::sm90_unit(tc::tc_format::bf16).block, 16);
}

// Goldens by hand (docs/tensor-cores.md §1): each is what the unit keeps on the grid
// 2^(e_max - 25), then truncated to f32.
TEST(tc_block, two_extra_alignment_bits) {
  // 1 + 7 * 2^-25: e_max = 0, grid 2^-25, all kept: RZ to f32 gives 1 + 2^-23. One extra bit
  // (grid 2^-24) would drop them: 1.
  EXPECT_EQ(fma8(tf32, {1, 0x1p-25, 0x1p-25, 0x1p-25, 0x1p-25, 0x1p-25, 0x1p-25, 0x1p-25},
                 std::vector<double>(8, 1.0)),
            1 + 0x1p-23);
  // c = 1 and 8 * 2^-26: two extra bits drop them (1); three would keep them (1 + 2^-23).
  EXPECT_EQ(fma8(tf32, std::vector<double>(8, 0x1p-26), std::vector<double>(8, 1.0), 1.0), 1.0);
}

TEST(tc_block, addends_are_truncated_toward_zero_in_magnitude) {
  // 1 - 7 * 2^-26: each negative addend truncates to 0 -> 1. A two's-complement floor would
  // give 1 - 7 * 2^-25 -> RZ -> 1 - 2^-22 ... not 1.
  EXPECT_EQ(fma8(tf32, {1, -0x1p-26, -0x1p-26, -0x1p-26, -0x1p-26, -0x1p-26, -0x1p-26, -0x1p-26},
                 std::vector<double>(8, 1.0)),
            1.0);
  // 1 - 2^-25: on the grid, kept; 1 - 2^-25 rounds toward zero to 1 - 2^-24.
  EXPECT_EQ(fma8(tf32, {1, -0x1p-25}, {1, 1}), 1 - 0x1p-24);
}

TEST(tc_block, final_rounding_is_toward_zero) {
  // 1 + 2^-24 + 2^-25 is exact on the grid; RZ to f32 gives 1 (RN would give 1 + 2^-23).
  EXPECT_EQ(fma8(tf32, {1, 0x1p-24, 0x1p-25}, {1, 1, 1}), 1.0);
  EXPECT_EQ(fma8(tf32, {-1, -0x1p-24, -0x1p-25}, {1, 1, 1}), -1.0);
}

TEST(tc_block, alignment_uses_operand_exponents_not_the_product_exponent) {
  // 1.5 * 1.5 = 2.25 has e(a) + e(b) = 0, so the grid is 2^-25 although the product is in
  // [2, 4): seven addends 3 * 2^-25 stay whole, 2.25 + 21 * 2^-25 -> RZ -> 2.25 + 2^-21. A
  // normalized product exponent (grid 2^-24) would cut each to 2^-24: 2.25 + 2^-22.
  std::vector<double> a(8, 1.5 * 0x1p-24), b(8, 1.0);
  a[0] = 1.5;
  b[0] = 1.5;
  EXPECT_EQ(tc::block_fma(tf32, a.data(), b.data(), 8, 0.0), 2.25 + 0x1p-21);
}

TEST(tc_block, the_accumulator_joins_the_alignment) {
  // c = 2^10 sets e_max = 10, grid 2^-15: products 2^-16 vanish, 2^-15 stay.
  EXPECT_EQ(fma8(tf32, {0x1p-16, 0x1p-16}, {1, 1}, 1024.0), 1024.0);
  EXPECT_EQ(fma8(tf32, {0x1p-15, 0x1p-15, 0x1p-15, 0x1p-15}, {1, 1, 1, 1}, 1024.0),
            1024.0 + 0x1p-13);
  // And the accumulator itself is truncated when a product is larger: c = 1 + 2^-23 under a
  // product 2^4 (grid 2^-21) loses its 2^-23.
  EXPECT_EQ(fma8(tf32, {16}, {1}, 1 + 0x1p-23), 17.0);
}

TEST(tc_block, f16_subnormal_inputs_take_the_minimum_exponent) {
  // 2^-24 (f16's least subnormal) has e = -14: grid 2^-14-14-25, so the product 2^-48 is kept
  // exactly with another 2^-48: 2^-47.
  EXPECT_EQ(fma8(f16, {0x1p-24, 0x1p-24}, {0x1p-24, 0x1p-24}), 0x1p-47);
}

TEST(tc_block, special_values) {
  EXPECT_TRUE(std::isnan(fma8(tf32, {INFINITY, -INFINITY}, {1, 1})));
  EXPECT_TRUE(std::isnan(fma8(tf32, {INFINITY}, {0})));
  EXPECT_TRUE(std::isnan(fma8(tf32, {1}, {1}, NAN)));
  EXPECT_EQ(fma8(tf32, {INFINITY, 1}, {1, 1}), INFINITY);
  EXPECT_EQ(fma8(tf32, {0, 0}, {1, 2}), 0.0);
  // Overflow of the truncated sum: f32's largest finite twice is +Inf.
  const double big = 0x1.ffcp127;  // the largest tf32 value
  EXPECT_EQ(fma8(tf32, {big, big}, {1, 1}), INFINITY);
}

// The block FMA again, in MPFR: e_max from mpfr_get_exp, each addend truncated with mpfr_trunc
// after scaling, an exact sum, and mpfr_prec_round toward zero to 24 bits.
double mpfr_block(const tc::unit& u, const std::vector<double>& a, const std::vector<double>& b,
                  double c) {
  const int emin_in = u.input == tc::tc_format::f16 ? -14 : -126;
  auto e_of = [](double v, int emin) {
    mpfr_t t;
    mpfr_init2(t, 64);
    mpfr_set_d(t, v, MPFR_RNDN);
    const long e = mpfr_get_exp(t) - 1;  // v = m * 2^exp, m in [1/2, 1)
    mpfr_clear(t);
    return std::max<long>(e, emin);
  };
  long emax = LONG_MIN;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i] != 0 && b[i] != 0) emax = std::max(emax, e_of(a[i], emin_in) + e_of(b[i], emin_in));
  if (c != 0) emax = std::max(emax, e_of(c, -126));
  if (emax == LONG_MIN) return 0;
  emax = std::max(emax, -133L);
  const long lsb = emax - 23 - u.extra_bits;
  mpfr_t sum, t;
  mpfr_init2(sum, 512);
  mpfr_init2(t, 128);
  mpfr_set_zero(sum, 1);
  auto add = [&](double x, double y) {
    mpfr_set_d(t, x, MPFR_RNDN);
    mpfr_mul_d(t, t, y, MPFR_RNDN);  // exact at 128 bits
    mpfr_mul_2si(t, t, -lsb, MPFR_RNDN);
    mpfr_trunc(t, t);
    mpfr_mul_2si(t, t, lsb, MPFR_RNDN);
    mpfr_add(sum, sum, t, MPFR_RNDN);  // exact at 512 bits
  };
  for (std::size_t i = 0; i < a.size(); ++i) add(a[i], b[i]);
  if (c != 0) add(c, 1.0);
  mpfr_prec_round(sum, 24, MPFR_RNDZ);
  const double r = mpfr_get_d(sum, MPFR_RNDN);
  mpfr_clears(sum, t, static_cast<mpfr_ptr>(nullptr));
  return r;
}

// A value of the unit's input format: sign, 11 (tf32/f16) or 8 (bf16) significant bits, an
// exponent in [-e, e]; zeros sometimes.
double draw(std::mt19937_64& g, tc::tc_format f, int e) {
  const int bits = f == tc::tc_format::bf16 ? 8 : 11;
  std::uniform_int_distribution<int> ex(-e, e), coin(0, 9);
  if (coin(g) == 0) return 0.0;
  const auto m = static_cast<double>((g() >> (64 - bits)) | (std::uint64_t(1) << (bits - 1)));
  const double v = std::ldexp(m, ex(g) - bits + 1);
  return coin(g) < 5 ? -v : v;
}

TEST(tc_block, matches_an_mpfr_implementation_on_random_blocks) {
  const std::uint64_t seed = roundoff::test::base_seed();
  std::mt19937_64 g = roundoff::test::rng(16);
  const auto n = roundoff::test::iterations(20000);
  for (tc::tc_format f : {tc::tc_format::tf32, tc::tc_format::f16, tc::tc_format::bf16}) {
    const tc::unit u = tc::sm90_unit(f);
    const int e = f == tc::tc_format::f16 ? 6 : 12;
    for (std::int64_t it = 0; it < n; ++it) {
      std::vector<double> a(static_cast<std::size_t>(u.block)), b(a.size());
      for (std::size_t i = 0; i < a.size(); ++i) {
        a[i] = draw(g, f, e);
        b[i] = draw(g, f, e);
      }
      // An f32 accumulator on the products' scale (24 bits), or 0.
      double c = 0;
      if (it % 3) c = std::ldexp(static_cast<double>(g() >> 40), static_cast<int>(g() % 40) - 44);
      if (it % 2) c = -c;
      const double got = tc::block_fma(u, a.data(), b.data(), u.block, c);
      const double want = mpfr_block(u, a, b, c);
      ASSERT_EQ(got, want) << tc::to_string(f) << " iteration " << it << " c " << c
                           << " replay with ROUNDOFF_TEST_SEED=" << seed;
    }
  }
}

// Fraction of y's elements the variant reproduces bit for bit.
double fraction(const tensor& e, const tensor& y) {
  std::int64_t same = 0;
  for (std::size_t i = 0; i < y.data.size(); ++i)
    same += e.data[i] == y.data[i] || (std::isnan(e.data[i]) && std::isnan(y.data[i]));
  return static_cast<double>(same) / static_cast<double>(y.data.size());
}

tc::variant sequential(tc::tc_format f, format_id out) {
  tc::variant v;
  v.u = tc::sm90_unit(f);
  v.output = out;
  return v;
}

// Every probe output of the committed subset (x @ w.T, inputs exact in the input format, so only
// the unit rounds; f16/bf16 outputs are f16/bf16 values), bit for bit: 100% for each format and K.
TEST(tc_fixtures, probe_outputs_bit_for_bit) {
  const ops::op_spec linear(ops::op_kind::linear);
  struct fmt_case {
    const char* name;
    tc::tc_format f;
    format_id out;
  };
  for (const fmt_case& c : {fmt_case{"tf32", tc::tc_format::tf32, format_id::f32},
                            fmt_case{"f16", tc::tc_format::f16, format_id::f16},
                            fmt_case{"bf16", tc::tc_format::bf16, format_id::bf16}})
    for (int K : {4, 16, 256}) {
      const std::string key = std::string(c.name) + "_K" + std::to_string(K);
      const tensor x = load("probe_subset.npz", key + "_x"),
                   w = load("probe_subset.npz", key + "_w"),
                   y = load("probe_subset.npz", key + "_y");
      const tensor e = tc::emulate(linear, x, w, nullptr, sequential(c.f, c.out));
      std::cout << key << ": " << fraction(e, y) << " of " << y.data.size()
                << " outputs bit for bit\n";
      EXPECT_EQ(fraction(e, y), 1.0) << key;
      // And a wrong block size does not: tf32 in blocks of 16 loses at K >= 16.
      if (c.f == tc::tc_format::tf32 && K >= 16) {
        tc::variant v16 = sequential(c.f, c.out);
        v16.u.block = 16;
        EXPECT_LT(fraction(tc::emulate(linear, x, w, nullptr, v16), y), 0.9) << key;
      }
    }
}

// The seed case subset (16x32 outputs of F.linear / x @ W.T + b, K = 2048): what each cuBLAS
// order reproduces, measured on the H200 fixtures (docs/tensor-cores.md §2).
TEST(tc_fixtures, seed_gemm_orders) {
  const ops::op_spec linear(ops::op_kind::linear);
  const char* file = "seed_subset.npz";
  struct seed_case {
    const char* output;
    const char* suffix;
    tc::tc_format f;
    format_id out;
    int split;
    tc::bias_rule bias;
    double expected;  // fraction measured, asserted exactly
  };
  const seed_case cases[] = {
      {"linear_f16", "_f16", tc::tc_format::f16, format_id::f16, 1, tc::bias_rule::epilogue, 1.0},
      {"matmul_add_f16", "_f16", tc::tc_format::f16, format_id::f16, 1, tc::bias_rule::after_output,
       1.0},
      {"linear_bf16", "_bf16", tc::tc_format::bf16, format_id::bf16, 1, tc::bias_rule::epilogue,
       1.0},
      {"matmul_add_bf16", "_bf16", tc::tc_format::bf16, format_id::bf16, 1,
       tc::bias_rule::after_output, 1.0},
      {"matmul_add_tf32", "", tc::tc_format::tf32, format_id::f32, 8, tc::bias_rule::epilogue, 1.0},
      // F.linear's TF32 kernel: no order tried reproduces it; split-K 8 (matmul_add's order)
      // gives 30 of these 512 (5.7% of the whole 32x512).
      {"linear_tf32", "", tc::tc_format::tf32, format_id::f32, 8, tc::bias_rule::epilogue,
       30.0 / 512},
  };
  for (const seed_case& c : cases) {
    const tensor x = load(file, std::string("x") + c.suffix),
                 w = load(file, std::string("W") + c.suffix),
                 b = load(file, std::string("b") + c.suffix), y = load(file, c.output);
    tc::variant v = sequential(c.f, c.out);
    v.split_k = c.split;
    v.bias = c.bias;
    const double got = fraction(tc::emulate(linear, x, w, &b, v), y);
    std::cout << c.output << " (" << tc::describe(v) << "): " << got << " bit for bit\n";
    EXPECT_EQ(got, c.expected) << c.output;
  }
}

// cuDNN's conv2d (2x64x32x32 * 128x64x3x3, padding 1; subset: batch 0, filters 0-7): the
// implicit GEMM with K over kernel taps outer, channels inner, K-blocks in sequence; tf32 inputs
// rounded ties away (docs/formats.md), the bias added in f32 (tf32) or after rounding to the
// 16-bit output. Channels outer (the im2col lowering's own order) loses most tf32 outputs.
TEST(tc_fixtures, cudnn_conv2d_bit_for_bit) {
  ops::op_spec conv(ops::op_kind::conv2d);
  conv.conv.padding = {1, 1};
  const char* file = "conv_subset.npz";
  struct conv_case {
    const char* output;
    const char* suffix;
    tc::tc_format f;
    format_id out;
    tc::bias_rule bias;
  };
  for (const conv_case& c :
       {conv_case{"conv2d_tf32", "", tc::tc_format::tf32, format_id::f32, tc::bias_rule::epilogue},
        conv_case{"conv2d_tf32_bench", "", tc::tc_format::tf32, format_id::f32,
                  tc::bias_rule::epilogue},
        conv_case{"conv2d_f16", "_f16", tc::tc_format::f16, format_id::f16,
                  tc::bias_rule::after_output},
        conv_case{"conv2d_bf16", "_bf16", tc::tc_format::bf16, format_id::bf16,
                  tc::bias_rule::after_output}}) {
    const tensor x = load(file, std::string("x") + c.suffix),
                 w = load(file, std::string("w") + c.suffix),
                 b = load(file, std::string("b") + c.suffix), y = load(file, c.output);
    tc::variant v = sequential(c.f, c.out);
    v.bias = c.bias;
    if (c.f == tc::tc_format::tf32) v.input_conversion = conversion::nearest_away;
    const double got = fraction(tc::emulate(conv, x, w, &b, v), y);
    std::cout << c.output << " (" << tc::describe(v) << ", taps outer): " << got << "\n";
    EXPECT_EQ(got, 1.0) << c.output;
    if (c.f == tc::tc_format::tf32) {
      v.taps_outer = false;
      EXPECT_LT(fraction(tc::emulate(conv, x, w, &b, v), y), 0.2) << c.output;
      v.taps_outer = true;
      v.input_conversion = conversion::nearest_even;  // ties are rare: 7808 of 8192 agree
      EXPECT_EQ(fraction(tc::emulate(conv, x, w, &b, v), y), 7808.0 / 8192) << c.output;
    }
  }
}

TEST(tc_fixtures, search_finds_the_order_and_rejects_one_ulp) {
  const ops::op_spec linear(ops::op_kind::linear);
  const tensor x = load("seed_subset.npz", "x"), w = load("seed_subset.npz", "W"),
               b = load("seed_subset.npz", "b");
  tensor y = load("seed_subset.npz", "matmul_add_tf32");
  auto m = tc::find_bit_identical(linear, x, w, &b, y, "tf32");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->split_k, 8);
  EXPECT_EQ(tc::describe(*m), "tf32, split-K in 8 slices of K-blocks of 8, f32 reduction");
  // Not relevant for plain f32: nothing tried.
  EXPECT_FALSE(tc::find_bit_identical(linear, x, w, &b, y, "f32").has_value());
  // One element one ulp away: no variant matches.
  y.data[137] = std::nextafter(static_cast<float>(y.data[137]), INFINITY);
  EXPECT_FALSE(tc::find_bit_identical(linear, x, w, &b, y, "tf32").has_value());
  // Over the size limit: not tried.
  y = load("seed_subset.npz", "matmul_add_tf32");
  EXPECT_FALSE(tc::find_bit_identical(linear, x, w, &b, y, "tf32", 1000).has_value());
}

TEST(tc_backends, listed_and_run_on_the_cpu) {
  const auto& reg = backends::builtin_registry();
  for (const char* name : {"model.sm90.tc.tf32", "model.sm90.tc_splitk8.tf32", "model.sm90.tc.f16",
                           "model.sm90.tc.bf16"}) {
    const backends::backend* b = reg.find(name);
    ASSERT_NE(b, nullptr) << name;
    EXPECT_TRUE(b->available().available) << name;
    for (auto k :
         {ops::op_kind::linear, ops::op_kind::matmul, ops::op_kind::addmm, ops::op_kind::bmm})
      EXPECT_TRUE(b->supports(k)) << name;
    EXPECT_FALSE(b->supports(ops::op_kind::conv2d)) << name;
  }
  // Not run by default, only when named.
  for (const auto* b : reg.select({})) EXPECT_NE(b->name().library, "model");
  EXPECT_EQ(reg.select({"model.sm90.*"}).size(), 4u);
  // The tf32 one reproduces the probe bit for bit through the backend front end.
  const tensor x = load("probe_subset.npz", "tf32_K256_x"),
               w = load("probe_subset.npz", "tf32_K256_w"),
               y = load("probe_subset.npz", "tf32_K256_y");
  const auto r =
      reg.find("model.sm90.tc.tf32")->run(ops::op_spec(ops::op_kind::linear), x, w, nullptr);
  EXPECT_EQ(fraction(r.output, y), 1.0);
  EXPECT_NE(r.info.notes.find("K-blocks of 8 in sequence"), std::string::npos) << r.info.notes;
}

// The emulations' outputs are consistent with the presets they declare, by the verdicts layer's
// exact references (an oracle independent of the emulation), on random problems of each op.
TEST(tc_backends, outputs_are_consistent_with_their_declared_presets) {
  const std::uint64_t seed = roundoff::test::base_seed();
  std::mt19937_64 g = roundoff::test::rng(17);
  std::normal_distribution<double> nd;
  auto random = [&](std::vector<std::int64_t> shape) {
    tensor t;
    t.shape = std::move(shape);
    t.data.resize(static_cast<std::size_t>(t.numel()));
    for (double& v : t.data) v = nd(g);
    return t;
  };
  struct op_case {
    ops::op_kind k;
    std::vector<std::int64_t> x, w;
    std::optional<std::vector<std::int64_t>> b;
  };
  const op_case cases[] = {
      {ops::op_kind::linear, {8, 300}, {24, 300}, std::vector<std::int64_t>{24}},
      {ops::op_kind::matmul, {3, 5, 70}, {70, 9}, std::nullopt},
      {ops::op_kind::addmm, {6, 33}, {33, 7}, std::vector<std::int64_t>{6, 7}},
      {ops::op_kind::bmm, {2, 4, 129}, {2, 129, 5}, std::nullopt}};
  for (const auto* be : backends::builtin_registry().select({"model.sm90.*"}))
    for (const op_case& c : cases) {
      const ops::op_spec op(c.k);
      const tensor x = random(c.x), w = random(c.w);
      const std::optional<tensor> b = c.b ? std::optional<tensor>(random(*c.b)) : std::nullopt;
      const auto r = be->run(op, x, w, b ? &*b : nullptr);
      // Judge against the inputs the backend consumed (rounded to its storage format).
      tensor xs = x, ws = w, bs;
      for (double& v : xs.data) v = round_to(be->storage_format(), v);
      for (double& v : ws.data) v = round_to(be->storage_format(), v);
      if (b) {
        bs = *b;
        for (double& v : bs.data) v = round_to(be->storage_format(), v);
      }
      const auto v = verdicts::check({op, xs, ws, b ? &bs : nullptr}, r.output, be->model());
      EXPECT_EQ(v.kind, verdicts::verdict_kind::consistent)
          << be->full_name() << " " << ops::op_name(c.k) << ": " << v.explanation
          << " replay with ROUNDOFF_TEST_SEED=" << seed;
    }
}

}  // namespace
