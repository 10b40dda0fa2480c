// The generic op descriptor: names, flag parsing, and dispatch to the per-op functions.
#include "roundoff/ops/op.hpp"

#include <array>
#include <charconv>
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

// "2" or "2,1" (also "(2, 1)" / "[2,1]") -> {2} / {2, 1}.
std::vector<std::int64_t> parse_int_list(std::string_view flag, std::string_view text,
                                         const char* what) {
  std::string s = trim(text);
  if (s.size() >= 2 &&
      ((s.front() == '(' && s.back() == ')') || (s.front() == '[' && s.back() == ']'))) {
    s = trim(std::string_view(s).substr(1, s.size() - 2));
  }
  std::vector<std::int64_t> out;
  std::string_view rest = s;
  bool ok = !rest.empty();
  while (ok) {
    const auto comma = rest.find(',');
    const std::string item = trim(rest.substr(0, comma));
    std::int64_t v = 0;
    const char* b = item.data();
    const char* e = b + item.size();
    if (!item.empty() && *b == '+') ++b;
    const auto [ptr, ec] = std::from_chars(b, e, v);
    if (item.empty() || ec != std::errc() || ptr != e) {
      ok = false;
      break;
    }
    out.push_back(v);
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  if (!ok || out.empty() || out.size() > 3) {
    throw input_error(std::string(flag) + ": expected " + what +
                      " or a comma-separated list of 1 to 3 like 2,1, got '" + std::string(text) +
                      "'");
  }
  return out;
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

conv_params parse_conv_params(const conv_flags& f) {
  conv_params p;
  if (!f.stride.empty()) p.stride = parse_int_list("--stride", f.stride, "an integer");
  if (!f.dilation.empty()) p.dilation = parse_int_list("--dilation", f.dilation, "an integer");
  if (!f.output_padding.empty()) {
    p.output_padding = parse_int_list("--output-padding", f.output_padding, "an integer");
  }
  if (!f.padding.empty()) {
    const std::string t = trim(f.padding);
    if (t == "same") {
      p.pad = conv_params::padding_kind::same;
    } else if (t == "valid") {
      p.pad = conv_params::padding_kind::valid;
    } else {
      p.padding = parse_int_list("--padding", f.padding, "same, valid, an integer");
    }
  }
  if (!f.groups.empty()) {
    const std::string t = trim(f.groups);
    std::int64_t g = 0;
    const auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), g);
    if (t.empty() || ec != std::errc() || ptr != t.data() + t.size()) {
      throw input_error("--groups: expected an integer, got '" + f.groups + "'");
    }
    p.groups = g;
  }
  if (!f.padding_mode.empty()) {
    const std::string t = trim(f.padding_mode);
    if (t == "zeros")
      p.mode = padding_mode::zeros;
    else if (t == "reflect")
      p.mode = padding_mode::reflect;
    else if (t == "replicate")
      p.mode = padding_mode::replicate;
    else if (t == "circular")
      p.mode = padding_mode::circular;
    else {
      throw input_error("--padding-mode: expected zeros, reflect, replicate or circular, got '" +
                        f.padding_mode + "'");
    }
  }
  return p;
}

op_spec parse_op_spec(std::string_view name, const conv_flags& f) {
  const auto k = parse_op(name);
  if (!k) {
    throw input_error("unknown op '" + std::string(name) +
                      "': expected linear, matmul, bmm, addmm, conv1d, conv2d, conv3d, "
                      "conv_transpose1d, conv_transpose2d or conv_transpose3d");
  }
  op_spec spec(*k);
  const int nd = spatial_dims(*k);
  const std::string op(name);
  if (nd == 0) {
    const std::pair<const std::string*, const char*> flags[] = {
        {&f.stride, "--stride"},     {&f.padding, "--padding"},
        {&f.dilation, "--dilation"}, {&f.output_padding, "--output-padding"},
        {&f.groups, "--groups"},     {&f.padding_mode, "--padding-mode"}};
    for (const auto& [v, flag] : flags) {
      if (!v->empty()) throw input_error(std::string(flag) + ": not an option of " + op);
    }
    return spec;
  }
  spec.conv = parse_conv_params(f);
  if (!is_transposed(*k)) {
    if (!f.output_padding.empty()) {
      throw input_error("--output-padding: applies only to conv_transpose ops, not " + op);
    }
  } else {
    if (spec.conv.pad != conv_params::padding_kind::explicit_) {
      throw input_error("--padding: " + op + " takes integers only, not '" + trim(f.padding) + "'");
    }
    if (!f.padding_mode.empty() && spec.conv.mode != padding_mode::zeros) {
      throw input_error("--padding-mode: only zeros is supported for " + op + " (as PyTorch)");
    }
  }
  for (const auto* v :
       {&spec.conv.stride, &spec.conv.padding, &spec.conv.dilation, &spec.conv.output_padding}) {
    if (v->size() > 1 && static_cast<int>(v->size()) != nd) {
      const char* flag = v == &spec.conv.stride     ? "--stride"
                         : v == &spec.conv.padding  ? "--padding"
                         : v == &spec.conv.dilation ? "--dilation"
                                                    : "--output-padding";
      throw input_error(std::string(flag) + ": " + op + " has " + std::to_string(nd) +
                        " spatial dim" + (nd > 1 ? "s" : "") + ": give 1 or " + std::to_string(nd) +
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
