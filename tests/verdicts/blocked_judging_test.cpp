// check()'s blocked judging (docs/verdicts.md §2, "One block of rows at a time") gives the verdict
// of the whole-tensor pass, field for field and bit for bit: the same reference set judged once
// with blocking off and once cut into blocks of a few rows (forced through the internal
// detail::set_blocking, with the magnitude's DGEMM calls of 2 rows in both, so that each T comes
// from the same call), on linear and 2-D-weight matmul problems whose outputs carry a dropped
// term, NaN and +-Inf where the exact result is finite, more special-value
// mismatches than worst elements reported (ties at the top, in different blocks), duplicated
// rows (equal keys in different blocks), and an all-zero row (a tiny T: the whole pass forms
// that reference's T exactly, so blocking falls back to it). Also judge()'s error statistics.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "../../src/verdicts/judging.hpp"  // internal: set_blocking, check_with_errors
#include "emulate.hpp"
#include "linear_faults.hpp"
#include "roundoff/formats/convert.hpp"
#include "roundoff/verdicts/check.hpp"

namespace {

using namespace roundoff;
using roundoff::test::algo;

const ops::op_spec linear(ops::op_kind::linear);
constexpr double nan_v = std::numeric_limits<double>::quiet_NaN();
constexpr double inf_v = std::numeric_limits<double>::infinity();

test::linear_problem make(std::int64_t M, std::int64_t N, std::int64_t K, std::uint64_t seed) {
  test::linear_problem p;
  p.M = M, p.N = N, p.K = K;
  std::mt19937_64 g(seed);
  std::normal_distribution<double> d;
  auto fill = [&](tensor& t, std::vector<std::int64_t> shape) {
    t.shape = std::move(shape);
    t.type = format_id::f32;
    t.data.resize(static_cast<std::size_t>(t.numel()));
    for (auto& v : t.data) v = round_to(format_id::f32, d(g));
  };
  fill(p.x, {M, K});
  fill(p.w, {N, K});
  fill(p.b, {N});
  return p;
}

// Bit-equal doubles (NaN equals NaN).
bool same(double a, double b) {
  return std::memcmp(&a, &b, sizeof a) == 0 || (std::isnan(a) && std::isnan(b));
}

// Every field of two verdicts.
void expect_same(const verdicts::verdict& a, const verdicts::verdict& b, const std::string& at) {
  SCOPED_TRACE(at);
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.explanation, b.explanation);
  EXPECT_EQ(a.elements, b.elements);
  EXPECT_EQ(a.n_consistent, b.n_consistent);
  EXPECT_EQ(a.n_beyond_probabilistic, b.n_beyond_probabilistic);
  EXPECT_EQ(a.n_beyond_deterministic, b.n_beyond_deterministic);
  EXPECT_EQ(a.n_special_mismatch, b.n_special_mismatch);
  EXPECT_EQ(a.n_no_bound, b.n_no_bound);
  EXPECT_EQ(a.n_no_deterministic_bound, b.n_no_deterministic_bound);
  EXPECT_EQ(a.n_no_probabilistic_bound, b.n_no_probabilistic_bound);
  EXPECT_TRUE(same(a.max_ratio_deterministic, b.max_ratio_deterministic))
      << a.max_ratio_deterministic << " vs " << b.max_ratio_deterministic;
  EXPECT_TRUE(same(a.max_ratio_probabilistic, b.max_ratio_probabilistic))
      << a.max_ratio_probabilistic << " vs " << b.max_ratio_probabilistic;
  ASSERT_EQ(a.worst.size(), b.worst.size());
  for (std::size_t i = 0; i < a.worst.size(); ++i) {
    EXPECT_EQ(a.worst[i].index, b.worst[i].index) << "worst #" << i;
    EXPECT_TRUE(same(a.worst[i].observed, b.worst[i].observed)) << "worst #" << i;
    EXPECT_TRUE(same(a.worst[i].exact, b.worst[i].exact)) << "worst #" << i;
    EXPECT_TRUE(same(a.worst[i].error, b.worst[i].error)) << "worst #" << i;
    EXPECT_TRUE(same(a.worst[i].bound, b.worst[i].bound)) << "worst #" << i;
    EXPECT_TRUE(same(a.worst[i].probabilistic_bound, b.worst[i].probabilistic_bound))
        << "worst #" << i;
    EXPECT_EQ(a.worst[i].category, b.worst[i].category) << "worst #" << i;
  }
  EXPECT_EQ(a.consistent_models, b.consistent_models);
  EXPECT_EQ(a.effective_model, b.effective_model);
  ASSERT_EQ(a.candidates.size(), b.candidates.size());
  for (std::size_t i = 0; i < a.candidates.size(); ++i) {
    const auto &c = a.candidates[i], &d = b.candidates[i];
    EXPECT_EQ(c.model, d.model);
    EXPECT_EQ(c.consistent, d.consistent) << c.model;
    EXPECT_EQ(c.signature_of, d.signature_of) << c.model;
    EXPECT_TRUE(same(c.max_ratio_deterministic, d.max_ratio_deterministic)) << c.model;
    EXPECT_TRUE(same(c.signature_score, d.signature_score)) << c.model;
  }
  ASSERT_EQ(a.nearest_inputs.size(), b.nearest_inputs.size());
  for (std::size_t i = 0; i < a.nearest_inputs.size(); ++i) {
    EXPECT_EQ(a.nearest_inputs[i].inputs, b.nearest_inputs[i].inputs);
    EXPECT_TRUE(same(a.nearest_inputs[i].distance, b.nearest_inputs[i].distance));
  }
}

struct output {
  std::string name, declared;
  tensor y;
};

struct judged_case {
  std::vector<verdicts::verdict> verdicts;
  std::vector<verdicts::detail::error_stats> errors;
  std::int64_t checks = 0, blocks = 0;  // blocked checks, blocks formed
};

// Every output against one reference set with blocked judging forced to judge_rows (0: off).
judged_case judge(const ops::problem& p, const std::vector<output>& outs, std::int64_t judge_rows,
                  int threads, int worst, bool identify) {
  verdicts::check_options opt;
  opt.reference.threads = threads;
  opt.worst = worst;
  opt.identify = identify;
  verdicts::reference_set set(p, opt.reference);
  verdicts::detail::set_blocking(set, judge_rows, 2);
  judged_case r;
  for (const auto& o : outs) {
    verdicts::detail::error_stats e;
    r.verdicts.push_back(
        verdicts::detail::check_with_errors(set, o.y, bounds::parse_model(o.declared), opt, &e));
    r.errors.push_back(e);
  }
  r.checks = verdicts::detail::blocking_counts_of(set).checks;
  r.blocks = verdicts::detail::blocking_counts_of(set).blocks;
  return r;
}

// Whole against blocked (several block heights), 1 and 2 threads, a few worst counts (0: no
// heap; 1: the tie-break at the top; 1000: every element), identification on and off.
// Returns how many checks ran blocked (40 settings per output when none fell back).
std::int64_t compare_all(const ops::problem& p, const std::vector<output>& outs,
                         const std::string& label) {
  std::int64_t checks = 0;
  for (const int threads : {1, 2})
    for (const int worst : {5, 0, 1, 1000})
      for (const bool identify : {true, false}) {
        if (!identify && worst != 5) continue;
        const judged_case whole = judge(p, outs, 0, threads, worst, identify);
        EXPECT_EQ(whole.checks, 0);
        EXPECT_EQ(whole.blocks, 0);
        for (const std::int64_t rows : {2, 4, 6, 14}) {
          const judged_case blocked = judge(p, outs, rows, threads, worst, identify);
          checks += blocked.checks;
          for (std::size_t o = 0; o < outs.size(); ++o) {
            const std::string at = label + ", output " + outs[o].name + ", threads " +
                                   std::to_string(threads) + ", worst " + std::to_string(worst) +
                                   (identify ? "" : ", no identification") + ", blocks of " +
                                   std::to_string(rows) + " rows";
            expect_same(whole.verdicts[o], blocked.verdicts[o], at);
            EXPECT_TRUE(same(whole.errors[o].max_abs, blocked.errors[o].max_abs)) << at;
            EXPECT_TRUE(same(whole.errors[o].max_rel, blocked.errors[o].max_rel)) << at;
          }
        }
      }
  return checks;
}

// Outputs of p (linear): correct f32 and tf32 ones, a bf16 one declared f32 (beyond the bound
// everywhere), and a fault set: a dropped term, NaN/+-Inf where the exact result is finite in
// rows of different blocks (seven special mismatches: more than five worst, so ties at the top
// cross blocks).
std::vector<output> outputs_of(const test::linear_problem& p, std::mt19937_64& g) {
  auto emu = [](const char* m, algo a = algo::sequential) { return test::make_emulator(m, a, 8); };
  std::vector<output> outs;
  outs.push_back({"f32", "f32", test::run(p, emu("f32"), g)});
  outs.push_back({"tf32", "f32", test::run(p, emu("tf32", algo::pairwise), g)});
  outs.push_back({"bf16", "f32", test::run(p, emu("bf16"), g)});
  tensor bad = outs[0].y;
  test::dropped_term(29 % p.M, 5)(const_cast<test::linear_problem&>(p), bad, g);
  const std::int64_t N = p.N, M = p.M;
  for (const auto& [row, col, v] :
       {std::tuple{1, 3, nan_v}, std::tuple{3, 0, inf_v}, std::tuple{9, 7, -inf_v},
        std::tuple{17, 2, nan_v}, std::tuple{22, 1, inf_v}, std::tuple{35, 4, nan_v},
        std::tuple{38, 6, -inf_v}})
    bad.data[static_cast<std::size_t>(row % M * N + col)] = v;
  outs.push_back({"fault", "f32", bad});
  return outs;
}

TEST(BlockedJudging, EqualsTheWholeTensorPass) {
  std::mt19937_64 g(1414);
  test::linear_problem p = make(40, 12, 48, 14);
  // Rows 5 and 25 equal (blocks apart): their outputs have equal exact values, T and n_i, so
  // a fault planted alike in both gives equal keys in two blocks.
  std::copy(p.x.data.begin() + 5 * p.K, p.x.data.begin() + 6 * p.K, p.x.data.begin() + 25 * p.K);
  std::vector<output> outs = outputs_of(p, g);
  tensor twin = outs[0].y;
  for (const std::int64_t row : {5, 25}) {
    auto& v = twin.data[static_cast<std::size_t>(row * p.N + 3)];
    v = std::nextafter(std::nextafter(v, inf_v), inf_v) * (1 + 0x1p-12);
  }
  outs.push_back({"twin", "f32", twin});
  const ops::problem prob{linear, p.x, p.w, &p.b};
  // Every blocked check ran blocked (no fallback).
  EXPECT_EQ(compare_all(prob, outs, "linear"), 40 * static_cast<std::int64_t>(outs.size()));
  // The cases exercise what they claim.
  const judged_case whole = judge(prob, outs, 0, 1, 5, true);
  EXPECT_EQ(whole.verdicts[3].n_special_mismatch, 7 + whole.verdicts[0].n_special_mismatch);
  EXPECT_GT(whole.verdicts[3].n_beyond_deterministic, 0);
  EXPECT_EQ(whole.verdicts[2].kind, verdicts::verdict_kind::violation);
  EXPECT_EQ(whole.verdicts[0].kind, verdicts::verdict_kind::consistent);
  EXPECT_EQ(whole.verdicts[4].worst.front().category,
            verdicts::element_category::beyond_deterministic);
  // Regression (roundoff check --worst 0 on a violation read an empty list and crashed): no
  // worst elements listed, and the explanation still names the worst one, as with --worst 1.
  for (const std::int64_t rows : {0, 4}) {
    const judged_case none = judge(prob, outs, rows, 1, 0, false);
    const judged_case one = judge(prob, outs, rows, 1, 1, false);
    EXPECT_TRUE(none.verdicts[3].worst.empty());
    EXPECT_NE(none.verdicts[3].explanation.find("first worst: index"), std::string::npos);
    EXPECT_EQ(none.verdicts[3].explanation, one.verdicts[3].explanation);
  }
}

TEST(BlockedJudging, TwoDimensionalWeightMatmulEqualsTheWholeTensorPass) {
  std::mt19937_64 g(2828);
  const test::linear_problem p = make(24, 10, 32, 28);
  std::vector<output> outs = outputs_of(p, g);
  // matmul(x, w^T): the same outputs as linear without its bias.
  tensor wt;
  wt.shape = {p.K, p.N};
  wt.type = p.w.type;
  wt.data.resize(p.w.data.size());
  for (std::int64_t n = 0; n < p.N; ++n)
    for (std::int64_t k = 0; k < p.K; ++k)
      wt.data[static_cast<std::size_t>(k * p.N + n)] =
          p.w.data[static_cast<std::size_t>(n * p.K + k)];
  for (auto& o : outs)
    for (std::int64_t i = 0; i < p.M; ++i)
      for (std::int64_t n = 0; n < p.N; ++n)
        if (std::isfinite(o.y.data[static_cast<std::size_t>(i * p.N + n)]))
          o.y.data[static_cast<std::size_t>(i * p.N + n)] -=
              round_to(format_id::f32, p.b.data[static_cast<std::size_t>(n)]);
  const ops::problem prob{ops::op_spec(ops::op_kind::matmul), p.x, wt, nullptr};
  EXPECT_EQ(compare_all(prob, outs, "matmul"), 40 * static_cast<std::int64_t>(outs.size()));
}

// A shape whose magnitude cuts the K products into pieces with a remainder (K = 600:
// magnitude_panel), and whose blocks of one DGEMM call would take |W| in panels of columns
// (300 outputs a row) if they were problems of their own: each block's T must still come from
// the same DGEMM calls as the whole pass's, so the verdicts agree field for field.
TEST(BlockedJudging, EqualsTheWholeTensorPassAcrossMagnitudePanels) {
  std::mt19937_64 g(5656);
  const test::linear_problem p = make(14, 300, 600, 56);
  ASSERT_NE(p.K % verdicts::detail::magnitude_panel(p.N, p.K, false).depth, 0);
  ASSERT_LT(verdicts::detail::magnitude_panel(p.N, p.K, true).columns, p.N);
  auto emu = [](const char* m, algo a = algo::sequential) { return test::make_emulator(m, a, 8); };
  std::vector<output> outs;
  outs.push_back({"f32", "f32", test::run(p, emu("f32"), g)});
  outs.push_back({"bf16", "f32", test::run(p, emu("bf16"), g)});
  const ops::problem prob{linear, p.x, p.w, &p.b};
  for (const int threads : {1, 2}) {
    const judged_case whole = judge(prob, outs, 0, threads, 5, true);
    for (const std::int64_t rows : {2, 4}) {
      const judged_case blocked = judge(prob, outs, rows, threads, 5, true);
      EXPECT_EQ(blocked.checks, static_cast<std::int64_t>(outs.size()));
      for (std::size_t o = 0; o < outs.size(); ++o)
        expect_same(whole.verdicts[o], blocked.verdicts[o],
                    "panels, output " + outs[o].name + ", threads " + std::to_string(threads) +
                        ", blocks of " + std::to_string(rows) + " rows");
    }
    EXPECT_EQ(whole.verdicts[0].kind, verdicts::verdict_kind::consistent);
    EXPECT_EQ(whole.verdicts[1].kind, verdicts::verdict_kind::violation);
  }
}

// An all-zero row: its T is tiny, so the whole pass forms the reference's T exactly for every
// element; the blocked pass finds it in the row's block and judges the whole tensor instead.
TEST(BlockedJudging, TinyMagnitudeFallsBackToTheWholeTensorPass) {
  std::mt19937_64 g(4242);
  test::linear_problem p = make(20, 8, 40, 42);
  std::fill(p.x.data.begin() + 13 * p.K, p.x.data.begin() + 14 * p.K, 0.0);
  p.b.data.assign(p.b.data.size(), 0.0);
  const std::vector<output> outs = outputs_of(p, g);
  const ops::problem prob{linear, p.x, p.w, &p.b};
  for (const int threads : {1, 2}) {
    const judged_case whole = judge(prob, outs, 0, threads, 5, true);
    const judged_case blocked = judge(prob, outs, 4, threads, 5, true);
    for (std::size_t o = 0; o < outs.size(); ++o)
      expect_same(whole.verdicts[o], blocked.verdicts[o], "tiny T, output " + outs[o].name);
    // Blocks up to the one holding row 13 (rows 12-15: the fourth), then the whole pass.
    EXPECT_EQ(blocked.checks, 0);
    EXPECT_EQ(blocked.blocks, 4 * static_cast<std::int64_t>(outs.size()));
  }
}

}  // namespace
