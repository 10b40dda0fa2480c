// The verdict on one implementation's output, and the comparison of two: plain structs that a
// reporter can print without calling any verdicts code. Produced by roundoff/verdicts/check.hpp;
// the categories are defined in docs/verdicts.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace roundoff::verdicts {

enum class verdict_kind : std::uint8_t {
  consistent,    ///< explained by rounding in the declared model
  no_guarantee,  ///< the declared model gives no bound for some element (n u >= 1 and no
                 ///< probabilistic bound): nothing can be said about it, nothing is wrong
  suspicious,    ///< within the deterministic bound, but beyond the probabilistic one, or
                 ///< explained only by a lower-precision model than declared
  violation,     ///< beyond the deterministic bound, or a special-value mismatch
};

inline std::string_view to_string(verdict_kind k) noexcept {
  switch (k) {
    case verdict_kind::consistent:
      return "consistent";
    case verdict_kind::no_guarantee:
      return "no guarantee";
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
  no_bound,              ///< the model bounds this element neither way (docs/verdicts.md, §2)
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
    case element_category::no_bound:
      return "no bound";
  }
  return "?";
}

/// One element, for "worst elements" lists.
struct element_report {
  std::int64_t index = 0;  ///< flat (row-major) index into the output
  double observed = 0;
  double exact = 0;  ///< exact result (on the model's rounded inputs), rounded to double
  double error = 0;  ///< |observed - exact|, rounded downward
  double bound = 0;  ///< deterministic bound (rounded upward); +Inf: none exists
  double probabilistic_bound = 0;  ///< +Inf: none exists
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
  /// The model's inputs are as near the output as any candidate's (docs/verdicts.md, §3: the
  /// nearest of its input conversions is within a factor 4 of the nearest of all, in squares).
  bool inputs_fit = true;
  /// False when some element has no bound in this model: then it explains nothing.
  bool bounded = true;
  /// The observed tensor's format holds this model's output format (else one more rounding,
  /// which the model does not include, made the output).
  bool output_fits = true;
  double max_ratio_deterministic = 0;  ///< NaN: no element has a deterministic bound
  double max_ratio_probabilistic = 0;  ///< NaN: no element has a probabilistic bound
};

/// How near the output is to the exact result of the inputs converted one way
/// (docs/verdicts.md, §3, "Nearest inputs").
struct input_match {
  std::string inputs;  ///< "as given", "tf32-rne", "tf32-rna", "tf32-rz", "bf16-rne", ...
  /// sqrt(mean((y^ - y~)^2 / T^2)) over the finite elements with T > 0: relative RMS distance.
  double distance = 0;
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
  std::int64_t n_no_bound = 0;                ///< elements with neither bound
  std::int64_t n_no_deterministic_bound = 0;  ///< elements without a deterministic bound
  std::int64_t n_no_probabilistic_bound = 0;  ///< elements without a probabilistic bound
  std::vector<element_report> worst;  ///< worst elements, worst first (by ratio to the bound)
  /// max error / deterministic bound over the elements that have one; NaN when none has (then
  /// there is no ratio to report: "no guarantee", never 0).
  double max_ratio_deterministic = 0;
  double max_ratio_probabilistic = 0;          ///< likewise for the probabilistic bound
  std::vector<std::string> consistent_models;  ///< presets that explain the output, best first
  std::string effective_model;                 ///< most precise consistent preset ("" when none)
  std::vector<candidate_report> candidates;
  /// Input conversions by distance of their exact result to the output, nearest first (with
  /// identification on; empty otherwise).
  std::vector<input_match> nearest_inputs;
  /// Model identification (candidates, nearest_inputs) on a deterministic sample of the
  /// output's rows when the output is large (docs/verdicts.md, §3, "Sample"): the rows used,
  /// out of `identification_rows_total`; empty when every element was used. The explanation
  /// then says so.
  std::vector<std::int64_t> identification_rows;
  std::int64_t identification_rows_total = 0;
  std::int64_t identification_elements = 0;  ///< elements identification used
  std::string explanation;                   ///< one plain sentence a user can act on
};

/// Two implementations' outputs judged against each other.
struct comparison {
  verdict_kind kind = verdict_kind::consistent;  ///< violation: |a - b| beyond the sum of bounds
  std::string model_a, model_b;
  std::int64_t elements = 0;
  /// Elements with |a - b| beyond bound_a + bound_b + |ref_a - ref_b| for every choice of each
  /// side's reference (its model's input conversions, or the inputs as given).
  std::int64_t n_beyond = 0;
  /// Elements beyond what both models allow from the same converted inputs (ref_a = ref_b): the
  /// outputs were computed from differently converted inputs (a finding, not a violation).
  std::int64_t n_beyond_shared = 0;
  std::int64_t n_special_mismatch = 0;
  /// Elements where a and b differ and neither model bounds the difference (allowed = +Inf: no
  /// worst-case bound at this size, n u >= 1): nothing can be said about them.
  std::int64_t n_no_allowance = 0;
  /// max |a - b| / allowed over the elements with a finite allowance; NaN when none has one
  /// (no ratio without a bound: JSON null, "none" in tables).
  double max_ratio = 0;
  struct element {
    std::int64_t index = 0;
    double a = 0, b = 0, exact = 0, difference = 0, allowed = 0;
  };
  std::vector<element> worst;
  verdict a, b;  ///< each against the exact result
  std::string explanation;
};

}  // namespace roundoff::verdicts
