// The one per-element judging kernel of the bounds layer, shared by check(), compare() and
// run_sweep(): exact references per converted input set, special values, and the category of one
// element against the best of a model's references (docs/verdicts.md, §1 "Special values" and
// §2). Internal: not installed.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "element_data.hpp"
#include "roundoff/bounds/bounds.hpp"
#include "roundoff/bounds/check.hpp"
#include "roundoff/bounds/models.hpp"
#include "roundoff/bounds/verdict.hpp"
#include "roundoff/exact/accumulator.hpp"
#include "roundoff/formats/convert.hpp"
#include "roundoff/ops/op.hpp"

namespace roundoff::bounds::detail {

constexpr double inf = std::numeric_limits<double>::infinity();

constexpr conversion conversion_list[] = {conversion::nearest_even, conversion::nearest_away,
                                          conversion::toward_zero};

// Exact references, one per distinct converted input set (models sharing inputs share one).
class reference_cache {
 public:
  reference_cache(const ops::op_spec& op, const tensor& x, const tensor& w, const tensor* b,
                  const ops::reference_options& ro)
      : op_(op), x_(x), w_(w), b_(b), ro_(ro) {}

  // Exact op on the inputs as given.
  const ops::op_result& original() { return get(x_, w_, b_); }

  // Exact op on x, w converted to f by rule c and b rounded to nearest in bias_format.
  const ops::op_result& converted(format_id f, conversion c, format_id bias_format,
                                  underflow_mode u) {
    // Converting the inputs costs a pass over them: look the rule up first.
    const key k{f, c, bias_format, u};
    for (const auto& [kk, r] : by_rule_)
      if (kk == k) return *r;
    const ops::op_result& r = convert_and_get(f, c, bias_format, u);
    by_rule_.emplace_back(k, &r);
    return r;
  }

 private:
  const ops::op_result& convert_and_get(format_id f, conversion c, format_id bias_format,
                                        underflow_mode u) {
    tensor xr = convert_tensor(x_, f, c, u);
    tensor wr = convert_tensor(w_, f, c, u);
    if (b_) {
      tensor br = round_tensor(*b_, bias_format, u);
      return get(xr, wr, &br);
    }
    return get(xr, wr, nullptr);
  }

 public:
  // A model's references: one per allowed conversion (distinct ones), then the inputs as given
  // when they differ from all of those (an implementation may keep the inputs exact).
  struct model_refs {
    std::vector<const ops::op_result*> all;
    std::size_t own = 0;         // all[0, own): the model's conversions
    bool rounds_inputs = false;  // some conversion changes the inputs
  };
  double seconds = 0;  ///< time spent in ops::evaluate

  model_refs of(const arithmetic_model& m) {
    model_refs r;
    for (conversion c : conversion_list) {
      if (!(m.conversions & conversion_bit(c))) continue;
      const ops::op_result* p = &converted(m.input, c, m.bias_format, m.underflow);
      if (std::find(r.all.begin(), r.all.end(), p) == r.all.end()) r.all.push_back(p);
    }
    r.own = r.all.size();
    const ops::op_result* o = &original();
    for (const auto* p : r.all) r.rounds_inputs = r.rounds_inputs || p != o;
    if (std::find(r.all.begin(), r.all.end(), o) == r.all.end()) r.all.push_back(o);
    return r;
  }

 private:
  struct entry {
    std::vector<double> x, w, b;
    std::unique_ptr<ops::op_result> r;
  };
  struct key {
    format_id f;
    conversion c;
    format_id bias;
    underflow_mode u;
    bool operator==(const key& o) const {
      return f == o.f && c == o.c && bias == o.bias && u == o.u;
    }
  };
  std::vector<std::pair<key, const ops::op_result*>> by_rule_;
  const ops::op_result& get(const tensor& x, const tensor& w, const tensor* b) {
    static const std::vector<double> none;
    const auto& bd = b ? b->data : none;
    for (auto& e : entries_)
      if (e.x == x.data && e.w == w.data && e.b == bd) return *e.r;
    const auto t0 = std::chrono::steady_clock::now();
    entry e{x.data, w.data, bd, std::make_unique<ops::op_result>(ops::evaluate(op_, x, w, b, ro_))};
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    entries_.push_back(std::move(e));
    return *entries_.back().r;
  }
  const ops::op_spec& op_;
  const tensor& x_;
  const tensor& w_;
  const tensor* b_;
  ops::reference_options ro_;
  std::vector<entry> entries_;
};

enum class exact_class : std::uint8_t { finite, nan, pos_inf, neg_inf };

inline exact_class classify(const ops::op_result& r, std::int64_t i, exact::accumulator& acc) {
  double v = r.exact.rounded(i);
  if (std::isnan(v)) return exact_class::nan;
  if (!std::isinf(v)) return exact_class::finite;
  r.exact.load(i, acc);  // +-Inf: an infinite exact value, or a finite one beyond double
  switch (acc.kind()) {
    case exact::value_kind::pos_inf:
      return exact_class::pos_inf;
    case exact::value_kind::neg_inf:
      return exact_class::neg_inf;
    case exact::value_kind::nan:
      return exact_class::nan;
    default:
      return exact_class::finite;
  }
}

constexpr int kCategories = 5;

// How bad a category is, for choosing an element's best reference (docs/verdicts.md, §2).
inline int severity(element_category c) {
  switch (c) {
    case element_category::consistent:
      return 0;
    case element_category::no_bound:
      return 1;
    case element_category::beyond_probabilistic:
      return 2;
    case element_category::beyond_deterministic:
      return 3;
    case element_category::special_mismatch:
      return 4;
  }
  return 4;
}

// Per-element judgement of one model (docs/verdicts.md, §2).
struct judged {
  std::vector<element_report> el;  // one per element
  std::int64_t n_cat[kCategories] = {0, 0, 0, 0, 0};
  std::int64_t n_no_det = 0, n_no_prob = 0;
  double max_det = 0, max_prob = 0;
  bool any_det = false, any_prob = false;  // some element has that (finite) bound
};

// One element against one reference: error, deterministic and probabilistic bounds (+Inf when
// the model gives none).
struct one {
  double err = 0, det = 0, prob = 0, exact = 0;
  element_category cat = element_category::consistent;
};

inline one judge_element(const arithmetic_model& m, summation_order order, const ops::op_result& r,
                         std::int64_t i, double obs, double lambda, double bmax,
                         exact::accumulator& acc) {
  one o;
  o.exact = r.exact.rounded(i);
  exact_class k = classify(r, i, acc);
  element_input e = input_of(r, i, obs, bmax);
  if (k == exact_class::nan) {
    if (!std::isnan(obs)) o.cat = element_category::special_mismatch;
    o.err = std::isnan(obs) ? 0 : inf;
    return o;
  }
  if (k == exact_class::pos_inf || k == exact_class::neg_inf) {
    double want = k == exact_class::pos_inf ? inf : -inf;
    if (obs != want) o.cat = element_category::special_mismatch;
    o.err = obs == want ? 0 : inf;
    return o;
  }
  if (std::isnan(obs)) {
    o.cat = element_category::special_mismatch;
    o.err = inf;
    return o;
  }
  if (std::isinf(obs)) {
    // Overflow is a legitimate outcome only if the exact value, moved by the bound, reaches the
    // output format's overflow threshold with the observed sign (docs/verdicts.md).
    const auto& t = traits(m.output);
    element_input e2 = e;
    e2.abs_observed = t.max_finite;
    double d = dot_bound(m, order, e2);
    bool same_sign = (obs > 0) == (o.exact > 0) || o.exact == 0;
    double reach = add_up(std::fabs(o.exact), d);
    o.det = d;
    o.err = inf;
    o.cat = (same_sign && reach >= t.max_finite) ? element_category::consistent
                                                 : element_category::special_mismatch;
    if (o.cat == element_category::consistent) o.err = 0;
    return o;
  }
  o.err = r.exact.abs_diff(i, obs, exact::rounding::downward);
  o.det = dot_bound(m, order, e);
  o.prob = has_probabilistic_bound(m)
               ? std::min(o.det, dot_bound_probabilistic(m, order, e, lambda))
               : inf;
  if (std::isinf(o.det) && std::isinf(o.prob))
    o.cat = element_category::no_bound;
  else if (o.err > o.det)
    o.cat = element_category::beyond_deterministic;
  else if (o.err > o.prob)
    o.cat = element_category::beyond_probabilistic;
  return o;
}

/// Element i against each of `refs` (a model's references) in turn, keeping the best category: an
/// implementation converts its inputs in one of the model's ways, or keeps them. `which` (when
/// given) receives the index of the reference that gave it.
inline one judge_best(const arithmetic_model& m, summation_order order,
                      const std::vector<const ops::op_result*>& refs, std::int64_t i, double obs,
                      double lambda, double bmax, exact::accumulator& acc,
                      std::size_t* which = nullptr) {
  one a = judge_element(m, order, *refs.front(), i, obs, lambda, bmax, acc);
  std::size_t best = 0;
  for (std::size_t r = 1; r < refs.size() && a.cat != element_category::consistent; ++r) {
    one b = judge_element(m, order, *refs[r], i, obs, lambda, bmax, acc);
    if (severity(b.cat) < severity(a.cat)) a = b, best = r;
  }
  if (which) *which = best;
  return a;
}

/// lambda for a model's probabilistic bounds over a tensor (0 when it has none).
inline double lambda_of(const arithmetic_model& m, const ops::op_result& r, double alpha) {
  return has_probabilistic_bound(m)
             ? lambda_for(probabilistic_events(r), probabilistic_unit_roundoff(m), alpha)
             : 0.0;
}

}  // namespace roundoff::bounds::detail
