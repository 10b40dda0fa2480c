// Bit-accurate emulation of the NVIDIA H100/H200 (sm_90) tensor-core inner product for tf32, f16
// and bf16 inputs with f32 accumulation, and of whole GEMMs built from it (K-blocks accumulated in
// sequence, or split-K with an f32 reduction). Every parameter and the evidence for it:
// docs/tensor-cores.md. The model is Khattak and Mikaitis's (arXiv:2512.07004), calibrated on
// the H200 fixtures: it reproduces every probe output bit for bit.
//
// Example (one block FMA of 8 tf32 products onto an f32 accumulator):
//   auto u = backends::tc::sm90_unit(backends::tc::tc_format::tf32);
//   double d = backends::tc::block_fma(u, a, b, 8, c);  // a, b: tf32 values; c, d: f32 values
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "roundoff/formats/convert.hpp"
#include "roundoff/ops/op.hpp"
#include "roundoff/tensor.hpp"
#include "roundoff/tensor_view.hpp"

namespace roundoff::backends::tc {

/// Input format of the matrix unit (the accumulator is always f32).
enum class tc_format : std::uint8_t { tf32, f16, bf16 };

/// "tf32", "f16", "bf16".
std::string_view to_string(tc_format f) noexcept;

/// One block FMA instruction (docs/tensor-cores.md §1): d = RZ_f32(sum_i T(a_i b_i) + T(c)), where
/// T truncates (toward zero, each addend's magnitude) to the grid 2^(e_max - 23 - extra_bits),
/// e_max = max(max_i (e(a_i) + e(b_i)) over nonzero products, e(c) if c != 0, -133), e(v) =
/// max(floor(log2 |v|), emin of v's format).
struct unit {
  tc_format input = tc_format::tf32;
  int block = 8;       ///< products per instruction: 8 (tf32), 16 (f16, bf16)
  int extra_bits = 2;  ///< aligned bits kept below the f32 significand (n_eab)
};

/// The sm_90 unit for a format: block 8 (tf32) or 16 (f16, bf16), 2 extra bits.
unit sm90_unit(tc_format f) noexcept;

/// The block FMA of n <= u.block products a[i] * b[i] (values of u.input's format) onto c (an
/// f32 value); returns an f32 value. NaN if any product or c is NaN or +Inf meets -Inf; +-Inf if
/// one is infinite; +-Inf also when the truncated sum reaches 2^128. An all-zero block gives +0.
double block_fma(const unit& u, const double* a, const double* b, int n, double c) noexcept;

/// How the bias of linear/addmm/matmul+b meets the product.
enum class bias_rule : std::uint8_t {
  epilogue,      ///< cuBLAS epilogue: round_out(fl32(acc + b)) (F.linear, addmm)
  after_output,  ///< a separate add: round_out(fl32(round_out(acc) + b)) (x @ W.T + b)
};

/// One emulated GEMM: the unit, the conversion of the inputs to its format, the K order and the
/// output format.
struct variant {
  unit u;
  conversion input_conversion = conversion::nearest_even;  ///< to u.input (identity when exact)
  /// K split into split_k contiguous slices of whole blocks (the first slices one block longer
  /// when the blocks do not divide evenly), each accumulated block after block from 0; the
  /// slices' results are then added in f32 (round to nearest) in slice order.
  int split_k = 1;
  bias_rule bias = bias_rule::epilogue;
  format_id output = format_id::f32;  ///< f32, f16 or bf16 (round to nearest even from f32)
  /// Convolutions only: the implicit GEMM's K runs over kernel taps outer, input channels inner
  /// (k = tap * C_in/groups + c, cuDNN's order on the H200), instead of channels outer.
  bool taps_outer = true;
};

/// "tf32, K-blocks of 8 in sequence", "tf32 (inputs rounded to nearest, ties away), split-K in
/// 8 slices of K-blocks of 8, f32 reduction", ... (the bias rule when it matters).
std::string describe(const variant& v);

/// Whether the op can be emulated: linear, matmul, addmm, bmm, and conv1d/2d/3d as the implicit
/// GEMM of their im2col lowering (not the transposed convolutions).
bool emulates(ops::op_kind k) noexcept;

/// The op (PyTorch shapes) as the variant computes it. Inputs are converted to the unit's format
/// by v.input_conversion. Throws input_error for an op that emulates() refuses.
tensor emulate(const ops::op_spec& op, const tensor& x, const tensor& w, const tensor* b,
               const variant& v);

/// Variants worth trying for an output declared `declared` (a preset name) and stored in `y_type`:
/// tf32 when declared is a tf32 preset (rne and rna conversions), f16 or bf16 when declared or
/// stored so; each in sequence and split-K in 2, 4, 8, 16 slices, both bias rules when the output
/// is narrower than f32. Empty when none is relevant (plain f32 or f64).
std::vector<variant> candidate_variants(const std::string& declared, format_id y_type);

/// The first variant of candidate_variants(declared, y.type) that reproduces y bit for bit
/// (every element equal as a value; NaN matches NaN), or nullopt. Stops a variant at its first
/// differing element; a matching one costs a whole emulated GEMM (about 10 ns per multiply-add
/// and thread), spread over `threads` threads (0: every core). nullopt without trying when the
/// op is not emulated or when the problem has more than max_products multiply-adds.
std::optional<variant> find_bit_identical(const ops::op_spec& op, const tensor& x, const tensor& w,
                                          const tensor* b, const tensor& y,
                                          const std::string& declared,
                                          std::int64_t max_products = std::int64_t(1) << 31,
                                          int threads = 0);

/// What `roundoff check` says of an output that equals an emulation bit for bit: "sm_90 tensor
/// cores (tf32, K-blocks of 8 in sequence)", or empty. Tried only where a matrix unit is
/// relevant (docs/tensor-cores.md §3): `declared` is a tf32/f16/bf16 preset, or else the most
/// precise model that explains the output (`consistent_models`' first, as judged) is, or else
/// y is stored as f16/bf16; so plain f32 checks pay nothing. Never part of a verdict.
std::string bit_identical_description(const ops::op_spec& op, const tensor& x, const tensor& w,
                                      const tensor* b, const tensor& y, const std::string& declared,
                                      const std::vector<std::string>& consistent_models,
                                      int threads = 0);
/// The same for views of a caller's buffers (the Python package): nothing is copied unless an
/// emulation is tried, and then x, w, b and y are read once into f64 tensors.
std::string bit_identical_description(const ops::op_spec& op, const tensor_view& x,
                                      const tensor_view& w, const tensor_view* b,
                                      const tensor_view& y, const std::string& declared,
                                      const std::vector<std::string>& consistent_models,
                                      int threads = 0);

}  // namespace roundoff::backends::tc
