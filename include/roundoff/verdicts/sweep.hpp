// The dimension sweep: the forum experiment ("the errors accumulate with increasing dimensions")
// as a library function. For each value of one varied dimension it draws random inputs, runs
// every implementation, and measures each one's error against the exact result next to the
// deterministic and probabilistic bounds of its arithmetic model, and the pairwise differences
// the user plotted. Definitions of every measured quantity: docs/cli.md, "roundoff sweep".
//
//   verdicts::sweep_spec s;
//   s.op = ops::make_op_spec(ops::op_kind::linear, {});
//   s.vary = {"in", 1, 2048, 64};  // the CLI's --vary in=1:2048:64
//   auto r = verdicts::run_sweep(s, impls);  // impls: callables, e.g. wrapping backends
//
// Implementations are passed in as callables so that this layer need not know the backends
// (layers point one way: verdicts -> backends).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "roundoff/formats/format.hpp"
#include "roundoff/ops/op.hpp"
#include "roundoff/tensor.hpp"
#include "roundoff/verdicts/verdict.hpp"

namespace roundoff::verdicts {

/// One dimension's setting: a size, or tied to another dimension (`out=in`: out equals in).
struct dim_setting {
  std::int64_t value = 0;
  std::string tied_to;  ///< non-empty: equal to that dimension
};

/// The sizes an op's operands are built from, by name (docs/cli.md, "roundoff sweep"):
///   linear, matmul, addmm: batch, in, out    x [batch, in], w [out, in] (linear) or [in, out]
///   bmm:                   batch, m, in, out   x [batch, m, in], w [batch, in, out]
///   conv*:                 batch, in, out, length, kernel   x [batch, in, length...],
///                          w [out, in/groups, kernel...] (transposed: [in, out/groups, ...])
/// Each with its default, in display order.
std::vector<std::pair<std::string, dim_setting>> sweep_dim_defaults(ops::op_kind k);

/// The dimension `name` means for op k: the names above, or `roundoff run`'s size flags
/// (in_features, out_features, in_channels, out_channels, k, n, size, kernel_size, and m for the
/// rows of linear/matmul/addmm; dashes or underscores). Unknown names are returned unchanged.
std::string canonical_dim(ops::op_kind k, std::string_view name);

/// The varied dimension: start, start + step, ... up to stop (inclusive when reached), or with
/// `geometric` start, start * step, start * step^2, ... <= stop.
struct vary_range {
  std::string dim = "in";
  std::int64_t start = 1, stop = 2048, step = 64;
  bool geometric = false;
};

/// The values of r. Throws argument_error ("vary", the range, ...) for an empty range or more
/// than max_points.
std::vector<std::int64_t> vary_values(const vary_range& r, std::int64_t max_points = 10000);

struct sweep_spec {
  explicit sweep_spec(ops::op_spec o) : op(std::move(o)) {}
  ops::op_spec op;
  vary_range vary;
  std::map<std::string, dim_setting> dims;  ///< overrides of sweep_dim_defaults
  bool bias = true;
  std::uint64_t seed = 1;
  /// False-alarm probability of the probabilistic bounds over one point's tensor; the same
  /// per-element bound check() uses (lambda for confidence / 2, union over all summands).
  double confidence = 1e-6;
  int threads = 1;  ///< for the exact engine
  std::int64_t max_points = 10000;
};

/// One point's resolved sizes and operand shapes.
struct sweep_shape {
  std::int64_t value = 0;                                  ///< of the varied dimension
  std::vector<std::pair<std::string, std::int64_t>> dims;  ///< every dimension, display order
  std::vector<std::int64_t> x, w, b;                       ///< b empty: no bias
  std::vector<std::int64_t> y;                             ///< output shape
};

/// Resolves the sizes of every point (defaults, dims overrides, ties) and checks them against
/// the op (ops::output_shape). Throws argument_error naming "vary" or "dim" (with the value, e.g.
/// ("vary", "in=3", "conv1d: ...")) for an unknown dimension name (listing the op's), a tie to
/// an unknown dimension or a cycle, a dims entry that sets the varied dimension, or shapes the
/// op refuses; ("no_bias", ...) for addmm without its bias.
std::vector<sweep_shape> sweep_shapes(const sweep_spec& s);

/// The operands of one point: x, w (and b) drawn from N(0, 1) by a portable generator seeded by
/// (seed, the point's sizes), so a point's inputs do not depend on the rest of the range; then
/// rounded (nearest-even) to each of `formats` until representable in all of them.
struct sweep_inputs {
  tensor x, w;
  std::optional<tensor> b;
  const tensor* bias() const { return b ? &*b : nullptr; }
};
sweep_inputs sweep_point_inputs(const sweep_shape& p, std::uint64_t seed,
                                const std::vector<format_id>& formats);

/// An implementation under test.
struct sweep_impl {
  std::string name;
  std::string model;                   ///< arithmetic-model preset it claims ("f32", "tf32", ...)
  format_id storage = format_id::f32;  ///< inputs are drawn representable in it
  /// Computes the op; returns the output (shape sweep_shape::y).
  std::function<tensor(const ops::op_spec&, const tensor& x, const tensor& w, const tensor* b)> run;
};

/// One implementation at one point. err_i = |y_i - y~_i| rounded down, where y~ is the exact
/// op on the inputs rounded to the model's input formats (the inputs themselves when the model
/// keeps them); det_i, prob_i the per-element deterministic and probabilistic bounds
/// (dot_bound and dot_bound_probabilistic, prob_i <= det_i), rounded up.
struct sweep_impl_result {
  std::string name, model;
  std::int64_t elements = 0;
  double max_abs_error = 0;               ///< max_i err_i (+Inf if an output is not finite)
  double sum_abs_error = 0;               ///< sum_i err_i, summed in double
  double max_deterministic_bound = 0;     ///< max_i det_i
  double sum_deterministic_bound = 0;     ///< sum_i det_i, rounded up: >= sum_abs_error if sound
  double max_probabilistic_bound = 0;     ///< max_i prob_i
  double sum_probabilistic_bound = 0;     ///< sum_i prob_i, rounded up
  double max_ratio_deterministic = 0;     ///< max_i err_i / det_i (<= 1: within the bound)
  double max_ratio_probabilistic = 0;     ///< max_i err_i / prob_i
  std::int64_t beyond_deterministic = 0;  ///< elements with err_i > det_i (or not finite)
  std::int64_t beyond_probabilistic = 0;  ///< elements with prob_i < err_i <= det_i
  double seconds = 0;                     ///< wall time of run

  /// consistent (every err_i <= prob_i), suspicious (some err_i in (prob_i, det_i]) or
  /// violation (some err_i > det_i): the bound tests of check(), without model identification.
  verdict_kind status() const noexcept {
    return beyond_deterministic > 0   ? verdict_kind::violation
           : beyond_probabilistic > 0 ? verdict_kind::suspicious
                                      : verdict_kind::consistent;
  }
};

/// Two implementations at one point: d_i = |a_i - b_i|; allowed_i = det_a_i + det_b_i +
/// |y~_a,i - y~_b,i| (the sum of their bounds, plus the difference of their references when
/// their models round the inputs differently), rounded up.
struct sweep_pair_result {
  std::string a, b;
  std::int64_t differing = 0;         ///< elements with a_i != b_i
  double max_abs_difference = 0;      ///< max_i d_i
  double sum_abs_difference = 0;      ///< sum_i d_i: the forum's (y_t1 - y_t2).abs().sum()
  double sum_allowed_difference = 0;  ///< sum_i allowed_i, rounded up
  double max_ratio = 0;               ///< max_i d_i / allowed_i (> 1: one of the two is wrong)
  std::int64_t beyond = 0;            ///< elements with d_i > allowed_i

  /// violation when some d_i > allowed_i, else consistent.
  verdict_kind status() const noexcept {
    return beyond > 0 ? verdict_kind::violation : verdict_kind::consistent;
  }
};

struct sweep_point {
  sweep_shape shape;
  std::vector<sweep_impl_result> impls;  ///< in the order of the impls given
  std::vector<sweep_pair_result> pairs;  ///< (0,1), (0,2), ..., (1,2), ...
  double reference_seconds = 0;          ///< exact engine (with magnitudes)
};

struct sweep_result {
  std::string op;
  std::string dim;  ///< the varied dimension
  std::uint64_t seed = 0;
  double confidence = 0;
  bool bias = true;
  /// The impls' storage formats: every input value is representable in each of them.
  std::vector<format_id> input_formats;
  std::vector<sweep_point> points;
};

/// Progress: called after each point with (points done, points in all, the point's value).
using sweep_progress = std::function<void(std::size_t, std::size_t, std::int64_t)>;

/// Runs the sweep. Throws input_error as sweep_shapes does (before running anything), for an
/// unknown model name, a confidence outside (0, 1) (argument_error "confidence"), or when no
/// impl is given; internal_error when an implementation returns an output of the wrong size.
sweep_result run_sweep(const sweep_spec& s, const std::vector<sweep_impl>& impls,
                       const sweep_progress& progress = {});

}  // namespace roundoff::verdicts
