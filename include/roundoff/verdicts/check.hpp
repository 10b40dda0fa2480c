// The verdict API: problem (op + inputs) + observed output + declared model -> verdict.
//
//   roundoff::ops::problem p{roundoff::ops::op_kind::linear, x, w, &b};
//   auto v = roundoff::verdicts::check(p, y, "f32");
//   std::cout << v.explanation << '\n';
//
// Inputs and outputs are tensor_views of the caller's buffers (a roundoff::tensor converts).
//
// Definitions of the categories and the model identification: docs/verdicts.md.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "roundoff/bounds/models.hpp"
#include "roundoff/ops/op.hpp"
#include "roundoff/tensor.hpp"
#include "roundoff/tensor_view.hpp"
#include "roundoff/verdicts/verdict.hpp"

namespace roundoff::verdicts {

struct check_options {
  /// Probability that a correct implementation is flagged by any probabilistic test, over the
  /// whole tensor (union bound). In (0, 1).
  double confidence = 1e-6;
  /// Overrides the declared model's summation order when set (e.g. pairwise, for sharper bounds).
  bool override_order = false;
  bounds::summation_order order;
  /// Run model identification over `candidates` (empty: every preset).
  bool identify = true;
  std::vector<std::string> candidates;
  /// Number of worst elements to report.
  int worst = 5;
  ops::reference_options reference;
};

/// The exact references of one problem (op, x, w, b): the exact op on the inputs as given and on
/// every conversion a model or the identification asks for, each computed once and shared by
/// every check() and compare() of that problem's outputs (roundoff check and run judge all their
/// outputs through one). Holds the problem's views: the buffers must outlive it.
///
///   verdicts::reference_set refs({ops::op_kind::linear, x, w, &b});
///   auto v1 = verdicts::check(refs, y1, bounds::parse_model("f32"));
///   auto v2 = verdicts::check(refs, y2, bounds::parse_model("tf32"));
///   auto c = verdicts::compare(refs, y1, v1, y2, v2);
class reference_set {
 public:
  /// `reference` chooses the exact method and threads (mpfr is replaced by fast: the verdicts
  /// need exact values); the magnitude is always computed.
  explicit reference_set(const ops::problem& p, const ops::reference_options& reference = {});
  ~reference_set();
  reference_set(const reference_set&) = delete;
  reference_set& operator=(const reference_set&) = delete;
  /// The exact op on the inputs as given (computed on first use).
  const ops::op_result& original();
  struct impl;
  impl& internals() noexcept { return *impl_; }

 private:
  std::unique_ptr<impl> impl_;
};

/// As check() below, with the problem's references shared (check_options::reference is not
/// used: the set's options are).
verdict check(reference_set& refs, const tensor_view& observed,
              const bounds::arithmetic_model& declared, const check_options& opt = {});
/// As compare() below, with the problem's references shared.
comparison compare(reference_set& refs, const tensor_view& observed_a, const verdict& verdict_a,
                   const tensor_view& observed_b, const verdict& verdict_b,
                   const check_options& opt = {});

/// Judges `observed` (the op's output as computed by some implementation) against the declared
/// arithmetic. `observed` must have the op's output shape (else input_error).
verdict check(const ops::problem& p, const tensor_view& observed,
              const bounds::arithmetic_model& declared, const check_options& opt = {});
/// As above with a preset name ("f32", "tf32", ...); unknown names throw input_error.
verdict check(const ops::problem& p, const tensor_view& observed, std::string_view declared,
              const check_options& opt = {});

/// Judges two implementations against each other: |a - b| against the sum of their
/// deterministic bounds plus the difference of their references (docs/verdicts.md, "Pairwise").
comparison compare(const ops::problem& p, const tensor_view& observed_a, std::string_view model_a,
                   const tensor_view& observed_b, std::string_view model_b,
                   const check_options& opt = {});
/// As above with each output's verdict already computed by check() (not recomputed; with
/// identification on, the comparison names the inputs each side matches).
comparison compare(const ops::problem& p, const tensor_view& observed_a, const verdict& verdict_a,
                   const tensor_view& observed_b, const verdict& verdict_b,
                   const check_options& opt = {});

/// `t` with every element rounded to f (RN; `u` for subnormals); type set to f.
tensor round_tensor(const tensor_view& t, format_id f, underflow_mode u = underflow_mode::gradual);
/// `t` with every element converted to f by rule c (formats/convert.hpp); type set to f.
tensor convert_tensor(const tensor_view& t, format_id f, conversion c,
                      underflow_mode u = underflow_mode::gradual);

}  // namespace roundoff::verdicts
