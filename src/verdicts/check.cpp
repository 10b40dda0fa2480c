// check(): per-element classification against the declared model, model identification over the
// presets, and the pairwise comparison. Definitions: docs/verdicts.md; bounds: docs/bounds.md.
#include "roundoff/verdicts/check.hpp"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <sstream>

#include "element_data.hpp"
#include "judging.hpp"
#include "roundoff/bounds/bounds.hpp"
#include "roundoff/error.hpp"
#include "roundoff/exact/accumulator.hpp"
#include "roundoff/formats/convert.hpp"

namespace roundoff::verdicts {

using bounds::arithmetic_model;
using bounds::at_least_as_fine;
using bounds::element_input;
using bounds::first_order;
using bounds::first_order_terms;
using bounds::lambda_for;
using bounds::parse_model;
using bounds::preset_index;
using bounds::preset_rank;
using bounds::presets;
using bounds::probabilistic_unit_roundoff;
using bounds::summation_order;

namespace {

using detail::conversion_list;
using detail::inf;
using detail::judged;
using detail::reference_cache;

std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}
std::string short_num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

double ratio(double err, double bound) {
  if (err == 0) return 0;
  if (bound == 0) return inf;
  return err / bound;
}

// Judges every element against each of `refs` (the model's references) and keeps the best
// category: an implementation converts its inputs in one of the model's ways, or keeps them.
// Nothing is kept per element: the counts, the largest ratios and the `worst_k` worst
// elements.
//
// Worst elements: special mismatches first, then by error / deterministic bound, then by error
// / probabilistic bound (a missing bound counts as ratio 0). They are selected exactly as
// std::partial_sort over the indices 0..n-1 selects them (a heap of the first worst_k, each
// later element that is worse than the heap's top replacing it, then the heap sorted), so ties
// resolve as they did when every element was kept and sorted.
//
// The elements may come in consecutive ranges (add), each with the references of its own
// elements only (check()'s blocked judging): an element's category, error and bounds depend
// only on its own exact values, T, n_i and observed value, and lambda on the whole tensor's
// summand count (given), so every element is judged as in one pass. The counts are sums, the
// maxima maxima of values that are never NaN, and the heap sees the elements in index order
// with their global indices: the same result as one pass over all of them.
class judge_pass {
 public:
  judge_pass(const arithmetic_model& m, summation_order order, double lambda, double bmax,
             std::int64_t elements, std::size_t worst_k, int threads)
      : m_(m),
        order_(order),
        lambda_(lambda),
        bmax_(bmax),
        k_(std::min<std::size_t>(worst_k, static_cast<std::size_t>(elements))),
        threads_(threads),
        mj_(m, order, lambda) {
    j_.elements = elements;
    heap_.reserve(k_ + 1);
  }

  // Elements [offset, offset + refs.front()->exact.size()), which refs hold from index 0.
  void add(const std::vector<const ops::op_result*>& refs, const detail::observed_values& observed,
           std::int64_t offset) {
    const std::int64_t n = refs.front()->exact.size();
    if (k_ == 0 && threads_ > 1) {
      // Counts and maxima only: ranges of elements judged apart and merged (sums of counts, max
      // of ratios that are never NaN: the same numbers as one pass).
      std::mutex merge;
      detail::for_ranges(threads_, n, 2048, [&](std::int64_t begin, std::int64_t end) {
        detail::model_judge mj(m_, order_, lambda_);
        exact::accumulator acc;
        judged p;
        for (std::int64_t i = begin; i < end; ++i) {
          const detail::one a = detail::judge_best(mj, refs, i, observed[offset + i], bmax_, acc);
          count(p, a);
        }
        const std::lock_guard<std::mutex> lock(merge);
        for (int c = 0; c < detail::category_count; ++c) j_.n_cat[c] += p.n_cat[c];
        j_.n_no_det += p.n_no_det;
        j_.n_no_prob += p.n_no_prob;
        j_.any_det = j_.any_det || p.any_det;
        j_.any_prob = j_.any_prob || p.any_prob;
        j_.max_det = std::max(j_.max_det, p.max_det);
        j_.max_prob = std::max(j_.max_prob, p.max_prob);
        j_.n_ratio += p.n_ratio;
        j_.n_ratio_below_tenth += p.n_ratio_below_tenth;
      });
      return;
    }
    auto worse = [](const keyed& a, const keyed& c) { return a.key > c.key; };
    auto r0 = [](double err, double bound) { return std::isinf(bound) ? 0.0 : ratio(err, bound); };
    for (std::int64_t local = 0; local < n; ++local) {
      const std::int64_t i = offset + local;
      const double obs = observed[i];
      const detail::one a = detail::judge_best(mj_, refs, local, obs, bmax_, acc_);
      if (k_ > 0) {
        const std::pair<double, double> key{
            a.cat == element_category::special_mismatch ? inf : r0(a.err, a.det),
            r0(a.err, a.prob)};
        const auto ui = static_cast<std::size_t>(i);
        if (ui < k_ || worse({key, {}}, heap_.front())) {
          keyed e{key, {i, obs, a.exact, a.err, a.det, a.prob, a.cat}};
          if (ui < k_) {
            heap_.push_back(e);
            if (ui + 1 == k_) std::make_heap(heap_.begin(), heap_.end(), worse);
          } else {
            heap_.push_back(e);  // std::partial_sort's step: e replaces the top, which drops out
            std::pop_heap(heap_.begin(), heap_.end(), worse);
            heap_.pop_back();
          }
        }
      }
      count(j_, a);
    }
  }

  judged finish() {
    auto worse = [](const keyed& a, const keyed& c) { return a.key > c.key; };
    std::sort_heap(heap_.begin(), heap_.end(), worse);
    for (auto& e : heap_) j_.worst.push_back(e.report);
    heap_.clear();
    if (!j_.any_det) j_.max_det = std::numeric_limits<double>::quiet_NaN();
    if (!j_.any_prob) j_.max_prob = std::numeric_limits<double>::quiet_NaN();
    return std::move(j_);
  }

 private:
  struct keyed {
    std::pair<double, double> key;
    element_report report;
  };
  static void count(judged& j, const detail::one& a) {
    j.n_cat[static_cast<int>(a.cat)]++;
    if (a.cat == element_category::special_mismatch) return;
    if (std::isinf(a.det)) {
      ++j.n_no_det;
    } else {
      j.any_det = true;
      const double r = ratio(a.err, a.det);
      j.max_det = std::max(j.max_det, r);
      if (std::isfinite(a.det)) {
        ++j.n_ratio;
        j.n_ratio_below_tenth += r < 0.1;
      }
    }
    if (std::isinf(a.prob)) {
      ++j.n_no_prob;
    } else {
      j.any_prob = true;
      j.max_prob = std::max(j.max_prob, ratio(a.err, a.prob));
    }
  }
  arithmetic_model m_;
  summation_order order_;
  double lambda_, bmax_;
  std::size_t k_;
  int threads_;
  detail::model_judge mj_;
  exact::accumulator acc_;
  std::vector<keyed> heap_;
  judged j_;
};

judged judge_all(const arithmetic_model& m, summation_order order,
                 const std::vector<const ops::op_result*>& refs,
                 const detail::observed_values& observed, double alpha, double bmax,
                 std::size_t worst_k = 0, int threads = 1) {
  const ops::op_result& primary = *refs.front();
  judge_pass pass(m, order, detail::lambda_of(m, primary, alpha), bmax, primary.exact.size(),
                  worst_k, threads);
  pass.add(refs, observed, 0);
  return pass.finish();
}

void explain(comparison& c);

// References numbered by identity (compare_pass's ids where each reference is its own).
std::vector<std::size_t> identities(const std::vector<const ops::op_result*>& refs) {
  std::vector<std::size_t> ids;
  for (const auto* r : refs) ids.push_back(reinterpret_cast<std::uintptr_t>(r));
  return ids;
}

// compare()'s per-element pass (docs/verdicts.md, §5): for each element the difference of the two
// outputs, exactly formed and rounded down, against the largest allowance over each side's
// references; the counts, the largest ratio and the worst elements. Nothing is kept per element.
//
// Worst elements: by difference / allowed (an infinite allowance counts as ratio 0), selected
// exactly as std::partial_sort over the list of reported elements (special mismatches and the
// elements where both are finite, in index order) selects them: the same heap steps as
// judge_pass. The elements may come in consecutive ranges (add), each with the references of its
// own elements only (the joint blocked pass), listed as the whole set's of() lists them: an
// element's difference and allowance depend only on its own exact values, T, n_i and observed
// values, so the result is that of one pass over the whole references.
class compare_pass {
 public:
  compare_pass(const arithmetic_model& ma, const arithmetic_model& mb, const check_options& opt,
               double bmax, std::int64_t elements)
      : ja_(ma, opt.override_order ? opt.order : ma.order, 0.0),
        jb_(mb, opt.override_order ? opt.order : mb.order, 0.0),
        bmax_(bmax),
        k_(static_cast<std::size_t>(std::max(opt.worst, 0))) {
    c_.model_a = ma.name;
    c_.model_b = mb.name;
    c_.elements = elements;
    heap_.reserve(std::min<std::size_t>(k_, static_cast<std::size_t>(elements)) + 1);
  }

  // Elements [offset, offset + r0.exact.size()), which the references hold from index 0; r0 is
  // the exact result on the inputs as given. ids_a[q], ids_b[q]: which reference of the whole
  // set ra[q], rb[q] are (equal numbers: one reference, shared by the two sides).
  void add(const std::vector<const ops::op_result*>& ra, const std::vector<std::size_t>& ids_a,
           const std::vector<const ops::op_result*>& rb, const std::vector<std::size_t>& ids_b,
           const ops::op_result& r0, const detail::observed_values& observed_a,
           const detail::observed_values& observed_b, std::int64_t offset) {
    const std::int64_t n = r0.exact.size();
    db_.resize(rb.size());
    for (std::int64_t local = 0; local < n; ++local) {
      const std::int64_t i = offset + local;
      const double ya = observed_a[i], yb = observed_b[i];
      comparison::element e{i, ya, yb, r0.exact.rounded(local), 0, 0};
      if (!std::isfinite(ya) || !std::isfinite(yb)) {
        const bool same = (std::isnan(ya) && std::isnan(yb)) || ya == yb;
        if (!same) {
          ++c_.n_special_mismatch;
          e.difference = inf;
          report(e);
        }
        continue;
      }
      // |a - b| rounded down, exactly formed.
      acc_.clear();
      acc_.add(ya);
      acc_.add(-yb);
      e.difference = acc_.abs_diff(0.0, exact::rounding::downward);
      // Allowed: the largest, over each side's references, of bound_a + bound_b + |y~_a - y~_b|
      // (|y~_a - y~_b| rounded up; 0 for a shared reference). Beyond it, no choice of the
      // references the two implementations may have used explains the difference.
      for (std::size_t q = 0; q < rb.size(); ++q)
        db_[q] = jb_.deterministic(detail::input_of(*rb[q], local, yb, bmax_));
      double allowed = 0, shared = 0;
      for (std::size_t qa = 0; qa < ra.size(); ++qa) {
        const auto* pa = ra[qa];
        const double da = ja_.deterministic(detail::input_of(*pa, local, ya, bmax_));
        for (std::size_t q = 0; q < rb.size(); ++q) {
          const auto* pb = rb[q];
          const bool one = ids_a[qa] == ids_b[q];
          double refdiff = 0;
          if (!one) {
            pa->exact.load(local, acc_);
            pb->exact.load(local, tmp_);
            tmp_.negate();
            acc_.add(tmp_);
            refdiff = acc_.abs_diff(0.0, exact::rounding::upward);
            if (!std::isfinite(refdiff)) refdiff = inf;
          }
          const double al = detail::add_up(detail::add_up(da, db_[q]), refdiff);
          allowed = std::max(allowed, al);
          if (one) shared = std::max(shared, al);
        }
      }
      e.allowed = allowed;
      if (std::isfinite(allowed)) {
        c_.max_ratio = std::max(c_.max_ratio, ratio(e.difference, allowed));
        if (e.difference > allowed) ++c_.n_beyond;
        ++n_allowed_;
      } else if (e.difference > 0) {
        ++c_.n_no_allowance;
      }
      if (std::isfinite(shared) && e.difference > shared) ++c_.n_beyond_shared;
      report(e);
    }
  }

  // The comparison, with the two verdicts, its kind and its sentence.
  comparison finish(const verdict& verdict_a, const verdict& verdict_b) {
    if (n_allowed_ == 0 && c_.elements > 0) c_.max_ratio = std::numeric_limits<double>::quiet_NaN();
    // Fewer reported elements than k_: std::partial_sort over all of them (make_heap, then
    // sort_heap).
    if (reported_ < k_) std::make_heap(heap_.begin(), heap_.end(), worse);
    std::sort_heap(heap_.begin(), heap_.end(), worse);
    c_.worst = std::move(heap_);
    heap_.clear();
    c_.a = verdict_a;
    c_.b = verdict_b;
    explain(c_);
    return std::move(c_);
  }

 private:
  static double key(const comparison::element& p) {
    return std::isinf(p.allowed) && std::isfinite(p.difference) ? 0.0
                                                                : ratio(p.difference, p.allowed);
  }
  static bool worse(const comparison::element& p, const comparison::element& q) {
    return key(p) > key(q);
  }
  // The reported element number reported_ (std::partial_sort's step over the list of them).
  void report(const comparison::element& e) {
    const std::size_t position = reported_++;
    if (k_ == 0) return;
    if (position < k_) {
      heap_.push_back(e);
      if (position + 1 == k_) std::make_heap(heap_.begin(), heap_.end(), worse);
    } else if (worse(e, heap_.front())) {
      heap_.push_back(e);  // e replaces the top, which drops out
      std::pop_heap(heap_.begin(), heap_.end(), worse);
      heap_.pop_back();
    }
  }
  detail::model_judge ja_, jb_;
  double bmax_;
  std::size_t k_;
  std::size_t reported_ = 0;
  std::int64_t n_allowed_ = 0;  // elements with a finite allowance
  std::vector<double> db_;
  exact::accumulator acc_, tmp_;
  std::vector<comparison::element> heap_;
  comparison c_;
};

// Signature test (docs/bounds.md, Theorem S): does the error of `observed` against model c's
// reference correlate with the input-rounding difference between coarser model a and c?
struct signature_result {
  bool applicable = false;
  bool found = false;
  double score = 0, slope = 0;
  double correlation = 0;  ///< S / sqrt(sum Delta^2 sum e^2)
  std::int64_t used = 0;   ///< elements that entered the sums
};

// e_i = obs_i - y~_c,i rounded once from the exact value, for every i where obs_i and RN(y~_c,i)
// are finite (NaN elsewhere, never read): |e_i| is abs_diff (RN is symmetric); obs > RN(y~_c)
// implies obs > y~_c (y~_c is within half an ulp of RN(y~_c), obs a double beyond it),
// likewise below; on obs == RN(y~_c) it is formed exactly.
std::vector<double> errors_against(const ops::op_result& rc,
                                   const detail::observed_values& observed) {
  const std::int64_t n = rc.exact.size();
  std::vector<double> err(static_cast<std::size_t>(n), std::numeric_limits<double>::quiet_NaN());
  exact::accumulator tmp;
  for (std::int64_t i = 0; i < n; ++i) {
    const double obs = observed[i], yc = rc.exact.rounded(i);
    if (!std::isfinite(obs) || !std::isfinite(yc)) continue;
    double& e = err[static_cast<std::size_t>(i)];
    if (obs > yc) {
      e = rc.exact.abs_diff(i, obs);
    } else if (obs < yc) {
      e = -rc.exact.abs_diff(i, obs);
    } else {
      rc.exact.load(i, tmp);
      tmp.negate();
      tmp.add(obs);
      e = tmp.round();
    }
  }
  return err;
}

// `errors` is errors_against(rc, observed).
signature_result signature(const arithmetic_model& c, const ops::op_result& rc,
                           const ops::op_result& ra, const detail::observed_values& observed,
                           const std::vector<double>& errors, double alpha, double bmax,
                           reference_cache& memo) {
  signature_result s;
  const std::int64_t n = rc.exact.size();
  // Half of alpha for the per-path events behind the remainder bound, half for Hoeffding.
  const double lambda_r = lambda_for(static_cast<double>(detail::summand_count(rc)),
                                     probabilistic_unit_roundoff(c), alpha / 2);
  alpha /= 2;
  // Delta_i and the first-order terms do not depend on the observed output: formed once per
  // set (reference_cache::difference, first_orders), the same doubles as per element here.
  const std::vector<double>& delta_of = memo.difference(ra, rc);
  auto& fo = memo.first_orders(c, rc, lambda_r, bmax);
  double S = 0, S_abs = 0, off = 0, V = 0, D2 = 0, E2 = 0;
  bool testable = true;
  std::int64_t used = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    double obs = observed[i];
    double yc = rc.exact.rounded(i), ya = ra.exact.rounded(i);
    if (!std::isfinite(obs) || !std::isfinite(yc) || !std::isfinite(ya)) continue;
    // Delta_i = y~_a - y~_c and e_i = obs - y~_c, each rounded once from the exact values.
    const auto k = static_cast<std::size_t>(i);
    const double delta = delta_of[k], e = errors[k];
    if (!std::isfinite(delta) || !std::isfinite(e)) continue;
    // No first-order terms (a truncating model): no Hoeffding test, but the correlation (a
    // measured statistic, used as evidence of a conversion) is still formed. (Once not testable,
    // the terms are not read again.)
    first_order_terms f{};
    if (testable) {
      f = fo.at(i);
      if (!std::isfinite(f.variance) || !std::isfinite(f.remainder)) testable = false;
    }
    S += delta * e;
    S_abs += std::fabs(delta * e);
    if (testable) {
      off = detail::add_up(off, detail::mul_up(std::fabs(delta), f.remainder));
      V = detail::add_up(V, detail::mul_up(detail::mul_up(delta, delta), f.variance));
    }
    D2 += delta * delta;
    E2 += e * e;
    ++used;
  }
  if (D2 == 0 || used == 0) return s;
  s.used = used;
  s.correlation = E2 > 0 ? S / std::sqrt(D2 * E2) : 0;
  s.slope = S / D2;
  if (!testable) return s;
  s.applicable = true;
  // Rounding of the double sums S (used terms, each product rounded): slack 2(used+1) 2^-53.
  double slack = detail::mul_up(S_abs, static_cast<double>(2 * (used + 2)) * 0x1p-53);
  double s_low = S - slack;
  double thr = std::sqrt(2 * V * std::log(1 / alpha)) * (1 + 0x1p-40);
  double excess = s_low - off;
  s.score = thr > 0 ? excess / thr : (excess > 0 ? inf : 0);
  s.found = excess > thr;
  return s;
}

std::string order_name(summation_order o) {
  using k = summation_order::kind;
  switch (o.k) {
    case k::any:
      return "any";
    case k::sequential:
      return "sequential";
    case k::pairwise:
      return "pairwise";
    case k::blocked:
      return "blocked(" + std::to_string(o.block) + ")";
    case k::block_fma:
      return "block_fma(" + std::to_string(o.block) + ")";
  }
  return "any";
}

std::string hint_for(const std::string& model) {
  if (model == "tf32" || model == "tf32-rne" || model == "tf32-rna")
    return "errors match 10-bit mantissa inputs: TF32 is likely enabled "
           "(torch.backends.cuda.matmul.allow_tf32 / torch.backends.cudnn.allow_tf32)";
  if (model == "bf16")
    return "errors match bfloat16 arithmetic (8-bit mantissa): check autocast or a bf16 cast";
  if (model == "f16")
    return "errors match float16 inputs (10-bit mantissa, f32 accumulation): check autocast or "
           "a half-precision cast";
  if (model == "f16-rpr" || model == "bf16-rpr")
    return "errors match a reduced-precision reduction (partial sums rounded to " +
           model.substr(0, model.find('-')) +
           "): allow_fp16/bf16_reduced_precision_reduction is likely enabled";
  if (model == "f16-acc16")
    return "errors match float16 accumulation: a reduced-precision reduction is likely enabled "
           "(e.g. allow_fp16_reduced_precision_reduction)";
  if (model == "bf16-acc-bf16")
    return "errors match bfloat16 accumulation: the kernel sums in bf16 (some CPU kernels do)";
  if (model == "f32") return "errors match float32 arithmetic: the computation runs in f32";
  return "errors match " + model + " arithmetic";
}

// Words for an input_match name.
std::string inputs_words(const std::string& name) {
  if (name == "as given") return "the inputs as given";
  const auto dash = name.find('-');
  if (dash == std::string::npos) return name + " inputs";
  const std::string f = name.substr(0, dash), c = name.substr(dash + 1);
  const char* how = c == "rne"   ? "to nearest, ties to even"
                    : c == "rna" ? "to nearest, ties away from zero"
                                 : "toward zero";
  return f + " inputs (converted " + std::string(how) + ")";
}

// The input conversions identification compares (docs/verdicts.md, §3, "Nearest inputs"): the
// inputs as given, then every format with each rule. The bias is rounded as the preset with that
// input format rounds it, so that the references are the presets' own.
struct input_conversion {
  std::string name;
  format_id input;
  conversion how;
  format_id bias;
};
const std::vector<input_conversion>& input_conversions() {
  static const std::vector<input_conversion> v = [] {
    std::vector<input_conversion> r;
    for (format_id f : {format_id::f32, format_id::tf32, format_id::f16, format_id::bf16}) {
      format_id bias = format_id::f32;
      for (const auto& m : presets())
        if (m.input == f) {
          bias = m.bias_format;
          break;
        }
      for (conversion c : conversion_list)
        r.push_back({std::string(traits(f).name) + "-" + std::string(to_string(c)), f, c, bias});
    }
    return r;
  }();
  return v;
}

// Sum over elements of ((y^ - y~) / T)^2, T the magnitude on the inputs as given (elements with
// T = 0 or a non-finite value are left out).
double squared_distance(const ops::op_result& r, const ops::op_result& r0,
                        const detail::observed_values& observed) {
  double d = 0;
  for (std::int64_t i = 0; i < r.exact.size(); ++i) {
    const double obs = observed[i];
    const double t = r0.magnitude[static_cast<std::size_t>(i)];
    if (!std::isfinite(obs) || !(t > 0) || !std::isfinite(t)) continue;
    const double e = r.exact.abs_diff(i, obs);
    if (!std::isfinite(e)) continue;
    d += (e / t) * (e / t);
  }
  return d;
}

// The nearest conversion of a verdict when it is decisively nearest (the next is at least twice
// as far, RMS: the factor fit_factor in squares), else "".
std::string decisive_nearest(const verdict& v) {
  if (v.nearest_inputs.empty()) return "";
  if (v.nearest_inputs.size() > 1 &&
      v.nearest_inputs[1].distance * v.nearest_inputs[1].distance <
          4 * v.nearest_inputs[0].distance * v.nearest_inputs[0].distance)
    return "";
  return v.nearest_inputs.front().inputs;
}

// A model's inputs fit when its nearest conversion is within this factor (in squared distance)
// of the nearest of all (docs/verdicts.md, §3).
constexpr double fit_factor = 4;

// convert(f, x, c, u) for c = nearest_away or toward_zero, with |x| in f's normal range done on
// the bit pattern: there the result is x's significand cut to f's precision (toward zero), or
// cut after adding half a unit of the last kept bit (ties away; a carry into the exponent is
// the correct rounding up to the next binade). Everything else (subnormal or zero in f, beyond
// max_finite after rounding, Inf, NaN) goes to convert().
double convert_directed(format_id f, double x, conversion c, underflow_mode u) noexcept {
  const auto& t = traits(f);
  const double ax = std::fabs(x);
  if (t.precision >= 53 || !(ax >= t.min_normal && ax <= t.max_finite)) return convert(f, x, c, u);
  const int drop = 53 - t.precision;
  std::uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  if (c == conversion::nearest_away) bits += std::uint64_t{1} << (drop - 1);
  bits &= ~((std::uint64_t{1} << drop) - 1);
  double r;
  std::memcpy(&r, &bits, sizeof r);
  if (std::fabs(r) > t.max_finite) return convert(f, x, c, u);
  return r;
}

// convert_directed over n values: the bit-pattern step on all of them in one loop without
// branches, then convert_directed again on a chunk where some value is outside its range.
void convert_directed(format_id f, const double* in, double* out, std::size_t n, conversion c,
                      underflow_mode u) noexcept {
  const auto& t = traits(f);
  if (t.precision >= 53) {
    for (std::size_t j = 0; j < n; ++j) out[j] = convert(f, in[j], c, u);
    return;
  }
  const int drop = 53 - t.precision;
  const std::uint64_t add = c == conversion::nearest_away ? std::uint64_t{1} << (drop - 1) : 0;
  const std::uint64_t keep = ~((std::uint64_t{1} << drop) - 1);
  const double lo = t.min_normal, hi = t.max_finite;
  bool outside = false;
  for (std::size_t j = 0; j < n; ++j) {
    const double x = in[j];
    const double ax = std::fabs(x);
    const double r = std::bit_cast<double>((std::bit_cast<std::uint64_t>(x) + add) & keep);
    out[j] = r;
    outside |= !(ax >= lo && ax <= hi && std::fabs(r) <= hi);
  }
  if (outside)
    for (std::size_t j = 0; j < n; ++j) out[j] = convert_directed(f, in[j], c, u);
}

}  // namespace

tensor round_tensor(const tensor_view& t, format_id f, underflow_mode u) {
  return convert_tensor(t, f, conversion::nearest_even, u);
}

tensor detail::convert_tensor_hashed(const tensor_view& t, format_id f, conversion c,
                                     underflow_mode u, int threads, std::uint64_t* hash,
                                     tensor reuse) {
  tensor r = std::move(reuse);
  r.shape = t.shape;
  r.type = f;
  const std::int64_t n = t.numel();
  r.data.resize(static_cast<std::size_t>(n));
  // Chunks of the values as doubles (in place when dense f64), converted into r, compared with
  // the values (a conversion that changes nothing keeps t's format) and hashed.
  std::atomic<bool> unchanged{true};
  std::atomic<std::uint64_t> h{0};
  detail::for_ranges(threads, n, 1 << 16, [&](std::int64_t begin, std::int64_t end) {
    constexpr std::int64_t chunk = 4096;
    double buf[chunk];
    bool same = true;
    std::uint64_t part = 0;
    for (std::int64_t i = begin; i < end; i += chunk) {
      const std::int64_t count = std::min(chunk, end - i);
      const auto m = static_cast<std::size_t>(count);
      const double* in = buf;
      if (t.is_dense_f64())
        in = static_cast<const double*>(t.data) + i;
      else
        t.read(i, count, buf);
      double* out = r.data.data() + i;
      if (c == conversion::nearest_even)
        round_to(f, std::span<const double>(in, m), std::span<double>(out, m), u);
      else
        convert_directed(f, in, out, m, c, u);
      if (same) same = std::equal(out, out + m, in);
      if (hash) part += detail::value_hash(out, count, i);
    }
    if (!same) unchanged.store(false);
    h.fetch_add(part);
  });
  if (at_least_as_fine(f, t.type) && unchanged.load()) r.type = t.type;
  if (hash) *hash = h.load();
  return r;
}

tensor convert_tensor(const tensor_view& t, format_id f, conversion c, underflow_mode u) {
  return detail::convert_tensor_hashed(t, f, c, u, 1, nullptr);
}

verdict check(const ops::problem& p, const tensor_view& observed, std::string_view declared,
              const check_options& opt) {
  return check(p, observed, parse_model(declared), opt);
}

namespace {

// Model identification on a sample of rows (docs/verdicts.md, §3, "Sample"): above
// sample_above output elements, about sample_target elements of whole output rows, spread evenly.
constexpr std::int64_t sample_above = std::int64_t{1} << 18;
constexpr std::int64_t sample_target = std::int64_t{1} << 16;

// The sub-problem of some output rows: x restricted to the inputs of those rows (w and b are
// shared), its own exact references, and the observed rows gathered alike.
struct row_sample {
  std::vector<std::int64_t> rows;  // increasing
  std::int64_t rows_total = 0;
  std::int64_t x_row = 0, out_row = 0;  // values per row of x and of the output
  tensor x;
  std::unique_ptr<detail::reference_cache> cache;

  tensor gather(const tensor_view& t, std::int64_t row_size,
                std::vector<std::int64_t> shape) const {
    tensor r;
    r.shape = std::move(shape);
    r.type = t.type;
    r.data.resize(rows.size() * static_cast<std::size_t>(row_size));
    double* out = r.data.data();
    for (const std::int64_t q : rows) {
      t.read(q * row_size, row_size, out);
      out += row_size;
    }
    return r;
  }
};

// Rows of the output that map to rows of x with w and b shared: linear and 2-D-weight matmul
// (x[..., K], output [..., N]: one row per K inputs) and batched convs (one row per sample).
// Other ops (bmm, batched matmul, addmm, an unbatched conv, a bias of more than one dim) are
// not sampled. Returns false when the op has no such rows.
bool output_rows(const ops::op_spec& op, const tensor_view& x, const tensor_view& w,
                 const tensor_view* b, std::int64_t& rows, std::int64_t& x_row,
                 std::vector<std::int64_t>& sub_shape) {
  if (b && b->dim() > 1) return false;
  const int sd = ops::spatial_dims(op.kind);
  if (op.kind == ops::op_kind::linear ||
      (op.kind == ops::op_kind::matmul && w.dim() == 2 && x.dim() >= 2)) {
    x_row = x.shape.back();
    if (x.dim() < 2 || x_row <= 0) return false;
    rows = x.numel() / x_row;
    sub_shape = {0, x_row};
    return true;
  }
  if (sd > 0 && x.dim() == sd + 2 && x.shape[0] > 0) {
    rows = x.shape[0];
    x_row = x.numel() / rows;
    sub_shape = x.shape;
    return true;
  }
  return false;
}

}  // namespace

struct reference_set::impl {
  impl(const ops::problem& p, const ops::reference_options& ro)
      : prob(p), options(ro), cache(p, ro) {}
  ops::problem prob;
  ops::reference_options options;
  detail::reference_cache cache;
  bool sample_decided = false;
  std::unique_ptr<row_sample> sample;
  // detail::set_blocking (tests): blocked judging forced to judge_rows (0: never), magnitude
  // DGEMM calls of magnitude_rows rows (0: the default).
  bool blocking_forced = false;
  std::int64_t judge_rows = 0, magnitude_rows = 0;
  detail::blocking_counts blocking;

  // The identification sample of an output of `elements` elements, or null (all of them).
  row_sample* identification_sample(std::int64_t elements) {
    if (sample_decided) return sample.get();
    sample_decided = true;
    if (elements <= sample_above) return nullptr;
    std::int64_t rows = 0, x_row = 0;
    std::vector<std::int64_t> sub_shape;
    if (!output_rows(prob.op, prob.x, prob.w, prob.b.get(), rows, x_row, sub_shape) || rows <= 0)
      return nullptr;
    const std::int64_t out_row = elements / rows;
    if (out_row <= 0 || out_row * rows != elements) return nullptr;
    const std::int64_t want = std::max<std::int64_t>(1, (sample_target + out_row - 1) / out_row);
    if (want >= rows) return nullptr;
    auto s = std::make_unique<row_sample>();
    s->rows_total = rows;
    s->x_row = x_row;
    s->out_row = out_row;
    for (std::int64_t k = 0; k < want; ++k) s->rows.push_back(k * rows / want);
    sub_shape[0] = want;
    s->x = s->gather(prob.x, x_row, sub_shape);
    s->cache = std::make_unique<detail::reference_cache>(
        ops::problem{prob.op, s->x, prob.w, prob.b}, options);
    s->cache->set_magnitude_layout(0, magnitude_rows);
    sample = std::move(s);
    return sample.get();
  }
};

namespace {
ops::reference_options exact_with_magnitude(ops::reference_options ro) {
  ro.want_magnitude = true;
  // T from one DGEMM over |x|, |w| and a proven enlargement (docs/ops.md §3.2): never below the
  // exact sum, and one DGEMM instead of a second exact contraction (docs/bounds.md §3.5).
  ro.magnitude_how = ops::magnitude_method::blas_bound;
  if (ro.how == ops::method::mpfr) ro.how = ops::method::fast;  // need the exact values
  return ro;
}
}  // namespace

void detail::set_blocking(reference_set& set, std::int64_t judge_rows,
                          std::int64_t magnitude_rows) {
  auto& s = set.internals();
  s.blocking_forced = true;
  s.judge_rows = std::max<std::int64_t>(judge_rows, 0);
  s.magnitude_rows = std::max<std::int64_t>(magnitude_rows, 0);
  s.cache.set_magnitude_layout(0, s.magnitude_rows);
}

detail::blocking_counts detail::blocking_counts_of(reference_set& set) {
  return set.internals().blocking;
}

namespace {

// Blocked judging (docs/verdicts.md, §2 "One block of rows at a time"): the declared model's
// per-element pass over blocks of output rows, each block's exact references (and T) formed
// from its rows of x alone and freed before the next, instead of references for the whole
// output. Where the rows of the output are independent with w and b shared: linear and 2-D-
// weight matmul (x contiguous, T by magnitude_by_blocks); convs, bmm and batched matmul keep the
// whole-tensor pass. Returns the rows per block, or 0 for the whole-tensor pass: an output
// small enough that its references are cheap to hold (at most sample_above elements, or fewer
// than three blocks), or one whose identification reads the full references anyway (not
// sampled). `references`: how many references a block holds at once (references_held), which
// divides the block's size.
std::int64_t magnitude_rows_of(const reference_set::impl& s, std::int64_t k) {
  return s.magnitude_rows > 0 ? s.magnitude_rows : detail::magnitude_block_rows(k);
}

std::int64_t judging_block_rows(reference_set::impl& s, std::int64_t elements, bool identify,
                                std::int64_t references = 1) {
  const ops::problem& p = s.prob;
  if (s.blocking_forced && s.judge_rows == 0) return 0;
  if (!detail::magnitude_by_blocks_applies(p.op, p.x, p.w, p.b.get()) || !p.x.is_contiguous() ||
      !s.options.want_magnitude || s.options.magnitude_how != ops::magnitude_method::blas_bound)
    return 0;
  const std::int64_t k = p.x.shape.back(), rows = p.x.numel() / k;
  if (rows <= 1 || elements <= 0 || elements % rows != 0) return 0;
  if (s.blocking_forced) {
    const std::int64_t calls = magnitude_rows_of(s, k);
    return (s.judge_rows + calls - 1) / calls * calls;
  }
  if (elements <= sample_above) return 0;
  if (identify && s.identification_sample(elements) == nullptr) return 0;
  // About 16 MiB of exact values (17 bytes per output) a block and reference, in whole DGEMM calls
  // of the magnitude, so that each element's T comes from the same call as in the whole pass
  // (ViT-B's 1536-long rows: 8 calls of 341 rows, 17 MiB of exact values and 8 MiB of T; 5 blocks).
  // 16 MiB rather than 8 was chosen when the magnitude ran on OpenBLAS's own threads, which spin
  // after each DGEMM (8 MiB blocks then cost 5-20% more CPU at 2 threads); it now runs on the
  // engine's workers with OpenBLAS at one thread, and the size was kept.
  const std::int64_t row = elements / rows;
  const std::int64_t calls = magnitude_rows_of(s, k);
  const std::int64_t want =
      (std::int64_t{16} << 20) / (17 * row * std::max<std::int64_t>(references, 1));
  const std::int64_t block = std::max<std::int64_t>(1, (want + calls / 2) / calls) * calls;
  return 3 * block <= rows ? block : 0;
}

// The declared models' judgements of several outputs, and the comparisons of pairs of them, over
// blocks of `block_rows` output rows (judging_block_rows), into out[o] and pairs[q] (added to),
// with each output's error statistics in out[o].errors when asked. Each block: a
// reference_cache of the sub-problem (those rows of x; w, b shared) whose magnitude DGEMM takes
// the whole problem's layout, every model's references in it (formed once for every output and
// pair), judge_pass::add per output and compare_pass::add per pair, then freed. Exact values do
// not depend on the block; T is formed by the same DGEMM calls as in the whole pass; n_i is K
// for every element (checked) and lambda is formed from the whole tensor's summand count.
// Returns false, with nothing judged, where some block's reference has a T so small that the
// whole pass forms that reference's T exactly for every element
// (reference_cache::exact_magnitude_where_tiny, a decision over the whole tensor): the caller
// then judges the whole tensor.
struct blocked_output {
  blocked_output(const arithmetic_model& m, const check_options& opt,
                 const detail::observed_values& values, bool errors_wanted)
      : model(m),
        order(opt.override_order ? opt.order : m.order),
        observed(&values),
        worst_k(static_cast<std::size_t>(std::max(opt.worst, 1))),
        want_errors(errors_wanted) {}
  arithmetic_model model;
  summation_order order;
  const detail::observed_values* observed;
  std::size_t worst_k;  // at least one: the explanation names the worst element
  bool want_errors;
  judged judgement{};          // out
  detail::error_stats errors;  // out, when want_errors
};
struct blocked_pair {
  std::size_t a, b;  // indices into the outputs
  compare_pass* pass;
};
//
// `classes` (when given): per output, reference_cache::entry_classes of the whole set for each
// conversion its model allows, in conversion_list order. Each block then lists an output's
// references as the whole set's of() lists them (one per distinct whole-set entry, then the
// inputs as given, class 0, when none is) with those numbers as the pairs' ids: two rules whose
// inputs a block's rows convert alike, which the whole tensor does not, stay two references
// there. Without it, a block's own of() and its entries' identities (for pairs of models that
// list the same references, where that gives the same allowances).
bool judge_blocked(reference_set::impl& s, std::int64_t block_rows,
                   std::vector<blocked_output>& outs, const std::vector<blocked_pair>& pairs,
                   double alpha, double bmax,
                   const std::vector<std::vector<std::size_t>>* classes = nullptr) {
  const tensor_view& x = s.prob.x;
  const std::int64_t k = x.shape.back(), rows = x.numel() / k;
  const std::int64_t n = outs.front().observed->size(), row = n / rows;
  const std::size_t bytes = storage_bytes(x.storage);
  std::vector<std::optional<judge_pass>> passes(outs.size());
  struct listed {
    std::vector<const ops::op_result*> all;
    std::vector<std::size_t> ids;
  };
  std::vector<listed> refs(outs.size());
  for (std::int64_t r0 = 0; r0 < rows; r0 += block_rows) {
    const std::int64_t m_rows = std::min(block_rows, rows - r0);
    tensor_view xb(static_cast<const char*>(x.data) + static_cast<std::size_t>(r0 * k) * bytes,
                   x.storage, {m_rows, k}, {}, x.type);
    xb.held = m_rows * k;
    detail::reference_cache cache(ops::problem{s.prob.op, xb, s.prob.w, s.prob.b}, s.options);
    cache.set_magnitude_layout(rows, magnitude_rows_of(s, k));
    for (std::size_t o = 0; o < outs.size(); ++o) {
      const arithmetic_model& m = outs[o].model;
      listed& l = refs[o];
      if (!classes) {
        l.all = cache.of(m).all;
        l.ids = identities(l.all);
        continue;
      }
      l = {};
      std::size_t rule = 0;
      for (conversion c : detail::conversion_list) {
        if (!(m.conversions & bounds::conversion_bit(c))) continue;
        const std::size_t id = (*classes)[o][rule++];
        if (std::find(l.ids.begin(), l.ids.end(), id) != l.ids.end()) continue;
        l.all.push_back(&cache.converted(m.input, c, m.bias_format, m.underflow));
        l.ids.push_back(id);
      }
      if (std::find(l.ids.begin(), l.ids.end(), std::size_t{0}) == l.ids.end()) {
        l.all.push_back(&cache.original());
        l.ids.push_back(0);
      }
    }
    s.cache.seconds += cache.seconds;
    ++s.blocking.blocks;
    if (cache.exact_magnitude_used()) return false;
    for (std::size_t o = 0; o < outs.size(); ++o) {
      blocked_output& out = outs[o];
      const ops::op_result& primary = *refs[o].all.front();
      if (primary.exact.size() != m_rows * row) return false;
      if (!passes[o]) {
        // Every element sums K products (and the bias): the whole tensor's summand count.
        const std::int64_t terms = primary.terms.empty() ? 0 : primary.terms[0];
        if (primary.terms != ops::term_counts::uniform(primary.terms.size(), terms)) return false;
        const std::int64_t summands =
            std::max<std::int64_t>(n * terms + (primary.has_bias ? n : 0), 1);
        passes[o].emplace(
            out.model, out.order,
            detail::lambda_of(out.model, detail::probabilistic_events(summands), alpha), bmax, n,
            out.worst_k, 1);
      }
    }
    // Each output's pass and each pair's comparison is a task with its own state (counts, heap,
    // accumulators) that sees its elements in order: run side by side on the engine's threads,
    // they give what they give one after the other.
    const ops::op_result& original = cache.original();
    const auto tasks = static_cast<std::int64_t>(outs.size() + pairs.size());
    detail::for_ranges(s.cache.threads(), tasks, 1, [&](std::int64_t begin, std::int64_t end) {
      for (auto t = static_cast<std::size_t>(begin); t < static_cast<std::size_t>(end); ++t) {
        if (t < outs.size()) {
          passes[t]->add(refs[t].all, *outs[t].observed, r0 * row);
          if (outs[t].want_errors)
            outs[t].errors.add(original.exact, outs[t].observed->view(), r0 * row);
        } else {
          const blocked_pair& q = pairs[t - outs.size()];
          q.pass->add(refs[q.a].all, refs[q.a].ids, refs[q.b].all, refs[q.b].ids, original,
                      *outs[q.a].observed, *outs[q.b].observed, r0 * row);
        }
      }
    });
  }
  for (std::size_t o = 0; o < outs.size(); ++o) {
    if (!passes[o]) return false;
    outs[o].judgement = passes[o]->finish();
  }
  return true;
}

// The references a set of models' blocked pass holds at once, at most (for the size of its
// blocks): the inputs as given, and each distinct conversion that may change them (to a format
// coarser than x's or w's).
std::int64_t references_held(const reference_set::impl& s,
                             const std::vector<arithmetic_model>& models) {
  std::vector<std::tuple<format_id, conversion, format_id, underflow_mode>> seen;
  for (const auto& m : models) {
    if (at_least_as_fine(m.input, s.prob.x.type) && at_least_as_fine(m.input, s.prob.w.type))
      continue;
    for (conversion c : detail::conversion_list) {
      if (!(m.conversions & bounds::conversion_bit(c))) continue;
      const auto key = std::make_tuple(m.input, c, m.bias_format, m.underflow);
      if (std::find(seen.begin(), seen.end(), key) == seen.end()) seen.push_back(key);
    }
  }
  return 1 + static_cast<std::int64_t>(seen.size());
}

// Whether two models list the same references (of(): the same conversions of the same inputs).
// A pair of such models shares, over a block's own references, the allowances it shares over
// the whole tensor's (both sides list the same references, and two that agree on a block give
// the same numbers there); any other pair needs the whole set's entry classes (judge_blocked).
bool same_references(const arithmetic_model& a, const arithmetic_model& b) {
  return a.input == b.input && a.conversions == b.conversions && a.bias_format == b.bias_format &&
         a.underflow == b.underflow;
}

// check()'s tests of its arguments: the confidence, the observed output's shape and data size.
void validate(const reference_set::impl& s, const tensor_view& observed_view,
              const check_options& opt) {
  if (!(opt.confidence > 0 && opt.confidence < 1))
    throw input_error("confidence must be in (0, 1), got " + num(opt.confidence));
  auto shape = ops::output_shape(s.prob);
  if (observed_view.shape != shape)
    throw input_error("observed output has shape " + detail::shape_str(observed_view.shape) +
                      " but " + std::string(ops::op_name(s.prob.op.kind)) + " gives " +
                      detail::shape_str(shape));
  if (observed_view.strides.size() != observed_view.shape.size() ||
      (observed_view.held >= 0 && observed_view.is_contiguous() &&
       observed_view.held != observed_view.numel()))
    throw input_error("observed output: data size does not match its shape");
}

verdict check_judged(reference_set& set, const detail::observed_values& observed,
                     const arithmetic_model& declared, const check_options& opt,
                     detail::error_stats* error_out, const judged* declared_pass);

}  // namespace

reference_set::reference_set(const ops::problem& p, const ops::reference_options& reference)
    : impl_(std::make_unique<impl>(p, exact_with_magnitude(reference))) {
  // The views are read before any evaluate(): validate them (shapes, buffers) first.
  (void)ops::output_shape(p);
}
reference_set::~reference_set() = default;
const ops::op_result& reference_set::original() {
  return impl_->cache.original();
}

verdict check(const ops::problem& p, const tensor_view& observed, const arithmetic_model& declared,
              const check_options& opt) {
  reference_set set(p, opt.reference);
  return check(set, observed, declared, opt);
}

verdict check(reference_set& set, const tensor_view& observed_view,
              const arithmetic_model& declared, const check_options& opt) {
  return detail::check_with_errors(set, observed_view, declared, opt, nullptr);
}

verdict detail::check_with_errors(reference_set& set, const tensor_view& observed_view,
                                  const arithmetic_model& declared, const check_options& opt,
                                  error_stats* error_out) {
  reference_set::impl& s = set.internals();
  validate(s, observed_view, opt);
  const detail::observed_values observed(observed_view);
  // The declared model's pass: over blocks of rows where that applies (judging_block_rows),
  // else over the whole tensor's references (check_judged).
  const std::int64_t block_rows = judging_block_rows(s, observed.size(), opt.identify);
  if (block_rows > 0) {
    std::vector<blocked_output> outs{{declared, opt, observed, error_out != nullptr}};
    if (judge_blocked(s, block_rows, outs, {}, opt.confidence / 2,
                      detail::bias_max(s.prob.b.get()))) {
      ++s.blocking.checks;
      if (error_out) *error_out = outs.front().errors;
      return check_judged(set, observed, declared, opt, nullptr, &outs.front().judgement);
    }
  }
  return check_judged(set, observed, declared, opt, error_out, nullptr);
}

namespace {

// check() of a validated output: the declared model's per-element pass (`declared_pass`, formed
// by the caller over blocks of rows; null: over the whole tensor's references here, with the
// error statistics in *error_out when given), identification and the verdict.
verdict check_judged(reference_set& set, const detail::observed_values& observed,
                     const arithmetic_model& declared, const check_options& opt,
                     detail::error_stats* error_out, const judged* declared_pass) {
  const ops::op_spec& op = set.internals().prob.op;
  const tensor_view* b = set.internals().prob.b.get();
  reference_cache& refs = set.internals().cache;

  const summation_order order = opt.override_order ? opt.order : declared.order;
  // Split the false-alarm budget: half for the per-element probabilistic bounds, half for the
  // signature tests (docs/verdicts.md, "Confidence").
  const double alpha_elem = opt.confidence / 2;

  verdict v;
  v.declared_model = declared.name;
  v.order = order_name(order);
  v.confidence = opt.confidence;

  const double bmax = detail::bias_max(b);
  // At least one worst element: the explanation names it (cut to opt.worst at the end).
  const auto worst_k = static_cast<std::size_t>(std::max(opt.worst, 1));
  judged j;
  if (declared_pass) {
    j = *declared_pass;
  } else {
    const auto decl_refs = refs.of(declared);
    j = judge_all(declared, order, decl_refs.all, observed, alpha_elem, bmax, worst_k);
    if (error_out) {
      *error_out = {};
      error_out->add(refs.original().exact, observed.view(), 0);
    }
  }
  v.elements = j.elements;
  v.n_consistent = j.n_cat[static_cast<int>(element_category::consistent)];
  v.n_beyond_probabilistic = j.n_cat[static_cast<int>(element_category::beyond_probabilistic)];
  v.n_beyond_deterministic = j.n_cat[static_cast<int>(element_category::beyond_deterministic)];
  v.n_special_mismatch = j.n_cat[static_cast<int>(element_category::special_mismatch)];
  v.n_no_bound = j.n_cat[static_cast<int>(element_category::no_bound)];
  v.n_no_deterministic_bound = j.n_no_det;
  v.n_no_probabilistic_bound = j.n_no_prob;
  v.max_ratio_deterministic = j.max_det;
  v.max_ratio_probabilistic = j.max_prob;

  v.worst = std::move(j.worst);

  // Model identification (docs/verdicts.md, "Model identification"), on a sample of rows when
  // the output is large (§3, "Sample"): its references, its observed rows.
  std::vector<arithmetic_model> cands;
  row_sample* sample = opt.identify ? set.internals().identification_sample(v.elements) : nullptr;
  tensor observed_sample;
  if (sample) {
    const auto rows = static_cast<std::int64_t>(sample->rows.size());
    // The output rows of the sub-problem: [rows, out_row] for the matrix ops, [rows, ...] for
    // convs (the full output's shape with its first dim cut).
    std::vector<std::int64_t> sub_shape{rows, sample->out_row};
    if (ops::spatial_dims(op.kind) > 0) {
      sub_shape = observed.shape;
      sub_shape.front() = rows;
    }
    observed_sample = sample->gather(observed.view(), sample->out_row, sub_shape);
    v.identification_rows = sample->rows;
    v.identification_rows_total = sample->rows_total;
  }
  reference_cache& idrefs = sample ? *sample->cache : refs;
  std::optional<detail::observed_values> sampled_values;
  if (sample) sampled_values.emplace(tensor_view(observed_sample));
  const detail::observed_values& idobserved = sample ? *sampled_values : observed;
  v.identification_elements = idobserved.size();
  if (opt.identify) {
    if (opt.candidates.empty())
      cands = presets();
    else
      for (const auto& c : opt.candidates) cands.push_back(parse_model(c));
  }
  // Nearest inputs: the squared distance of the output to each distinct converted reference.
  std::vector<std::pair<const ops::op_result*, double>> dist;
  auto distance_of = [&](const ops::op_result* r) {
    for (const auto& [p, d] : dist)
      if (p == r) return d;
    dist.emplace_back(r, squared_distance(*r, idrefs.original(), idobserved));
    return dist.back().second;
  };
  double nearest = inf;
  if (!cands.empty()) {
    const ops::op_result* r0 = &idrefs.original();
    std::vector<const ops::op_result*> seen{r0};
    const double elems = std::max<double>(1.0, static_cast<double>(v.identification_elements));
    v.nearest_inputs.push_back({"as given", std::sqrt(distance_of(r0) / elems)});
    for (const auto& ic : input_conversions()) {
      // The magnitude only where a candidate judges against this conversion (the distance
      // reads the exact values alone).
      const bool judged = std::any_of(cands.begin(), cands.end(), [&](const arithmetic_model& c) {
        return c.input == ic.input && (c.conversions & bounds::conversion_bit(ic.how));
      });
      const ops::op_result* r =
          judged ? &idrefs.converted(ic.input, ic.how, ic.bias, declared.underflow)
                 : &idrefs.converted_values(ic.input, ic.how, ic.bias, declared.underflow);
      if (std::find(seen.begin(), seen.end(), r) != seen.end()) continue;
      seen.push_back(r);
      v.nearest_inputs.push_back({ic.name, std::sqrt(distance_of(r) / elems)});
    }
    std::stable_sort(
        v.nearest_inputs.begin(), v.nearest_inputs.end(),
        [](const input_match& a, const input_match& c) { return a.distance < c.distance; });
    for (const auto& [p, d] : dist) nearest = std::min(nearest, d);
  }

  if (!cands.empty()) {
    // Budget: alpha/2 for all identification tests together, split evenly.
    std::size_t tests = 0;
    for (const auto& c : cands)
      for (const auto& a : presets())
        if (traits(a.input).precision < traits(c.input).precision) ++tests;
    const double alpha_id_elem = opt.confidence / 4 / static_cast<double>(cands.size());
    const double alpha_sig =
        opt.confidence / 4 / static_cast<double>(std::max<std::size_t>(tests, 1));
    const ops::op_result& r0 = idrefs.original();
    // The signature tests' e_i against a reference, once per reference for this output.
    std::deque<std::pair<const ops::op_result*, std::vector<double>>> errors;  // stable refs
    auto errors_of = [&](const ops::op_result& r) -> const std::vector<double>& {
      for (const auto& [p, e] : errors)
        if (p == &r) return e;
      errors.emplace_back(&r, errors_against(r, idobserved));
      return errors.back().second;
    };
    for (const auto& c : cands) {
      candidate_report cr;
      cr.model = c.name;
      const auto crefs = idrefs.of(c);
      const std::vector<const ops::op_result*> own(crefs.all.begin(),
                                                   crefs.all.begin() + crefs.own);
      const ops::op_result& rc = *own.front();
      judged jc = judge_all(c, c.order, own, idobserved, alpha_id_elem, bmax, 0, idrefs.threads());
      cr.within_deterministic =
          jc.n_cat[static_cast<int>(element_category::beyond_deterministic)] == 0 &&
          jc.n_cat[static_cast<int>(element_category::special_mismatch)] == 0;
      cr.within_probabilistic =
          cr.within_deterministic &&
          jc.n_cat[static_cast<int>(element_category::beyond_probabilistic)] == 0;
      cr.bounded = jc.n_cat[static_cast<int>(element_category::no_bound)] == 0 &&
                   (jc.any_det || jc.any_prob);
      cr.max_ratio_deterministic = jc.max_det;
      cr.max_ratio_probabilistic = jc.max_prob;
      if (cr.within_probabilistic) {
        std::vector<const ops::op_result*> tried;
        for (const auto& a : presets()) {
          if (traits(a.input).precision >= traits(c.input).precision) continue;
          const ops::op_result& ra =
              idrefs.converted(a.input, conversion::nearest_even, a.bias_format, a.underflow);
          if (&ra == &rc || std::find(tried.begin(), tried.end(), &ra) != tried.end()) continue;
          tried.push_back(&ra);
          signature_result sr =
              signature(c, rc, ra, idobserved, errors_of(rc), alpha_sig, bmax, idrefs);
          if (sr.applicable && (sr.found || sr.score > cr.signature_score) && cr.signature_clean) {
            cr.signature_score = sr.score;
            cr.signature_slope = sr.slope;
          }
          if (sr.found && cr.signature_clean) {
            cr.signature_clean = false;
            cr.signature_of = a.name;
          }
        }
      }
      // A model that converts the inputs: does the output carry that conversion? (The
      // correlation of its errors against the inputs as given with the conversion's effect.)
      cr.rounds_inputs = crefs.rounds_inputs;
      if (cr.rounds_inputs && cr.within_probabilistic) {
        signature_result sr =
            signature(c, r0, rc, idobserved, errors_of(r0), alpha_sig, bmax, idrefs);
        cr.own_signature_correlation = sr.correlation;
        // Under "not this model" (a bug, or another arithmetic) the sample correlation with the
        // data-determined Delta is ~0 +- 1/sqrt(m); 5/sqrt(m) is a five-sigma threshold.
        cr.own_signature_found =
            sr.used > 0 &&
            sr.correlation >= std::max(0.3, 5 / std::sqrt(static_cast<double>(sr.used)));
      }
      // Nearest inputs: the model's conversions must be about as near as the nearest of all.
      double own_nearest = inf;
      for (const auto* p : own) own_nearest = std::min(own_nearest, distance_of(p));
      nearest = std::min(nearest, own_nearest);
      cr.inputs_fit = own_nearest <= fit_factor * nearest;
      // A model that converts the inputs must show it (positive evidence): its own signature, or
      // its converted inputs decisively nearer than the inputs as given. Otherwise loose bounds
      // (bf16's output rounding, f16-acc16's n u) would "explain" a bug.
      const bool shows_conversion = !cr.rounds_inputs || cr.own_signature_found ||
                                    fit_factor * own_nearest <= distance_of(&r0);
      // The output's storage format must hold the candidate's output format: an f32-output
      // arithmetic does not produce bf16 tensors without one more rounding it does not model.
      cr.output_fits = at_least_as_fine(observed.type, c.output);
      cr.consistent = cr.within_probabilistic && cr.bounded && cr.signature_clean &&
                      cr.inputs_fit && cr.output_fits && shows_conversion;
      if (cr.consistent) v.consistent_models.push_back(c.name);
      v.candidates.push_back(cr);
    }
    // Most precise first; within a precision class, the finest (most specific) first.
    std::stable_sort(v.consistent_models.begin(), v.consistent_models.end(),
                     [](const std::string& a, const std::string& c) {
                       return std::make_pair(preset_rank(a), preset_index(a)) <
                              std::make_pair(preset_rank(c), preset_index(c));
                     });
    if (!v.consistent_models.empty()) v.effective_model = v.consistent_models.front();
  }

  refs.release_scratch();
  idrefs.release_scratch();

  // The verdict (docs/verdicts.md, §4).
  const int decl_rank = preset_rank(declared.name);
  const int eff_rank = v.effective_model.empty() ? -1 : preset_rank(v.effective_model);
  const candidate_report* decl_cand = nullptr;
  const candidate_report* eff_cand = nullptr;
  for (const auto& c : v.candidates) {
    if (c.model == declared.name) decl_cand = &c;
    if (c.model == v.effective_model) eff_cand = &c;
  }
  // A lower model is offered as the explanation when it is consistent and the evidence is
  // positive: its converted inputs are markedly nearer than the inputs as given (or its
  // input-rounding signature), or (same inputs: accumulator/output only) errors large across
  // the board rather than at a few elements (median error >= 0.1 x the bound).
  bool lower_only = !v.effective_model.empty() && decl_rank >= 0 && eff_rank > decl_rank;
  if (lower_only && eff_cand) {
    // A consistent model that converts the inputs has shown the conversion (own signature or
    // nearer converted inputs: the candidate loop requires it), so that is positive evidence.
    const bool evidence = eff_cand->rounds_inputs;
    if (!evidence) {
      // The median of err / bound over the elements with one is >= 0.1 (judged::n_ratio).
      lower_only = j.n_ratio > 0 && j.n_ratio_below_tenth <= j.n_ratio / 2;
    }
  }

  std::ostringstream msg;
  const std::string& dm = declared.name;
  if (v.n_special_mismatch > 0 || v.n_beyond_deterministic > 0) {
    v.kind = verdict_kind::violation;
    const auto& w0 = v.worst.front();
    if (v.n_special_mismatch > 0) {
      msg << v.n_special_mismatch << " of " << v.elements << " elements are special-value "
          << "mismatches (first worst: index " << w0.index << ", observed " << num(w0.observed)
          << ", exact " << num(w0.exact) << "): NaN/Inf where the exact result is finite or the "
          << "reverse";
      if (v.n_beyond_deterministic > 0)
        msg << ", and " << v.n_beyond_deterministic << " more exceed the " << dm << " bound";
    } else {
      msg << v.n_beyond_deterministic << " of " << v.elements
          << " elements differ from the exact result by more than any " << dm
          << " rounding allows (worst: index " << w0.index << ", observed " << num(w0.observed)
          << ", exact " << num(w0.exact) << ", error " << short_num(w0.error) << " = "
          << short_num(ratio(w0.error, w0.bound)) << "x the bound " << short_num(w0.bound) << ")";
    }
    if (lower_only)
      msg << "; " << hint_for(v.effective_model);
    else
      msg << "; this is a bug, not rounding";
  } else if (v.n_beyond_probabilistic > 0) {
    v.kind = verdict_kind::suspicious;
    const auto& w0 = v.worst.front();
    msg << "within the worst-case " << dm << " bound, but " << v.n_beyond_probabilistic << " of "
        << v.elements << " elements exceed the probabilistic bound that a correct " << dm
        << " implementation exceeds with probability <= " << short_num(opt.confidence)
        << " (worst: index " << w0.index << ", error " << short_num(w0.error) << " = "
        << short_num(ratio(w0.error, w0.probabilistic_bound)) << "x)";
    if (lower_only)
      msg << "; " << hint_for(v.effective_model);
    else
      msg << "; likely a bug or a lower-precision path";
  } else if (lower_only && (decl_cand == nullptr || !decl_cand->consistent)) {
    v.kind = verdict_kind::suspicious;
    msg << "within the " << dm << " bounds, but not explained by " << dm << " arithmetic";
    if (decl_cand && !decl_cand->signature_of.empty())
      msg << " (errors carry the input-rounding signature of " << decl_cand->signature_of
          << ", slope " << short_num(decl_cand->signature_slope) << ")";
    else if (!v.nearest_inputs.empty() && decl_cand && !decl_cand->inputs_fit)
      msg << " (the output is nearest the exact result of "
          << inputs_words(v.nearest_inputs.front().inputs) << ")";
    msg << "; " << hint_for(v.effective_model);
  } else if (v.n_no_bound > 0) {
    v.kind = verdict_kind::no_guarantee;
    msg << "no guarantee: " << dm << " arithmetic bounds " << v.n_no_bound << " of " << v.elements
        << " elements neither way (n u >= 1 in its accumulator and no probabilistic bound), so "
        << "rounding in " << dm << " can produce any value there";
    if (v.elements > v.n_no_bound) msg << "; the other elements are within its bounds";
  } else {
    v.kind = verdict_kind::consistent;
    msg << "consistent with rounding in " << dm;
    // A finer preset of the same precision names how the inputs were converted.
    const bool same_class = !v.effective_model.empty() && v.effective_model != dm &&
                            preset_rank(v.effective_model) == decl_rank;
    if (same_class && decl_cand && decl_cand->consistent)
      msg << " (" << v.effective_model << ": " << inputs_words(v.effective_model) << ")";
    msg << ": the largest error is ";
    if (std::isnan(v.max_ratio_deterministic))
      msg << "not bounded in the worst case (n u >= 1: no worst-case bound exists)";
    else
      msg << short_num(v.max_ratio_deterministic) << " of the worst-case bound";
    if (v.n_no_deterministic_bound > 0 && !std::isnan(v.max_ratio_deterministic))
      msg << " (" << v.n_no_deterministic_bound << " elements have none)";
    if (std::isnan(v.max_ratio_probabilistic))
      msg << " (no probabilistic bound: " << dm << " truncates, its errors are not mean-zero)";
    else
      msg << " and " << short_num(v.max_ratio_probabilistic) << " of the probabilistic bound";
    msg << " over " << v.elements << " elements";
    if (same_class && decl_cand && !decl_cand->consistent)
      msg << "; its inputs were converted as " << v.effective_model << " converts them ("
          << inputs_words(v.effective_model) << "), not as " << dm << " says";
    if (eff_rank >= 0 && decl_rank >= 0 && eff_rank < decl_rank && decl_cand &&
        !decl_cand->inputs_fit)
      msg << "; it is more precise than " << dm << ": its errors match " << v.effective_model
          << " (it ran without " << dm << "'s input conversion)";
  }
  if (sample)
    msg << "; model identification used " << sample->rows.size() << " of " << sample->rows_total
        << " output rows (" << v.identification_elements << " of " << v.elements
        << " elements, rows spread evenly)";
  v.explanation = msg.str();
  v.worst.resize(std::min(v.worst.size(), static_cast<std::size_t>(std::max(opt.worst, 0))));
  return v;
}

}  // namespace

comparison compare(const ops::problem& p, const tensor_view& observed_a, std::string_view model_a,
                   const tensor_view& observed_b, std::string_view model_b,
                   const check_options& opt) {
  verdict va = check(p, observed_a, parse_model(model_a), opt);
  verdict vb = check(p, observed_b, parse_model(model_b), opt);
  return compare(p, observed_a, va, observed_b, vb, opt);
}

comparison compare(const ops::problem& p, const tensor_view& observed_a, const verdict& verdict_a,
                   const tensor_view& observed_b, const verdict& verdict_b,
                   const check_options& opt) {
  reference_set set(p, opt.reference);
  return compare(set, observed_a, verdict_a, observed_b, verdict_b, opt);
}

comparison compare(reference_set& set, const tensor_view& view_a, const verdict& verdict_a,
                   const tensor_view& view_b, const verdict& verdict_b, const check_options& opt) {
  const arithmetic_model ma = parse_model(verdict_a.declared_model);
  const arithmetic_model mb = parse_model(verdict_b.declared_model);
  reference_cache& refs = set.internals().cache;
  const tensor_view* b = set.internals().prob.b.get();
  const auto ra = refs.of(ma);
  const auto rb = refs.of(mb);
  const ops::op_result& r0 = refs.original();
  const std::int64_t elements = r0.exact.size();
  if (view_a.numel() != elements || view_b.numel() != elements ||
      view_a.strides.size() != view_a.shape.size() || view_b.strides.size() != view_b.shape.size())
    throw input_error("compare: the outputs do not have the op's output shape");
  const detail::observed_values observed_a(view_a), observed_b(view_b);
  compare_pass pass(ma, mb, opt, detail::bias_max(b), elements);
  pass.add(ra.all, identities(ra.all), rb.all, identities(rb.all), r0, observed_a, observed_b, 0);
  return pass.finish(verdict_a, verdict_b);
}

namespace {

// The sentence and kind of a comparison whose counts, ratio and worst elements are formed
// (docs/verdicts.md, §5).
void explain(comparison& c) {
  std::ostringstream msg;
  if (c.n_beyond > 0 || c.n_special_mismatch > 0) {
    c.kind = verdict_kind::violation;
    msg << (c.n_beyond + c.n_special_mismatch) << " of " << c.elements << " elements differ by "
        << "more than " << c.model_a << " and " << c.model_b << " rounding together allow, so at "
        << "least one implementation is wrong";
    bool a_bad = c.a.kind == verdict_kind::violation, b_bad = c.b.kind == verdict_kind::violation;
    if (a_bad && !b_bad) msg << ": the first (" << c.model_a << ") is the one beyond its bound";
    if (b_bad && !a_bad) msg << ": the second (" << c.model_b << ") is the one beyond its bound";
    if (a_bad && b_bad) msg << ": both are beyond their own bounds";
  } else if (std::isnan(c.max_ratio)) {
    // No element has a finite allowance: no ratio, and no claim either way (docs/verdicts.md §5).
    c.kind = std::max({c.a.kind, c.b.kind, verdict_kind::no_guarantee}) == verdict_kind::violation
                 ? verdict_kind::suspicious
                 : std::max({c.a.kind, c.b.kind, verdict_kind::no_guarantee});
    msg << "no guarantee: neither " << c.model_a << " nor " << c.model_b
        << " rounding bounds the difference of these outputs at this size (no worst-case bound), "
        << "so their divergence can be neither explained nor blamed";
  } else {
    c.kind = std::max(c.a.kind, c.b.kind) == verdict_kind::violation ? verdict_kind::suspicious
                                                                     : std::max(c.a.kind, c.b.kind);
    if (c.n_no_allowance > 0) c.kind = std::max(c.kind, verdict_kind::no_guarantee);
    msg << "the two outputs differ by at most " << short_num(c.max_ratio) << " of what "
        << c.model_a << " and " << c.model_b << " rounding together allow";
    if (c.n_no_allowance > 0)
      msg << " where they bound it (" << c.n_no_allowance << " of " << c.elements
          << " elements differ where neither model bounds the difference)";
    msg << ": the divergence is expected rounding";
    if (c.kind != verdict_kind::consistent)
      msg << " (but see each verdict: " << to_string(c.a.kind) << " / " << to_string(c.b.kind)
          << ")";
    // Different conversions: beyond what the same converted inputs allow, or each output
    // decisively nearest a different conversion (docs/verdicts.md, §5).
    const std::string na = decisive_nearest(c.a), nb = decisive_nearest(c.b);
    if (c.n_beyond_shared > 0 || (!na.empty() && !nb.empty() && na != nb)) {
      msg << "; the two converted their inputs differently";
      if (c.n_beyond_shared > 0)
        msg << " (" << c.n_beyond_shared << " of " << c.elements << " elements differ by more "
            << "than rounding of the same converted inputs allows)";
      if (!na.empty() && !nb.empty())
        msg << ": the first matches " << inputs_words(na) << ", the second " << inputs_words(nb);
    }
  }
  c.explanation = msg.str();
}

}  // namespace

detail::checked_outputs detail::check_and_compare(
    reference_set& set, const std::vector<tensor_view>& outputs,
    const std::vector<arithmetic_model>& declared,
    const std::vector<std::pair<std::size_t, std::size_t>>& pairs, const check_options& opt) {
  reference_set::impl& s = set.internals();
  if (declared.size() != outputs.size())
    throw input_error("check: one declared model per output, got " +
                      std::to_string(declared.size()) + " for " + std::to_string(outputs.size()));
  for (const auto& [a, b] : pairs)
    if (a >= outputs.size() || b >= outputs.size())
      throw input_error("check: a pair names an output that is not there");
  for (const auto& o : outputs) validate(s, o, opt);
  std::deque<observed_values> observed;  // stable addresses
  for (const auto& o : outputs) observed.emplace_back(o);
  checked_outputs r;
  r.errors.resize(outputs.size());
  if (outputs.empty()) return r;

  // One pass over blocks of rows for every output and pair, where check() would judge one
  // output by blocks and each pair's models list the same references (same_references).
  std::int64_t block_rows =
      judging_block_rows(s, observed.front().size(), opt.identify, references_held(s, declared));
  // A pair of models that list different references: the whole set's entries, numbered, so
  // that what the two share is what they share over the whole tensor (judge_blocked).
  std::optional<std::vector<std::vector<std::size_t>>> classes;
  if (block_rows > 0 && std::any_of(pairs.begin(), pairs.end(), [&](const auto& q) {
        return !same_references(declared[q.first], declared[q.second]);
      })) {
    std::vector<reference_cache::key> rules;
    for (const auto& m : declared)
      for (conversion c : detail::conversion_list)
        if (m.conversions & bounds::conversion_bit(c))
          rules.push_back({m.input, c, m.bias_format, m.underflow});
    const std::vector<std::size_t> all = s.cache.entry_classes(rules);
    classes.emplace();
    std::size_t next = 0;
    for (const auto& m : declared) {
      auto& own = classes->emplace_back();
      for (conversion c : detail::conversion_list)
        if (m.conversions & bounds::conversion_bit(c)) own.push_back(all[next++]);
    }
  }
  if (block_rows > 0) {
    const double bmax = bias_max(s.prob.b.get());
    std::vector<blocked_output> outs;
    for (std::size_t o = 0; o < outputs.size(); ++o)
      outs.emplace_back(declared[o], opt, observed[o], true);
    std::deque<compare_pass> passes;
    std::vector<blocked_pair> blocked_pairs;
    for (const auto& [a, b] : pairs) {
      passes.emplace_back(declared[a], declared[b], opt, bmax, observed.front().size());
      blocked_pairs.push_back({a, b, &passes.back()});
    }
    if (judge_blocked(s, block_rows, outs, blocked_pairs, opt.confidence / 2, bmax,
                      classes ? &*classes : nullptr)) {
      s.blocking.checks += static_cast<std::int64_t>(outputs.size());
      for (std::size_t o = 0; o < outputs.size(); ++o) {
        r.errors[o] = outs[o].errors;
        r.verdicts.push_back(
            check_judged(set, observed[o], declared[o], opt, nullptr, &outs[o].judgement));
      }
      for (std::size_t q = 0; q < pairs.size(); ++q)
        r.comparisons.push_back(
            passes[q].finish(r.verdicts[pairs[q].first], r.verdicts[pairs[q].second]));
      return r;
    }
  }
  // The whole tensor's references, formed once for every output and pair.
  for (std::size_t o = 0; o < outputs.size(); ++o)
    r.verdicts.push_back(check_judged(set, observed[o], declared[o], opt, &r.errors[o], nullptr));
  for (const auto& [a, b] : pairs)
    r.comparisons.push_back(
        compare(set, outputs[a], r.verdicts[a], outputs[b], r.verdicts[b], opt));
  return r;
}

}  // namespace roundoff::verdicts
