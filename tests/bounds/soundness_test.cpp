// Soundness of the deterministic and probabilistic bounds: emulated implementations of every
// preset and summation order, on random, all-positive, wide-range, cancellation-heavy and
// underflowing data. The oracle is the exact accumulator (exact on the rounded inputs).
// Zero deterministic violations are required; probabilistic exceedances are counted against the
// probability the bound claims (docs/bounds.md, Theorem P).
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <iostream>
#include <map>

#include "emulate.hpp"
#include "property.hpp"
#include "roundoff/bounds/bounds.hpp"

namespace {

using namespace roundoff;
using roundoff::test::algo;
using roundoff::test::data_kind;

struct stats {
  std::int64_t dots = 0, skipped = 0, det_viol = 0, order_viol = 0, prob_exceed = 0;
  double max_det = 0, max_order = 0, max_prob = 0;
};

std::size_t draw_n(std::mt19937_64& g) {
  auto r = g() % 1000;
  if (r < 900) return g() % 33;        // mostly short dots (fast CI)
  if (r < 990) return 33 + g() % 480;  // medium
  return 513 + g() % 3584;             // long
}

// The order-specific bound that the algorithm satisfies (any = no sharper one claimed).
bounds::summation_order order_of(const test::emulator& e) {
  switch (e.alg) {
    case algo::sequential:
    case algo::reversed:
    case algo::random_order:
      return bounds::summation_order::sequential();
    case algo::pairwise:
      return bounds::summation_order::pairwise();
    case algo::blocked:
      return bounds::summation_order::blocked(e.block);
    case algo::block_fma:
      return bounds::summation_order::block_fma(e.block);
    default:
      return bounds::summation_order::any();
  }
}

TEST(BoundsSoundness, EmulatedImplementationsNeverExceedTheDeterministicBound) {
  auto g = roundoff::test::rng(0xB0C4D5);
  const std::int64_t iters = roundoff::test::iterations(1'000'000);
  const double alpha = 1e-6;
  // lambda per accumulator format, from an upper bound on the number of summands in this run
  // (so the probabilistic false-alarm probability of the whole run is <= alpha under the model).
  const double total_summands = static_cast<double>(iters) * 4100.0;
  std::map<std::string, stats> by_preset, by_algo, by_data, by_unit;
  stats all;
  std::vector<double> x, w, xr, wr;
  auto t0 = std::chrono::steady_clock::now();
  for (std::int64_t it = 0; it < iters; ++it) {
    const auto& ps = bounds::presets();
    test::emulator e;
    e.m = ps[g() % ps.size()];
    if (g() % 10 == 0) e.m.underflow = underflow_mode::flush_to_zero;
    test::randomize(e, g);
    const bool has_bias = g() % 2;
    const auto d = static_cast<data_kind>(g() % static_cast<unsigned>(data_kind::count));
    const std::size_t n = draw_n(g);
    double b0;
    test::generate(d, e.m, n, g, x, w, b0);
    xr.resize(n);
    wr.resize(n);
    for (std::size_t j = 0; j < n; ++j) {
      xr[j] = e.convert_input(x[j]);
      wr[j] = e.convert_input(w[j]);
    }
    std::optional<double> b;
    if (has_bias) b = round_to(e.m.bias_format, b0, e.m.underflow);

    double y = e.run(xr, wr, b, g);
    exact::accumulator ex, mag;
    for (std::size_t j = 0; j < n; ++j) {
      ex.add_product(xr[j], wr[j]);
      mag.add_product(std::fabs(xr[j]), std::fabs(wr[j]));
    }
    if (b) ex.add(*b), mag.add(std::fabs(*b));
    double exact_out = ex.round_to(e.m.output, e.m.underflow);
    if (!std::isfinite(y) || !std::isfinite(exact_out)) {
      ++all.skipped;  // overflow: judged by the special-value rules, not by bounds
      continue;
    }
    bounds::element_input in{static_cast<std::int64_t>(n), mag.round(exact::rounding::upward),
                             has_bias, std::fabs(y)};
    // Half of the cases also give the bias magnitude (the sharper bias-after-output term).
    if (it % 2) in.abs_bias = b ? std::fabs(*b) : 0.0;
    double err = ex.abs_diff(y, exact::rounding::downward);
    double det = bounds::dot_bound_any_order(e.m, in);
    double ord = bounds::dot_bound(e.m, order_of(e), in);
    double lam =
        bounds::lambda_for(total_summands, bounds::probabilistic_unit_roundoff(e.m), alpha);
    double prob = bounds::dot_bound_probabilistic(e.m, bounds::summation_order::any(), in, lam);

    auto upd = [&](stats& s) {
      ++s.dots;
      if (err > det) ++s.det_viol;
      if (err > ord) ++s.order_viol;
      if (err > prob) ++s.prob_exceed;
      if (det > 0 && std::isfinite(det)) s.max_det = std::max(s.max_det, err / det);
      if (ord > 0 && std::isfinite(ord)) s.max_order = std::max(s.max_order, err / ord);
      if (prob > 0 && std::isfinite(prob)) s.max_prob = std::max(s.max_prob, err / prob);
    };
    upd(all);
    upd(by_preset[e.m.name + (e.m.underflow == underflow_mode::flush_to_zero ? "/ftz" : "")]);
    if (e.alg == algo::matrix_unit)
      upd(by_unit[std::string(e.final == test::unit_rounding::toward_zero ? "rz"
                              : e.final == test::unit_rounding::nearest   ? "rn"
                                                                          : "rd") +
                  (e.align_floor ? "/align-floor" : "/align-trunc") +
                  (e.splits > 1 && e.m.reduction != format_id::f64 ? "/reduced" : "")]);
    upd(by_algo[test::algo_name(e.alg)]);
    upd(by_data[test::data_name(d)]);
    if (err > det || err > ord) {
      ADD_FAILURE() << "bound violated: model " << e.m.name << " algo " << test::algo_name(e.alg)
                    << " block " << e.block << " bias " << int(e.bias) << " has_bias " << has_bias
                    << " data " << test::data_name(d) << " n " << n << " y " << y << " err " << err
                    << " det " << det << " order-bound " << ord << "; "
                    << roundoff::test::replay(it);
      if (all.det_viol + all.order_viol > 10) break;
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto print = [](const std::string& k, const stats& s) {
    std::cout << "  " << k << ": dots " << s.dots << ", det violations " << s.det_viol
              << ", order-bound violations " << s.order_viol << ", prob exceedances "
              << s.prob_exceed << ", max err/det " << s.max_det << ", max err/order " << s.max_order
              << ", max err/prob " << s.max_prob << '\n';
  };
  std::cout << "[bounds soundness] " << all.dots << " dot products (" << all.skipped
            << " skipped for overflow) in " << secs << " s\n";
  print("all", all);
  for (auto& [k, s] : by_preset) print(k, s);
  for (auto& [k, s] : by_algo) print(k, s);
  for (auto& [k, s] : by_data) print(k, s);
  for (auto& [k, s] : by_unit) print("matrix unit " + k, s);
  EXPECT_EQ(all.det_viol, 0);
  EXPECT_EQ(all.order_viol, 0);
  EXPECT_GE(all.dots, iters * 9 / 10);
  // Under Higham & Mary's model the whole run exceeds a probabilistic bound with probability
  // <= alpha = 1e-6; data with correlated rounding errors (all-positive, stagnating f16 sums) may
  // break the model, which the per-data line above shows. Require it on mean-zero data.
  EXPECT_EQ(by_data["normal"].prob_exceed, 0);
  EXPECT_EQ(by_data["cancellation"].prob_exceed, 0);
}

}  // namespace

namespace {

// Probabilistic bound on long dots (where gamma~ < gamma): the exceedance rate per dot product
// must stay within the probability the bound claims for one dot, alpha_dot.
TEST(BoundsSoundness, ProbabilisticFalseAlarmRateOnLongDots) {
  using namespace roundoff;
  auto g = roundoff::test::rng(0xFA15E);
  const std::int64_t iters = roundoff::test::iterations(4000);
  const double alpha_dot = 1e-2;
  std::map<std::string, std::pair<std::int64_t, std::int64_t>> rate;  // exceed, dots
  std::map<std::string, double> max_ratio;
  std::vector<double> x, w, xr, wr;
  for (std::int64_t it = 0; it < iters; ++it) {
    const auto& ps = bounds::presets();
    test::emulator e;
    e.m = ps[g() % ps.size()];
    // Orders an implementation of a long dot would use (not Kahan/wider: their errors are far
    // below any bound and tell nothing).
    const algo algs[] = {algo::sequential, algo::random_order, algo::pairwise, algo::blocked,
                         algo::split_k,    algo::fma,          algo::block_fma};
    if (!bounds::has_probabilistic_bound(e.m)) continue;  // nothing probabilistic to test
    test::randomize(e, g);
    e.alg = algs[g() % 7];
    // Mixed models: their truncating matrix unit with rounded split-K partials half the time.
    if (e.m.reduction != format_id::f64 && g() % 2) e.alg = algo::matrix_unit;
    e.block = 1 + static_cast<std::int64_t>(g() % 64);
    const auto d = g() % 2 ? data_kind::normal : data_kind::positive;
    std::size_t n = 256 + g() % 16128;
    if (bounds::probabilistic_unit_roundoff(e.m) > 0x1p-12) n = 16 + g() % 1024;  // n u_16 < 1
    double b0;
    test::generate(d, e.m, n, g, x, w, b0);
    xr.resize(n);
    wr.resize(n);
    for (std::size_t j = 0; j < n; ++j) {
      xr[j] = e.convert_input(x[j]);
      wr[j] = e.convert_input(w[j]);
    }
    double y = e.run(xr, wr, std::nullopt, g);
    exact::accumulator ex, mag;
    for (std::size_t j = 0; j < n; ++j) {
      ex.add_product(xr[j], wr[j]);
      mag.add_product(std::fabs(xr[j]), std::fabs(wr[j]));
    }
    if (!std::isfinite(y)) continue;
    bounds::element_input in{static_cast<std::int64_t>(n), mag.round(exact::rounding::upward),
                             false, std::fabs(y)};
    double lam = bounds::lambda_for(static_cast<double>(n),
                                    bounds::probabilistic_unit_roundoff(e.m), alpha_dot);
    double prob = bounds::dot_bound_probabilistic(e.m, bounds::summation_order::any(), in, lam);
    double err = ex.abs_diff(y, exact::rounding::downward);
    std::string key = e.m.name + "/" + test::data_name(d);
    rate[key].second++;
    if (err > prob) rate[key].first++;
    max_ratio[key] = std::max(max_ratio[key], prob > 0 ? err / prob : 0);
    EXPECT_LE(err, bounds::dot_bound_any_order(e.m, in)) << roundoff::test::replay(it);
  }
  std::int64_t ex_normal = 0, dots_normal = 0;
  for (auto& [k, r] : rate) {
    std::cout << "  [probabilistic, alpha per dot " << alpha_dot << "] " << k << ": " << r.first
              << " of " << r.second << " exceed, max err/prob " << max_ratio[k] << '\n';
    if (k.find("normal") != std::string::npos) ex_normal += r.first, dots_normal += r.second;
  }
  // Binomial(dots, alpha) exceeds 3 * expected + 5 with probability far below 1e-6.
  EXPECT_LE(ex_normal,
            static_cast<std::int64_t>(3 * alpha_dot * static_cast<double>(dots_normal)) + 5);
}

}  // namespace
