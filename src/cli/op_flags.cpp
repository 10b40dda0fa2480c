#include "op_flags.hpp"

#include <charconv>
#include <string_view>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

namespace roundoff::cli {

namespace {

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

// "2" or "2,1" (also "(2, 1)" / "[2,1]") -> {2} / {2, 1}; nullopt unless 1 to 3 integers.
std::optional<std::vector<std::int64_t>> int_list(std::string_view text) {
  std::string s = trim(text);
  if (s.size() >= 2 &&
      ((s.front() == '(' && s.back() == ')') || (s.front() == '[' && s.back() == ']'))) {
    s = trim(std::string_view(s).substr(1, s.size() - 2));
  }
  std::vector<std::int64_t> out;
  std::string_view rest = s;
  if (rest.empty()) return std::nullopt;
  for (;;) {
    const auto comma = rest.find(',');
    const std::string item = trim(rest.substr(0, comma));
    std::int64_t v = 0;
    const char* b = item.data();
    const char* e = b + item.size();
    if (!item.empty() && *b == '+') ++b;
    const auto [ptr, ec] = std::from_chars(b, e, v);
    if (item.empty() || ec != std::errc() || ptr != e) return std::nullopt;
    out.push_back(v);
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  if (out.size() > 3) return std::nullopt;
  return out;
}

std::vector<std::int64_t> int_list_flag(const char* flag, const std::string& text) {
  auto v = int_list(text);
  if (!v) {
    throw input_error(fmt::format(
        "{}: expected an integer or a comma-separated list of 1 to 3 like 2,1, got '{}'", flag,
        text));
  }
  return *v;
}

}  // namespace

void add_op_flags(CLI::App& cmd, op_flags& f) {
  cmd.add_option("op", f.name,
                 "the op, named as in torch: linear, matmul, bmm, addmm, conv1d/2d/3d, "
                 "conv_transpose1d/2d/3d (see docs/cli.md)")
      ->required();
  // Conv flags: one number applies to every spatial dim, or one per dim (docs/ops.md).
  cmd.add_option("--stride", f.conv.stride, "conv*: stride, e.g. 2 or 2,1 (default 1)");
  cmd.add_option("--padding", f.conv.padding,
                 "conv*: padding, e.g. 1 or 1,2, or same / valid (conv only; default 0)");
  cmd.add_option("--dilation", f.conv.dilation, "conv*: dilation, e.g. 2 or 2,1 (default 1)");
  cmd.add_option("--groups", f.conv.groups, "conv*: groups (default 1)");
  cmd.add_option("--output-padding", f.conv.output_padding,
                 "conv_transpose*: output_padding, e.g. 1 or 1,0 (default 0)");
  cmd.add_option("--padding-mode", f.conv.padding_mode,
                 "conv*d: zeros (default), reflect, replicate or circular (as nn.Conv)");
}

ops::conv_arguments parse_conv_flags(const conv_flags& f) {
  ops::conv_arguments a;
  if (!f.stride.empty()) a.stride = int_list_flag("--stride", f.stride);
  if (!f.dilation.empty()) a.dilation = int_list_flag("--dilation", f.dilation);
  if (!f.output_padding.empty())
    a.output_padding = int_list_flag("--output-padding", f.output_padding);
  if (!f.padding.empty()) {
    if (auto v = int_list(f.padding)) {
      a.padding = std::move(*v);
    } else {
      a.padding_keyword = f.padding;  // same, valid, or make_op_spec names what it expected
    }
  }
  if (!f.groups.empty()) {
    const std::string t = trim(f.groups);
    std::int64_t g = 0;
    const auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), g);
    if (t.empty() || ec != std::errc() || ptr != t.data() + t.size())
      throw input_error("--groups: expected an integer, got '" + f.groups + "'");
    a.groups = g;
  }
  if (!f.padding_mode.empty()) a.padding_mode = f.padding_mode;
  return a;
}

std::string flag_of(const std::string& argument) {
  std::string flag = "--" + argument;
  for (char& c : flag)
    if (c == '_') c = '-';
  return flag;
}

std::string flag_message(const argument_error& e) {
  std::string m = flag_of(e.argument());
  if (!e.value().empty()) m += " " + e.value();
  m += ": " + e.detail();
  if (e.argument() == "impl") m += " (see `roundoff backends`)";  // the command that lists them
  return m;
}

ops::op_spec make_op_spec(const op_flags& f) {
  const auto kind = ops::parse_op(f.name);
  if (!kind) {
    std::vector<std::string_view> known;
    for (int k = 0; k <= static_cast<int>(ops::op_kind::conv_transpose3d); ++k)
      known.push_back(ops::op_name(static_cast<ops::op_kind>(k)));
    throw input_error(fmt::format("unknown op '{}' (known: {})", f.name, fmt::join(known, ", ")));
  }
  ops::conv_arguments args;
  if (ops::spatial_dims(*kind) == 0) {
    // Only presence matters: make_op_spec rejects the first flag given, whatever its text.
    const conv_flags& c = f.conv;
    if (!c.stride.empty()) args.stride.emplace();
    if (!c.padding.empty()) args.padding.emplace();
    if (!c.dilation.empty()) args.dilation.emplace();
    if (!c.output_padding.empty()) args.output_padding.emplace();
    if (!c.groups.empty()) args.groups = 1;
    if (!c.padding_mode.empty()) args.padding_mode = c.padding_mode;
  } else {
    args = parse_conv_flags(f.conv);
  }
  try {
    return ops::make_op_spec(*kind, args);
  } catch (const argument_error& e) {
    throw input_error(flag_message(e));
  }
}

std::vector<std::pair<std::string, std::string>> op_flag_params(const op_flags& f) {
  std::vector<std::pair<std::string, std::string>> p;
  auto add = [&](const char* k, const std::string& v) {
    if (!v.empty()) p.emplace_back(k, v);
  };
  add("stride", f.conv.stride);
  add("padding", f.conv.padding);
  add("dilation", f.conv.dilation);
  add("groups", f.conv.groups);
  add("output_padding", f.conv.output_padding);
  add("padding_mode", f.conv.padding_mode);
  return p;
}

}  // namespace roundoff::cli
