// A generic op descriptor, so that upper layers (bounds, backends, CLI) can handle every op the
// same way: parse a name and flags into an op_spec, then evaluate it. See docs/ops.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "roundoff/ops/op_result.hpp"

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

struct op_spec {
  op_kind kind = op_kind::linear;
  conv_params conv;  ///< used by conv* ops only
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
std::vector<std::int64_t> output_shape(const op_spec& op, const tensor& x, const tensor& w,
                                       const tensor* b);

/// The op's exact result, n_i and magnitude per output element.
op_result evaluate(const op_spec& op, const tensor& x, const tensor& w, const tensor* b,
                   const reference_options& opt = {});

}  // namespace roundoff::ops
