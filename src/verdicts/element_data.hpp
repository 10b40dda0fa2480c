// Per-element helpers shared by check.cpp and sweep.cpp: what one output element's bound is
// computed from (element_input), and the counts and bias bound that go with it.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "roundoff/bounds/bounds.hpp"
#include "roundoff/ops/op_result.hpp"
#include "roundoff/tensor.hpp"

namespace roundoff::verdicts::detail {

using bounds::element_input;
using bounds::detail::mul_up;

/// "[2, 3]"
inline std::string shape_str(const std::vector<std::int64_t>& s) {
  std::string r = "[";
  for (std::size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

/// An upper bound on |b_i| for every element and every rounding of b to nearest in any supported
/// format (|RN(b)| <= (1 + 2^-8)|b| for bf16, the coarsest; 2^-7 leaves room). 0 without bias.
inline double bias_max(const tensor_view* b) {
  if (!b) return 0.0;
  double m = 0;
  for (std::int64_t i = 0, n = b->numel(); i < n; ++i)
    m = std::max(m, std::fabs(b->at(i)));  // NaN bias: exact result is NaN
  return mul_up(m, 1 + 0x1p-7);
}

/// Element i's bound input from the exact result r, the observed value and bias_max.
inline element_input input_of(const ops::op_result& r, std::int64_t i, double observed,
                              double bmax) {
  element_input e;
  const auto k = static_cast<std::size_t>(i);
  e.abs_bias = r.has_bias ? bmax : 0.0;
  // Products with padding zeros are exact zeros and adding them is exact (no rounding, no
  // underflow), so the count of data products is a valid n_i (docs/ops.md, "Term counts").
  e.terms = r.data_terms.size() == r.terms.size() ? r.data_terms[i] : r.terms[i];
  e.magnitude = r.magnitude[k];
  e.has_bias = r.has_bias;
  e.abs_observed = std::fabs(observed);
  return e;
}

/// The number of summands over all elements (products plus the bias), at least 1.
inline std::int64_t summand_count(const ops::op_result& r) {
  const std::int64_t c = r.terms.total() + (r.has_bias ? r.terms.size() : 0);
  return std::max<std::int64_t>(c, 1);
}

/// The events the probabilistic bound's lambda must cover (docs/bounds.md, P2): one per summand
/// path, and one per underflow term (at most n + m per element): 3 per summand.
inline double probabilistic_events(std::int64_t summands) {
  return 3.0 * static_cast<double>(summands);
}
inline double probabilistic_events(const ops::op_result& r) {
  return probabilistic_events(summand_count(r));
}

}  // namespace roundoff::verdicts::detail
