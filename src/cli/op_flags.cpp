#include "op_flags.hpp"

#include <fmt/format.h>

#include "roundoff/error.hpp"

namespace roundoff::cli {

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

ops::op_spec make_op_spec(const op_flags& f) {
  const auto kind = ops::parse_op(f.name);
  if (!kind) {
    std::vector<std::string_view> known;
    for (int k = 0; k <= static_cast<int>(ops::op_kind::conv_transpose3d); ++k)
      known.push_back(ops::op_name(static_cast<ops::op_kind>(k)));
    throw input_error(fmt::format("unknown op '{}' (known: {})", f.name, fmt::join(known, ", ")));
  }
  return ops::parse_op_spec(f.name, f.conv);  // also rejects flags the op does not take
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
