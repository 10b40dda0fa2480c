// check(): per-element classification against the declared model, model identification over the
// presets, and the pairwise comparison. Definitions: docs/verdicts.md; bounds: docs/bounds.md.
#include "roundoff/bounds/check.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <sstream>

#include "element_data.hpp"
#include "roundoff/bounds/bounds.hpp"
#include "roundoff/error.hpp"
#include "roundoff/exact/accumulator.hpp"

namespace roundoff::bounds {

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

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

// Exact references, one per distinct rounded input set (models sharing an input format share).
class reference_cache {
 public:
  reference_cache(const ops::op_spec& op, const tensor& x, const tensor& w, const tensor* b,
                  const ops::reference_options& ro)
      : op_(op), x_(x), w_(w), b_(b), ro_(ro) {}

  // Exact op on the original inputs.
  const ops::op_result& original() { return get(x_, w_, b_); }

  // Exact op on x, w rounded to m.input and b to m.bias_format (round to nearest even).
  const ops::op_result& rounded(const arithmetic_model& m) {
    tensor xr = round_tensor(x_, m.input, m.underflow);
    tensor wr = round_tensor(w_, m.input, m.underflow);
    if (b_) {
      tensor br = round_tensor(*b_, m.bias_format, m.underflow);
      return get(xr, wr, &br);
    }
    return get(xr, wr, nullptr);
  }

  bool same_as_original(const arithmetic_model& m) { return &rounded(m) == &original(); }

 private:
  struct entry {
    std::vector<double> x, w, b;
    std::unique_ptr<ops::op_result> r;
  };
  const ops::op_result& get(const tensor& x, const tensor& w, const tensor* b) {
    static const std::vector<double> none;
    const auto& bd = b ? b->data : none;
    for (auto& e : entries_)
      if (e.x == x.data && e.w == w.data && e.b == bd) return *e.r;
    entry e{x.data, w.data, bd, std::make_unique<ops::op_result>(ops::evaluate(op_, x, w, b, ro_))};
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

exact_class classify(const ops::op_result& r, std::int64_t i, exact::accumulator& acc) {
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

// Per-element judgement of one model (docs/verdicts.md, "Per element").
struct judged {
  std::vector<element_report> el;  // one per element
  std::int64_t n_cat[4] = {0, 0, 0, 0};
  double max_det = 0, max_prob = 0;
};

// One element against one reference: error, deterministic and probabilistic bounds.
struct one {
  double err = 0, det = 0, prob = 0, exact = 0;
  element_category cat = element_category::consistent;
};

one judge_element(const arithmetic_model& m, summation_order order, const ops::op_result& r,
                  std::int64_t i, double obs, double lambda, double bmax, exact::accumulator& acc) {
  one o;
  o.exact = r.exact.rounded(i);
  exact_class k = classify(r, i, acc);
  element_input e = detail::input_of(r, i, obs, bmax);
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
    double reach = detail::add_up(std::fabs(o.exact), d);
    o.det = d;
    o.err = inf;
    o.cat = (same_sign && reach >= t.max_finite) ? element_category::consistent
                                                 : element_category::special_mismatch;
    if (o.cat == element_category::consistent) o.err = 0;
    return o;
  }
  o.err = r.exact.abs_diff(i, obs, exact::rounding::downward);
  o.det = dot_bound(m, order, e);
  o.prob = std::min(o.det, dot_bound_probabilistic(m, order, e, lambda));
  if (o.err > o.det)
    o.cat = element_category::beyond_deterministic;
  else if (o.err > o.prob)
    o.cat = element_category::beyond_probabilistic;
  return o;
}

double ratio(double err, double bound) {
  if (err == 0) return 0;
  if (bound == 0) return inf;
  return err / bound;
}

// Judges every element against `primary` (the model's rounded-input reference) and, where given,
// `more_precise` (the original inputs): an implementation may keep inputs exact (docs/verdicts.md).
judged judge_all(const arithmetic_model& m, summation_order order, const ops::op_result& primary,
                 const ops::op_result* more_precise, const tensor& observed, double alpha,
                 double bmax) {
  judged j;
  const std::int64_t n = primary.exact.size();
  j.el.resize(static_cast<std::size_t>(n));
  const double ua = unit_roundoff(m.accumulator);
  const double lambda = lambda_for(static_cast<double>(detail::summand_count(primary)), ua, alpha);
  exact::accumulator acc;
  for (std::int64_t i = 0; i < n; ++i) {
    double obs = observed.data[static_cast<std::size_t>(i)];
    one a = judge_element(m, order, primary, i, obs, lambda, bmax, acc);
    if (more_precise && a.cat != element_category::consistent) {
      one b = judge_element(m, order, *more_precise, i, obs, lambda, bmax, acc);
      if (static_cast<int>(b.cat) < static_cast<int>(a.cat)) a = b;
    }
    auto& r = j.el[static_cast<std::size_t>(i)];
    r.index = i;
    r.observed = obs;
    r.exact = a.exact;
    r.error = a.err;
    r.bound = a.det;
    r.probabilistic_bound = a.prob;
    r.category = a.cat;
    j.n_cat[static_cast<int>(a.cat)]++;
    if (a.cat != element_category::special_mismatch) {
      j.max_det = std::max(j.max_det, ratio(a.err, a.det));
      j.max_prob = std::max(j.max_prob, ratio(a.err, a.prob));
    }
  }
  return j;
}

// Signature test (docs/bounds.md, Theorem S): does the error of `observed` against model c's
// reference correlate with the input-rounding difference between coarser model a and c?
struct signature_result {
  bool applicable = false;
  bool found = false;
  double score = 0, slope = 0;
  double correlation = 0;  ///< S / sqrt(sum Delta^2 sum e^2)
  std::int64_t used = 0;   ///< elements that entered the sums
};

signature_result signature(const arithmetic_model& c, const ops::op_result& rc,
                           const ops::op_result& ra, const tensor& observed, double alpha,
                           double bmax) {
  signature_result s;
  const std::int64_t n = rc.exact.size();
  exact::accumulator acc, tmp;
  // Half of alpha for the per-path events behind the remainder bound, half for Hoeffding.
  const double lambda_r = lambda_for(static_cast<double>(detail::summand_count(rc)),
                                     unit_roundoff(c.accumulator), alpha / 2);
  alpha /= 2;
  double S = 0, S_abs = 0, off = 0, V = 0, D2 = 0, E2 = 0;
  std::int64_t used = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    double obs = observed.data[static_cast<std::size_t>(i)];
    double yc = rc.exact.rounded(i), ya = ra.exact.rounded(i);
    if (!std::isfinite(obs) || !std::isfinite(yc) || !std::isfinite(ya)) continue;
    // Delta_i = y~_a - y~_c and e_i = obs - y~_c, each rounded once from the exact values.
    ra.exact.load(i, acc);
    rc.exact.load(i, tmp);
    tmp.negate();
    acc.add(tmp);
    double delta = acc.round();
    tmp.add(obs);
    double e = tmp.round();
    if (!std::isfinite(delta) || !std::isfinite(e)) continue;
    element_input in = detail::input_of(rc, i, obs, bmax);
    rc.exact.load(i, acc);
    in.abs_exact = acc.abs_diff(0.0, exact::rounding::upward);
    first_order_terms f = first_order(c, in, lambda_r);
    if (!std::isfinite(f.variance) || !std::isfinite(f.remainder)) return s;  // no information
    S += delta * e;
    S_abs += std::fabs(delta * e);
    off = detail::add_up(off, detail::mul_up(std::fabs(delta), f.remainder));
    V = detail::add_up(V, detail::mul_up(detail::mul_up(delta, delta), f.variance));
    D2 += delta * delta;
    E2 += e * e;
    ++used;
  }
  if (D2 == 0 || used == 0) return s;
  s.applicable = true;
  s.used = used;
  // Rounding of the double sums S (used terms, each product rounded): slack 2(used+1) 2^-53.
  double slack = detail::mul_up(S_abs, static_cast<double>(2 * (used + 2)) * 0x1p-53);
  double s_low = S - slack;
  double thr = std::sqrt(2 * V * std::log(1 / alpha)) * (1 + 0x1p-40);
  double excess = s_low - off;
  s.slope = S / D2;
  s.correlation = E2 > 0 ? S / std::sqrt(D2 * E2) : 0;
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
  if (model == "tf32")
    return "errors match 10-bit mantissa inputs: TF32 is likely enabled "
           "(torch.backends.cuda.matmul.allow_tf32 / torch.backends.cudnn.allow_tf32)";
  if (model == "bf16")
    return "errors match bfloat16 arithmetic (8-bit mantissa): check autocast or a bf16 cast";
  if (model == "f16")
    return "errors match float16 inputs (10-bit mantissa, f32 accumulation): check autocast or "
           "a half-precision cast";
  if (model == "f16-acc16")
    return "errors match float16 accumulation: a reduced-precision reduction is likely enabled "
           "(e.g. allow_fp16_reduced_precision_reduction)";
  if (model == "f32") return "errors match float32 arithmetic: the computation runs in f32";
  return "errors match " + model + " arithmetic";
}

}  // namespace

tensor round_tensor(const tensor& t, format_id f, underflow_mode u) {
  tensor r;
  r.shape = t.shape;
  r.type = f;
  r.data.resize(t.data.size());
  for (std::size_t i = 0; i < t.data.size(); ++i) r.data[i] = round_to(f, t.data[i], u);
  if (at_least_as_fine(f, t.type) && r.data == t.data) r.type = t.type;
  return r;
}

verdict check(const ops::op_spec& op, const tensor& x, const tensor& w, const tensor* b,
              const tensor& observed, std::string_view declared, const check_options& opt) {
  return check(op, x, w, b, observed, parse_model(declared), opt);
}

verdict check(const ops::op_spec& op, const tensor& x, const tensor& w, const tensor* b,
              const tensor& observed, const arithmetic_model& declared, const check_options& opt) {
  if (!(opt.confidence > 0 && opt.confidence < 1))
    throw input_error("confidence must be in (0, 1), got " + num(opt.confidence));
  auto shape = ops::output_shape(op, x, w, b);
  if (observed.shape != shape)
    throw input_error("observed output has shape " + detail::shape_str(observed.shape) + " but " +
                      std::string(ops::op_name(op.kind)) + " gives " + detail::shape_str(shape));
  if (static_cast<std::int64_t>(observed.data.size()) != observed.numel())
    throw input_error("observed output: data size does not match its shape");

  ops::reference_options ro = opt.reference;
  ro.want_magnitude = true;
  if (ro.how == ops::method::mpfr) ro.how = ops::method::fast;  // need the exact values
  reference_cache refs(op, x, w, b, ro);

  const summation_order order = opt.override_order ? opt.order : declared.order;
  // Split the false-alarm budget: half for the per-element probabilistic bounds, half for the
  // signature tests (docs/verdicts.md, "Confidence").
  const double alpha_elem = opt.confidence / 2;

  verdict v;
  v.declared_model = declared.name;
  v.order = order_name(order);
  v.confidence = opt.confidence;

  const ops::op_result& ref_decl = refs.rounded(declared);
  const ops::op_result* ref_orig = refs.same_as_original(declared) ? nullptr : &refs.original();
  const double bmax = detail::bias_max(b);
  judged j = judge_all(declared, order, ref_decl, ref_orig, observed, alpha_elem, bmax);
  v.elements = static_cast<std::int64_t>(j.el.size());
  v.n_consistent = j.n_cat[0];
  v.n_beyond_probabilistic = j.n_cat[1];
  v.n_beyond_deterministic = j.n_cat[2];
  v.n_special_mismatch = j.n_cat[3];
  v.max_ratio_deterministic = j.max_det;
  v.max_ratio_probabilistic = j.max_prob;

  // Worst elements: special mismatches first, then by error / deterministic bound, then by error
  // / probabilistic bound.
  {
    std::vector<std::size_t> idx(j.el.size());
    for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    auto key = [&](std::size_t i) {
      const auto& e = j.el[i];
      double s = e.category == element_category::special_mismatch ? inf : ratio(e.error, e.bound);
      return std::make_pair(s, ratio(e.error, e.probabilistic_bound));
    };
    std::size_t k =
        std::min<std::size_t>(static_cast<std::size_t>(std::max(opt.worst, 0)), idx.size());
    std::partial_sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(k), idx.end(),
                      [&](std::size_t a, std::size_t c) { return key(a) > key(c); });
    for (std::size_t i = 0; i < k; ++i) v.worst.push_back(j.el[idx[i]]);
  }

  // Model identification (docs/verdicts.md, "Model identification").
  std::vector<arithmetic_model> cands;
  if (opt.identify) {
    if (opt.candidates.empty())
      cands = presets();
    else
      for (const auto& c : opt.candidates) cands.push_back(parse_model(c));
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
    for (const auto& c : cands) {
      candidate_report cr;
      cr.model = c.name;
      const ops::op_result& rc = refs.rounded(c);
      judged jc = judge_all(c, c.order, rc, nullptr, observed, alpha_id_elem, bmax);
      cr.within_deterministic = jc.n_cat[2] == 0 && jc.n_cat[3] == 0;
      cr.within_probabilistic = cr.within_deterministic && jc.n_cat[1] == 0;
      cr.max_ratio_deterministic = jc.max_det;
      cr.max_ratio_probabilistic = jc.max_prob;
      if (cr.within_probabilistic) {
        for (const auto& a : presets()) {
          if (traits(a.input).precision >= traits(c.input).precision) continue;
          const ops::op_result& ra = refs.rounded(a);
          if (&ra == &rc) continue;
          signature_result s = signature(c, rc, ra, observed, alpha_sig, bmax);
          if (s.applicable && (s.found || s.score > cr.signature_score) && cr.signature_clean) {
            cr.signature_score = s.score;
            cr.signature_slope = s.slope;
          }
          if (s.found && cr.signature_clean) {
            cr.signature_clean = false;
            cr.signature_of = a.name;
          }
        }
      }
      // A model that rounds the inputs must show it: errors against the exact result on the
      // original inputs correlate with the input-rounding difference (positive evidence).
      const ops::op_result& r0 = refs.original();
      cr.rounds_inputs = &rc != &r0;
      if (cr.rounds_inputs && cr.within_probabilistic) {
        signature_result own = signature(c, r0, rc, observed, alpha_sig, bmax);
        cr.own_signature_correlation = own.correlation;
        // Under "not this model" (a bug, or another arithmetic) the sample correlation with the
        // data-determined Delta is ~0 +- 1/sqrt(m); 5/sqrt(m) is a five-sigma threshold.
        cr.own_signature_found =
            own.applicable &&
            own.correlation >= std::max(0.3, 5 / std::sqrt(static_cast<double>(own.used)));
      }
      cr.consistent = cr.within_probabilistic && cr.signature_clean &&
                      (!cr.rounds_inputs || cr.own_signature_found);
      if (cr.consistent) v.consistent_models.push_back(c.name);
      v.candidates.push_back(cr);
    }
    std::stable_sort(
        v.consistent_models.begin(), v.consistent_models.end(),
        [](const std::string& a, const std::string& c) { return preset_rank(a) < preset_rank(c); });
    if (!v.consistent_models.empty()) v.effective_model = v.consistent_models.front();
  }

  // The verdict (docs/verdicts.md, "Categories").
  const int decl_rank = preset_rank(declared.name);
  const int eff_rank = v.effective_model.empty() ? -1 : preset_rank(v.effective_model);
  const candidate_report* decl_cand = nullptr;
  const candidate_report* eff_cand = nullptr;
  for (const auto& c : v.candidates) {
    if (c.model == declared.name) decl_cand = &c;
    if (c.model == v.effective_model) eff_cand = &c;
  }
  // A lower model is offered as the explanation when it is consistent and the evidence is
  // positive: its input-rounding signature, or (same inputs: accumulator/output only) errors
  // large across the board rather than at a few elements (median error >= 0.1 x the bound).
  bool lower_only = !v.effective_model.empty() && decl_rank >= 0 && eff_rank > decl_rank;
  if (lower_only && eff_cand && !eff_cand->own_signature_found) {
    std::vector<double> r;
    for (const auto& e : j.el)
      if (e.category != element_category::special_mismatch) r.push_back(ratio(e.error, e.bound));
    double med = 0;
    if (!r.empty()) {
      std::nth_element(r.begin(), r.begin() + static_cast<std::ptrdiff_t>(r.size() / 2), r.end());
      med = r[r.size() / 2];
    }
    lower_only = med >= 0.1;
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
    msg << "; " << hint_for(v.effective_model);
  } else {
    v.kind = verdict_kind::consistent;
    msg << "consistent with rounding in " << dm << ": the largest error is "
        << short_num(v.max_ratio_deterministic) << " of the worst-case bound and "
        << short_num(v.max_ratio_probabilistic) << " of the probabilistic bound over " << v.elements
        << " elements";
  }
  v.explanation = msg.str();
  return v;
}

comparison compare(const ops::op_spec& op, const tensor& x, const tensor& w, const tensor* b,
                   const tensor& observed_a, std::string_view model_a, const tensor& observed_b,
                   std::string_view model_b, const check_options& opt) {
  comparison c;
  arithmetic_model ma = parse_model(model_a), mb = parse_model(model_b);
  c.model_a = ma.name;
  c.model_b = mb.name;
  c.a = check(op, x, w, b, observed_a, ma, opt);
  c.b = check(op, x, w, b, observed_b, mb, opt);

  ops::reference_options ro = opt.reference;
  ro.want_magnitude = true;
  if (ro.how == ops::method::mpfr) ro.how = ops::method::fast;
  reference_cache refs(op, x, w, b, ro);
  const ops::op_result& ra = refs.rounded(ma);
  const ops::op_result& rb = refs.rounded(mb);
  const ops::op_result& r0 = refs.original();
  const summation_order oa = opt.override_order ? opt.order : ma.order;
  const summation_order ob = opt.override_order ? opt.order : mb.order;
  exact::accumulator acc, tmp;
  const double bmax = detail::bias_max(b);
  c.elements = ra.exact.size();
  std::vector<comparison::element> all;
  for (std::int64_t i = 0; i < c.elements; ++i) {
    double ya = observed_a.data[static_cast<std::size_t>(i)];
    double yb = observed_b.data[static_cast<std::size_t>(i)];
    comparison::element e{i, ya, yb, r0.exact.rounded(i), 0, 0};
    if (!std::isfinite(ya) || !std::isfinite(yb)) {
      bool same = (std::isnan(ya) && std::isnan(yb)) || ya == yb;
      if (!same) {
        ++c.n_special_mismatch;
        e.difference = inf;
        all.push_back(e);
      }
      continue;
    }
    // |a - b| rounded down, exactly formed.
    acc.clear();
    acc.add(ya);
    acc.add(-yb);
    e.difference = acc.abs_diff(0.0, exact::rounding::downward);
    // |y~_a - y~_b| rounded up.
    ra.exact.load(i, acc);
    rb.exact.load(i, tmp);
    tmp.negate();
    acc.add(tmp);
    double refdiff = acc.abs_diff(0.0, exact::rounding::upward);
    double da = dot_bound(ma, oa, detail::input_of(ra, i, ya, bmax));
    double db = dot_bound(mb, ob, detail::input_of(rb, i, yb, bmax));
    e.allowed = detail::add_up(detail::add_up(da, db), std::isfinite(refdiff) ? refdiff : inf);
    double rr = ratio(e.difference, e.allowed);
    c.max_ratio = std::max(c.max_ratio, rr);
    if (e.difference > e.allowed) ++c.n_beyond;
    all.push_back(e);
  }
  std::size_t k =
      std::min<std::size_t>(static_cast<std::size_t>(std::max(opt.worst, 0)), all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(k), all.end(),
                    [](const comparison::element& p, const comparison::element& q) {
                      return ratio(p.difference, p.allowed) > ratio(q.difference, q.allowed);
                    });
  all.resize(k);
  c.worst = std::move(all);

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
  } else {
    c.kind = std::max(c.a.kind, c.b.kind) == verdict_kind::consistent ? verdict_kind::consistent
                                                                      : verdict_kind::suspicious;
    msg << "the two outputs differ by at most " << short_num(c.max_ratio) << " of what "
        << c.model_a << " and " << c.model_b << " rounding together allow: the divergence is "
        << "expected rounding";
    if (c.kind == verdict_kind::suspicious)
      msg << " (but see each verdict: " << to_string(c.a.kind) << " / " << to_string(c.b.kind)
          << ")";
  }
  c.explanation = msg.str();
  return c;
}

}  // namespace roundoff::bounds
