#include "roundoff/verdicts/judge.hpp"

#include <algorithm>
#include <cmath>

#include "judging.hpp"
#include "roundoff/exact/exact_tensor.hpp"
#include "roundoff/verdicts/verdict.hpp"

namespace roundoff::verdicts {

std::vector<std::int64_t> unflatten(std::int64_t flat, const std::vector<std::int64_t>& shape) {
  std::vector<std::int64_t> idx(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    if (shape[d] == 0) return idx;
    idx[d] = flat % shape[d];
    flat /= shape[d];
  }
  return idx;
}

std::vector<std::pair<std::size_t, std::size_t>> all_pairs(std::size_t n) {
  std::vector<std::pair<std::size_t, std::size_t>> p;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = i + 1; j < n; ++j) p.emplace_back(i, j);
  return p;
}

void judge(const ops::problem& p, const std::vector<judged_output>& outs,
           const std::vector<std::pair<std::size_t, std::size_t>>& pairs, const judge_options& opt,
           report::results& into) {
  verdicts::check_options co;
  co.confidence = opt.confidence;
  co.worst = opt.worst;
  co.reference.threads = opt.threads;
  co.reference.device = opt.device;

  // One set of exact references for every output and pair (each conversion computed once),
  // over blocks of rows where check judges by blocks: then neither the whole exact result nor
  // anything per element is held (docs/verdicts.md §2). The error statistics come from the same
  // pass over the exact result on the given inputs.
  verdicts::reference_set refs(p, co.reference);
  const std::vector<std::int64_t> shape = ops::output_shape(p);
  std::vector<tensor_view> views;
  std::vector<bounds::arithmetic_model> models;
  for (const auto& o : outs) {
    views.push_back(o.observed);
    models.push_back(bounds::parse_model(o.declared));
  }
  const detail::checked_outputs checked = detail::check_and_compare(refs, views, models, pairs, co);

  for (std::size_t n = 0; n < outs.size(); ++n) {
    const auto& o = outs[n];
    const detail::error_stats& errors = checked.errors[n];
    const verdicts::verdict& v = checked.verdicts[n];
    report::result r;
    r.name = o.name;
    r.declared = v.declared_model;
    r.verdict = std::string(verdicts::to_string(v.kind));
    r.max_abs_error = errors.max_abs;
    r.max_rel_error = errors.max_rel;
    if (!std::isnan(v.max_ratio_deterministic))
      r.max_ratio_deterministic = v.max_ratio_deterministic;
    if (!std::isnan(v.max_ratio_probabilistic))
      r.max_ratio_probabilistic = v.max_ratio_probabilistic;
    r.consistent_models = v.consistent_models;
    r.explanation = v.explanation;
    for (const auto& e : v.worst)
      r.worst.push_back({unflatten(e.index, shape), e.observed, e.exact, e.bound});
    r.elements = v.elements;
    r.n_beyond_probabilistic = v.n_beyond_probabilistic;
    r.n_beyond_deterministic = v.n_beyond_deterministic;
    r.n_special_mismatch = v.n_special_mismatch;
    r.n_no_bound = v.n_no_bound;
    r.n_no_deterministic_bound = v.n_no_deterministic_bound;
    r.n_no_probabilistic_bound = v.n_no_probabilistic_bound;
    for (std::size_t k = 0; k < v.nearest_inputs.size() && k < 3; ++k)
      r.nearest_inputs.emplace_back(v.nearest_inputs[k].inputs, v.nearest_inputs[k].distance);
    r.source = o.source;
    into.items.push_back(std::move(r));
  }

  for (std::size_t q = 0; q < pairs.size(); ++q) {
    const auto& a = outs[pairs[q].first];
    const auto& bo = outs[pairs[q].second];
    const verdicts::comparison& c = checked.comparisons[q];
    report::comparison rc;
    rc.a = a.name;
    rc.b = bo.name;
    rc.elements = c.elements;
    for (std::int64_t k = 0; k < a.observed.numel(); ++k) {
      const double ya = a.observed.at(k), yb = bo.observed.at(k);
      if (ya == yb || (std::isnan(ya) && std::isnan(yb))) continue;
      ++rc.differing;
      const double d = std::isfinite(ya) && std::isfinite(yb) ? std::fabs(ya - yb) : INFINITY;
      rc.max_abs_difference = std::max(rc.max_abs_difference, d);
    }
    rc.verdict = std::string(verdicts::to_string(c.kind));
    rc.max_ratio = c.max_ratio;
    rc.explanation = c.explanation;
    into.comparisons.push_back(std::move(rc));
  }
}

int finding_exit_code(const report::results& r, bool fail_on_suspicious) {
  auto finding = [&](const std::string& v) {
    return v == "violation" || (fail_on_suspicious && v == "suspicious");
  };
  for (const auto& x : r.items)
    if (finding(x.verdict)) return 1;
  for (const auto& c : r.comparisons)
    if (finding(c.verdict)) return 1;
  return 0;
}

}  // namespace roundoff::verdicts
