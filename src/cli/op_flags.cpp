#include "op_flags.hpp"

#include <fmt/format.h>

#include "roundoff/error.hpp"

namespace roundoff::cli {

void add_op_flags(CLI::App& cmd, op_flags& f) {
  cmd.add_option("op", f.name, "the op, named as in torch: linear (see docs/cli.md)")->required();
}

ops::op_spec make_op_spec(const op_flags& f) {
  const auto kind = ops::parse_op(f.name);
  if (!kind) {
    std::vector<std::string_view> known;
    for (int k = 0; k <= static_cast<int>(ops::op_kind::conv_transpose3d); ++k)
      known.push_back(ops::op_name(static_cast<ops::op_kind>(k)));
    throw input_error(fmt::format("unknown op '{}' (known: {})", f.name, fmt::join(known, ", ")));
  }
  ops::op_spec spec;
  spec.kind = *kind;
  return spec;
}

}  // namespace roundoff::cli
