// The verdict on one implementation's output, and the comparison of two: plain structs that a
// reporter can print without calling any bounds code. Produced by roundoff/bounds/check.hpp;
// the categories are defined in docs/verdicts.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace roundoff::bounds {

enum class verdict_kind : std::uint8_t {
  consistent,  ///< explained by rounding in the declared model
  suspicious,  ///< within the deterministic bound, but beyond the probabilistic one, or
               ///< explained only by a lower-precision model than declared
  violation,   ///< beyond the deterministic bound, or a special-value mismatch
};

inline std::string_view to_string(verdict_kind k) noexcept {
  switch (k) {
    case verdict_kind::consistent:
      return "consistent";
    case verdict_kind::suspicious:
      return "suspicious";
    case verdict_kind::violation:
      return "violation";
  }
  return "?";
}

/// Per-element category.
enum class element_category : std::uint8_t {
  consistent,            ///< error <= probabilistic bound
  beyond_probabilistic,  ///< probabilistic < error <= deterministic
  beyond_deterministic,  ///< error > deterministic bound
  special_mismatch,      ///< NaN/Inf where the exact result is finite (or the reverse)
};

inline std::string_view to_string(element_category c) noexcept {
  switch (c) {
    case element_category::consistent:
      return "consistent";
    case element_category::beyond_probabilistic:
      return "beyond probabilistic bound";
    case element_category::beyond_deterministic:
      return "beyond deterministic bound";
    case element_category::special_mismatch:
      return "special-value mismatch";
  }
  return "?";
}

/// One element, for "worst elements" lists.
struct element_report {
  std::int64_t index = 0;  ///< flat (row-major) index into the output
  double observed = 0;
  double exact = 0;  ///< exact result (on the model's rounded inputs), rounded to double
  double error = 0;  ///< |observed - exact|, rounded downward
  double bound = 0;  ///< deterministic bound (rounded upward)
  double probabilistic_bound = 0;
  element_category category = element_category::consistent;
};

/// Whether one candidate arithmetic explains the output.
struct candidate_report {
  std::string model;        ///< preset name
  bool consistent = false;  ///< passes all three tests below
  bool within_deterministic = false;
  bool within_probabilistic = false;
  bool signature_clean = true;  ///< no coarser model's input-rounding signature detected
  std::string signature_of;     ///< the coarser model whose signature was found, if any
  double signature_score = 0;   ///< (S - offset) / threshold for that model (> 1: found)
  double signature_slope = 0;   ///< S / sum Delta^2: ~1 when the coarser model is used
  /// True when rounding the inputs to this model's formats changes them; then the model is
  /// consistent only if the errors (against the exact result on the original inputs) carry its
  /// input-rounding signature: correlation >= max(0.3, 5/sqrt(m)) (docs/verdicts.md).
  bool rounds_inputs = false;
  double own_signature_correlation = 0;
  bool own_signature_found = false;
  double max_ratio_deterministic = 0;
  double max_ratio_probabilistic = 0;
};

/// The verdict on one observed output.
struct verdict {
  verdict_kind kind = verdict_kind::consistent;
  std::string declared_model;
  std::string order;         ///< summation order the bounds assume ("any" by default)
  double confidence = 1e-6;  ///< false-alarm probability of the probabilistic tests
  std::int64_t elements = 0;
  std::int64_t n_consistent = 0;
  std::int64_t n_beyond_probabilistic = 0;
  std::int64_t n_beyond_deterministic = 0;
  std::int64_t n_special_mismatch = 0;
  std::vector<element_report> worst;   ///< worst elements, worst first (by ratio to the bound)
  double max_ratio_deterministic = 0;  ///< max error / deterministic bound (finite elements)
  double max_ratio_probabilistic = 0;  ///< max error / probabilistic bound
  std::vector<std::string> consistent_models;  ///< presets that explain the output, best first
  std::string effective_model;                 ///< most precise consistent preset ("" when none)
  std::vector<candidate_report> candidates;
  std::string explanation;  ///< one plain sentence a user can act on
};

/// Two implementations' outputs judged against each other.
struct comparison {
  verdict_kind kind = verdict_kind::consistent;  ///< violation: |a - b| beyond the sum of bounds
  std::string model_a, model_b;
  std::int64_t elements = 0;
  std::int64_t n_beyond = 0;  ///< elements with |a - b| > bound_a + bound_b + |ref_a - ref_b|
  std::int64_t n_special_mismatch = 0;
  double max_ratio = 0;  ///< max |a - b| / allowed
  struct element {
    std::int64_t index = 0;
    double a = 0, b = 0, exact = 0, difference = 0, allowed = 0;
  };
  std::vector<element> worst;
  verdict a, b;  ///< each against the exact result
  std::string explanation;
};

}  // namespace roundoff::bounds
