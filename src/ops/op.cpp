// The generic op descriptor: names, checking an op's arguments, and dispatch to the per-op
// functions.
#include "roundoff/ops/op.hpp"

#include <array>
#include <string>
#include <utility>

#include "roundoff/error.hpp"
#include "roundoff/ops/addmm.hpp"
#include "roundoff/ops/bmm.hpp"
#include "roundoff/ops/conv.hpp"
#include "roundoff/ops/conv_transpose.hpp"
#include "roundoff/ops/linear.hpp"
#include "roundoff/ops/matmul.hpp"

namespace roundoff::ops {

namespace {
constexpr std::array<std::pair<op_kind, std::string_view>, 10> names{{
    {op_kind::linear, "linear"},
    {op_kind::matmul, "matmul"},
    {op_kind::bmm, "bmm"},
    {op_kind::addmm, "addmm"},
    {op_kind::conv1d, "conv1d"},
    {op_kind::conv2d, "conv2d"},
    {op_kind::conv3d, "conv3d"},
    {op_kind::conv_transpose1d, "conv_transpose1d"},
    {op_kind::conv_transpose2d, "conv_transpose2d"},
    {op_kind::conv_transpose3d, "conv_transpose3d"},
}};

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}
}  // namespace

std::optional<op_kind> parse_op(std::string_view name) noexcept {
  for (const auto& [k, n] : names) {
    if (n == name) return k;
  }
  return std::nullopt;
}

std::string_view op_name(op_kind k) noexcept {
  for (const auto& [kk, n] : names) {
    if (kk == k) return n;
  }
  return "unknown";
}

int spatial_dims(op_kind k) noexcept {
  switch (k) {
    case op_kind::conv1d:
    case op_kind::conv_transpose1d:
      return 1;
    case op_kind::conv2d:
    case op_kind::conv_transpose2d:
      return 2;
    case op_kind::conv3d:
    case op_kind::conv_transpose3d:
      return 3;
    default:
      return 0;
  }
}

bool is_transposed(op_kind k) noexcept {
  return k == op_kind::conv_transpose1d || k == op_kind::conv_transpose2d ||
         k == op_kind::conv_transpose3d;
}

op_spec make_op_spec(op_kind k, const conv_arguments& a) {
  op_spec spec{k, {}};
  const int nd = spatial_dims(k);
  const std::string op(op_name(k));
  if (nd == 0) {  // presence alone is the error: the values are not looked at
    const std::pair<bool, const char*> given[] = {
        {a.stride.has_value(), "stride"},
        {a.padding.has_value() || a.padding_keyword.has_value(), "padding"},
        {a.dilation.has_value(), "dilation"},
        {a.output_padding.has_value(), "output_padding"},
        {a.groups.has_value(), "groups"},
        {a.padding_mode.has_value(), "padding_mode"}};
    for (const auto& [is_given, name] : given) {
      if (is_given) throw argument_error(name, "not an option of " + op);
    }
    return spec;
  }
  conv_params& p = spec.conv;
  if (a.stride) p.stride = *a.stride;
  if (a.dilation) p.dilation = *a.dilation;
  if (a.output_padding) p.output_padding = *a.output_padding;
  if (a.padding) p.padding = *a.padding;
  if (a.padding_keyword) {
    const std::string t = trim(*a.padding_keyword);
    if (t == "same") {
      p.pad = conv_params::padding_kind::same;
    } else if (t == "valid") {
      p.pad = conv_params::padding_kind::valid;
    } else {
      throw argument_error("padding",
                           "expected same, valid, an integer or a comma-separated list of 1 to 3 "
                           "like 2,1, got '" +
                               *a.padding_keyword + "'");
    }
  }
  if (a.groups) p.groups = *a.groups;
  if (a.padding_mode) {
    const std::string t = trim(*a.padding_mode);
    if (t == "zeros") {
      p.mode = padding_mode::zeros;
    } else if (t == "reflect") {
      p.mode = padding_mode::reflect;
    } else if (t == "replicate") {
      p.mode = padding_mode::replicate;
    } else if (t == "circular") {
      p.mode = padding_mode::circular;
    } else {
      throw argument_error("padding_mode", "expected zeros, reflect, replicate or circular, got '" +
                                               *a.padding_mode + "'");
    }
  }
  if (!is_transposed(k)) {
    if (a.output_padding) {
      throw argument_error("output_padding", "applies only to conv_transpose ops, not " + op);
    }
  } else {
    if (p.pad != conv_params::padding_kind::explicit_) {
      throw argument_error("padding",
                           op + " takes integers only, not '" + trim(*a.padding_keyword) + "'");
    }
    if (a.padding_mode && p.mode != padding_mode::zeros) {
      throw argument_error("padding_mode", "only zeros is supported for " + op + " (as PyTorch)");
    }
  }
  const std::pair<const std::vector<std::int64_t>*, const char*> lists[] = {
      {&p.stride, "stride"},
      {&p.padding, "padding"},
      {&p.dilation, "dilation"},
      {&p.output_padding, "output_padding"}};
  for (const auto& [v, name] : lists) {
    const bool given = (v == &p.stride && a.stride) || (v == &p.padding && a.padding) ||
                       (v == &p.dilation && a.dilation) ||
                       (v == &p.output_padding && a.output_padding);
    // An empty list is only possible from a typed caller (the CLI's syntax needs a value).
    if (given && v->size() != 1 && static_cast<int>(v->size()) != nd) {
      throw argument_error(name, op + " has " + std::to_string(nd) + " spatial dim" +
                                     (nd > 1 ? "s" : "") + ": give 1 or " + std::to_string(nd) +
                                     " values, got " + std::to_string(v->size()));
    }
  }
  return spec;
}

std::vector<std::int64_t> output_shape(const problem& pr) {
  const op_spec& op = pr.op;
  const tensor_view &x = pr.x, &w = pr.w;
  const optional_view& b = pr.b;
  const int nd = spatial_dims(op.kind);
  switch (op.kind) {
    case op_kind::linear:
      return linear_output_shape(x, w, b);
    case op_kind::matmul:
      return matmul_output_shape(x, w, b);
    case op_kind::bmm:
      return bmm_output_shape(x, w, b);
    case op_kind::addmm:
      if (!b) throw input_error("addmm: the bias (input) tensor is required");
      return addmm_output_shape(*b, x, w);
    default:
      break;
  }
  return is_transposed(op.kind) ? conv_transpose_output_shape(nd, x, w, b, op.conv)
                                : conv_output_shape(nd, x, w, b, op.conv);
}

op_result evaluate(const problem& pr, const reference_options& opt) {
  const op_spec& op = pr.op;
  const tensor_view &x = pr.x, &w = pr.w;
  const optional_view& b = pr.b;
  const int nd = spatial_dims(op.kind);
  switch (op.kind) {
    case op_kind::linear:
      return linear(x, w, b, opt);
    case op_kind::matmul:
      return matmul(x, w, b, opt);
    case op_kind::bmm:
      return bmm(x, w, b, opt);
    case op_kind::addmm:
      if (!b) throw input_error("addmm: the bias (input) tensor is required");
      return addmm(*b, x, w, opt);
    default:
      break;
  }
  return is_transposed(op.kind) ? conv_transpose(nd, x, w, b, op.conv, opt)
                                : conv(nd, x, w, b, op.conv, opt);
}

}  // namespace roundoff::ops
