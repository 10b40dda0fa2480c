// The one per-element judging kernel of the verdicts layer, shared by check(), compare() and
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
#include <span>
#include <utility>
#include <vector>

#include "bound_plan.hpp"
#include "element_data.hpp"
#include "magnitude.hpp"
#include "roundoff/bounds/bounds.hpp"
#include "roundoff/bounds/models.hpp"
#include "roundoff/exact/accumulator.hpp"
#include "roundoff/formats/convert.hpp"
#include "roundoff/ops/op.hpp"
#include "roundoff/tensor_view.hpp"
#include "roundoff/verdicts/check.hpp"
#include "roundoff/verdicts/verdict.hpp"

namespace roundoff::verdicts::detail {

// The formulas this kernel evaluates (the bounds layer; bound_plan.hpp is its internal header).
using bounds::arithmetic_model;
using bounds::conversion_bit;
using bounds::dot_bound;
using bounds::dot_bound_probabilistic;
using bounds::element_input;
using bounds::has_probabilistic_bound;
using bounds::lambda_for;
using bounds::probabilistic_unit_roundoff;
using bounds::summation_order;
using bounds::detail::add_up;
using bounds::detail::evaluate;
using bounds::detail::model_plans;
using bounds::detail::mul_up;

constexpr double inf = std::numeric_limits<double>::infinity();

constexpr conversion conversion_list[] = {conversion::nearest_even, conversion::nearest_away,
                                          conversion::toward_zero};

// Exact references, one per distinct converted input set (models sharing inputs share one).
// Entries keep no copy of their inputs (for a large layer each copy is as big as x): a hash of
// the converted inputs finds candidates, and a candidate's inputs are derived again from its
// rule and compared exactly before it is shared.
class reference_cache {
 public:
  reference_cache(ops::problem p, const ops::reference_options& ro) : p_(std::move(p)), ro_(ro) {}

  // Exact op on the inputs as given.
  const ops::op_result& original() {
    if (!original_) original_ = &find_or_add(std::nullopt, p_.x, p_.w, p_.b.get());
    return *original_;
  }

  // Exact op on x, w converted to f by rule c and b rounded to nearest in bias_format.
  const ops::op_result& converted(format_id f, conversion c, format_id bias_format,
                                  underflow_mode u) {
    const key k{f, c, bias_format, u};
    for (const auto& [kk, r] : by_rule_)
      if (kk == k) return *r;
    // Inputs that every rule leaves as they are (all values representable in f): the reference
    // is the original one, found without converting and hashing copies of the inputs. The test
    // is the one find_or_add applies (element-wise ==, so a NaN counts as changed).
    if (unchanged(p_.x, f, u) && unchanged(p_.w, f, u) &&
        (!p_.b || unchanged(*p_.b, bias_format, u))) {
      const ops::op_result& r = original();
      by_rule_.emplace_back(k, &r);
      return r;
    }
    const operands in = inputs(k);
    const tensor_view ib = in.b ? tensor_view(*in.b) : tensor_view();
    const ops::op_result& r = find_or_add(k, in.x, in.w, in.b ? &ib : nullptr);
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

  // Whether every value of t equals its conversion to f under u (by any rule: a value that is
  // representable in f is kept by all of them, one that is not is changed by all), cached.
  bool unchanged(const tensor_view& t, format_id f, underflow_mode u) {
    for (const auto& q : unchanged_)
      if (q.t == &t && q.f == f && q.u == u) return q.result;
    bool same_values = true;
    constexpr std::size_t chunk = 4096;
    double buf[chunk];
    for_chunks(t, [&](const double* p, std::int64_t count) {
      for (std::int64_t i = 0; i < count && same_values; i += static_cast<std::int64_t>(chunk)) {
        const auto n = static_cast<std::size_t>(std::min<std::int64_t>(chunk, count - i));
        round_to(f, std::span<const double>(p + i, n), std::span<double>(buf, n), u);
        for (std::size_t j = 0; j < n; ++j) same_values = same_values && buf[j] == p[i + j];
      }
    });
    unchanged_.push_back({&t, f, u, same_values});
    return same_values;
  }
  struct unchanged_entry {
    const tensor_view* t;
    format_id f;
    underflow_mode u;
    bool result;
  };
  std::vector<unchanged_entry> unchanged_;

  operands inputs(const key& k) const {
    operands in{convert_tensor(p_.x, k.f, k.c, k.u), convert_tensor(p_.w, k.f, k.c, k.u),
                std::nullopt};
    if (p_.b) in.b = round_tensor(*p_.b, k.bias, k.u);
    return in;
  }
  // Calls f(chunk, count) over the view's values in row-major order (in place when dense f64).
  template <class F>
  static void for_chunks(const tensor_view& v, F f) {
    const std::int64_t n = v.numel();
    if (v.is_dense_f64()) {
      f(static_cast<const double*>(v.data), n);
      return;
    }
    constexpr std::int64_t chunk = 4096;
    double buf[chunk];
    for (std::int64_t i = 0; i < n; i += chunk) {
      const std::int64_t c = std::min(chunk, n - i);
      v.read(i, c, buf);
      f(buf, c);
    }
  }
  static void mix(std::uint64_t& h, const tensor_view& v) {
    for_chunks(v, [&](const double* p, std::int64_t c) {
      for (std::int64_t i = 0; i < c; ++i) {
        std::uint64_t bits;
        std::memcpy(&bits, &p[i], sizeof bits);
        h = (h ^ bits) * 0x100000001b3ULL;  // FNV-1a over 64-bit words
      }
    });
    h = (h ^ static_cast<std::uint64_t>(v.numel())) * 0x100000001b3ULL;
  }
  static std::uint64_t hash(const tensor_view& x, const tensor_view& w, const tensor_view* b) {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    mix(h, x);
    mix(h, w);
    if (b) mix(h, *b);
    return h;
  }
  // Element-wise == (as std::vector's ==: NaN differs from itself).
  static bool same_values(const tensor_view& a, const tensor_view& b) {
    const std::int64_t n = a.numel();
    if (n != b.numel()) return false;
    if (a.is_dense_f64() && b.is_dense_f64()) {
      const auto* pa = static_cast<const double*>(a.data);
      const auto* pb = static_cast<const double*>(b.data);
      for (std::int64_t i = 0; i < n; ++i)
        if (!(pa[i] == pb[i])) return false;
      return true;
    }
    constexpr std::int64_t chunk = 4096;
    std::vector<double> ba(chunk), bb(chunk);
    for (std::int64_t i = 0; i < n; i += chunk) {
      const std::int64_t c = std::min(chunk, n - i);
      a.read(i, c, ba.data());
      b.read(i, c, bb.data());
      for (std::int64_t j = 0; j < c; ++j)
        if (!(ba[static_cast<std::size_t>(j)] == bb[static_cast<std::size_t>(j)])) return false;
    }
    return true;
  }
  static bool same(const tensor_view& x, const tensor_view& w, const tensor_view* b,
                   const tensor_view& x2, const tensor_view& w2, const tensor_view* b2) {
    return same_values(x, x2) && same_values(w, w2) && (b == nullptr) == (b2 == nullptr) &&
           (!b || same_values(*b, *b2));
  }
  // The entry whose inputs equal (x, w, b) (its inputs derived again from its rule), or a new one.
  const ops::op_result& find_or_add(std::optional<key> rule, const tensor_view& x,
                                    const tensor_view& w, const tensor_view* b) {
    const std::uint64_t h = hash(x, w, b);
    for (auto& e : entries_) {
      if (e.hash != h) continue;
      if (!e.rule) {
        if (same(x, w, b, p_.x, p_.w, p_.b.get())) return *e.r;
        continue;
      }
      const operands in = inputs(*e.rule);
      const tensor_view ib = in.b ? tensor_view(*in.b) : tensor_view();
      if (same(x, w, b, in.x, in.w, in.b ? &ib : nullptr)) return *e.r;
    }
    const auto t0 = std::chrono::steady_clock::now();
    // T by DGEMM over blocks of |x| rows where that applies (no copy of |x|), else by ops; after
    // the exact result, so that the two are never in memory at once with ops' temporaries.
    const bool blocks = ro_.want_magnitude &&
                        ro_.magnitude_how == ops::magnitude_method::blas_bound &&
                        magnitude_by_blocks_applies(p_.op, x, w, b);
    ops::reference_options ro = ro_;
    if (blocks) ro.want_magnitude = false;
    auto r = std::make_unique<ops::op_result>(ops::evaluate({p_.op, x, w, b}, ro));
    if (blocks) {
      if (auto t = magnitude_by_blocks(p_.op, x, w, b, ro_.threads))
        r->magnitude = std::move(*t);
      else
        r->magnitude = ops::evaluate({p_.op, x, w, b}, ro_).magnitude;
    }
    exact_magnitude_where_tiny(*r, x, w, b);
    entries_.push_back({rule, h, std::move(r)});
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return *entries_.back().r;
  }

  // The DGEMM magnitude bound is never 0 (it adds L 2^-1074 for underflow), but T = 0 exactly
  // is what lets a bound be 0 where no relative bound exists (n u >= 1: docs/bounds.md,
  // Theorem B, step 1). Where some element's bound is tiny (an all-zero row or window, or
  // underflowing data), the magnitude is computed again exactly (RU of the exact sum), as before
  // the DGEMM bound; other data never pays for it (docs/bounds.md §3.5, "The magnitude").
  void exact_magnitude_where_tiny(ops::op_result& r, const tensor_view& x, const tensor_view& w,
                                  const tensor_view* b) const {
    if (ro_.magnitude_how != ops::magnitude_method::blas_bound) return;
    const bool tiny =
        std::any_of(r.magnitude.begin(), r.magnitude.end(), [](double t) { return t < 0x1p-1000; });
    if (!tiny) return;
    ops::reference_options exact = ro_;
    exact.magnitude_how = ops::magnitude_method::exact;
    r.magnitude = ops::evaluate({p_.op, x, w, b}, exact).magnitude;
  }

  std::vector<std::pair<key, const ops::op_result*>> by_rule_;
  const ops::op_result* original_ = nullptr;
  ops::problem p_;
  ops::reference_options ro_;
  std::vector<entry> entries_;
};

// An observed output as the judging loops read it: contiguous f64 and f32 in place, anything
// else (strided, f16, bf16) copied once (counted by input_bytes_copied()).
class observed_values {
 public:
  explicit observed_values(const tensor_view& v) : shape(v.shape), type(v.type), size_(v.numel()) {
    if (v.is_contiguous() && (v.storage == storage_type::f64 || v.storage == storage_type::f32)) {
      data_ = v.data;
      f32_ = v.storage == storage_type::f32;
    } else {
      owned_ = v.to_tensor().data;
      data_ = owned_.data();
    }
  }
  double operator[](std::int64_t i) const noexcept {
    return f32_ ? static_cast<double>(static_cast<const float*>(data_)[i])
                : static_cast<const double*>(data_)[i];
  }
  std::int64_t size() const noexcept { return size_; }
  std::vector<std::int64_t> shape;
  format_id type;

 private:
  const void* data_ = nullptr;
  bool f32_ = false;
  std::int64_t size_ = 0;
  std::vector<double> owned_;
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
  std::int64_t elements = 0;
  std::vector<element_report> worst;  // the worst elements, worst first (judge_all's worst_k)
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

/// A model's bounds for one judging pass (model, order, lambda fixed): the element-independent
/// constants computed once per n_i (bound_plan.hpp), the same doubles as dot_bound and
/// dot_bound_probabilistic give.
struct model_judge {
  model_judge(const arithmetic_model& model, summation_order o, double lambda)
      : m(model),
        order(o),
        has_prob(has_probabilistic_bound(model)),
        det(model, o, lambda, false),
        prob(model, o, lambda, true) {}
  arithmetic_model m;
  summation_order order;
  bool has_prob;
  model_plans det, prob;
  double deterministic(const element_input& e) {
    return evaluate(det.get(e.terms, e.has_bias), e.magnitude, e.abs_observed, e.abs_bias);
  }
  double probabilistic(const element_input& e) {
    return evaluate(prob.get(e.terms, e.has_bias), e.magnitude, e.abs_observed, e.abs_bias);
  }
};

inline one judge_element(model_judge& mj, const ops::op_result& r, std::int64_t i, double obs,
                         double bmax, exact::accumulator& acc) {
  one o;
  o.exact = r.exact.rounded(i);
  // A finite rounded value is a finite exact value: only +-Inf and NaN need the exact kind.
  exact_class k = std::isfinite(o.exact) ? exact_class::finite : classify(r, i, acc);
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
    const auto& t = traits(mj.m.output);
    element_input e2 = e;
    e2.abs_observed = t.max_finite;
    double d = mj.deterministic(e2);
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
  o.det = mj.deterministic(e);
  o.prob = mj.has_prob ? std::min(o.det, mj.probabilistic(e)) : inf;
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
inline one judge_best(model_judge& mj, const std::vector<const ops::op_result*>& refs,
                      std::int64_t i, double obs, double bmax, exact::accumulator& acc,
                      std::size_t* which = nullptr) {
  one a = judge_element(mj, *refs.front(), i, obs, bmax, acc);
  std::size_t best = 0;
  for (std::size_t r = 1; r < refs.size() && a.cat != element_category::consistent; ++r) {
    one b = judge_element(mj, *refs[r], i, obs, bmax, acc);
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

}  // namespace roundoff::verdicts::detail
