// Verdicts end to end (ops::evaluate as the exact reference): correct emulated implementations
// are consistent with the declared model and identified as it; planted faults are flagged;
// a lower precision than declared (tf32 for f32, incl. n = 16384) is reported as such.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <iostream>
#include <limits>

#include "emulate.hpp"
#include "linear_faults.hpp"
#include "property.hpp"
#include "roundoff/error.hpp"
#include "roundoff/formats/convert.hpp"
#include "roundoff/verdicts/check.hpp"

namespace {

using namespace roundoff;
using roundoff::test::algo;

using problem = test::linear_problem;
using roundoff::test::run;

problem make(std::int64_t M, std::int64_t N, std::int64_t K, std::mt19937_64& g,
             format_id f = format_id::f32, bool positive = false) {
  problem p;
  p.M = M, p.N = N, p.K = K;
  std::normal_distribution<double> nd;
  std::uniform_real_distribution<double> ud;
  auto fill = [&](tensor& t, std::vector<std::int64_t> shape) {
    t.shape = shape;
    t.type = f;
    t.data.resize(static_cast<std::size_t>(t.numel()));
    for (auto& v : t.data) v = round_to(f, positive ? ud(g) : nd(g));
  };
  fill(p.x, {M, K});
  fill(p.w, {N, K});
  fill(p.b, {N});
  return p;
}

// Blocks of 8 for the blocked algorithms unless given.
test::emulator emu(const std::string& model, algo a = algo::sequential, std::int64_t block = 8) {
  return test::make_emulator(model, a, block);
}

const ops::op_spec linear(ops::op_kind::linear);

std::string describe(const verdicts::verdict& v) {
  std::string s = std::string(verdicts::to_string(v.kind)) + ": " + v.explanation + " [consistent:";
  for (auto& m : v.consistent_models) s += " " + m;
  s += "]";
  for (auto& c : v.candidates)
    s += " {" + c.model + " det " + std::to_string(c.max_ratio_deterministic) + " prob " +
         std::to_string(c.max_ratio_probabilistic) + " sig " + c.signature_of + " " +
         std::to_string(c.signature_score) + " own " + std::to_string(c.own_signature_correlation) +
         (c.own_signature_found ? "Y" : "N") + " fit " + (c.inputs_fit ? "Y" : "N") + " out " +
         (c.output_fits ? "Y" : "N") + " bounded " + (c.bounded ? "Y" : "N") + "}";
  return s;
}

TEST(BoundsVerdict, CorrectImplementationsAreConsistentAndIdentified) {
  auto g = roundoff::test::rng(21);
  const std::int64_t iters = roundoff::test::iterations(30);
  for (std::int64_t it = 0; it < iters; ++it) {
    const auto& ps = bounds::presets();
    const auto& m = ps[g() % ps.size()];
    const algo algs[] = {algo::sequential, algo::reversed, algo::random_order, algo::pairwise,
                         algo::blocked,    algo::split_k,  algo::kahan,        algo::fma,
                         algo::wider,      algo::block_fma};
    auto e = emu(m.name, algs[g() % 10], 1 + static_cast<std::int64_t>(g() % 32));
    e.bias = static_cast<test::bias_at>(g() % 3);
    std::int64_t K = 1 + static_cast<std::int64_t>(g() % 300);
    // The data arrive in the tensor dtype an implementation of this model takes.
    format_id dtype = (m.input == format_id::bf16 || m.input == format_id::f16) ? m.input
                      : m.name == "f64"                                         ? format_id::f64
                                                                                : format_id::f32;
    auto p = make(8, 24, K, g, dtype, g() % 4 == 0);
    tensor y = run(p, e, g);
    auto v = verdicts::check({linear, p.x, p.w, &p.b}, y, m.name);
    EXPECT_EQ(v.kind, verdicts::verdict_kind::consistent)
        << m.name << " " << test::algo_name(e.alg) << " K=" << K << ": " << describe(v) << ' '
        << roundoff::test::replay(it);
    EXPECT_EQ(v.n_beyond_deterministic, 0);
    EXPECT_NE(std::find(v.consistent_models.begin(), v.consistent_models.end(), m.name),
              v.consistent_models.end())
        << m.name << " " << test::algo_name(e.alg) << " K=" << K << ": " << describe(v);
  }
}

struct fault_case {
  const char* name;
  test::plant_fn plant;
};

TEST(BoundsVerdict, PlantedFaultsAreViolations) {
  auto g = roundoff::test::rng(22);
  std::vector<fault_case> faults = {
      {"dropped term", test::dropped_term(3, 5)},
      {"bias missing", test::extra_bias(-1)},
      {"bias doubled", test::extra_bias(+1)},
      {"wrong weight row", test::wrong_weight_row(7, 8, emu("f32"))},  // column 7 with row 8
      {"sign flip", test::sign_flip(2, 9)},
      {"one element perturbed by 1e-3 relative", test::perturbed_largest(1e-3)},
      {"zeroed tile", test::zeroed_4x8_tile()},
      {"NaN", [](problem& p, tensor& y,
                 std::mt19937_64&) { y.data[static_cast<std::size_t>(p.N + 1)] = std::nan(""); }},
      {"Inf", [](problem&, tensor& y,
                 std::mt19937_64&) { y.data[0] = std::numeric_limits<double>::infinity(); }},
  };
  const std::int64_t iters = roundoff::test::iterations(10);
  for (std::int64_t it = 0; it < iters; ++it) {
    std::int64_t K = 16 + static_cast<std::int64_t>(g() % 500);
    auto p = make(16, 32, K, g);
    auto e = emu("f32", g() % 2 ? algo::pairwise : algo::split_k);
    tensor y0 = run(p, e, g);
    ASSERT_EQ(verdicts::check({linear, p.x, p.w, &p.b}, y0, "f32").kind,
              verdicts::verdict_kind::consistent);
    for (auto& f : faults) {
      tensor y = y0;
      f.plant(p, y, g);
      auto v = verdicts::check({linear, p.x, p.w, &p.b}, y, "f32");
      EXPECT_EQ(v.kind, verdicts::verdict_kind::violation)
          << f.name << " K=" << K << ": " << describe(v) << ' ' << roundoff::test::replay(it);
      EXPECT_FALSE(v.explanation.empty());
      ASSERT_FALSE(v.worst.empty());
      if (it == 0) std::cout << "  [" << f.name << "] " << v.explanation << '\n';
    }
  }
}

// TF32 declared as f32: flagged, identified as tf32 with the conversion the emulation used
// (round to nearest even: tf32-rne), for short and long dots (n = 16384, where the worst-case
// f32 bound cannot tell).
TEST(BoundsVerdict, Tf32DeclaredF32IsSuspiciousAndIdentified) {
  auto g = roundoff::test::rng(23);
  for (std::int64_t K : {64, 1024, 16384}) {
    auto p = make(K >= 16384 ? 16 : 8, K >= 16384 ? 64 : 32, K, g);
    auto e = emu("tf32", K >= 16384 ? algo::split_k : algo::sequential);
    tensor y = run(p, e, g);
    auto v = verdicts::check({linear, p.x, p.w, &p.b}, y, "f32");
    EXPECT_NE(v.kind, verdicts::verdict_kind::consistent) << K << ": " << describe(v);
    EXPECT_EQ(v.effective_model, "tf32-rne") << K << ": " << describe(v);
    EXPECT_NE(v.explanation.find("TF32"), std::string::npos) << v.explanation;
    std::cout << "  [tf32 as f32, K=" << K << "] " << to_string(v.kind) << ": " << v.explanation
              << '\n';
    // The worst-case f32 bound alone passes it at K = 16384.
    if (K == 16384) {
      EXPECT_EQ(v.n_beyond_deterministic, 0);
    }
    // And a real f32 implementation of the same problem is not flagged.
    auto y32 = run(p, emu("f32", algo::split_k), g);
    auto v32 = verdicts::check({linear, p.x, p.w, &p.b}, y32, "f32");
    EXPECT_EQ(v32.kind, verdicts::verdict_kind::consistent) << K << ": " << describe(v32);
    EXPECT_EQ(v32.effective_model, "f32") << describe(v32);
  }
}

// How many output elements the signature test needs at n = 16384 (printed, for docs/verdicts.md).
TEST(BoundsVerdict, Tf32SignatureScoreBySize) {
  auto g = roundoff::test::rng(28);
  for (std::int64_t mn : {16, 64, 128, 256}) {
    auto p = make(mn / 16, 16, 16384, g);
    tensor y = run(p, emu("tf32", algo::split_k), g);
    auto v = verdicts::check({linear, p.x, p.w, &p.b}, y, "f32");
    double score = 0;
    for (auto& c : v.candidates)
      if (c.model == "f32") score = c.signature_score;
    std::cout << "  [tf32 as f32, K=16384, " << mn << " outputs] " << to_string(v.kind)
              << ", f32 signature score " << score << " (> 1 detects), effective '"
              << v.effective_model << "'\n";
    if (mn >= 256) {
      EXPECT_NE(v.kind, verdicts::verdict_kind::consistent) << describe(v);
    }
  }
}

TEST(BoundsVerdict, LowerPrecisionThanDeclared) {
  auto g = roundoff::test::rng(24);
  auto p = make(8, 32, 1024, g);
  // bf16 arithmetic declared f32.
  auto v1 = verdicts::check({linear, p.x, p.w, &p.b}, run(p, emu("bf16"), g), "f32");
  EXPECT_EQ(v1.kind, verdicts::verdict_kind::violation) << describe(v1);
  EXPECT_EQ(v1.effective_model, "bf16") << describe(v1);
  // f32 arithmetic declared f64.
  auto v2 = verdicts::check({linear, p.x, p.w, &p.b}, run(p, emu("f32"), g), "f64");
  EXPECT_EQ(v2.kind, verdicts::verdict_kind::violation) << describe(v2);
  EXPECT_EQ(v2.effective_model, "f32") << describe(v2);
  // f16 accumulation declared f16 (f32 accumulation).
  auto ph = make(8, 32, 1024, g, format_id::f16);
  auto v3 = verdicts::check({linear, ph.x, ph.w, &ph.b}, run(ph, emu("f16-acc16"), g), "f16");
  EXPECT_NE(v3.kind, verdicts::verdict_kind::consistent) << describe(v3);
  // Both f16-accumulation presets explain it; at this size the data cannot tell f16-rounded
  // products (f16-acc16) from exact ones with f16 partial sums (f16-rpr, ranked more precise).
  EXPECT_THAT(v3.effective_model, ::testing::AnyOf("f16-acc16", "f16-rpr")) << describe(v3);
  EXPECT_THAT(v3.consistent_models, ::testing::Contains("f16-acc16")) << describe(v3);
  // A more precise implementation than declared is fine: f32 declared tf32, f64 declared f32.
  auto v4 = verdicts::check({linear, p.x, p.w, &p.b}, run(p, emu("f32"), g), "tf32");
  EXPECT_EQ(v4.kind, verdicts::verdict_kind::consistent) << describe(v4);
  auto v5 = verdicts::check({linear, p.x, p.w, &p.b}, run(p, emu("f64"), g), "f32");
  EXPECT_EQ(v5.kind, verdicts::verdict_kind::consistent) << describe(v5);
}

TEST(BoundsVerdict, SpecialValues) {
  auto g = roundoff::test::rng(25);
  auto p = make(2, 3, 4, g);
  p.x.data[0] = std::numeric_limits<double>::infinity();  // row 0: +-Inf (sign of w)
  p.x.data[4] = std::nan("");                             // row 1: NaN
  tensor y = run(p, emu("f32"), g);
  auto v = verdicts::check({linear, p.x, p.w, &p.b}, y, "f32");
  EXPECT_EQ(v.kind, verdicts::verdict_kind::consistent) << describe(v);
  tensor y2 = y;
  y2.data[0] = -y2.data[0];  // wrong infinity
  EXPECT_EQ(verdicts::check({linear, p.x, p.w, &p.b}, y2, "f32").n_special_mismatch, 1);
  tensor y3 = y;
  y3.data[3] = 0.0;  // finite where NaN
  EXPECT_EQ(verdicts::check({linear, p.x, p.w, &p.b}, y3, "f32").kind,
            verdicts::verdict_kind::violation);
  // Exact result overflows f16: a finite observed value is a violation, Inf is consistent.
  problem q;
  q.M = 1, q.N = 1, q.K = 2;
  q.x = {{1, 2}, {60000.0, 60000.0}, format_id::f16};
  q.w = {{1, 2}, {1.0, 1.0}, format_id::f16};
  q.b = {{1}, {0.0}, format_id::f16};
  tensor yi{{1, 1}, {std::numeric_limits<double>::infinity()}, format_id::f16};
  EXPECT_EQ(verdicts::check({linear, q.x, q.w, &q.b}, yi, "f16").kind,
            verdicts::verdict_kind::consistent);
  tensor yf{{1, 1}, {65504.0}, format_id::f16};
  EXPECT_EQ(verdicts::check({linear, q.x, q.w, &q.b}, yf, "f16").kind,
            verdicts::verdict_kind::violation);
}

TEST(BoundsVerdict, BadInput) {
  auto g = roundoff::test::rng(26);
  auto p = make(2, 3, 4, g);
  tensor y = run(p, emu("f32"), g);
  EXPECT_THROW(verdicts::check({linear, p.x, p.w, &p.b}, y, "f31"), input_error);
  tensor bad = y;
  bad.shape = {3, 2};
  EXPECT_THROW(verdicts::check({linear, p.x, p.w, &p.b}, bad, "f32"), input_error);
  verdicts::check_options o;
  o.confidence = 0;
  EXPECT_THROW(verdicts::check({linear, p.x, p.w, &p.b}, y, "f32", o), input_error);
}

TEST(BoundsVerdict, PairwiseComparison) {
  auto g = roundoff::test::rng(27);
  auto p = make(8, 32, 512, g);
  tensor cpu = run(p, emu("f32", algo::sequential), g);
  tensor gpu = run(p, emu("tf32", algo::split_k), g);
  auto c = verdicts::compare({linear, p.x, p.w, &p.b}, cpu, "f32", gpu, "tf32");
  EXPECT_EQ(c.kind, verdicts::verdict_kind::consistent) << c.explanation;
  EXPECT_EQ(c.n_beyond, 0);
  // Same outputs judged as f32 vs f32: the tf32 one is flagged and named.
  auto c2 = verdicts::compare({linear, p.x, p.w, &p.b}, cpu, "f32", gpu, "f32");
  EXPECT_NE(c2.b.kind, verdicts::verdict_kind::consistent) << c2.b.explanation;
  EXPECT_EQ(c2.a.kind, verdicts::verdict_kind::consistent) << c2.a.explanation;
  // A real bug in the second: beyond the sum of bounds, and attributed.
  tensor bad = gpu;
  bad.data[5] += 0.5;
  auto c3 = verdicts::compare({linear, p.x, p.w, &p.b}, cpu, "f32", bad, "tf32");
  EXPECT_EQ(c3.kind, verdicts::verdict_kind::violation) << c3.explanation;
  EXPECT_EQ(c3.n_beyond, 1);
  EXPECT_EQ(c3.worst.front().index, 5);
  EXPECT_NE(c3.explanation.find("second"), std::string::npos) << c3.explanation;
  std::cout << "  [compare] " << c.explanation << "\n  [compare, bug] " << c3.explanation << '\n';
}

}  // namespace

namespace {

// A conv1d (padding 1) computed in float32 by direct loops: consistent; one wrong tap: violation.
TEST(BoundsVerdict, Conv1dThroughTheGenericOp) {
  auto g = roundoff::test::rng(29);
  std::normal_distribution<float> nd;
  const std::int64_t C = 6, L = 40, O = 5, Kw = 3;
  tensor x{{1, C, L}, {}, format_id::f32}, w{{O, C, Kw}, {}, format_id::f32},
      b{{O}, {}, format_id::f32};
  for (std::int64_t i = 0; i < C * L; ++i) x.data.push_back(nd(g));
  for (std::int64_t i = 0; i < O * C * Kw; ++i) w.data.push_back(nd(g));
  for (std::int64_t i = 0; i < O; ++i) b.data.push_back(nd(g));
  ops::op_spec op(ops::op_kind::conv1d);
  op.conv.padding = {1};
  tensor y{{1, O, L}, {}, format_id::f32};
  for (std::int64_t o = 0; o < O; ++o)
    for (std::int64_t t = 0; t < L; ++t) {
      float s = static_cast<float>(b.data[static_cast<std::size_t>(o)]);
      for (std::int64_t c = 0; c < C; ++c)
        for (std::int64_t k = 0; k < Kw; ++k) {
          std::int64_t pos = t + k - 1;
          if (pos < 0 || pos >= L) continue;
          s = static_cast<float>(
              s + static_cast<float>(x.data[static_cast<std::size_t>(c * L + pos)] *
                                     w.data[static_cast<std::size_t>((o * C + c) * Kw + k)]));
        }
      y.data.push_back(s);
    }
  auto v = verdicts::check({op, x, w, &b}, y, "f32");
  EXPECT_EQ(v.kind, verdicts::verdict_kind::consistent) << describe(v);
  tensor bad = y;
  bad.data[17] += static_cast<double>(x.data[17]) * w.data[1];  // a tap counted twice
  auto vb = verdicts::check({op, x, w, &b}, bad, "f32");
  EXPECT_EQ(vb.kind, verdicts::verdict_kind::violation) << describe(vb);
  EXPECT_EQ(vb.worst.front().index, 17);
}

}  // namespace

namespace {

// n = 0 (K = 0): the result is exactly the bias (or 0); an empty batch has nothing to judge.
TEST(BoundsVerdict, EmptySumsAndEmptyBatch) {
  tensor x{{2, 0}, {}, format_id::f32}, w{{3, 0}, {}, format_id::f32};
  tensor b{{3}, {0.5, -1.25, 3.0}, format_id::f32};
  tensor y{{2, 3}, {0.5, -1.25, 3.0, 0.5, -1.25, 3.0}, format_id::f32};
  auto v = verdicts::check({linear, x, w, &b}, y, "f32");
  EXPECT_EQ(v.kind, verdicts::verdict_kind::consistent) << describe(v);
  EXPECT_EQ(v.worst.front().bound, 0.0);
  tensor y2 = y;
  y2.data[4] = std::nextafter(-1.25, 0.0);  // any change of an exact sum is a violation
  EXPECT_EQ(verdicts::check({linear, x, w, &b}, y2, "f32").kind, verdicts::verdict_kind::violation);
  tensor z{{2, 3}, {0, 0, 0, 0, 0, 0}, format_id::f32};
  EXPECT_EQ(verdicts::check({linear, x, w, nullptr}, z, "f32").kind,
            verdicts::verdict_kind::consistent);
  tensor x0{{0, 4}, {}, format_id::f32}, w0{{3, 4}, std::vector<double>(12, 1.0), format_id::f32};
  tensor y0{{0, 3}, {}, format_id::f32};
  auto v0 = verdicts::check({linear, x0, w0, &b}, y0, "f32");
  EXPECT_EQ(v0.kind, verdicts::verdict_kind::consistent);
  EXPECT_EQ(v0.elements, 0);
}

}  // namespace

namespace {

// A known order gives a sharper bound (larger error/bound ratio) and stays consistent.
TEST(BoundsVerdict, KnownOrderOverride) {
  auto g = roundoff::test::rng(30);
  auto p = make(8, 32, 2048, g);
  tensor y = run(p, emu("f32", algo::pairwise), g);
  auto any = verdicts::check({linear, p.x, p.w, &p.b}, y, "f32");
  verdicts::check_options o;
  o.override_order = true;
  o.order = bounds::summation_order::pairwise();
  auto pw = verdicts::check({linear, p.x, p.w, &p.b}, y, "f32", o);
  EXPECT_EQ(any.kind, verdicts::verdict_kind::consistent) << describe(any);
  EXPECT_EQ(pw.kind, verdicts::verdict_kind::consistent) << describe(pw);
  EXPECT_EQ(pw.order, "pairwise");
  EXPECT_GT(pw.max_ratio_deterministic, 50 * any.max_ratio_deterministic);
  // A bf16 implementation compared with an f32 one: the references differ, and the difference
  // of the exact references is part of what is allowed.
  auto pb = make(8, 32, 256, g, format_id::bf16);
  auto c = verdicts::compare({linear, pb.x, pb.w, &pb.b}, run(pb, emu("f32"), g), "f32",
                             run(pb, emu("bf16", algo::split_k), g), "bf16");
  EXPECT_EQ(c.kind, verdicts::verdict_kind::consistent) << c.explanation;
}

}  // namespace

namespace {

// Named regressions from the first run on a real GPU (issue "Real GPU arithmetic", items 4-6).

// Item 4: where n u >= 1 there is no worst-case bound; the verdict must not report "0 of the
// bound", and the probabilistic bound (which exists for f16-acc16) is used.
TEST(BoundsVerdict, NoBoundIsNotReportedAsZeroRatio) {
  auto g = roundoff::test::rng(31);
  auto p = make(2, 16, 2048, g, format_id::f16);
  auto v = verdicts::check({linear, p.x, p.w, &p.b}, run(p, emu("f16-acc16", algo::pairwise), g),
                           "f16-acc16");
  EXPECT_TRUE(std::isnan(v.max_ratio_deterministic)) << describe(v);
  EXPECT_EQ(v.n_no_deterministic_bound, v.elements);
  EXPECT_FALSE(std::isnan(v.max_ratio_probabilistic)) << describe(v);
  EXPECT_EQ(v.explanation.find("is 0 of the worst-case bound"), std::string::npos) << v.explanation;
  EXPECT_NE(v.explanation.find("no worst-case bound"), std::string::npos) << v.explanation;
  // A truncating matrix unit has no probabilistic bound: no ratio, and the sentence says why.
  auto vt = verdicts::check({linear, p.x, p.w, &p.b}, run(p, emu("f16", algo::pairwise), g), "f16");
  EXPECT_TRUE(std::isnan(vt.max_ratio_probabilistic)) << describe(vt);
  EXPECT_NE(vt.explanation.find("no probabilistic bound"), std::string::npos) << vt.explanation;
  // A model with no bound at all gives "no guarantee", never "consistent", and explains nothing.
  // (No preset lacks both below n ~ 4e6; a truncating f16 accumulator does from n = 1024.)
  auto trunc16 = bounds::parse_model("f16-acc16");
  trunc16.name = "f16-acc16-truncating";
  trunc16.accumulation = bounds::accumulation_rounding::faithful;
  auto vn = verdicts::check({linear, p.x, p.w, &p.b}, run(p, emu("f32"), g), trunc16);
  EXPECT_EQ(vn.kind, verdicts::verdict_kind::no_guarantee) << describe(vn);
  for (const auto& c : vn.candidates) {
    if (!c.bounded) {
      EXPECT_FALSE(c.consistent) << c.model;
    }
  }
}

// A pair whose models give no worst-case bound at this size has no ratio either: not "differ by
// at most 0 of what ... allow" (found by the paper's H200 f16-rpr table at K = 2048).
TEST(BoundsVerdict, PairWithoutBoundsHasNoRatio) {
  auto g = roundoff::test::rng(32);
  auto p = make(2, 16, 2048, g, format_id::f16);
  const auto ya = run(p, emu("f16-acc16", algo::pairwise), g);
  const auto yb = run(p, emu("f16-acc16", algo::sequential), g);
  ASSERT_NE(ya.data, yb.data);
  auto c = verdicts::compare({linear, p.x, p.w, &p.b}, ya, "f16-acc16", yb, "f16-acc16");
  EXPECT_TRUE(std::isnan(c.max_ratio)) << c.explanation;
  EXPECT_GT(c.n_no_allowance, 0);
  EXPECT_NE(c.kind, verdicts::verdict_kind::consistent) << c.explanation;
  EXPECT_NE(c.kind, verdicts::verdict_kind::violation) << c.explanation;
  EXPECT_EQ(c.explanation.find("at most 0 of"), std::string::npos) << c.explanation;
  EXPECT_NE(c.explanation.find("no guarantee"), std::string::npos) << c.explanation;
  // With bounds (f32 at the same K) the ratio is there and finite.
  auto q = make(2, 16, 2048, g);
  auto c32 = verdicts::compare({linear, q.x, q.w, &q.b}, run(q, emu("f32", algo::pairwise), g),
                               "f32", run(q, emu("f32", algo::sequential), g), "f32");
  EXPECT_TRUE(std::isfinite(c32.max_ratio)) << c32.explanation;
  EXPECT_EQ(c32.n_no_allowance, 0);
}

// Item 5a (pytorch#35655): every product exactly 0, yet an output of 5.03. Exact zero has a zero
// bound in every model, even where n u >= 1; no model explains it.
TEST(BoundsVerdict, NonzeroOutputOfAllZeroProductsIsABug) {
  problem p;
  p.M = 1, p.N = 2, p.K = 4096;
  p.x = {{1, 4096}, std::vector<double>(4096, 0.0), format_id::f16};
  p.w = {{2, 4096}, std::vector<double>(8192, 1.0), format_id::f16};
  p.b = {{2}, {0.0, 0.0}, format_id::f16};
  tensor y{{1, 2}, {5.03125, 0.0}, format_id::f16};
  for (const char* m : {"f16-acc16", "f16", "f32"}) {
    auto v = verdicts::check({linear, p.x, p.w, &p.b}, y, m);
    EXPECT_EQ(v.kind, verdicts::verdict_kind::violation) << m << ": " << describe(v);
    EXPECT_TRUE(v.consistent_models.empty()) << m << ": " << describe(v);
    EXPECT_NE(v.explanation.find("bug"), std::string::npos) << v.explanation;
  }
}

// Item 5b (pytorch#53635, an Ampere GPU): 1024.5 * 1.0 = 1025 under TF32. 1024.5 is a TF32 tie;
// ties away gives 1025. Consistent with tf32 (either tie rule), a violation of tf32-rne.
TEST(BoundsVerdict, Tf32TieAwayIsNotABug) {
  ops::op_spec mm(ops::op_kind::matmul);
  tensor a{{1, 1}, {1024.5}, format_id::f32}, b{{1, 1}, {1.0}, format_id::f32};
  tensor y{{1, 1}, {1025.0}, format_id::f32};
  auto v = verdicts::check({mm, a, b, nullptr}, y, "tf32");
  EXPECT_EQ(v.kind, verdicts::verdict_kind::consistent) << describe(v);
  EXPECT_EQ(verdicts::check({mm, a, b, nullptr}, y, "tf32-rna").kind,
            verdicts::verdict_kind::consistent);
  EXPECT_EQ(verdicts::check({mm, a, b, nullptr}, y, "tf32-rne").kind,
            verdicts::verdict_kind::violation);
  tensor y2{{1, 1}, {1024.0}, format_id::f32};  // ties to even, and the f32 value kept: fine too
  EXPECT_EQ(verdicts::check({mm, a, b, nullptr}, y2, "tf32").kind,
            verdicts::verdict_kind::consistent);
}

// Item 6: linear 4 x 32768 -> 32 computed with TF32 (split-K) and declared f32: all 128 outputs
// are within the f32 bounds, but the output is nearest the exact result of TF32 inputs.
TEST(BoundsVerdict, LongSplitKTf32DeclaredF32IsNoticed) {
  auto g = roundoff::test::rng(32);
  auto p = make(4, 32, 32768, g);
  auto v =
      verdicts::check({linear, p.x, p.w, &p.b}, run(p, emu("tf32-rne", algo::split_k), g), "f32");
  EXPECT_EQ(v.n_beyond_deterministic, 0) << describe(v);
  EXPECT_EQ(v.kind, verdicts::verdict_kind::suspicious) << describe(v);
  EXPECT_EQ(v.effective_model, "tf32-rne") << describe(v);
  ASSERT_FALSE(v.nearest_inputs.empty());
  EXPECT_EQ(v.nearest_inputs.front().inputs, "tf32-rne");
  // The same problem computed in f32 stays consistent and nearest its own inputs.
  auto v32 = verdicts::check({linear, p.x, p.w, &p.b}, run(p, emu("f32", algo::split_k), g), "f32");
  EXPECT_EQ(v32.kind, verdicts::verdict_kind::consistent) << describe(v32);
  EXPECT_EQ(v32.nearest_inputs.front().inputs, "as given") << describe(v32);
}

// Item 3: each output consistent with its own declared model never makes a pairwise violation,
// whatever the pair; here a tf32-declared output computed in f32 against a tensor-core one.
TEST(BoundsVerdict, ConsistentOutputsAreNeverAPairwiseViolation) {
  auto g = roundoff::test::rng(33);
  const std::int64_t iters = roundoff::test::iterations(6);
  for (std::int64_t it = 0; it < iters; ++it) {
    auto p = make(8, 32, 64 + static_cast<std::int64_t>(g() % 2000), g);
    auto ea = emu("f32", algo::split_k);
    auto eb = emu("tf32-rne", algo::matrix_unit, 8);
    tensor a = run(p, ea, g), b = run(p, eb, g);
    auto c = verdicts::compare({linear, p.x, p.w, &p.b}, a, "tf32", b, "tf32");
    ASSERT_EQ(c.a.kind, verdicts::verdict_kind::consistent) << describe(c.a);
    ASSERT_EQ(c.b.kind, verdicts::verdict_kind::consistent) << describe(c.b);
    EXPECT_NE(c.kind, verdicts::verdict_kind::violation)
        << c.explanation << ' ' << roundoff::test::replay(it);
    EXPECT_EQ(c.n_beyond, 0);
  }
}

}  // namespace

namespace {

// Above 2^18 output elements, identification runs on an evenly spread sample of output rows
// (docs/verdicts.md, §3 "Sample"): stated in the verdict and its explanation; the declared
// model's per-element test still covers every element; a TF32 output declared f32 is still
// identified, a correct f32 output still consistent.
TEST(BoundsVerdict, LargeOutputsIdentifyOnAStatedSampleOfRows) {
  auto g = roundoff::test::rng(1414);
  auto p = make(4096, 72, 16, g);  // 294912 outputs
  auto y32 = run(p, emu("f32"), g);
  auto v32 = verdicts::check({linear, p.x, p.w, &p.b}, y32, "f32");
  EXPECT_EQ(v32.kind, verdicts::verdict_kind::consistent) << describe(v32);
  EXPECT_EQ(v32.effective_model, "f32") << describe(v32);
  EXPECT_EQ(v32.elements, 4096 * 72);
  EXPECT_EQ(v32.identification_rows_total, 4096);
  const auto r = static_cast<std::int64_t>(v32.identification_rows.size());
  ASSERT_GT(r, 0);
  EXPECT_EQ(r, (65536 + 71) / 72);
  for (std::int64_t k = 0; k < r; ++k)
    EXPECT_EQ(v32.identification_rows[static_cast<std::size_t>(k)], k * 4096 / r);
  EXPECT_EQ(v32.identification_elements, r * 72);
  EXPECT_NE(v32.explanation.find("model identification used " + std::to_string(r) +
                                 " of 4096 output rows"),
            std::string::npos)
      << v32.explanation;

  auto ytf = run(p, emu("tf32"), g);
  auto vtf = verdicts::check({linear, p.x, p.w, &p.b}, ytf, "f32");
  EXPECT_NE(vtf.kind, verdicts::verdict_kind::consistent) << describe(vtf);
  EXPECT_EQ(vtf.effective_model, "tf32-rne") << describe(vtf);
  EXPECT_NE(vtf.explanation.find("TF32"), std::string::npos) << vtf.explanation;

  // A planted error in a row outside the sample is still found: the per-element test is full.
  std::int64_t outside = 1;
  while (std::find(v32.identification_rows.begin(), v32.identification_rows.end(), outside) !=
         v32.identification_rows.end())
    ++outside;
  tensor bad = y32;
  bad.data[static_cast<std::size_t>(outside * 72 + 5)] += 1.0;
  auto vb = verdicts::check({linear, p.x, p.w, &p.b}, bad, "f32");
  EXPECT_EQ(vb.kind, verdicts::verdict_kind::violation) << describe(vb);
  EXPECT_EQ(vb.n_beyond_deterministic, 1) << describe(vb);
  ASSERT_FALSE(vb.worst.empty());
  EXPECT_EQ(vb.worst.front().index, outside * 72 + 5);

  // At or below 2^18 elements every element is used and nothing is stated.
  auto small = make(64, 72, 16, g);
  auto vs = verdicts::check({linear, small.x, small.w, &small.b}, run(small, emu("f32"), g), "f32");
  EXPECT_TRUE(vs.identification_rows.empty());
  EXPECT_EQ(vs.explanation.find("model identification used"), std::string::npos);
}

// convert_tensor's bit-pattern path for ties-away and toward-zero equals convert() on every
// value: random magnitudes across each format's range, ties, the subnormal and overflow edges,
// zeros, Inf, NaN, both underflow modes.
TEST(BoundsVerdict, ConvertTensorMatchesConvert) {
  auto g = roundoff::test::rng(1415);
  std::normal_distribution<double> nd;
  std::uniform_int_distribution<int> ex(-160, 140);
  tensor t;
  for (int i = 0; i < 200000; ++i) t.data.push_back(std::ldexp(nd(g), ex(g)));
  for (format_id f : {format_id::f32, format_id::tf32, format_id::f16, format_id::bf16}) {
    const auto& tr = traits(f);
    for (double v : {tr.max_finite, tr.min_normal, tr.min_subnormal, tr.overflow_threshold})
      for (double s : {1.0, -1.0})
        for (double d : {0.0, 1.0, -1.0, 0.5, 0x1p-30}) {
          t.data.push_back(s * v);
          t.data.push_back(s * std::nextafter(v, d * 1e300));
          t.data.push_back(s * v * (1 + d * tr.unit_roundoff));  // ties and neighbours
        }
  }
  for (double v :
       {0.0, -0.0, 1.0, std::numeric_limits<double>::infinity(),
        -std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()})
    t.data.push_back(v);
  t.shape = {static_cast<std::int64_t>(t.data.size())};
  for (format_id f : {format_id::f32, format_id::tf32, format_id::f16, format_id::bf16})
    for (conversion c :
         {conversion::nearest_even, conversion::nearest_away, conversion::toward_zero})
      for (underflow_mode u : {underflow_mode::gradual, underflow_mode::flush_to_zero}) {
        const tensor r = verdicts::convert_tensor(t, f, c, u);
        for (std::size_t i = 0; i < t.data.size(); ++i) {
          const double want = convert(f, t.data[i], c, u);
          ASSERT_TRUE(std::memcmp(&want, &r.data[i], sizeof want) == 0 ||
                      (std::isnan(want) && std::isnan(r.data[i])))
              << traits(f).name << " " << to_string(c) << " " << static_cast<int>(u) << ": "
              << t.data[i] << " -> " << r.data[i] << ", convert gives " << want;
        }
      }
}

}  // namespace
