// A generic op descriptor, so that upper layers (bounds, backends, CLI) can handle every op the
// same way: parse a name and flags into an op_spec, then evaluate it. See docs/ops.md.
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
///   auto v = bounds::check(p, y, "f32");
struct problem {
  op_spec op;
  tensor_view x, w;
  optional_view b;
  problem(op_spec o, tensor_view x_, tensor_view w_, optional_view b_ = {})
      : op(std::move(o)), x(std::move(x_)), w(std::move(w_)), b(std::move(b_)) {}
};

/// Op flags as the CLI receives them, unparsed; an empty string means "not given".
/// Syntax: --stride 2,1 | 2; --padding 1 | 1,2 | same | valid; --dilation, --output-padding like
/// --stride; --groups 4; --padding-mode zeros|reflect|replicate|circular.
struct conv_flags {
  std::string stride, padding, dilation, output_padding, groups, padding_mode;
};

/// Parses conv flags into conv_params. Throws input_error naming the flag, e.g.
/// "--stride: expected a positive integer or a comma-separated list like 2,1, got '2,x'".
/// Range checks that depend on the op (stride > 0, ...) happen in output_shape/evaluate.
conv_params parse_conv_params(const conv_flags& flags);

/// parse_op + parse_conv_params, and rejects flags the op does not take (e.g. --stride for
/// linear, --output-padding for conv2d, --padding same for conv_transpose2d).
op_spec parse_op_spec(std::string_view op_name, const conv_flags& flags);

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
