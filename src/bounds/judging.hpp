// The one per-element judging kernel of the bounds layer, shared by check(), compare() and
// run_sweep(): exact references per converted input set, special values, and the category of one
// element against the best of a model's references (docs/verdicts.md, §1 "Special values" and
// §2). Internal: not installed.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
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
// Entries keep no copy of their inputs (for a large layer each copy is as big as x): a hash of
// the converted inputs finds candidates, and a candidate's inputs are derived again from its
// rule and compared exactly before it is shared.
class reference_cache {
 public:
  reference_cache(const ops::op_spec& op, const tensor& x, const tensor& w, const tensor* b,
                  const ops::reference_options& ro)
      : op_(op), x_(x), w_(w), b_(b), ro_(ro) {}

  // Exact op on the inputs as given.
  const ops::op_result& original() {
    if (!original_) original_ = &find_or_add(std::nullopt, x_, w_, b_);
    return *original_;
  }

  // Exact op on x, w converted to f by rule c and b rounded to nearest in bias_format.
  const ops::op_result& converted(format_id f, conversion c, format_id bias_format,
                                  underflow_mode u) {
    const key k{f, c, bias_format, u};
    for (const auto& [kk, r] : by_rule_)
      if (kk == k) return *r;
    const operands in = inputs(k);
    const ops::op_result& r = find_or_add(k, in.x, in.w, in.b ? &*in.b : nullptr);
    by_rule_.emplace_back(k, &r);
    return r;
  }

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
  struct key {
    format_id f;
    conversion c;
    format_id bias;
    underflow_mode u;
    bool operator==(const key& o) const {
      return f == o.f && c == o.c && bias == o.bias && u == o.u;
    }
  };
  struct operands {
    tensor x, w;
    std::optional<tensor> b;
  };
  struct entry {
    std::optional<key> rule;  // none: the inputs as given
    std::uint64_t hash = 0;
    std::unique_ptr<ops::op_result> r;
  };

  operands inputs(const key& k) const {
    operands in{convert_tensor(x_, k.f, k.c, k.u), convert_tensor(w_, k.f, k.c, k.u), std::nullopt};
    if (b_) in.b = round_tensor(*b_, k.bias, k.u);
    return in;
  }
  static void mix(std::uint64_t& h, const std::vector<double>& v) {
    for (double d : v) {
      std::uint64_t bits;
      std::memcpy(&bits, &d, sizeof bits);
      h = (h ^ bits) * 0x100000001b3ULL;  // FNV-1a over 64-bit words
    }
    h = (h ^ v.size()) * 0x100000001b3ULL;
  }
  static std::uint64_t hash(const tensor& x, const tensor& w, const tensor* b) {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    mix(h, x.data);
    mix(h, w.data);
    if (b) mix(h, b->data);
    return h;
  }
  static bool same(const tensor& x, const tensor& w, const tensor* b, const tensor& x2,
                   const tensor& w2, const tensor* b2) {
    return x.data == x2.data && w.data == w2.data && (b == nullptr) == (b2 == nullptr) &&
           (!b || b->data == b2->data);
  }
  // The entry whose inputs equal (x, w, b) (its inputs derived again from its rule), or a new one.
  const ops::op_result& find_or_add(std::optional<key> rule, const tensor& x, const tensor& w,
                                    const tensor* b) {
    const std::uint64_t h = hash(x, w, b);
    for (auto& e : entries_) {
      if (e.hash != h) continue;
      if (!e.rule) {
        if (same(x, w, b, x_, w_, b_)) return *e.r;
        continue;
      }
      const operands in = inputs(*e.rule);
      if (same(x, w, b, in.x, in.w, in.b ? &*in.b : nullptr)) return *e.r;
    }
    const auto t0 = std::chrono::steady_clock::now();
    entries_.push_back(
        {rule, h, std::make_unique<ops::op_result>(ops::evaluate(op_, x, w, b, ro_))});
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return *entries_.back().r;
  }

  std::vector<std::pair<key, const ops::op_result*>> by_rule_;
  const ops::op_result* original_ = nullptr;
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

constexpr int category_count = 5;

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
  std::int64_t n_cat[category_count] = {0, 0, 0, 0, 0};
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
