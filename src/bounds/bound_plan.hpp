// Theorem B's and P's bounds split into the part that depends on the model, the order and n_i
// only (the relative constant, the underflow term, computed once: exp, expm1, gamma) and the
// part that depends on the element (T_i, |y^_i|, the bias bound): a few upward-rounded
// operations per element. plan_* then evaluate() performs exactly the operations dot_bound and
// dot_bound_probabilistic perform, in the same order, so the result is the same double
// (docs/bounds.md §3.5, "Per-element evaluation"). Internal: not installed.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <unordered_map>

#include "directed.hpp"
#include "roundoff/bounds/models.hpp"

namespace roundoff::bounds::detail {

struct bound_plan {
  bool none = false;    ///< no bound of this kind: +Inf for every element
  bool coarse = false;  ///< the output format is coarser than the accumulator
  double uo = 0, eta_out = 0;
  double one_minus_uo_down = 1, one_plus_uo_up = 1;
  /// Bias (if any) as a summand: relative constant and underflow term.
  double g_in = 0, uf_in = 0;
  /// Bias added after a first output rounding (only when `after` is set).
  bool after = false;
  bias_handling bias = bias_handling::in_accumulator;
  double g_af = 0, uf_af = 0;
};

/// The plan of dot_bound(m, order, e) for e.terms == terms, e.has_bias == has_bias.
bound_plan plan_deterministic(const arithmetic_model& m, summation_order order, std::int64_t terms,
                              bool has_bias) noexcept;
/// The plan of dot_bound_probabilistic(m, order, e, lambda) for the same e.
bound_plan plan_probabilistic(const arithmetic_model& m, summation_order order, std::int64_t terms,
                              bool has_bias, double lambda) noexcept;

/// Accumulation error (Theorem B, steps 1-2) of relative constant g and underflow term uf.
inline double plan_accumulation(double g, double uf, double magnitude) noexcept {
  if (magnitude == 0) return 0.0;
  if (std::isinf(g)) return std::numeric_limits<double>::infinity();
  return directed::add_up(directed::mul_up(g, magnitude), uf);
}

/// The bound for one element (Theorem B steps 4-5 on the plan's constants). abs_bias < 0:
/// unknown.
inline double evaluate(const bound_plan& p, double magnitude, double abs_observed,
                       double abs_bias) noexcept {
  using directed::add_up;
  using directed::div_up;
  using directed::mul_up;
  if (p.none) return std::numeric_limits<double>::infinity();
  const double out_term = p.coarse ? add_up(mul_up(p.uo, abs_observed), p.eta_out) : 0.0;
  const double b_in = add_up(plan_accumulation(p.g_in, p.uf_in, magnitude), out_term);
  if (!p.after) return b_in;
  const double a = plan_accumulation(p.g_af, p.uf_af, magnitude);
  double first = add_up(div_up(mul_up(p.uo, add_up(magnitude, a)), p.one_minus_uo_down), p.eta_out);
  if (abs_bias >= 0) {
    const double y1 = add_up(add_up(mul_up(p.one_plus_uo_up, abs_observed), p.eta_out), abs_bias);
    first = std::min(first, add_up(mul_up(p.uo, y1), p.eta_out));
  }
  const double b_after = add_up(add_up(a, first), out_term);
  if (p.bias == bias_handling::after_output) return b_after;
  return std::max(b_in, b_after);
}

/// Plans of one model, order and lambda, by n_i (a tensor has few distinct n_i: one for the
/// matrix products, a few at conv borders). Not thread-safe.
class model_plans {
 public:
  model_plans(const arithmetic_model& m, summation_order order, double lambda, bool probabilistic)
      : m_(m), order_(order), lambda_(lambda), prob_(probabilistic) {}
  const bound_plan& get(std::int64_t terms, bool has_bias) {
    const std::int64_t key = terms * 2 + (has_bias ? 1 : 0);
    if (last_ && last_key_ == key) return *last_;
    auto it = plans_.find(key);
    if (it == plans_.end())
      it = plans_
               .emplace(key, prob_ ? plan_probabilistic(m_, order_, terms, has_bias, lambda_)
                                   : plan_deterministic(m_, order_, terms, has_bias))
               .first;
    last_key_ = key;
    last_ = &it->second;  // unordered_map keeps references to its elements stable
    return *last_;
  }

 private:
  arithmetic_model m_;
  summation_order order_;
  double lambda_;
  bool prob_;
  std::unordered_map<std::int64_t, bound_plan> plans_;
  std::int64_t last_key_ = 0;
  const bound_plan* last_ = nullptr;
};

}  // namespace roundoff::bounds::detail
