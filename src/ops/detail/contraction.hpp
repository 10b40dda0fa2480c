// Internal to src/ops: the one place where ops meet the exact engine. Every op lowers to
// gemm_problem calls through a contraction_runner, which writes the exact result and the
// magnitude into the op's output tensor via the problem's c_* strides.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "roundoff/exact/gemm.hpp"
#include "roundoff/ops/op_result.hpp"
#include "roundoff/tensor_view.hpp"

namespace roundoff::ops::detail {

/// "[2, 3, 4]", as PyTorch prints sizes.
std::string shape_str(const std::vector<std::int64_t>& s);

/// Upper bound of a sum s of `leaves` nonnegative terms (products or plain values) from s_hat,
/// the same sum evaluated in IEEE double round-to-nearest in any order, fused or not, with
/// gradual underflow: s <= (s_hat + leaves * 2^-1074) / (1 - leaves * u). Rounded upward.
double magnitude_bound(double s_hat, std::int64_t leaves);

/// Elementwise |v| (sign bit cleared; NaN stays NaN).
std::vector<double> abs_copy(const double* v, std::int64_t n);

class contraction_runner {
 public:
  /// Sizes r's exact tensor (and magnitude, oracle flags) for `out_shape`.
  contraction_runner(op_result& r, const std::vector<std::int64_t>& out_shape,
                     const reference_options& opt);

  /// Computes problem p into the output, and (when magnitude is wanted) p_abs, the same
  /// problem over |a|, |b|, |bias|, into the magnitude accumulator tensor.
  void run(const exact::gemm_problem& p, const exact::gemm_problem& p_abs);

  /// Rounds the magnitude upward (once, from its exact value) into r.magnitude.
  void finish();

  bool want_magnitude() const noexcept { return opt_.want_magnitude; }

 private:
  void run_one(const exact::gemm_problem& p, exact::exact_tensor& dest, bool oracle);
  void run_blas_bound(const exact::gemm_problem& p_abs);
  bool blas_bound_ = false;
  op_result& r_;
  reference_options opt_;
  exact::exact_tensor mag_;
};

/// C[ob..., i, j] = sum_k A[ab..., i, k] * B[bb..., j, k] (+ bias[ob..., i, j]) where the batch
/// shapes ab and bb broadcast to ob (already checked). A and B are the row-major element orders
/// of views (any storage and strides: their own shapes are not used); bias is dense row-major;
/// the output is dense [ob..., m, n] in the runner's tensor. Dense f64 operands are read in
/// place; others are converted to doubles tile by tile (nt_tile_doubles each), never whole.
struct nt_operands {
  std::vector<std::int64_t> a_batch, b_batch, out_batch;
  std::int64_t m = 0, n = 0, k = 0;
  tensor_view a, b;
  const double* bias = nullptr;  ///< full [out_batch..., m, n], or null
  /// The bias holds one row (n values, or one value when bias_col_stride is 0) that every row
  /// and batch shares: a linear layer's [n] bias, never expanded to the output's size.
  bool bias_one_row = false;
  std::int64_t bias_col_stride = 1;
};
/// Doubles per converted operand tile (16 MiB) of a non-f64 or strided operand.
inline constexpr std::int64_t nt_tile_doubles = std::int64_t{1} << 21;
void run_batched_nt(contraction_runner& run, const nt_operands& ops);

/// The whole of an NT-lowered op: a fresh op_result of shape `out` (has_bias as given, since a
/// bias of 0 elements may have a null pointer) holding run_batched_nt(o), its upward-rounded
/// magnitudes, and terms = data_terms = o.k for every element.
op_result run_nt_op(const std::vector<std::int64_t>& out, const nt_operands& o, bool has_bias,
                    const reference_options& opt);

/// w [batch, k, n] (the row-major element order of a view) -> dense [batch, n, k].
std::vector<double> transpose_last2(const tensor_view& w, std::int64_t batch, std::int64_t k,
                                    std::int64_t n);

/// The view's elements in row-major order as dense doubles (packing for the lowerings that
/// rearrange an operand anyway: conv weights, biases).
std::vector<double> dense_values(const tensor_view& t);

/// Validates a view: no negative sizes, one stride per dim, a buffer when it has elements, and
/// (when t.held is known) that it stays inside what the buffer holds; `name` is "input", ...
void check_data(const tensor_view& t, const char* name);

/// Checks that b broadcasts to `out` without enlarging it (PyTorch's expand rule); throws
/// input_error otherwise. Allocates nothing (output_shape calls it on every check).
void check_expandable(const tensor_view& b, const std::vector<std::int64_t>& out);

/// check_expandable, then b materialized to `out`'s shape.
std::vector<double> expand_to(const tensor_view& b, const std::vector<std::int64_t>& out);

/// The bias of an NT op whose output's last dim is its n: b's values once (nt_operands's
/// bias_one_row) when b varies along that dim only, else expand_to(b, out). Sets o.bias: `values`
/// must outlive o.
void set_nt_bias(nt_operands& o, const tensor_view& b, const std::vector<std::int64_t>& out,
                 std::vector<double>& values);

}  // namespace roundoff::ops::detail
