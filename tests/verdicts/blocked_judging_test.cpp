// check()'s blocked judging (docs/verdicts.md §2, "One block of rows at a time") gives the verdict
// of the whole-tensor pass, field for field and bit for bit: the same reference set judged once
// with blocking off and once cut into blocks of a few rows (forced through the internal
// detail::set_blocking, with the magnitude's DGEMM calls of 2 rows in both, so that each T comes
// from the same call), on linear and 2-D-weight matmul problems whose outputs carry a dropped
// term, NaN and +-Inf where the exact result is finite, more special-value
// mismatches than worst elements reported (ties at the top, in different blocks), duplicated
// rows (equal keys in different blocks), and an all-zero row (a tiny T: the whole pass forms
// that reference's T exactly, so blocking falls back to it). Also judge()'s error statistics, and
// its joint pass (detail::check_and_compare): several outputs and the comparisons of pairs of
// them over one set of blocks, every verdict and comparison field for field.
#include <gtest/gtest.h>

#include <algorithm>
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
#include "roundoff/verdicts/judge.hpp"

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

// Several outputs and the comparisons of pairs of them (detail::check_and_compare, judge()'s
// work): one pass over blocks of rows for all of them against the whole-tensor pass, every field
// of every verdict, error statistic and comparison.

bool same_elements(const std::vector<verdicts::comparison::element>& a,
                   const std::vector<verdicts::comparison::element>& b, const std::string& at) {
  SCOPED_TRACE(at);
  EXPECT_EQ(a.size(), b.size());
  if (a.size() != b.size()) return false;
  bool all = true;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const bool equal = a[i].index == b[i].index && same(a[i].a, b[i].a) && same(a[i].b, b[i].b) &&
                       same(a[i].exact, b[i].exact) && same(a[i].difference, b[i].difference) &&
                       same(a[i].allowed, b[i].allowed);
    EXPECT_TRUE(equal) << "worst #" << i << ": index " << a[i].index << " vs " << b[i].index
                       << ", difference " << a[i].difference << " vs " << b[i].difference
                       << ", allowed " << a[i].allowed << " vs " << b[i].allowed;
    all = all && equal;
  }
  return all;
}

void expect_same(const verdicts::comparison& a, const verdicts::comparison& b,
                 const std::string& at) {
  SCOPED_TRACE(at);
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.explanation, b.explanation);
  EXPECT_EQ(a.model_a, b.model_a);
  EXPECT_EQ(a.model_b, b.model_b);
  EXPECT_EQ(a.elements, b.elements);
  EXPECT_EQ(a.n_beyond, b.n_beyond);
  EXPECT_EQ(a.n_beyond_shared, b.n_beyond_shared);
  EXPECT_EQ(a.n_special_mismatch, b.n_special_mismatch);
  EXPECT_EQ(a.n_no_allowance, b.n_no_allowance);
  EXPECT_TRUE(same(a.max_ratio, b.max_ratio)) << a.max_ratio << " vs " << b.max_ratio;
  same_elements(a.worst, b.worst, at);
  expect_same(a.a, b.a, at + ", first verdict");
  expect_same(a.b, b.b, at + ", second verdict");
}

using pair_list = std::vector<std::pair<std::size_t, std::size_t>>;

struct joint_case {
  verdicts::detail::checked_outputs checked;
  std::int64_t checks = 0, blocks = 0;
};

// Every output and pair through check_and_compare with blocked judging forced to judge_rows
// (0: off).
joint_case judge_joint(const ops::problem& p, const std::vector<output>& outs,
                       const pair_list& pairs, std::int64_t judge_rows, int threads, int worst,
                       bool identify) {
  verdicts::check_options opt;
  opt.reference.threads = threads;
  opt.worst = worst;
  opt.identify = identify;
  verdicts::reference_set set(p, opt.reference);
  verdicts::detail::set_blocking(set, judge_rows, 2);
  std::vector<tensor_view> views;
  std::vector<bounds::arithmetic_model> models;
  for (const auto& o : outs) {
    views.emplace_back(o.y);
    models.push_back(bounds::parse_model(o.declared));
  }
  joint_case r;
  r.checked = verdicts::detail::check_and_compare(set, views, models, pairs, opt);
  r.checks = verdicts::detail::blocking_counts_of(set).checks;
  r.blocks = verdicts::detail::blocking_counts_of(set).blocks;
  return r;
}

// Whole against blocked as compare_all does, for several outputs and pairs at once. Returns how
// many checks ran blocked (40 settings per output when none fell back).
std::int64_t compare_joint(const ops::problem& p, const std::vector<output>& outs,
                           const pair_list& pairs, const std::string& label) {
  std::int64_t checks = 0;
  for (const int threads : {1, 2})
    for (const int worst : {5, 0, 1, 1000})
      for (const bool identify : {true, false}) {
        if (!identify && worst != 5) continue;
        const joint_case whole = judge_joint(p, outs, pairs, 0, threads, worst, identify);
        EXPECT_EQ(whole.checks, 0);
        EXPECT_EQ(whole.blocks, 0);
        for (const std::int64_t rows : {2, 4, 6, 14}) {
          const joint_case blocked = judge_joint(p, outs, pairs, rows, threads, worst, identify);
          checks += blocked.checks;
          const std::string setting = ", threads " + std::to_string(threads) + ", worst " +
                                      std::to_string(worst) +
                                      (identify ? "" : ", no identification") + ", blocks of " +
                                      std::to_string(rows) + " rows";
          for (std::size_t o = 0; o < outs.size(); ++o) {
            const std::string at = label + ", output " + outs[o].name + setting;
            expect_same(whole.checked.verdicts[o], blocked.checked.verdicts[o], at);
            EXPECT_TRUE(same(whole.checked.errors[o].max_abs, blocked.checked.errors[o].max_abs))
                << at;
            EXPECT_TRUE(same(whole.checked.errors[o].max_rel, blocked.checked.errors[o].max_rel))
                << at;
          }
          EXPECT_EQ(whole.checked.comparisons.size(), pairs.size());
          EXPECT_EQ(blocked.checked.comparisons.size(), pairs.size());
          for (std::size_t q = 0; q < pairs.size() && q < blocked.checked.comparisons.size(); ++q)
            expect_same(whole.checked.comparisons[q], blocked.checked.comparisons[q],
                        label + ", pair " + outs[pairs[q].first].name + " / " +
                            outs[pairs[q].second].name + setting);
        }
      }
  return checks;
}

// The worst elements a comparison reports are those std::partial_sort selects from the list of
// reported elements in index order (compare_pass keeps a heap instead of that list): the list
// with worst = 1000 (every reported element: special mismatches and elements finite in both),
// put back in index order and partially sorted by difference / allowed, against worst = k.
void expect_partial_sort_order(const ops::problem& p, const std::vector<output>& outs,
                               const pair_list& pairs, std::int64_t rows) {
  const joint_case every = judge_joint(p, outs, pairs, rows, 1, 1000, false);
  for (std::size_t q = 0; q < pairs.size(); ++q) {
    std::vector<verdicts::comparison::element> all = every.checked.comparisons[q].worst;
    ASSERT_LT(all.size(), 1000u);
    std::sort(all.begin(), all.end(),
              [](const auto& a, const auto& b) { return a.index < b.index; });
    auto key = [](const verdicts::comparison::element& e) {
      if (std::isinf(e.allowed) && std::isfinite(e.difference)) return 0.0;
      if (e.difference == 0) return 0.0;
      if (e.allowed == 0) return inf_v;
      return e.difference / e.allowed;
    };
    for (const int k : {1, 3, 5, 17}) {
      std::vector<verdicts::comparison::element> want = all;
      const auto kk = std::min<std::size_t>(static_cast<std::size_t>(k), want.size());
      std::partial_sort(want.begin(), want.begin() + static_cast<std::ptrdiff_t>(kk), want.end(),
                        [&](const auto& a, const auto& b) { return key(a) > key(b); });
      want.resize(kk);
      const joint_case got = judge_joint(p, outs, pairs, rows, 1, k, false);
      same_elements(got.checked.comparisons[q].worst, want,
                    "pair " + std::to_string(q) + ", worst " + std::to_string(k) + ", blocks of " +
                        std::to_string(rows) + " rows");
    }
  }
}

TEST(BlockedJudging, SeveralOutputsAndTheirComparisonsEqualTheWholeTensorPass) {
  std::mt19937_64 g(5656);
  test::linear_problem p = make(40, 12, 48, 56);
  // Rows 5 and 25 equal: equal exact values and allowances in two blocks (ties in the heaps).
  std::copy(p.x.data.begin() + 5 * p.K, p.x.data.begin() + 6 * p.K, p.x.data.begin() + 25 * p.K);
  const std::vector<output> base = outputs_of(p, g);  // f32, tf32, bf16, fault (all declared f32)
  // The fault set again with NaN at one of its NaN places (the same special value in both:
  // not a difference, not reported), a finite value at another and one more error.
  tensor fault2 = base[3].y;
  fault2.data[static_cast<std::size_t>(17 % p.M * p.N + 2)] = base[0].y.data[17 * 12 + 2];
  fault2.data[static_cast<std::size_t>(30 * p.N + 9)] *= 1 + 0x1p-10;
  // The f32 output with the same error planted in rows 5 and 25 (equal keys, blocks apart).
  tensor twin = base[0].y;
  for (const std::int64_t row : {5, 25}) {
    auto& v = twin.data[static_cast<std::size_t>(row * p.N + 3)];
    v = std::nextafter(std::nextafter(v, inf_v), inf_v) * (1 + 0x1p-14);
  }
  const ops::problem prob{linear, p.x, p.w, &p.b};

  // Two outputs (the seed check's case: a correct one and a faulty one) and their comparison.
  const std::vector<output> two{base[0], base[3]};
  EXPECT_EQ(compare_joint(prob, two, {{0, 1}}, "two outputs"), 40 * 2);
  // Three outputs whose verdicts differ (consistent, violation by bf16 rounding, violation by
  // faults), every pair.
  const std::vector<output> three{base[0], base[2], base[3]};
  EXPECT_EQ(compare_joint(prob, three, verdicts::all_pairs(3), "three outputs"), 40 * 3);
  // Seven outputs, every pair, and a list of pairs that leaves some out and repeats one.
  std::vector<output> seven = base;
  seven.push_back({"fault2", "f32", fault2});
  seven.push_back({"twin", "f32", twin});
  seven.push_back(
      {"f32-pairwise", "f32", test::run(p, test::make_emulator("f32", algo::pairwise, 8), g)});
  EXPECT_EQ(compare_joint(prob, seven, verdicts::all_pairs(7), "seven outputs"), 40 * 7);
  EXPECT_EQ(compare_joint(prob, seven, {{5, 0}, {3, 4}, {3, 4}, {1, 2}}, "some pairs"), 40 * 7);
  for (const std::int64_t rows : {0, 6})
    expect_partial_sort_order(prob, seven, {{0, 5}, {3, 4}, {0, 1}}, rows);

  // The cases exercise what they claim.
  const pair_list pairs = verdicts::all_pairs(7);
  const joint_case whole = judge_joint(prob, seven, pairs, 0, 1, 5, true);
  const auto& v = whole.checked.verdicts;
  EXPECT_EQ(v[0].kind, verdicts::verdict_kind::consistent);
  EXPECT_EQ(v[2].kind, verdicts::verdict_kind::violation);
  EXPECT_EQ(v[3].kind, verdicts::verdict_kind::violation);
  EXPECT_GT(v[3].n_special_mismatch, 0);
  auto pair = [&](std::size_t a, std::size_t b) -> const verdicts::comparison& {
    const auto at = std::find(pairs.begin(), pairs.end(), std::pair{a, b}) - pairs.begin();
    return whole.checked.comparisons[static_cast<std::size_t>(at)];
  };
  EXPECT_EQ(v[6].kind, verdicts::verdict_kind::consistent);
  EXPECT_EQ(pair(0, 6).kind, verdicts::verdict_kind::consistent) << pair(0, 6).explanation;
  EXPECT_GT(pair(0, 6).max_ratio, 0);
  EXPECT_EQ(pair(0, 2).kind, verdicts::verdict_kind::violation) << pair(0, 2).explanation;
  const auto& c = pair(0, 3);  // f32 / fault
  EXPECT_EQ(c.kind, verdicts::verdict_kind::violation) << c.explanation;
  EXPECT_EQ(c.n_special_mismatch, 7);
  EXPECT_EQ(c.worst.front().difference, inf_v);
  // fault / fault2: NaN against NaN is no difference; the NaN replaced and the new error are.
  const auto& ff = pair(3, 4);
  EXPECT_EQ(ff.n_special_mismatch, 1);
  EXPECT_GE(ff.n_beyond, 1);
  // f32 / twin: the two planted errors, equal in rows 5 and 25, are the worst two.
  const auto& tw = pair(0, 5);
  ASSERT_GE(tw.worst.size(), 2u);
  EXPECT_EQ(tw.worst[0].difference, tw.worst[1].difference);
  EXPECT_EQ(std::min(tw.worst[0].index, tw.worst[1].index), 5 * p.N + 3);
  EXPECT_EQ(std::max(tw.worst[0].index, tw.worst[1].index), 25 * p.N + 3);
}

// tf32 declared: three references per model (ties to even, ties away, the inputs as given).
// Values of x that are ties for tf32 sit in a few rows only, so that in the other rows' blocks
// the two conversions give the same inputs (one reference there) while over the whole tensor
// they differ; the allowances and the "shared" counts must not notice.
TEST(BlockedJudging, Tf32OutputsWithTiesInSomeRowsEqualTheWholeTensorPass) {
  std::mt19937_64 g(7777);
  test::linear_problem p = make(40, 12, 48, 77);
  // A tie for tf32 (10 stored bits): bit 12 of the f32 significand set, bits 0-11 clear.
  for (const std::int64_t row : {3, 4, 31})
    for (const std::int64_t k : {0, 7, 20}) {
      double& v = p.x.data[static_cast<std::size_t>(row * p.K + k)];
      const double tf = round_to(format_id::tf32, v);
      v = tf + std::ldexp(1.0, std::ilogb(tf) - 11);
      ASSERT_EQ(round_to(format_id::f32, v), v);
    }
  auto emu = [](const char* m) { return test::make_emulator(m, algo::pairwise, 8); };
  std::vector<output> outs;
  outs.push_back({"rne", "tf32", test::run(p, emu("tf32-rne"), g)});
  outs.push_back({"rna", "tf32", test::run(p, emu("tf32-rna"), g)});
  outs.push_back({"f32", "tf32", test::run(p, emu("f32"), g)});
  tensor bad = outs[0].y;
  test::dropped_term(11, 5)(p, bad, g);
  bad.data[static_cast<std::size_t>(33 * p.N + 1)] = nan_v;
  outs.push_back({"fault", "tf32", bad});
  const ops::problem prob{linear, p.x, p.w, &p.b};
  EXPECT_EQ(compare_joint(prob, outs, verdicts::all_pairs(outs.size()), "tf32"),
            40 * static_cast<std::int64_t>(outs.size()));
  const joint_case whole = judge_joint(prob, outs, verdicts::all_pairs(outs.size()), 0, 1, 5, true);
  EXPECT_EQ(whole.checked.verdicts[0].kind, verdicts::verdict_kind::consistent)
      << whole.checked.verdicts[0].explanation;
  EXPECT_EQ(whole.checked.verdicts[3].kind, verdicts::verdict_kind::violation);
  // No tie in w: the blocks without a tie row convert x and w alike under both rules.
  for (const double v : p.w.data)
    ASSERT_EQ(convert(format_id::tf32, v, conversion::nearest_even, underflow_mode::gradual),
              convert(format_id::tf32, v, conversion::nearest_away, underflow_mode::gradual));

  // Each output declared with its own rule (tf32-rne, tf32-rna): the pair's references differ
  // (ties to even against ties away), and a block without ties converts its rows alike under
  // both, which the whole tensor does not: what the two sides share is the whole tensor's.
  outs[0].declared = "tf32-rne";
  outs[1].declared = "tf32-rna";
  outs[3].declared = "tf32-rna";
  EXPECT_EQ(compare_joint(prob, outs, {{0, 1}, {0, 3}, {1, 3}, {2, 3}}, "tf32-rne / tf32-rna"),
            40 * static_cast<std::int64_t>(outs.size()));
}

// What two outputs "share" (the allowance from the same converted inputs, n_beyond_shared) is
// the whole tensor's: tf32-rne against tf32-rna, x with ties in one row only and row 0's values
// rounded up in magnitude by tf32 (so its references on converted inputs have a larger T and a
// larger allowance than on the inputs as given). Over the whole tensor the two rules give two
// references, and the only one the sides share is the inputs as given; a block without the tie
// row converts alike under both. A difference at element 0 just beyond the shared allowance over
// the whole tensor (found by bisection on the whole pass) is beyond it over blocks too.
TEST(BlockedJudging, SharedAllowanceIsTheWholeTensors) {
  std::mt19937_64 g(3131);
  test::linear_problem p = make(24, 8, 40, 31);
  for (const std::int64_t k : {2, 9, 17}) {  // ties in row 20 only
    double& v = p.x.data[static_cast<std::size_t>(20 * p.K + k)];
    const double tf = round_to(format_id::tf32, v);
    v = tf + std::ldexp(1.0, std::ilogb(tf) - 11);
  }
  for (std::int64_t k = 0; k < p.K; ++k) {  // row 0: 3/4 of a tf32 unit beyond a tf32 value
    double& v = p.x.data[static_cast<std::size_t>(k)];
    const double t = convert(format_id::tf32, v, conversion::toward_zero);
    v = std::copysign(std::fabs(t) + 0.75 * std::ldexp(1.0, std::ilogb(t) - 10), v);
    ASSERT_EQ(round_to(format_id::f32, v), v);
    ASSERT_GT(std::fabs(round_to(format_id::tf32, v)), std::fabs(v));
  }
  for (const double v : p.w.data)
    ASSERT_EQ(convert(format_id::tf32, v, conversion::nearest_even, underflow_mode::gradual),
              convert(format_id::tf32, v, conversion::nearest_away, underflow_mode::gradual));
  const ops::problem prob{linear, p.x, p.w, &p.b};
  std::vector<output> outs;
  outs.push_back({"a", "tf32-rne", test::run(p, test::make_emulator("f32", algo::pairwise, 8), g)});
  outs[0].y.type = format_id::f64;  // any double may be observed
  outs.push_back({"b", "tf32-rna", outs[0].y});
  const double y0 = outs[0].y.data[0];
  auto shared_beyond = [&](double d, std::int64_t rows) {
    outs[1].y.data[0] = y0 + d;
    const joint_case r = judge_joint(prob, outs, {{0, 1}}, rows, 1, 5, false);
    EXPECT_EQ(r.checks, rows > 0 ? 2 : 0);
    return r.checked.comparisons.front().n_beyond_shared;
  };
  double lo = 0, hi = 1;
  ASSERT_EQ(shared_beyond(lo, 0), 0);
  ASSERT_EQ(shared_beyond(hi, 0), 1);
  for (int step = 0; step < 200; ++step) {
    const double mid = lo + (hi - lo) / 2;
    if (mid <= lo || mid >= hi) break;
    (shared_beyond(mid, 0) == 1 ? hi : lo) = mid;
  }
  for (const std::int64_t rows : {2, 4, 6}) {
    EXPECT_EQ(shared_beyond(hi, rows), 1) << "blocks of " << rows << " rows, difference " << hi;
    EXPECT_EQ(shared_beyond(lo, rows), 0) << "blocks of " << rows << " rows, difference " << lo;
    for (const double d : {lo, hi}) {
      outs[1].y.data[0] = y0 + d;
      const joint_case whole = judge_joint(prob, outs, {{0, 1}}, 0, 1, 5, true);
      const joint_case cut = judge_joint(prob, outs, {{0, 1}}, rows, 1, 5, true);
      expect_same(whole.checked.comparisons[0], cut.checked.comparisons[0], "shared allowance");
    }
  }
}

// reference_cache::entry_classes (from the inputs alone) numbers rules exactly as converted()
// shares entries (forming the exact results): every preset's rules, on inputs with ties for tf32
// and bf16 in one row, inputs all representable in tf32 (every tf32 rule leaves them as given),
// a NaN input (no two rules share), subnormal f16 values (flush to zero differs from gradual).
TEST(BlockedJudging, EntryClassesAreTheCachesSharing) {
  std::vector<verdicts::detail::reference_cache::key> rules;
  for (const auto& m : bounds::presets())
    for (conversion c : verdicts::detail::conversion_list)
      if (m.conversions & bounds::conversion_bit(c))
        rules.push_back({m.input, c, m.bias_format, m.underflow});
  for (const auto& m : bounds::presets())  // and each rule again, in another order
    rules.push_back({m.input, conversion::toward_zero, m.bias_format, m.underflow});
  for (int variant = 0; variant < 4; ++variant) {
    SCOPED_TRACE("variant " + std::to_string(variant));
    test::linear_problem p = make(6, 5, 16, 60 + static_cast<std::uint64_t>(variant));
    if (variant == 0)
      for (const auto f : {format_id::tf32, format_id::bf16}) {
        double& v = p.x.data[static_cast<std::size_t>(3 * p.K + (f == format_id::tf32 ? 1 : 2))];
        const double r = round_to(f, v);
        v = r + std::ldexp(1.0, std::ilogb(r) - traits(f).precision);
      }
    if (variant == 1) {
      for (auto& v : p.x.data) v = round_to(format_id::tf32, v);
      for (auto& v : p.w.data) v = round_to(format_id::tf32, v);
    }
    if (variant == 2) p.x.data[7] = nan_v;
    if (variant == 3) p.x.data[11] = 0x1p-20;  // subnormal in f16
    ops::reference_options ro;
    ro.magnitude_how = ops::magnitude_method::blas_bound;
    verdicts::detail::reference_cache cache(ops::problem{linear, p.x, p.w, &p.b}, ro);
    const std::vector<std::size_t> classes = cache.entry_classes(rules);
    ASSERT_EQ(classes.size(), rules.size());
    std::vector<const ops::op_result*> entries;
    for (const auto& k : rules) entries.push_back(&cache.converted(k.f, k.c, k.bias, k.u));
    const ops::op_result* original = &cache.original();
    std::size_t shared = 0, as_given = 0;
    for (std::size_t a = 0; a < rules.size(); ++a) {
      EXPECT_EQ(classes[a] == 0, entries[a] == original) << "rule " << a;
      as_given += classes[a] == 0;
      for (std::size_t b = 0; b < a; ++b) {
        EXPECT_EQ(classes[a] == classes[b], entries[a] == entries[b]) << "rules " << b << ", " << a;
        shared += rules[a] != rules[b] && entries[a] == entries[b];
      }
    }
    // The variants exercise what they claim.
    if (variant == 1) {
      EXPECT_GT(as_given, 0u);
    }
    if (variant != 2) {
      EXPECT_GT(shared, 0u);
    }
  }
}

// Pairs of outputs declared in models with different references (f32 and tf32) over blocks, and
// a tiny T: the whole-tensor pass, with every verdict and comparison as before.
TEST(BlockedJudging, PairsOfDifferentModelsAndTheTinyMagnitudeFallback) {
  std::mt19937_64 g(9191);
  test::linear_problem p = make(24, 8, 40, 91);
  const ops::problem prob{linear, p.x, p.w, &p.b};
  std::vector<output> outs = outputs_of(p, g);
  outs[1].declared = "tf32";
  // A pair across the two models, and pairs within one model: blocks.
  for (const auto& pairs : {pair_list{{0, 1}}, pair_list{{0, 2}, {2, 3}}}) {
    for (const int threads : {1, 2}) {
      const joint_case whole = judge_joint(prob, outs, pairs, 0, threads, 5, true);
      const joint_case cut = judge_joint(prob, outs, pairs, 4, threads, 5, true);
      EXPECT_EQ(cut.checks, 4);
      EXPECT_EQ(cut.blocks, 6);
      for (std::size_t o = 0; o < outs.size(); ++o)
        expect_same(whole.checked.verdicts[o], cut.checked.verdicts[o], "output " + outs[o].name);
      for (std::size_t q = 0; q < pairs.size(); ++q)
        expect_same(whole.checked.comparisons[q], cut.checked.comparisons[q], "pair");
    }
  }
  // A tiny T (an all-zero row): the block holding it stops the joint pass.
  std::fill(p.x.data.begin() + 13 * p.K, p.x.data.begin() + 14 * p.K, 0.0);
  p.b.data.assign(p.b.data.size(), 0.0);
  outs = outputs_of(p, g);
  const pair_list pairs = verdicts::all_pairs(outs.size());
  const joint_case whole = judge_joint(prob, outs, pairs, 0, 1, 5, true);
  const joint_case cut = judge_joint(prob, outs, pairs, 4, 1, 5, true);
  EXPECT_EQ(cut.checks, 0);
  EXPECT_EQ(cut.blocks, 4);  // blocks up to the one holding row 13, then the whole pass
  for (std::size_t o = 0; o < outs.size(); ++o)
    expect_same(whole.checked.verdicts[o], cut.checked.verdicts[o],
                "tiny T, output " + outs[o].name);
  for (std::size_t q = 0; q < pairs.size(); ++q)
    expect_same(whole.checked.comparisons[q], cut.checked.comparisons[q], "tiny T, pair");
}

}  // namespace
