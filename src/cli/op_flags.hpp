// The op a command evaluates: the <op> positional argument plus the op's own flags. Shared by
// every command that takes an op (reference now; check, run and sweep later).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "roundoff/ops/op.hpp"

namespace roundoff::cli {

struct op_flags {
  std::string name;  ///< the <op> positional: linear, matmul, bmm, addmm, conv1d, ...
  /// Conv flags (--stride --padding --dilation --groups --output-padding --padding-mode),
  /// unparsed; ops::parse_op_spec parses and checks them against the op.
  ops::conv_flags conv;
};

/// Adds the <op> positional (and the op flags) to cmd.
void add_op_flags(CLI::App& cmd, op_flags& f);

/// The op_spec for ops::evaluate. Throws input_error for an unknown op name (listing the known
/// ones) or a flag the op does not take.
ops::op_spec make_op_spec(const op_flags& f);

/// The op flags that were given (stride, padding, ...), as report params.
std::vector<std::pair<std::string, std::string>> op_flag_params(const op_flags& f);

}  // namespace roundoff::cli
