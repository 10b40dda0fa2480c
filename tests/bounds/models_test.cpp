// Models, presets and the bound constants: presets by name, gamma_n / gamma~_n / lambda checked
// against MPFR evaluations rounded in the other direction, upward helpers against MPFR, and
// hand-computed rounding depths.
#include <gtest/gtest.h>
#include <mpfr.h>

#include <cmath>
#include <limits>

#include "property.hpp"
#include "roundoff/bounds/bounds.hpp"
#include "roundoff/error.hpp"

namespace {

using namespace roundoff;
using namespace roundoff::bounds;

struct mp {
  mpfr_t v;
  mp() { mpfr_init2(v, 200); }
  ~mp() { mpfr_clear(v); }
};

TEST(BoundsModels, PresetsByName) {
  auto names = preset_names();
  std::vector<std::string> want{"f64",  "f32",     "tf32-rne", "tf32-rna",  "tf32",         "f16",
                                "bf16", "f16-rpr", "bf16-rpr", "f16-acc16", "bf16-acc-bf16"};
  EXPECT_EQ(names, want);
  // TF32 as PyTorch's switch can give it on NVIDIA GPUs: either tie rule, truncating matrix units.
  const auto rne = conversion_bit(conversion::nearest_even);
  const auto rna = conversion_bit(conversion::nearest_away);
  EXPECT_EQ(parse_model("tf32").conversions, rne | rna);
  EXPECT_EQ(parse_model("tf32-rne").conversions, rne);
  EXPECT_EQ(parse_model("TF32_RNA").conversions, rna);
  for (const char* n : {"tf32", "f16", "bf16", "f16-rpr", "bf16-rpr"}) {
    EXPECT_EQ(parse_model(n).accumulation, accumulation_rounding::faithful) << n;
    EXPECT_EQ(parse_model(n).alignment_precision, 24) << n;
  }
  EXPECT_EQ(parse_model("f16-rpr").reduction, format_id::f16);
  EXPECT_EQ(parse_model("bf16-acc16").name, "bf16-acc-bf16");
  EXPECT_EQ(parse_model("bf16-acc-bf16").accumulator, format_id::bf16);
  EXPECT_EQ(preset_rank("tf32-rna"), preset_rank("tf32"));
  EXPECT_LT(preset_index("tf32-rne"), preset_index("tf32"));
  EXPECT_FALSE(has_probabilistic_bound(parse_model("tf32")));
  EXPECT_TRUE(has_probabilistic_bound(parse_model("f16-rpr")));
  EXPECT_TRUE(has_probabilistic_bound(parse_model("f32")));
  auto tf = parse_model("tf32");
  EXPECT_EQ(tf.input, format_id::tf32);
  EXPECT_EQ(tf.accumulator, format_id::f32);
  EXPECT_EQ(tf.output, format_id::f32);
  EXPECT_TRUE(tf.exact_products);  // 11 + 11 <= 24
  auto bf = parse_model("bfloat16");
  EXPECT_EQ(bf.name, "bf16");
  EXPECT_EQ(bf.input, format_id::bf16);
  EXPECT_EQ(bf.output, format_id::bf16);
  EXPECT_EQ(bf.accumulator, format_id::f32);
  auto h = parse_model("f16-acc16");
  EXPECT_EQ(h.accumulator, format_id::f16);
  EXPECT_FALSE(h.exact_products);  // 22 bits do not fit 11
  EXPECT_FALSE(parse_model("f32").exact_products);
  EXPECT_EQ(parse_model("FP32").name, "f32");
  EXPECT_EQ(parse_model("double").name, "f64");
  EXPECT_EQ(preset_rank("f32"), 1);
  EXPECT_EQ(preset_rank("nope"), -1);
  try {
    parse_model("fp8");
    FAIL() << "no throw";
  } catch (const input_error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("fp8"), std::string::npos);
    EXPECT_NE(m.find("tf32"), std::string::npos);
  }
}

TEST(BoundsModels, AtLeastAsFine) {
  EXPECT_TRUE(at_least_as_fine(format_id::f32, format_id::tf32));
  EXPECT_TRUE(at_least_as_fine(format_id::f32, format_id::bf16));
  EXPECT_TRUE(at_least_as_fine(format_id::f32, format_id::f16));
  EXPECT_TRUE(at_least_as_fine(format_id::tf32, format_id::f16));   // same p, wider range
  EXPECT_FALSE(at_least_as_fine(format_id::f16, format_id::bf16));  // bf16 has the range
  EXPECT_FALSE(at_least_as_fine(format_id::bf16, format_id::f16));  // f16 has the precision
  EXPECT_FALSE(at_least_as_fine(format_id::bf16, format_id::f32));
  EXPECT_TRUE(at_least_as_fine(format_id::f64, format_id::f32));
}

// Hand-computed depths (docs/bounds.md, B2).
TEST(BoundsModels, RoundingDepth) {
  auto f32 = parse_model("f32");
  auto bf = parse_model("bf16");
  using so = summation_order;
  EXPECT_EQ(rounding_depth(f32, so::any(), 0, false), 0);
  EXPECT_EQ(rounding_depth(f32, so::any(), 0, true), 0);
  EXPECT_EQ(rounding_depth(f32, so::any(), 1, false), 1);
  EXPECT_EQ(rounding_depth(f32, so::any(), 10, false), 10);
  EXPECT_EQ(rounding_depth(f32, so::any(), 10, true), 11);
  EXPECT_EQ(rounding_depth(bf, so::any(), 10, true), 10);
  EXPECT_EQ(rounding_depth(f32, so::pairwise(), 1024, false), 11);
  EXPECT_EQ(rounding_depth(f32, so::pairwise(), 1025, false), 12);
  EXPECT_EQ(rounding_depth(bf, so::pairwise(), 1024, false), 10);
  EXPECT_EQ(rounding_depth(f32, so::blocked(32), 1024, false), 31 + 31 + 1);
  EXPECT_EQ(rounding_depth(bf, so::block_fma(4), 1024, false), 256);
  EXPECT_EQ(rounding_depth(bf, so::block_fma(4), 1024, true), 257);
}

// gamma_n rounded upward: >= n u / (1 - n u) evaluated in MPFR, and within 4 ulps of it.
TEST(BoundsModels, GammaIsAnUpperBound) {
  auto g = roundoff::test::rng(11);
  for (std::int64_t it = 0; it < roundoff::test::iterations(20000); ++it) {
    int p = 8 + static_cast<int>(g() % 46);
    double u = std::ldexp(1.0, -p);
    std::int64_t n = static_cast<std::int64_t>(g() % (std::uint64_t{1} << (g() % 40)));
    double got = gamma(n, u);
    mp q, r;
    mpfr_set_si(q.v, static_cast<long>(n), MPFR_RNDN);
    mpfr_mul_d(q.v, q.v, u, MPFR_RNDN);  // exact at 200 bits
    if (mpfr_cmp_ui(q.v, 1) >= 0) {
      EXPECT_TRUE(std::isinf(got)) << n << ' ' << u;
      continue;
    }
    mpfr_ui_sub(r.v, 1, q.v, MPFR_RNDN);
    mpfr_div(r.v, q.v, r.v, MPFR_RNDD);
    ASSERT_GE(mpfr_cmp_d(r.v, got), n == 0 ? 0 : -1) << roundoff::test::replay(it);
    EXPECT_LE(mpfr_cmp_d(r.v, got), 0)
        << "gamma below exact: n=" << n << " u=" << u << ' ' << roundoff::test::replay(it);
    double ex = mpfr_get_d(r.v, MPFR_RNDN);
    if (n > 0) {
      EXPECT_LE(got, ex * (1 + 4 * 0x1p-52)) << roundoff::test::replay(it);
    }
  }
  EXPECT_TRUE(std::isinf(gamma(1 << 24, 0x1p-24)));
  EXPECT_EQ(gamma(0, 0x1p-24), 0.0);
}

// gamma~ and lambda against MPFR: gamma~ >= exp(lambda sqrt(n) u + n u^2/(1-u)) - 1 (or gamma),
// and 2 c exp(-lambda^2 (1-u)^2/2) <= alpha for the returned lambda.
TEST(BoundsModels, ProbabilisticConstants) {
  auto g = roundoff::test::rng(12);
  for (std::int64_t it = 0; it < roundoff::test::iterations(20000); ++it) {
    int p = 8 + static_cast<int>(g() % 46);
    double u = std::ldexp(1.0, -p);
    std::int64_t n = 1 + static_cast<std::int64_t>(g() % (std::uint64_t{1} << (g() % 30)));
    double c = std::ldexp(1.0 + static_cast<double>(g() % 1000), static_cast<int>(g() % 40));
    double alpha = std::ldexp(1.0, -static_cast<int>(1 + g() % 40));
    double lam = lambda_for(c, u, alpha);
    mp a, t;
    // 2 c exp(-lam^2 (1-u)^2 / 2), rounded down, must be <= alpha.
    mpfr_set_d(a.v, lam, MPFR_RNDN);
    mpfr_mul_d(a.v, a.v, 1 - u, MPFR_RNDN);
    mpfr_sqr(a.v, a.v, MPFR_RNDN);
    mpfr_div_ui(a.v, a.v, 2, MPFR_RNDN);
    mpfr_neg(a.v, a.v, MPFR_RNDN);
    mpfr_exp(a.v, a.v, MPFR_RNDN);
    mpfr_mul_d(a.v, a.v, 2 * c, MPFR_RNDN);
    EXPECT_LE(mpfr_get_d(a.v, MPFR_RNDD), alpha * (1 + 1e-15)) << roundoff::test::replay(it);
    double gt = gamma_tilde(n, u, lam);
    mpfr_set_si(a.v, static_cast<long>(n), MPFR_RNDN);
    mpfr_sqrt(a.v, a.v, MPFR_RNDN);
    mpfr_mul_d(a.v, a.v, lam * u, MPFR_RNDN);
    mpfr_set_si(t.v, static_cast<long>(n), MPFR_RNDN);
    mpfr_mul_d(t.v, t.v, u * u / (1 - u), MPFR_RNDN);
    mpfr_add(a.v, a.v, t.v, MPFR_RNDN);
    mpfr_expm1(a.v, a.v, MPFR_RNDN);
    double g_det = gamma(n, u);
    double want = std::min(mpfr_get_d(a.v, MPFR_RNDN), g_det);
    EXPECT_GE(gt, want * (1 - 1e-13)) << roundoff::test::replay(it);
    EXPECT_LE(gt, want * (1 + 1e-9) + 1e-300) << roundoff::test::replay(it);
  }
}

// The upward helpers against MPFR with directed rounding.
TEST(BoundsModels, DirectedHelpers) {
  auto g = roundoff::test::rng(13);
  std::uniform_real_distribution<double> ud(0.5, 1.0);
  for (std::int64_t it = 0; it < roundoff::test::iterations(200000); ++it) {
    double a = std::ldexp(ud(g), static_cast<int>(g() % 200) - 100);
    double b = std::ldexp(ud(g), static_cast<int>(g() % 200) - 100);
    if (g() % 8 == 0) b = a;  // exact cases
    mp r;
    mpfr_set_d(r.v, a, MPFR_RNDN);
    mpfr_add_d(r.v, r.v, b, MPFR_RNDN);
    ASSERT_LE(mpfr_cmp_d(r.v, detail::add_up(a, b)), 0) << a << ' ' << b;
    EXPECT_EQ(detail::add_up(a, b), mpfr_get_d(r.v, MPFR_RNDU));
    mpfr_set_d(r.v, a, MPFR_RNDN);
    mpfr_mul_d(r.v, r.v, b, MPFR_RNDN);
    EXPECT_EQ(detail::mul_up(a, b), mpfr_get_d(r.v, MPFR_RNDU));
    mpfr_set_d(r.v, a, MPFR_RNDN);
    mpfr_div_d(r.v, r.v, b, MPFR_RNDN);  // 200 bits: not exact, but RNDU of it is the answer
    mp q;
    mpfr_set_d(q.v, a, MPFR_RNDN);
    mpfr_div_d(q.v, q.v, b, MPFR_RNDU);
    EXPECT_EQ(detail::div_up(a, b), mpfr_get_d(q.v, MPFR_RNDU));
    mpfr_set_d(r.v, a, MPFR_RNDN);
    mpfr_sub_d(r.v, r.v, b, MPFR_RNDN);
    EXPECT_EQ(detail::sub_down(a, b), mpfr_get_d(r.v, MPFR_RNDD));
  }
}

// Golden values of the bound on small cases computed by hand (docs/bounds.md, Theorem B).
TEST(BoundsModels, DeterministicBoundGolden) {
  auto f32 = parse_model("f32");
  // n = 3 products, no bias, T = 6: L = 3, gamma_3 = 3u/(1-3u), plus 3 products' underflow
  // eta = 2^-150 each, times (1 + gamma_3).
  element_input e{3, 6.0, false, 6.0};
  double u = 0x1p-24;
  double g3 = 3 * u / (1 - 3 * u);
  double want = g3 * 6 + (1 + g3) * 3 * 0x1p-150;
  double got = dot_bound_any_order(f32, e);
  EXPECT_GE(got, want);
  EXPECT_LE(got, want * (1 + 1e-14));
  // n = 0 without bias: exact zero, bound 0.
  EXPECT_EQ(dot_bound_any_order(f32, {0, 0.0, false, 0.0}), 0.0);
  // bf16 with IEEE accumulation (round to nearest, exact additions), n = 2, bias: products
  // exact, L = 2 (3 summands); output rounding u_bf16 |y| + eta.
  auto bf = parse_model("bf16");
  bf.accumulation = accumulation_rounding::nearest;
  bf.alignment_precision = 0;
  bf.bias = bias_handling::in_accumulator;
  element_input e2{2, 4.0, true, 3.0};
  double g2 = 2 * u / (1 - 2 * u);
  double want2 = g2 * 4 + (1 + g2) * 2 * 0x1p-150 + 0x1p-8 * 3 + 0x1p-133 / 2;
  double got2 = dot_bound_any_order(bf, e2);
  EXPECT_GE(got2, want2);
  EXPECT_LE(got2, want2 * (1 + 1e-14));
  // bias after a bf16 rounding is looser, and `any` takes the max.
  auto bfa = parse_model("bf16");
  bfa.accumulation = accumulation_rounding::nearest;
  bfa.alignment_precision = 0;
  EXPECT_GT(dot_bound_any_order(bfa, e2), got2);
  // The bf16 preset (a matrix unit, docs/bounds.md §3.8): theta(L 2u + (m - 1) 2^-23) with
  // L = 2, m = 3, i.e. 8u / (1 - 8u); faithful underflow 2^-149 for each of n + m = 5 roundings.
  auto mu = parse_model("bf16");
  mu.bias = bias_handling::in_accumulator;
  const double th = 8 * u / (1 - 8 * u);
  const double want_mu = th * 4 + (1 + th) * 5 * 0x1p-149 + 0x1p-8 * 3 + 0x1p-133 / 2;
  const double got_mu = dot_bound_any_order(mu, e2);
  EXPECT_GE(got_mu, want_mu);
  EXPECT_LE(got_mu, want_mu * (1 + 1e-14));
  // f16-rpr at n = 4096: n u_16 >= 1, so no deterministic bound, but a probabilistic one.
  element_input e4{4096, 4096.0, false, 100.0};
  EXPECT_TRUE(std::isinf(dot_bound_any_order(parse_model("f16-rpr"), e4)));
  EXPECT_TRUE(std::isfinite(
      dot_bound_probabilistic(parse_model("f16-rpr"), summation_order::any(), e4, 6.0)));
  // A truncating matrix unit alone has no probabilistic bound.
  EXPECT_TRUE(std::isinf(dot_bound_probabilistic(parse_model("tf32"), summation_order::any(),
                                                 {16, 16.0, false, 1.0}, 6.0)));
  // All products exactly zero (T = 0): the result is exactly 0 even where n u >= 1.
  EXPECT_EQ(dot_bound_any_order(parse_model("f16-acc16"), {4096, 0.0, false, 5.0}), 0.0);
  // n u >= 1: no bound.
  EXPECT_TRUE(std::isinf(dot_bound_any_order(parse_model("f16-acc16"), {4096, 1.0, false, 1.0})));
  // Sharper for pairwise.
  element_input e3{4096, 4096.0, false, 100.0};
  EXPECT_LT(dot_bound(f32, summation_order::pairwise(), e3), dot_bound_any_order(f32, e3) / 100);
}

// Regression (CI soundness run, ROUNDOFF_TEST_SEED=1795931032681836387, iteration 372997): f64's
// underflow unit 2^-1075 is not a double; computed as min_subnormal / 2 it became 0 and the
// pairwise bound of a 21-term all-subnormal dot (error 4 * 2^-1074) came out as 3 * 2^-1074.
// Every f64 product may underflow by up to 2^-1075, so n products need at least n * 2^-1075.
TEST(BoundsModels, F64UnderflowTermIsNotLost) {
  auto f64 = parse_model("f64");
  element_input e{21, 0x1p-1060, false, 0x1p-1050};
  for (auto order : {summation_order::any(), summation_order::pairwise(),
                     summation_order::sequential(), summation_order::blocked(8)}) {
    EXPECT_GE(dot_bound(f64, order, e), 11 * 0x1p-1074);  // >= 21 * 2^-1075, rounded up
  }
}

}  // namespace
