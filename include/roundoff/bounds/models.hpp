// Arithmetic models: how an implementation may compute a contraction (input rounding, products,
// accumulator, summation order, output rounding, bias, underflow), and presets by name.
// The bounds each model implies are derived in docs/bounds.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "roundoff/formats/convert.hpp"
#include "roundoff/formats/format.hpp"

namespace roundoff::bounds {

/// The order in which the products (and the bias) of one output element are summed.
struct summation_order {
  enum class kind : std::uint8_t {
    any,         ///< unknown: any binary tree (sequential, split-K, pairwise, ...). Default.
    sequential,  ///< recursive summation, one term after the other, in any permutation
    pairwise,    ///< balanced binary tree (depth ceil(log2 m))
    blocked,     ///< sequential sums of blocks of `block` terms, then a sequential sum of blocks
    block_fma,   ///< FMA over blocks of `block` exact products + accumulator, one rounding each
  };
  kind k = kind::any;
  std::int64_t block = 0;  ///< b for blocked, k for block_fma

  static summation_order any() { return {}; }
  static summation_order sequential() { return {kind::sequential, 0}; }
  static summation_order pairwise() { return {kind::pairwise, 0}; }
  static summation_order blocked(std::int64_t b) { return {kind::blocked, b}; }
  static summation_order block_fma(std::int64_t k) { return {kind::block_fma, k}; }
};

/// How the bias b enters y = sum x*w + b.
enum class bias_handling : std::uint8_t {
  in_accumulator,  ///< one more summand of the accumulation (first, last or anywhere)
  after_output,    ///< y = fl_out(fl_out(sum) + b): a separate add in the output format
  any,             ///< either of the above (the bound covers both). Default.
};

/// A set of conversions (bit i set: conversion i allowed), for arithmetic_model::conversions.
using conversion_set = std::uint8_t;
constexpr conversion_set conversion_bit(conversion c) noexcept {
  return static_cast<conversion_set>(1u << static_cast<unsigned>(c));
}

/// How the accumulator's roundings round (docs/bounds.md, §1).
enum class accumulation_rounding : std::uint8_t {
  nearest,   ///< round to nearest: |delta| <= u (IEEE additions, FMAs)
  faithful,  ///< to one of the two neighbours: |delta| < 2u (truncation, as in tensor cores)
};

/// An arithmetic an implementation may compute in. See docs/bounds.md, §1.
struct arithmetic_model {
  std::string name;                  ///< preset name, or a user label
  format_id input = format_id::f32;  ///< x and w are converted to this before multiplying
  /// How x and w may be converted to `input` (any one of the set, the same for all inputs of an
  /// element). An implementation that keeps the inputs as they are is always accepted too.
  conversion_set conversions = conversion_bit(conversion::nearest_even);
  format_id bias_format = format_id::f32;  ///< b is rounded (RN) to this
  /// Products x*w are formed exactly (true when 2 * precision(input) <= precision(accumulator):
  /// then it is a theorem, not an assumption, outside the underflow range).
  bool exact_products = false;
  bool fma = false;                        ///< products fused into the additions
  format_id accumulator = format_id::f32;  ///< format of every partial sum
  accumulation_rounding accumulation = accumulation_rounding::nearest;
  /// 0: each addition adds its operands exactly before rounding. p > 0: a matrix unit's block FMA
  /// aligns its addends to the largest one and keeps p significant bits of each, dropping the
  /// rest (Fasi et al. 2021); the aligned sum is exact, then rounded per `accumulation`.
  int alignment_precision = 0;
  /// Set: some partial sums may also be rounded to nearest in this coarser format (a reduced-
  /// precision split-K reduction); format_id::f64 = none.
  format_id reduction = format_id::f64;
  summation_order order;              ///< default any
  format_id output = format_id::f32;  ///< the result is rounded (RN) to this at the end
  bias_handling bias = bias_handling::any;
  underflow_mode underflow = underflow_mode::gradual;  ///< flush_to_zero means DAZ + FTZ
};

/// Presets, most precise first: "f64", "f32", "tf32-rne", "tf32-rna", "tf32", "f16", "bf16",
/// "f16-rpr", "bf16-rpr", "f16-acc16", "bf16-acc-bf16" (docs/bounds.md, §1 lists what each means).
const std::vector<arithmetic_model>& presets();
/// Names of the presets, in the order of presets().
std::vector<std::string> preset_names();
/// The preset called `name` (also accepts "fp32"/"float32"/"float", "fp64"/"float64"/"double",
/// "fp16"/"float16"/"half", "bfloat16", "f16acc16"/"fp16-acc16"). Throws input_error naming the
/// unknown model and listing the presets.
arithmetic_model parse_model(std::string_view name);
/// Precision class of a preset (0 = most precise), or -1 for a non-preset. Presets that differ
/// only in how inputs are converted share a class ("tf32-rne", "tf32-rna" and "tf32": 2).
int preset_rank(std::string_view name) noexcept;
/// Position of a preset in presets() (finer variants before the model they refine), or -1.
int preset_index(std::string_view name) noexcept;

/// True when the model's accumulation has a probabilistic bound (Theorem P): some of its
/// roundings are to nearest (the accumulator's, or a reduction's). Truncating matrix units alone
/// give none: their errors are not mean-zero.
bool has_probabilistic_bound(const arithmetic_model& m) noexcept;

/// Unit roundoff and underflow parameters of a format, for bound formulas.
double unit_roundoff(format_id f) noexcept;

/// True when `a` rounds every real at least as finely as `b` (precision and exponent range both
/// at least as large), so that rounding to `b` after `a` is rounding to `b`.
bool at_least_as_fine(format_id a, format_id b) noexcept;

}  // namespace roundoff::bounds
