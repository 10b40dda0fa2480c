// The verdict API: op + inputs + observed output + declared model -> verdict.
//
//   roundoff::ops::op_spec op;  // linear
//   auto v = roundoff::bounds::check(op, x, w, &b, y, "f32");
//   std::cout << v.explanation << '\n';
//
// Definitions of the categories and the model identification: docs/verdicts.md.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "roundoff/bounds/models.hpp"
#include "roundoff/bounds/verdict.hpp"
#include "roundoff/ops/op.hpp"
#include "roundoff/tensor.hpp"

namespace roundoff::bounds {

struct check_options {
  /// Probability that a correct implementation is flagged by any probabilistic test, over the
  /// whole tensor (union bound). In (0, 1).
  double confidence = 1e-6;
  /// Overrides the declared model's summation order when set (e.g. pairwise, for sharper bounds).
  bool override_order = false;
  summation_order order;
  /// Run model identification over `candidates` (empty: every preset).
  bool identify = true;
  std::vector<std::string> candidates;
  /// Number of worst elements to report.
  int worst = 5;
  ops::reference_options reference;
};

/// Judges `observed` (the op's output as computed by some implementation) against the declared
/// arithmetic. `observed` must have the op's output shape (else input_error).
verdict check(const ops::op_spec& op, const tensor& x, const tensor& w, const tensor* b,
              const tensor& observed, const arithmetic_model& declared,
              const check_options& opt = {});
/// As above with a preset name ("f32", "tf32", ...); unknown names throw input_error.
verdict check(const ops::op_spec& op, const tensor& x, const tensor& w, const tensor* b,
              const tensor& observed, std::string_view declared, const check_options& opt = {});

/// Judges two implementations against each other: |a - b| against the sum of their
/// deterministic bounds plus the difference of their references (docs/verdicts.md, "Pairwise").
comparison compare(const ops::op_spec& op, const tensor& x, const tensor& w, const tensor* b,
                   const tensor& observed_a, std::string_view model_a, const tensor& observed_b,
                   std::string_view model_b, const check_options& opt = {});
/// As above with each output's verdict already computed by check() (not recomputed; with
/// identification on, the comparison names the inputs each side matches).
comparison compare(const ops::op_spec& op, const tensor& x, const tensor& w, const tensor* b,
                   const tensor& observed_a, const verdict& verdict_a, const tensor& observed_b,
                   const verdict& verdict_b, const check_options& opt = {});

/// `t` with every element rounded to f (RN; `u` for subnormals); type set to f.
tensor round_tensor(const tensor& t, format_id f, underflow_mode u = underflow_mode::gradual);
/// `t` with every element converted to f by rule c (formats/convert.hpp); type set to f.
tensor convert_tensor(const tensor& t, format_id f, conversion c,
                      underflow_mode u = underflow_mode::gradual);

}  // namespace roundoff::bounds
