// A generic op descriptor, so that upper layers (bounds, backends, CLI) can handle every op the
// same way: an op name and its arguments make an op_spec, which evaluates. See docs/ops.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "roundoff/ops/op_result.hpp"
#include "roundoff/tensor_view.hpp"

namespace roundoff::ops {

enum class op_kind : std::uint8_t {
  linear,  ///< F.linear(x[..., K], W[N, K], b[N])
  matmul,  ///< torch.matmul(x, w) (+ b broadcast over the last dim), broadcasting
  bmm,     ///< torch.bmm(x[B, M, K], w[B, K, N]) (+ b)
  addmm,   ///< torch.addmm(b, x[M, K], w[K, N]): b + x @ w
  conv1d,
  conv2d,
  conv3d,
  conv_transpose1d,
  conv_transpose2d,
  conv_transpose3d,
};

enum class padding_mode : std::uint8_t { zeros, reflect, replicate, circular };

/// Convolution arguments, exactly as torch.nn.functional takes them. Empty vectors mean the
/// PyTorch default; a single entry applies to every spatial dim.
struct conv_params {
  std::vector<std::int64_t> stride, padding, dilation, output_padding;
  enum class padding_kind : std::uint8_t { explicit_, same, valid } pad = padding_kind::explicit_;
  std::int64_t groups = 1;
  padding_mode mode = padding_mode::zeros;
};

/// An op and its arguments. The kind is required (there is no default op):
///   ops::op_spec lin(ops::op_kind::linear);
///   ops::op_spec conv(ops::op_kind::conv2d, {.stride = {2}, .padding = {1}});
struct op_spec {
  op_kind kind;
  conv_params conv;  ///< used by conv* ops only
  op_spec(op_kind k, conv_params c = {}) : kind(k), conv(std::move(c)) {}  // NOLINT: as a value
};

/// One problem: an op with its arguments and its operands x, w and (optional) b, as views of
/// the caller's buffers (not owned: they must outlive the problem). What check(), compare() and
/// evaluate() take.
///   ops::problem p{ops::op_kind::linear, x, w, &b};
///   auto v = verdicts::check(p, y, "f32");
struct problem {
  op_spec op;
  tensor_view x, w;
  optional_view b;
  problem(op_spec o, tensor_view input, tensor_view weight, optional_view bias = {})
      : op(std::move(o)), x(std::move(input)), w(std::move(weight)), b(std::move(bias)) {}
};

/// Convolution arguments as a caller gives them, by torch.nn.functional's names; nullopt means
/// "not given" (PyTorch's default). A list holds one value (for every spatial dim) or one per
/// spatial dim. The front ends turn their own syntax into this (the CLI's --stride 2,1,
/// Python's stride=(2, 1)).
struct conv_arguments {
  std::optional<std::vector<std::int64_t>> stride, padding, dilation, output_padding;
  /// padding given as a word: "same" or "valid" (instead of integers in `padding`).
  std::optional<std::string> padding_keyword;
  std::optional<std::int64_t> groups;
  std::optional<std::string> padding_mode;  ///< "zeros", "reflect", "replicate" or "circular"
};

/// The op_spec of op k with args. Checks the arguments against the op: an argument the op does
/// not take (any for linear, output_padding for conv2d), a word where integers are needed
/// (padding "same" for conv_transpose2d), a list whose length is neither 1 nor the op's spatial
/// dims, an unknown padding word or padding mode. Throws argument_error naming the argument,
/// e.g. ("stride", "not an option of linear"). Range checks that depend on the operands
/// (stride > 0, ...) happen in output_shape/evaluate.
op_spec make_op_spec(op_kind k, const conv_arguments& args);

/// Number of spatial dims of a conv op (1, 2, 3), 0 for the matrix-product ops.
int spatial_dims(op_kind k) noexcept;
bool is_transposed(op_kind k) noexcept;

/// "linear", "matmul", "bmm", "addmm", "conv1d", ..., "conv_transpose3d"; nullopt otherwise.
std::optional<op_kind> parse_op(std::string_view name) noexcept;
std::string_view op_name(op_kind k) noexcept;

/// Validates shapes and arguments like PyTorch (throws input_error) and returns the output shape.
std::vector<std::int64_t> output_shape(const problem& p);

/// The op's exact result, n_i and magnitude per output element.
op_result evaluate(const problem& p, const reference_options& opt = {});

}  // namespace roundoff::ops
